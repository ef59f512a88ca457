"""Networks, looked up by `config.model.name`. A model only builds networks; the objective
in `gendl.objectives` owns the losses (scenic's split)."""

from gendl.models import conv_gan, conv_vae, dcgan, hierarchical_vae, mlp_gan, mlp_vae

# name -> build(config.model, image_shape) -> {network name: flax module}
REGISTRY = {
    "dcgan28": dcgan.build,
    "dcgan": conv_gan.build,
    "mlp_gan": mlp_gan.build,
    "mlp_vae": mlp_vae.build,
    "mlp_ae": mlp_vae.build_autoencoder,
    "mlp_vae_2layer": hierarchical_vae.build,
    "conv_vae": conv_vae.build,
}


def build(cfg, image_shape):
    from gendl.config import ConfigError

    if cfg.name not in REGISTRY:
        raise ConfigError(
            f"Unknown config.model.name={cfg.name!r}. Known models: {', '.join(sorted(REGISTRY))}."
        )
    return REGISTRY[cfg.name](cfg, image_shape)
