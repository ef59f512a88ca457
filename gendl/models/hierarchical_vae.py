"""The two-stochastic-layer MLP VAE of Burda et al. 2015 (Section 5, MNIST): 784 -(100-100)->
z1 (100) -(50-50)-> z2 (50) in the recognition model, and z2 ~ N(0, I) -(50-50)-> z1 -(100-100)->
x in the generative model; tanh units, diagonal Gaussians for every stochastic layer but x.
`dtype` is the compute dtype (config.model.dtype); outputs are float32 for the losses.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from gendl.models import mlp_vae


class GaussianMlp(nn.Module):
    """h -> (mean, log-variance) of a diagonal Gaussian through an MLP."""

    hidden: tuple
    out_dim: int
    activation: str = "tanh"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, h):
        act = mlp_vae.ACTIVATIONS[self.activation]
        dense = lambda width, name: nn.Dense(width, dtype=self.dtype, name=name)
        h = h.reshape(h.shape[0], -1)
        for i, width in enumerate(self.hidden):
            h = act(dense(width, f"hidden{i}")(h))
        return mlp_vae.f32(dense(self.out_dim, "mean")(h), dense(self.out_dim, "logvar")(h))


class TwoLayerVAE(nn.Module):
    hidden1: tuple = (100, 100)  # between x and z1
    latent1: int = 100
    hidden2: tuple = (50, 50)  # between z1 and z2
    latent2: int = 50
    image_shape: tuple = (28, 28, 1)
    activation: str = "tanh"
    likelihood: str = "bernoulli"
    dtype: Any = jnp.float32

    def setup(self):
        act, dt = self.activation, self.dtype
        self.q_z1 = GaussianMlp(self.hidden1, self.latent1, act, dt)
        self.q_z2 = GaussianMlp(self.hidden2, self.latent2, act, dt)
        self.p_z1 = GaussianMlp(tuple(reversed(self.hidden2)), self.latent1, act, dt)
        self.p_x = mlp_vae.MlpDecoder(
            tuple(reversed(self.hidden1)), self.image_shape, act, self.likelihood, dt
        )

    def __call__(self, x, z2, labels=None):
        """Touches every parameter (for init)."""
        mean1, _ = self.encode1(x)
        return self.encode2(mean1), self.decode(self.prior1(z2)[0])

    def encode1(self, x):
        """q(z1|x)."""
        return self.q_z1(x)

    def encode2(self, z1):
        """q(z2|z1)."""
        return self.q_z2(z1)

    def prior1(self, z2):
        """p(z1|z2)."""
        return self.p_z1(z2)

    def decode(self, z1, labels=None):
        """p(x|z1): logits (Bernoulli) or (mean, logvar) (Gaussian), like MlpDecoder."""
        del labels  # unconditional
        return self.p_x(z1)


def build(cfg, image_shape):
    return {
        "vae": TwoLayerVAE(
            hidden1=tuple(cfg.hidden1),
            latent1=cfg.latent1,
            hidden2=tuple(cfg.hidden2),
            latent2=cfg.latent_dim,
            image_shape=tuple(image_shape),
            activation=cfg.get("activation", "tanh"),
            likelihood=cfg.get("likelihood", "bernoulli"),
            dtype=jnp.dtype(cfg.get("dtype", "float32")),
        )
    }
