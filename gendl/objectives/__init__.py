"""Objectives (losses + update rule of a model family), looked up by `config.objective.name`."""

from gendl.objectives import (
    aae,
    autoencoder,
    bigan,
    ccgan,
    classifier,
    cogan,
    context_encoder,
    cyclegan,
    dualgan,
    gan,
    hierarchical_vae,
    infogan,
    music_vae,
    pix2pix,
    progan,
    sgan,
    srgan,
    stylegan2,
    vae,
    wgan_gp,
)

REGISTRY = {
    "wgan_gp": wgan_gp.WganGp,
    "gan": gan.Gan,
    "vae": vae.Vae,
    "hierarchical_vae": hierarchical_vae.HierarchicalVae,
    "autoencoder": autoencoder.Autoencoder,
    "sgan": sgan.SemiSupervisedGan,
    "infogan": infogan.InfoGan,
    "bigan": bigan.Bigan,
    "aae": aae.AdversarialAutoencoder,
    "classifier": classifier.Classifier,
    "pix2pix": pix2pix.Pix2Pix,
    "cyclegan": cyclegan.CycleGan,
    "dualgan": dualgan.DualGan,
    "cogan": cogan.CoGan,
    "context_encoder": context_encoder.ContextEncoder,
    "music_vae": music_vae.MusicVae,
    "progan": progan.ProGan,
    "ccgan": ccgan.ContextConditionalGan,
    "super_resolution": srgan.SuperResolution,
    "stylegan2": stylegan2.StyleGan2,
}


def build(config, networks, spec):
    from gendl.config import ConfigError

    name = config.objective.name
    if name not in REGISTRY:
        raise ConfigError(
            f"Unknown config.objective.name={name!r}. Known objectives: "
            f"{', '.join(sorted(REGISTRY))}."
        )
    return REGISTRY[name](config, networks, spec)
