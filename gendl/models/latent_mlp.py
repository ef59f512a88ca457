"""MLP networks of the GANs that pair images with latent codes: InfoGAN (a discriminator with
a Q head on the same trunk), BiGAN/ALI (an encoder and a joint discriminator D(x, z)) and the
adversarial autoencoder (a discriminator on codes). Generators, decoders and encoders are the
MLPs of `mlp_vae` (an MLP decoder's logits pass through a sigmoid in the objective).

Discriminators see images rescaled to [-1, 1] and use LeakyReLU(0.2) hidden layers.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.models import mlp_vae


def _trunk(h, hidden, prefix="hidden"):
    for i, width in enumerate(hidden):
        h = nn.leaky_relu(nn.Dense(width, name=f"{prefix}{i}")(h), 0.2)
    return h


def _flat_image(x):
    return 2.0 * x.reshape(x.shape[0], -1) - 1.0


class InfoDiscriminator(nn.Module):
    """x -> (real/fake logit [n], Q's categorical logits [n, K], Q's continuous means [n, C]).

    Q shares every hidden layer with D (Chen et al. 2016, sec. 5: Q is one extra output layer
    on D's trunk, so the mutual-information term costs almost nothing)."""

    hidden: tuple = (1024, 512, 256)
    num_categories: int = 10
    num_continuous: int = 2

    @nn.compact
    def __call__(self, x):
        h = _trunk(_flat_image(x), self.hidden)
        logit = jnp.squeeze(nn.Dense(1, name="logit")(h), -1)
        cat = nn.Dense(self.num_categories, name="q_categorical")(h)
        cont = nn.Dense(self.num_continuous, name="q_continuous")(h)
        return logit, cat, cont


class JointDiscriminator(nn.Module):
    """(x, z) -> one logit: is this pair (x, E(x)) or (G(z), z)? (Donahue et al. 2017;
    Dumoulin et al. 2017). Image and code pass through their own layers first, then a joint
    trunk, as in both papers."""

    x_hidden: tuple = (1024,)
    z_hidden: tuple = (1024,)
    joint_hidden: tuple = (1024,)

    @nn.compact
    def __call__(self, x, z):
        hx = _trunk(_flat_image(x), self.x_hidden, "x_hidden")
        hz = _trunk(z, self.z_hidden, "z_hidden")
        h = _trunk(jnp.concatenate([hx, hz], -1), self.joint_hidden, "joint_hidden")
        return jnp.squeeze(nn.Dense(1, name="logit")(h), -1)


class CodeDiscriminator(nn.Module):
    """z (+ one-hot label when num_classes > 0) -> one logit: prior sample or encoder code?"""

    hidden: tuple = (1000, 1000)
    num_classes: int = 0

    @nn.compact
    def __call__(self, z, labels=None):
        h = z
        if self.num_classes:
            h = jnp.concatenate([h, jax.nn.one_hot(labels, self.num_classes, dtype=h.dtype)], -1)
        return jnp.squeeze(nn.Dense(1, name="logit")(_trunk(h, self.hidden)), -1)


def _generator(cfg, image_shape):
    """z -> pixel logits shaped like the images (the objective applies the sigmoid)."""
    return mlp_vae.MlpDecoder(tuple(cfg.g_hidden), tuple(image_shape), "relu", "bernoulli")


def build_infogan(cfg, image_shape):
    return {
        "generator": _generator(cfg, image_shape),
        "discriminator": InfoDiscriminator(
            tuple(cfg.d_hidden), int(cfg.num_categories), int(cfg.num_continuous)
        ),
    }


def build_bigan(cfg, image_shape):
    d = tuple(cfg.d_hidden)
    return {
        "generator": _generator(cfg, image_shape),
        "encoder": mlp_vae.MlpEncoder(tuple(cfg.e_hidden), int(cfg.z_dim), "leaky_relu", False),
        "discriminator": JointDiscriminator(d[:1], d[:1], d[1:]),
    }


def build_aae(cfg, image_shape):
    nets = mlp_vae.build_autoencoder(cfg, image_shape)
    nets["discriminator"] = CodeDiscriminator(
        tuple(cfg.d_hidden), int(cfg.prior_classes) if cfg.get("label_prior") else 0
    )
    return nets
