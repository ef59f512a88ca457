"""Objectives (losses + update rule of a model family), looked up by `config.objective.name`."""

from gendl.objectives import autoencoder, gan, hierarchical_vae, vae, wgan_gp

REGISTRY = {
    "wgan_gp": wgan_gp.WganGp,
    "gan": gan.Gan,
    "vae": vae.Vae,
    "hierarchical_vae": hierarchical_vae.HierarchicalVae,
    "autoencoder": autoencoder.Autoencoder,
}


def build(config, networks, image_shape):
    from gendl.config import ConfigError

    name = config.objective.name
    if name not in REGISTRY:
        raise ConfigError(
            f"Unknown config.objective.name={name!r}. Known objectives: "
            f"{', '.join(sorted(REGISTRY))}."
        )
    return REGISTRY[name](config, networks, image_shape)
