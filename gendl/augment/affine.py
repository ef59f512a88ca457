"""Random affine warps of images (rotation, isotropic scale, translation), bilinear and
differentiable in the image, for views of a digit that keep its class and change its style.

Each image gets its own rotation U(-r, r) degrees, scale U(1 - s, 1 + s) and shift
U(-t, t) pixels along each axis, about the image centre; pixels that come from outside the
image are 0 (the background of gendl's [0, 1] images). Used by InfoGAN's
`objective.code_augment` (`objectives/infogan.py`).
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError

KEYS = ("rotation_degrees", "scale", "translate_pixels")


def parse(cfg):
    """(rotation in degrees, scale spread, shift in pixels) from a config dict, refusing
    unknown keys and negative ranges."""
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"config.objective.code_augment has unknown keys {unknown}; it takes "
            f"{list(KEYS)} (ranges of the random rotation, scale and shift), e.g. "
            "--config.objective.code_augment.rotation_degrees=15."
        )
    values = tuple(float(cfg.get(k, 0.0)) for k in KEYS)
    if any(v < 0 for v in values) or values[1] >= 1:
        raise ConfigError(
            f"config.objective.code_augment={cfg}: the ranges must be >= 0 and the scale "
            "spread below 1 (a scale of 1 - s must stay positive)."
        )
    return values


def warp(x, matrices, shifts):
    """x [n, h, w, c]; output pixel p reads x at centre + M (p - centre - shift), bilinear.
    matrices [n, 2, 2] (the inverse map), shifts [n, 2] in pixels (rows, cols)."""
    n, h, w, c = x.shape
    centre = jnp.array([(h - 1) / 2.0, (w - 1) / 2.0])
    grid = jnp.stack(jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij"), -1)
    grid = grid.reshape(-1, 2).astype(x.dtype)  # [h*w, 2]

    def one(img, m, t):
        src = (grid - centre - t) @ m.T + centre  # [h*w, 2]
        sample = lambda ch: jax.scipy.ndimage.map_coordinates(
            ch, [src[:, 0], src[:, 1]], order=1, mode="constant", cval=0.0
        )
        return jax.vmap(sample, in_axes=-1, out_axes=-1)(img).reshape(h, w, c)

    return jax.vmap(one)(x, matrices, shifts)


def random_affine(x, key, rotation_degrees, scale, translate_pixels):
    n = x.shape[0]
    kr, ks, kt = jax.random.split(key, 3)
    theta = jnp.deg2rad(rotation_degrees) * jax.random.uniform(kr, (n,), minval=-1, maxval=1)
    s = 1.0 + scale * jax.random.uniform(ks, (n,), minval=-1, maxval=1)
    t = translate_pixels * jax.random.uniform(kt, (n, 2), minval=-1, maxval=1)
    cos, sin = jnp.cos(theta), jnp.sin(theta)
    # The inverse of "scale by s, rotate by theta": rotate by -theta, divide by s.
    inverse = jnp.stack([jnp.stack([cos, sin], -1), jnp.stack([-sin, cos], -1)], -2)
    return warp(x, inverse / s[:, None, None], t)
