"""A convolutional VAE for 28x28 images: the encoder downsamples 28 -> 14 -> 7 with strided
5x5 convolutions, the decoder mirrors it with transposed convolutions (the exact fast layers
of gendl.models.conv), both with a dense layer at the bottleneck. Same interface as the MLP
VAE (`encode`, `decode`), so the VAE objective, IWAE bound and evaluators apply unchanged.
`dtype` is the compute dtype (config.model.dtype); outputs are float32 for the losses.
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.models import conv
from gendl.models.mlp_vae import f32


class ConvVAE(nn.Module):
    latent_dim: int = 32
    channels: tuple = (32, 64)
    dense: int = 512
    image_shape: tuple = (28, 28, 1)
    likelihood: str = "bernoulli"
    conv_impl: str = "auto"
    dtype: Any = jnp.float32

    def setup(self):
        down = dict(kernel_size=5, stride=2, padding=2, impl=self.conv_impl)
        up = dict(down, output_padding=1)
        self.down = [conv.Conv(c, name=f"down{i}", **down) for i, c in enumerate(self.channels)]
        self.enc_fc = nn.Dense(self.dense, dtype=self.dtype, name="enc_fc")
        self.mean = nn.Dense(self.latent_dim, dtype=self.dtype, name="mean")
        self.logvar = nn.Dense(self.latent_dim, dtype=self.dtype, name="logvar")
        h, w = self.image_shape[0], self.image_shape[1]
        scale = 2 ** len(self.channels)
        self.bottom = (h // scale, w // scale, self.channels[-1])
        self.dec_fc = nn.Dense(self.dense, dtype=self.dtype, name="dec_fc")
        self.dec_grid = nn.Dense(math.prod(self.bottom), dtype=self.dtype, name="dec_grid")
        outs = (*reversed(self.channels[:-1]), self.image_shape[-1])
        self.up = [conv.ConvTranspose(c, name=f"up{i}", **up) for i, c in enumerate(outs)]
        if self.likelihood == "gaussian":
            self.up_logvar = conv.ConvTranspose(self.image_shape[-1], name="up_logvar", **up)

    def __call__(self, x, z, labels=None):
        """Touches every parameter (for init)."""
        return self.encode(x), self.decode(z)

    def encode(self, x, labels=None):
        del labels  # unconditional
        h = x.astype(self.dtype)  # gendl's conv layers compute in their input's dtype
        for layer in self.down:
            h = nn.elu(layer(h))
        h = nn.elu(self.enc_fc(h.reshape(h.shape[0], -1)))
        return f32(self.mean(h), self.logvar(h))

    def decode(self, z, labels=None):
        del labels
        h = nn.elu(self.dec_fc(z))
        h = nn.elu(self.dec_grid(h)).reshape(z.shape[0], *self.bottom)
        for layer in self.up[:-1]:
            h = nn.elu(layer(h))
        out = f32(self.up[-1](h))
        if self.likelihood == "bernoulli":
            return out
        return jax.nn.sigmoid(out), f32(self.up_logvar(h))


def build(cfg, image_shape):
    h, w = image_shape[:2]
    scale = 2 ** len(cfg.channels)
    if h % scale or w % scale:
        from gendl.config import ConfigError

        raise ConfigError(
            f"conv_vae halves the image {len(cfg.channels)} times, so its height and width must "
            f"divide by {scale}; the dataset gives {tuple(image_shape)}. Use fewer "
            "config.model.channels or a dataset with suitable image sizes."
        )
    return {
        "vae": ConvVAE(
            latent_dim=cfg.latent_dim,
            channels=tuple(cfg.channels),
            dense=cfg.get("dense", 512),
            image_shape=tuple(image_shape),
            likelihood=cfg.get("likelihood", "bernoulli"),
            conv_impl=cfg.get("conv_impl", "auto"),
            dtype=jnp.dtype(cfg.get("dtype", "float32")),
        )
    }
