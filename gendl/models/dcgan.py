"""DCGAN-style generator and critic for 28x28 images: the WGAN-GP paper's MNIST networks.

Gulrajani et al. 2017 (code: gan_mnist.py): generator dense z->4*4*4*DIM, ReLU, then three
5x5 stride-2 transposed convs 4DIM->2DIM (cropped to 7x7), 2DIM->DIM, DIM->C, ReLU between,
sigmoid output. Critic: three 5x5 stride-2 convs DIM, 2DIM, 4DIM with LeakyReLU(0.2), no
normalisation (the gradient penalty is per-sample, which batch norm would break), dense->1.

`dtype` is the compute dtype (config.model.dtype): layers compute in it from float32
parameters, and outputs are returned as float32 so that losses are computed in float32.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from gendl.models import conv


class Generator28(nn.Module):
    dim: int = 64
    channels: int = 1
    conv_impl: str = "auto"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, z):
        d = self.dim
        h = nn.relu(nn.Dense(4 * 4 * 4 * d, dtype=self.dtype, name="fc")(z))
        h = h.reshape(z.shape[0], 4, 4, 4 * d)
        up = dict(kernel_size=5, stride=2, padding=2, output_padding=1, impl=self.conv_impl)
        h = nn.relu(conv.ConvTranspose(2 * d, name="up1", **up)(h))  # 4 -> 8
        h = h[:, :7, :7]  # the paper crops to 7x7 so two more doublings land on 28
        h = nn.relu(conv.ConvTranspose(d, name="up2", **up)(h))  # 7 -> 14
        h = conv.ConvTranspose(self.channels, name="up3", **up)(h)  # 14 -> 28
        return jax.nn.sigmoid(h.astype(jnp.float32))


class Critic28(nn.Module):
    dim: int = 64
    conv_impl: str = "auto"
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        down = dict(kernel_size=5, stride=2, padding=2, impl=self.conv_impl)
        h = x.astype(self.dtype)  # gendl's conv layers compute in their input's dtype
        for i, width in enumerate((self.dim, 2 * self.dim, 4 * self.dim)):
            h = nn.leaky_relu(conv.Conv(width, name=f"down{i + 1}", **down)(h), 0.2)
        h = h.reshape(h.shape[0], -1)
        out = nn.Dense(1, dtype=self.dtype, name="fc")(h)
        return jnp.squeeze(out, -1).astype(jnp.float32)


def build(cfg, image_shape):
    if tuple(image_shape[:2]) != (28, 28):
        from gendl.config import ConfigError

        raise ConfigError(
            f"model dcgan28 is built for 28x28 images, but the dataset gives {image_shape}. "
            "Use a 28x28 dataset (mnist, fashion_mnist) or a model sized for these images."
        )
    impl, dtype = cfg.get("conv_impl", "auto"), jnp.dtype(cfg.get("dtype", "float32"))
    return {
        "generator": Generator28(cfg.dim, image_shape[-1], impl, dtype),
        "critic": Critic28(cfg.dim, impl, dtype),
    }
