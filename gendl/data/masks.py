"""Inpainting masks, drawn on the device: float [n, H, W, 1], 1 where a pixel is missing.

  centre         the hole of the context encoder's main experiments (Pathak et al. 2016,
                 sec. 4): the central square of half the side, a quarter of the area;
  random_blocks  the paper's "random block" masks: several smaller, possibly overlapping
                 blocks, together covering at most a quarter of the image;
  random_square  one size x size hole at a uniformly random place (CC-GAN's missing patch).

A rule's mask depends only on its key and the shape, so an evaluation with a fixed key scores
every model on the same holes. `get(spec)` turns a config string ("centre", "random_blocks",
"random_blocks:0.25:8", "random_square:14") into `rule(rng, shape) -> mask`.
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError


def _grid(shape):
    """Row and column indices [1, H, 1, 1] and [1, 1, W, 1] of an [n, H, W, ...] shape."""
    height, width = shape[1], shape[2]
    return jnp.arange(height)[None, :, None, None], jnp.arange(width)[None, None, :, None]


def _box(shape, top, left, box_h, box_w):
    """1 inside the boxes [top, top + box_h) x [left, left + box_w), one box per image:
    top, left, box_h, box_w are [n] (or scalars)."""
    rows, cols = _grid(shape)

    def per_image(v):
        return jnp.reshape(jnp.broadcast_to(v, (shape[0],)), (-1, 1, 1, 1))

    top, left = per_image(top), per_image(left)
    inside = (
        (rows >= top)
        & (rows < top + per_image(box_h))
        & (cols >= left)
        & (cols < left + per_image(box_w))
    )
    return inside.astype(jnp.float32)


def centre(shape) -> jax.Array:
    """The central hole of half the side in each dimension (a quarter of the area; sides
    rounded down to an even split of the rest), the same for every image of [n, H, W, ...]."""
    n, height, width = shape[0], shape[1], shape[2]
    box_h, box_w = height // 2, width // 2
    return _box((n, height, width), (height - box_h) // 2, (width - box_w) // 2, box_h, box_w)


def random_square(rng, shape, size) -> jax.Array:
    """One size x size hole per image, at a uniformly random place inside the image."""
    n, height, width = shape[0], shape[1], shape[2]
    if not 0 < size <= min(height, width):
        raise ConfigError(
            f"A random square hole of side {size} does not fit {height}x{width} images; use a "
            f"side between 1 and {min(height, width)} (e.g. 'random_square:{height // 2}')."
        )
    k_top, k_left = jax.random.split(rng)
    top = jax.random.randint(k_top, (n,), 0, height - size + 1)
    left = jax.random.randint(k_left, (n,), 0, width - size + 1)
    return _box((n, height, width), top, left, size, size)


def random_blocks(rng, shape, max_coverage=0.25, num_blocks=8, min_side=1 / 8, max_side=1 / 4):
    """The paper's random-block masks: `num_blocks` candidate blocks per image, each side a
    uniform fraction in [min_side, max_side] of the image's side, at uniformly random places,
    added one after another unless the union would then cover more than `max_coverage` of
    the image. Overlaps are allowed, so the coverage is at most max_coverage, and the first
    block (at most max_side^2 of the area) is always taken."""
    n, height, width = shape[0], shape[1], shape[2]
    if not 0 < max_coverage <= 1 or num_blocks < 1 or not 0 < min_side <= max_side <= 1:
        raise ConfigError(
            f"random_blocks needs 0 < max_coverage <= 1 (got {max_coverage}), num_blocks >= 1 "
            f"(got {num_blocks}) and 0 < min_side <= max_side <= 1 (got {min_side}, "
            f"{max_side}); e.g. 'random_blocks:0.25:8'."
        )
    lo_h, hi_h = max(1, round(min_side * height)), max(1, round(max_side * height))
    lo_w, hi_w = max(1, round(min_side * width)), max(1, round(max_side * width))
    keys = jax.random.split(rng, 4)
    box_h = jax.random.randint(keys[0], (num_blocks, n), lo_h, hi_h + 1)
    box_w = jax.random.randint(keys[1], (num_blocks, n), lo_w, hi_w + 1)
    top = (jax.random.uniform(keys[2], (num_blocks, n)) * (height - box_h + 1)).astype(jnp.int32)
    left = (jax.random.uniform(keys[3], (num_blocks, n)) * (width - box_w + 1)).astype(jnp.int32)
    limit = max_coverage * height * width

    def add(mask, block):
        candidate = jnp.maximum(mask, _box((n, height, width), *block))
        fits = jnp.sum(candidate, axis=(1, 2, 3), keepdims=True) <= limit
        return jnp.where(fits, candidate, mask), None

    empty = jnp.zeros((n, height, width, 1), jnp.float32)
    mask, _ = jax.lax.scan(add, empty, (top, left, box_h, box_w))
    return mask


def dilate(mask, pixels: int) -> jax.Array:
    """The mask grown by `pixels` in every direction (a square structuring element)."""
    if pixels <= 0:
        return mask
    window = (1, 2 * pixels + 1, 2 * pixels + 1, 1)
    return jax.lax.reduce_window(mask, 0.0, jax.lax.max, window, (1, 1, 1, 1), "SAME")


RULES = ("centre", "random_blocks", "random_square")


def get(spec: str):
    """The mask rule of a config string, as `rule(rng, shape) -> [n, H, W, 1]`:
    "centre" (or "center"; the key is unused), "random_blocks[:max_coverage[:num_blocks]]",
    "random_square:SIZE"."""
    name, *args = str(spec).split(":")
    try:
        values = [float(a) for a in args]
    except ValueError:
        values = None
    if name in ("centre", "center") and not args:
        return lambda rng, shape: centre(shape)
    if name == "random_blocks" and values is not None and len(values) <= 2:
        coverage = values[0] if values else 0.25
        count = int(values[1]) if len(values) > 1 else 8
        return lambda rng, shape: random_blocks(rng, shape, coverage, count)
    if name == "random_square" and values is not None and len(values) == 1:
        return lambda rng, shape: random_square(rng, shape, int(values[0]))
    raise ConfigError(
        f"Unknown mask rule {spec!r} (config.objective.mask). Use 'centre' (the central quarter "
        "of the image), 'random_blocks' or 'random_blocks:<max coverage>:<blocks>' (e.g. "
        "'random_blocks:0.25:8'), or 'random_square:<side in pixels>'."
    )
