"""Inpainting masks, drawn on the device: float [n, H, W, 1], 1 where a pixel is missing.

  random_square  one size x size hole at a uniformly random place in each image (the missing
                 patch of CC-GAN, Denton et al. 2016).

A mask depends only on its key and the shape, so a fixed key gives every model the same holes.
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError


def random_square(rng, shape, size) -> jax.Array:
    """One `size` x `size` hole per image of an [n, H, W, ...] `shape`, its top-left corner
    uniform over the places where the whole square fits."""
    n, height, width = int(shape[0]), int(shape[1]), int(shape[2])
    size = int(size)
    if not 0 < size <= min(height, width):
        raise ConfigError(
            f"A square hole of side {size} does not fit {height}x{width} images; choose a side "
            f"between 1 and {min(height, width)} (half the side, {min(height, width) // 2}, "
            "is CC-GAN's)."
        )
    k_top, k_left = jax.random.split(rng)
    top = jax.random.randint(k_top, (n, 1, 1, 1), 0, height - size + 1)
    left = jax.random.randint(k_left, (n, 1, 1, 1), 0, width - size + 1)
    rows = jnp.arange(height)[None, :, None, None]
    cols = jnp.arange(width)[None, None, :, None]
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return inside.astype(jnp.float32)
