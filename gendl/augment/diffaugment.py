"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN
Training"): colour, translation and cutout, applied with probability 1 to every image the
discriminator sees (real and generated, in both networks' steps), differentiable in the
image so the generator learns through them.

Every random parameter is drawn from the key and the batch size alone, never from the
images, so one key transforms a real and a fake batch identically; the trainer gives each
batch its own key. Images are in [-1, 1], NHWC. The official code's ops and ranges:
  color:       brightness + U(-0.5, 0.5); saturation: mean over channels + (x - mean) * U(0, 2);
               contrast: mean over pixels + (x - mean) * U(0.5, 1.5)
  translation: an integer shift of up to 1/8 of each side, zero padding
  cutout:      a square of half the side at a random place set to 0
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError

OPS = ("color", "translation", "cutout")


def color(x, key):
    n = x.shape[0]
    kb, ks, kc = jax.random.split(key, 3)
    x = x + (jax.random.uniform(kb, (n, 1, 1, 1)) - 0.5)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    x = (x - mean) * (jax.random.uniform(ks, (n, 1, 1, 1)) * 2.0) + mean
    mean = jnp.mean(x, axis=(1, 2, 3), keepdims=True)
    return (x - mean) * (jax.random.uniform(kc, (n, 1, 1, 1)) + 0.5) + mean


def shift_indices(size: int, shift):
    """Source index of each output position for a shift [n] (integers): [n, size]."""
    return jnp.arange(size)[None, :] - shift[:, None]


def translation(x, key, ratio: float = 0.125):
    n, h, w, _ = x.shape
    ky, kx = jax.random.split(key)
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = jax.random.randint(ky, (n,), -sy, sy + 1)
    dx = jax.random.randint(kx, (n,), -sx, sx + 1)
    rows, cols = shift_indices(h, dy), shift_indices(w, dx)  # [n, h], [n, w]
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]
    gathered = jax.vmap(lambda img, r, c: img[jnp.clip(r, 0, h - 1)][:, jnp.clip(c, 0, w - 1)])(
        x, rows, cols
    )
    return gathered * inside[..., None].astype(x.dtype)


def cutout(x, key, ratio: float = 0.5):
    n, h, w, _ = x.shape
    ky, kx = jax.random.split(key)
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # The square's top-left corner; it may stick out of the image (the official offsets).
    top = jax.random.randint(ky, (n,), 0, h + (1 - ch % 2)) - ch // 2
    left = jax.random.randint(kx, (n,), 0, w + (1 - cw % 2)) - cw // 2
    r, c = jnp.arange(h)[None, :], jnp.arange(w)[None, :]
    in_rows = (r >= top[:, None]) & (r < top[:, None] + ch)
    in_cols = (c >= left[:, None]) & (c < left[:, None] + cw)
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])
    return x * keep[..., None].astype(x.dtype)


_FUNCTIONS = {"color": color, "translation": translation, "cutout": cutout}


def parse_policy(policy: str) -> tuple:
    """'color,translation,cutout' -> the ops in order; a ConfigError names unknown ones."""
    ops = tuple(filter(None, (p.strip() for p in policy.split(","))))
    unknown = [o for o in ops if o not in _FUNCTIONS]
    if unknown or not ops:
        raise ConfigError(
            f"config.objective.diffaug_policy={policy!r}: give a comma-separated list of "
            f"{', '.join(OPS)} (DiffAugment's ops), e.g. 'color,translation,cutout'."
        )
    return ops


def augment(x, key, ops=OPS):
    """x [n, H, W, C] in [-1, 1] through `ops` in order, each with its own key from `key`."""
    for i, op in enumerate(ops):
        x = _FUNCTIONS[op](x, jax.random.fold_in(key, i))
    return x
