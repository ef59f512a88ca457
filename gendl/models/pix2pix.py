"""The pix2pix pair of networks: U-Net generator (unet.py) and PatchGAN discriminator
(patchgan.py), sized from the data's paired image features."""

import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.models import patchgan, unet


def paired_shape(spec, names=("a", "b")) -> tuple:
    """The [H, W, C] both features of a pair share; a ConfigError when they differ."""
    missing = [n for n in names if n not in spec.features]
    if missing:
        raise ConfigError(
            f"pix2pix translates between the image features {names}, but the data gives "
            f"{sorted(spec.features)}. Use config.data.source='paired_folders' with "
            f"config.data.names={names} (or data.side_by_side={names} for A|B images)."
        )
    shapes = {tuple(spec.features[n].shape) for n in names}
    if len(shapes) > 1:
        raise ConfigError(
            f"The paired features {names} have different shapes {sorted(shapes)}; add "
            "'alpha_white' (or 'rgb') and 'resize:N' to config.data.ops so both sides match."
        )
    return shapes.pop()


def build(cfg, spec):
    height, width, channels = paired_shape(spec)
    levels = int(cfg.levels)
    unet.check_levels(levels, height, width)
    common = dict(
        dtype=jnp.dtype(cfg.get("dtype", "float32")), conv_impl=cfg.get("conv_impl", "auto")
    )
    return {
        "generator": unet.UNet(
            out_channels=channels,
            levels=levels,
            ngf=int(cfg.ngf),
            dropout_levels=int(cfg.get("dropout_levels", -1)),
            **common,
        ),
        "discriminator": patchgan.PatchGan(ndf=int(cfg.ndf), n_layers=int(cfg.n_layers), **common),
    }
