"""Networks, looked up by `config.model.name`. A model only builds networks; the objective
in `gendl.objectives` owns the losses (scenic's split)."""

from gendl.models import (
    ccgan,
    classifier,
    cogan,
    context_encoder,
    conv_gan,
    conv_vae,
    dcgan,
    hierarchical_vae,
    infogan_conv,
    latent_mlp,
    mlp_gan,
    mlp_vae,
    music_vae,
    pix2pix,
    progan,
    sgan_mlp,
    srresnet,
    stylegan2,
    unpaired,
)

# name -> build(config.model, image_shape) -> {network name: flax module}; `build` below passes
# the DataSpec's image shape, so the networks of today need nothing else from the spec.
REGISTRY = {
    "dcgan28": dcgan.build,
    "dcgan": conv_gan.build,
    "mlp_gan": mlp_gan.build,
    "mlp_vae": mlp_vae.build,
    "mlp_ae": mlp_vae.build_autoencoder,
    "mlp_vae_2layer": hierarchical_vae.build,
    "conv_vae": conv_vae.build,
    "sgan_mlp": sgan_mlp.build,
    "infogan_mlp": latent_mlp.build_infogan,
    "infogan_conv": infogan_conv.build,
    "bigan_mlp": latent_mlp.build_bigan,
    "aae_mlp": latent_mlp.build_aae,
    "conv_classifier": classifier.build,
    "cogan28": cogan.build,
    "progan": progan.build,
    "ccgan": ccgan.build,
    "stylegan2": stylegan2.build,
}
# name -> build(config.model, spec): networks sized from several features of the data.
SPEC_REGISTRY = {
    "context_encoder": context_encoder.build,
    "pix2pix": pix2pix.build,
    "cyclegan": unpaired.build_cyclegan,
    "dualgan": unpaired.build_dualgan,
    "music_vae": music_vae.build,
    "srresnet": srresnet.build,
}


def build(cfg, spec):
    """{network name: flax module} of config.model for data of `spec` (a gendl DataSpec)."""
    from gendl.config import ConfigError

    if cfg.name in SPEC_REGISTRY:
        return SPEC_REGISTRY[cfg.name](cfg, spec)
    if cfg.name not in REGISTRY:
        known = sorted({*REGISTRY, *SPEC_REGISTRY})
        raise ConfigError(
            f"Unknown config.model.name={cfg.name!r}. Known models: {', '.join(known)}."
        )
    return REGISTRY[cfg.name](cfg, spec.image_shape)
