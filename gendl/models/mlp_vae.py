"""MLP encoders and decoders for autoencoders and VAEs (Kingma & Welling 2014; Burda et al.
2015 use the same shape with tanh and 200-unit layers).

Conditioning (a conditional VAE, Sohn et al. 2015) concatenates a one-hot label to the
encoder's input and to the decoder's latent input.

`dtype` is the compute dtype (config.model.dtype): layers compute in it from float32
parameters, and outputs are returned as float32 so that losses are computed in float32.
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh, "elu": nn.elu, "leaky_relu": nn.leaky_relu}


def _with_condition(h, cond):
    return h if cond is None else jnp.concatenate([h, cond.astype(h.dtype)], axis=-1)


def f32(*outputs):
    """Network outputs as float32, whatever the compute dtype: losses are computed in float32."""
    out = tuple(o.astype(jnp.float32) for o in outputs)
    return out if len(out) > 1 else out[0]


class MlpEncoder(nn.Module):
    """x -> (mean, log-variance) of q(z|x) when `gaussian`, else a deterministic code."""

    hidden: tuple = (400,)
    latent_dim: int = 20
    activation: str = "relu"
    gaussian: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, cond=None):
        act = ACTIVATIONS[self.activation]
        dense = lambda width, name: nn.Dense(width, dtype=self.dtype, name=name)
        h = _with_condition(x.reshape(x.shape[0], -1), cond)
        for i, width in enumerate(self.hidden):
            h = act(dense(width, f"hidden{i}")(h))
        if not self.gaussian:
            return f32(dense(self.latent_dim, "code")(h))
        return f32(dense(self.latent_dim, "mean")(h), dense(self.latent_dim, "logvar")(h))


class MlpDecoder(nn.Module):
    """z -> the parameters of p(x|z), shaped like the images.

    likelihood "bernoulli": per-pixel logits. "gaussian": (mean, log-variance) per pixel; the
    mean passes through a sigmoid since pixels lie in [0, 1].
    """

    hidden: tuple = (400,)
    image_shape: tuple = (28, 28, 1)
    activation: str = "relu"
    likelihood: str = "bernoulli"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z, cond=None):
        act = ACTIVATIONS[self.activation]
        dense = lambda width, name: nn.Dense(width, dtype=self.dtype, name=name)
        h = _with_condition(z, cond)
        for i, width in enumerate(self.hidden):
            h = act(dense(width, f"hidden{i}")(h))
        size, shape = math.prod(self.image_shape), (z.shape[0], *self.image_shape)
        if self.likelihood == "bernoulli":
            return f32(dense(size, "logits")(h)).reshape(shape)
        mean = jax.nn.sigmoid(f32(dense(size, "mean")(h))).reshape(shape)
        return mean, f32(dense(size, "logvar")(h)).reshape(shape)


class VAE(nn.Module):
    """Encoder + decoder. Also the deterministic autoencoder when `gaussian=False`."""

    hidden: tuple = (400,)
    latent_dim: int = 20
    image_shape: tuple = (28, 28, 1)
    activation: str = "relu"
    likelihood: str = "bernoulli"
    num_classes: int = 0  # > 0: condition both halves on a one-hot label
    gaussian: bool = True
    dtype: Any = jnp.float32

    def setup(self):
        self.encoder = MlpEncoder(
            self.hidden, self.latent_dim, self.activation, self.gaussian, self.dtype
        )
        # The decoder mirrors the encoder's hidden layers.
        self.decoder = MlpDecoder(
            tuple(reversed(self.hidden)),
            self.image_shape,
            self.activation,
            self.likelihood,
            self.dtype,
        )

    def _cond(self, labels):
        if not self.num_classes:
            return None
        return jax.nn.one_hot(labels, self.num_classes)

    def __call__(self, x, z, labels=None):
        """Touches every parameter (for init); returns (encoder output, decoder output)."""
        return self.encode(x, labels), self.decode(z, labels)

    def encode(self, x, labels=None):
        return self.encoder(x, self._cond(labels))

    def decode(self, z, labels=None):
        return self.decoder(z, self._cond(labels))


def build(cfg, image_shape):
    hidden = cfg.get("hidden", 400)
    hidden = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    return {
        "vae": VAE(
            hidden=hidden,
            latent_dim=cfg.latent_dim,
            image_shape=tuple(image_shape),
            activation=cfg.get("activation", "relu"),
            likelihood=cfg.get("likelihood", "bernoulli"),
            num_classes=cfg.get("num_classes", 0),
            gaussian=cfg.get("gaussian", True),
            dtype=jnp.dtype(cfg.get("dtype", "float32")),
        )
    }


def build_autoencoder(cfg, image_shape):
    """A deterministic autoencoder: the same MLPs with a plain code instead of q(z|x)."""
    net = build(cfg, image_shape)["vae"].clone(gaussian=False)
    return {"autoencoder": net}
