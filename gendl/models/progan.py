"""ProGAN's networks (Karras et al. 2018, "Progressive Growing of GANs", table 2): a generator
and a discriminator holding one block per resolution 4x4, 8x8, ... and a to_rgb / from_rgb
1x1 convolution per resolution.

Both take a static `level` (the current resolution is 2**level) and a blend weight `alpha`:
while level L fades in, the generator's image is lerp(upscale(to_rgb_{L-1}(h_{L-1})),
to_rgb_L(h_L), alpha) and the discriminator's features after block L are
lerp(from_rgb_{L-1}(downscale(x)), block_L(from_rgb_L(x)), alpha). Every resolution's
parameters exist from initialisation, so the training state keeps one shape from the first
phase to the last; the blocks above the current level simply get no gradient.

Widths follow the paper's nf(stage) = min(fmap_base / 2**stage, fmap_max): the block of
resolution 2**L has nf(L - 1) channels (the paper's 512 at 4x4..32x32 for 1024x1024 images
is fmap_base=8192, fmap_max=512).
"""

import math

import flax.linen as nn
import jax.numpy as jnp

from gendl.config import ConfigError
from gendl.models import equalized as eq

_LEAK = 0.2


def _act(x):
    return nn.leaky_relu(x, _LEAK)


def num_features(stage: int, fmap_base: int, fmap_max: int) -> int:
    return min(int(fmap_base / 2.0**stage), fmap_max)


def resolution_levels(resolution: int) -> int:
    """log2 of a power-of-two resolution >= 4; a ConfigError otherwise."""
    level = int(round(math.log2(resolution))) if resolution > 0 else 0
    if resolution < 4 or 2**level != resolution:
        raise ConfigError(
            f"ProGAN grows from 4x4 by doubling: config.model.resolution={resolution} must be a "
            "power of two >= 4 (e.g. 32 for MNIST padded from 28, 64 for emoji)."
        )
    return level


def padded_resolution(cfg, image_shape) -> int:
    """config.model.resolution (0: the smallest power of two >= 4 holding the images), which
    the images of `image_shape` are padded to; a ConfigError if they do not fit."""
    height, width = image_shape[:2]
    resolution = int(cfg.get("resolution", 0)) or 2 ** max(
        2, math.ceil(math.log2(max(height, width)))
    )
    resolution_levels(resolution)
    if height > resolution or width > resolution:
        raise ConfigError(
            f"The images are {height}x{width}, larger than config.model.resolution={resolution}. "
            f"Set it to a power of two >= {max(height, width)}, or add 'resize:{resolution}' "
            "to config.data.ops."
        )
    return resolution


class Generator(nn.Module):
    resolution: int = 32
    channels: int = 1
    fmap_base: int = 1024
    fmap_max: int = 128
    dtype: jnp.dtype = jnp.float32

    def _nf(self, stage):
        return num_features(stage, self.fmap_base, self.fmap_max)

    def _block(self, x, level):
        conv = lambda n, name: eq.EqualizedConv(n, 3, dtype=self.dtype, name=name)
        nf = self._nf(level - 1)
        if level == 2:  # the latent as a 4x4 map: a dense layer (gain sqrt(2)/4), then a conv
            x = eq.EqualizedDense(16 * nf, gain=eq.HE_GAIN / 4, dtype=self.dtype, name="dense_4")(x)
            x = eq.pixel_norm(_act(x.reshape(x.shape[0], 4, 4, nf)))
            return eq.pixel_norm(_act(conv(nf, "conv_4")(x)))
        x = eq.upscale2d(x)
        x = eq.pixel_norm(_act(conv(nf, f"conv0_{2**level}")(x)))
        return eq.pixel_norm(_act(conv(nf, f"conv1_{2**level}")(x)))

    def _to_rgb(self, x, level):
        name = f"to_rgb_{2**level}"
        return eq.EqualizedConv(self.channels, 1, gain=1.0, dtype=self.dtype, name=name)(x)

    @nn.compact
    def __call__(self, z, level: int | None = None, alpha=1.0):
        """Images in about [-1, 1] at resolution 2**level (default: the full one), with
        level's to_rgb blended in by `alpha` (1: level alone)."""
        top = resolution_levels(self.resolution)
        level = top if level is None else level
        x = eq.pixel_norm(jnp.asarray(z, jnp.float32))
        previous = None
        for lv in range(2, level + 1):
            if lv == level:
                previous = x
            x = self._block(x, lv)
        image = self._to_rgb(x, level)
        if level > 2:
            low = eq.upscale2d(self._to_rgb(previous, level - 1))
            image = eq.lerp(low, image, alpha)
        if self.is_initializing():  # create every resolution's parameters, not just level's
            for lv in range(level + 1, top + 1):
                x = self._block(x, lv)
                self._to_rgb(x, lv)
            for lv in range(2, level - 1):
                self._to_rgb(jnp.zeros((1, 2**lv, 2**lv, self._nf(lv - 1)), self.dtype), lv)
        return jnp.asarray(image, jnp.float32)


