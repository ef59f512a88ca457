"""MLP encoder and decoder of the classic VAE (Kingma & Welling 2014): 784-400-20, ReLU."""

import math

import flax.linen as nn
import jax.numpy as jnp


class GaussianEncoder(nn.Module):
    """x -> (mean, log-variance) of a diagonal Gaussian q(z|x)."""

    hidden: int = 400
    latent_dim: int = 20

    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Dense(self.hidden, name="hidden")(x.reshape(x.shape[0], -1)))
        return nn.Dense(self.latent_dim, name="mean")(h), nn.Dense(self.latent_dim, name="logvar")(
            h
        )


class BernoulliDecoder(nn.Module):
    """z -> per-pixel Bernoulli logits, shaped like the images."""

    hidden: int = 400
    image_shape: tuple = (28, 28, 1)

    @nn.compact
    def __call__(self, z):
        h = nn.relu(nn.Dense(self.hidden, name="hidden")(z))
        logits = nn.Dense(math.prod(self.image_shape), name="logits")(h)
        return logits.reshape(z.shape[0], *self.image_shape)


def build(cfg, image_shape):
    # One network holding both halves: a VAE has one optimiser over encoder and decoder.
    return {"vae": VAE(cfg.hidden, cfg.latent_dim, tuple(image_shape))}


class VAE(nn.Module):
    hidden: int = 400
    latent_dim: int = 20
    image_shape: tuple = (28, 28, 1)

    def setup(self):
        self.encoder = GaussianEncoder(self.hidden, self.latent_dim)
        self.decoder = BernoulliDecoder(self.hidden, self.image_shape)

    def __call__(self, x, eps):
        mean, logvar = self.encoder(x)
        z = mean + eps * jnp.exp(0.5 * logvar)
        return self.decoder(z), mean, logvar

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)
