"""The networks of the unpaired translators: two generators (domain a -> b and b -> a) and
two discriminators (one per domain, each judging single images of its domain), sized from the
two domains' image features (config.model.domains; default the main stream's "image" and
stream b's "b/image"; the objective reads the same setting).

  cyclegan  ResNet generators (resnet_generator.py), 70x70 PatchGANs with instance norm
  dualgan   U-Net generators (unet.py, pix2pix's), 70x70 PatchGAN critics with batch norm

Network names: generator_ab (a -> b), generator_ba (b -> a), discriminator_a (judges domain
a: real a against generator_ba's outputs), discriminator_b.
"""

import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.models import patchgan, resnet_generator, unet

DEFAULT_DOMAINS = ("image", "b/image")
GENERATORS = ("generator_ab", "generator_ba")
DISCRIMINATORS = ("discriminator_a", "discriminator_b")


def domains_of(model_cfg) -> tuple:
    """config.model.domains: the features of domain a and domain b."""
    return tuple(model_cfg.get("domains", DEFAULT_DOMAINS) or DEFAULT_DOMAINS)


def domain_shape(spec, domains) -> tuple:
    """The [H, W, C] both domains' images share; a ConfigError when they differ or are missing."""
    missing = [d for d in domains if d not in spec.features]
    if len(domains) != 2 or missing:
        raise ConfigError(
            f"An unpaired translator learns between two image features, "
            f"config.model.domains={tuple(domains)}, but the data gives "
            f"{sorted(spec.features)}. Put domain a in the main stream (config.data) and "
            "domain b in config.data.streams.b, whose features arrive as 'b/<feature>', and "
            "name them in config.model.domains (default ('image', 'b/image'))."
        )
    shapes = {tuple(spec.features[d].shape) for d in domains}
    if len(shapes) > 1:
        raise ConfigError(
            f"The two domains' images have different shapes {sorted(shapes)}; give both streams "
            "ops that make one shape, e.g. 'alpha_white' (or 'rgb') and 'resize:N' in "
            "config.data.ops and config.data.streams.b.ops."
        )
    return shapes.pop()


def _common(cfg):
    return dict(
        dtype=jnp.dtype(cfg.get("dtype", "float32")), conv_impl=cfg.get("conv_impl", "auto")
    )


def _discriminators(cfg, norm):
    return {
        name: patchgan.PatchGan(
            ndf=int(cfg.ndf), n_layers=int(cfg.n_layers), norm=norm, **_common(cfg)
        )
        for name in DISCRIMINATORS
    }


def build_cyclegan(cfg, spec):
    height, width, channels = domain_shape(spec, domains_of(cfg))
    if height % 4 or width % 4:
        raise ConfigError(
            f"The ResNet generator halves the image twice, so the {height}x{width} images must "
            "have sides divisible by 4. Resize them (config.data.ops 'resize:N')."
        )
    generators = {
        name: resnet_generator.ResnetGenerator(
            out_channels=channels, ngf=int(cfg.ngf), n_blocks=int(cfg.n_blocks), **_common(cfg)
        )
        for name in GENERATORS
    }
    return {**generators, **_discriminators(cfg, "instance")}


def build_dualgan(cfg, spec):
    height, width, channels = domain_shape(spec, domains_of(cfg))
    levels = int(cfg.levels)
    unet.check_levels(levels, height, width)
    generators = {
        name: unet.UNet(
            out_channels=channels,
            levels=levels,
            ngf=int(cfg.ngf),
            dropout_levels=int(cfg.get("dropout_levels", -1)),
            **_common(cfg),
        )
        for name in GENERATORS
    }
    return {**generators, **_discriminators(cfg, "batch")}