class Discriminator(nn.Module):
    resolution: int = 32
    fmap_base: int = 1024
    fmap_max: int = 128
    mbstd_group_size: int = 4
    dtype: jnp.dtype = jnp.float32

    def _nf(self, stage):
        return num_features(stage, self.fmap_base, self.fmap_max)

    def _from_rgb(self, x, level):
        name = f"from_rgb_{2**level}"
        return _act(eq.EqualizedConv(self._nf(level - 1), 1, dtype=self.dtype, name=name)(x))

    def _block(self, x, level):
        conv = lambda n, k, name: eq.EqualizedConv(n, k, dtype=self.dtype, name=name)
        if level == 2:  # minibatch stddev, conv, dense to nf(0), dense to the score
            x = eq.minibatch_stddev(x, self.mbstd_group_size)
            x = _act(conv(self._nf(1), 3, "conv_4")(x))
            x = _act(
                eq.EqualizedDense(self._nf(0), dtype=self.dtype, name="dense0_4")(
                    x.reshape(x.shape[0], -1)
                )
            )
            return eq.EqualizedDense(1, gain=1.0, dtype=self.dtype, name="dense1_4")(x)
        x = _act(conv(self._nf(level - 1), 3, f"conv0_{2**level}")(x))
        x = _act(conv(self._nf(level - 2), 3, f"conv1_{2**level}")(x))
        return eq.downscale2d(x)

    @nn.compact
    def __call__(self, images, alpha=1.0):
        """Scores [n] of images at resolution 2**level (read from their shape)."""
        top = resolution_levels(self.resolution)
        level = resolution_levels(images.shape[1])
        if self.is_initializing():  # every resolution's from_rgb and blocks
            for lv in range(top, level, -1):
                self._block(self._from_rgb(jnp.zeros((1, 2**lv, 2**lv, images.shape[-1])), lv), lv)
            for lv in range(2, level - 1):
                self._from_rgb(jnp.zeros((1, 2**lv, 2**lv, images.shape[-1])), lv)
        images = jnp.asarray(images, self.dtype)
        x = self._block(self._from_rgb(images, level), level)
        if level > 2:
            low = self._from_rgb(eq.downscale2d(images), level - 1)
            x = eq.lerp(low, x, alpha)
            for lv in range(level - 1, 1, -1):
                x = self._block(x, lv)
        return jnp.asarray(x, jnp.float32)[:, 0]


def build(cfg, image_shape):
    """{generator, discriminator} for images of `image_shape`, grown to cfg.resolution
    (0: the smallest power of two holding the image; smaller images are padded to it)."""
    channels = image_shape[-1]
    resolution = padded_resolution(cfg, image_shape)
    common = dict(
        resolution=resolution,
        fmap_base=int(cfg.fmap_base),
        fmap_max=int(cfg.fmap_max),
        dtype=jnp.dtype(cfg.get("dtype", "float32")),
    )
    return {
        "generator": Generator(channels=channels, **common),
        "discriminator": Discriminator(mbstd_group_size=int(cfg.mbstd_group_size), **common),
    }
