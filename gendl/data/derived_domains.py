"""Second image domains derived from the first on the device: CoGAN's MNIST tasks (Liu &
Tuzel 2016, sec. 5) pair a digit with its edge image or its negative.

Each is a jnp function of images in [0, 1] [n, H, W, C] -> [n, H, W, C] in [0, 1]. The CoGAN
objective derives its domain-2 training images with it, and the pair-agreement metric applies
the same function to generated domain-1 images (gendl.evaluation.pair_agreement), so training
data and metric cannot drift apart.

  "edges"     dilation by a 3x3 square minus the image (the authors' code: cv2.dilate with
              np.ones((3, 3)) - img): a pixel's brightest 8-neighbour minus itself, so an
              edge is the bright rim just outside a stroke. Outside the image counts as 0
              (images are >= 0, so this is cv2's border rule for dilation).
  "negative"  1 - image; its own inverse.
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError


def dilate3x3(x):
    """Max over each pixel's 3x3 neighbourhood, zero outside the image."""
    return jax.lax.reduce_window(
        x, 0.0, jax.lax.max, (1, 3, 3, 1), (1, 1, 1, 1), ((0, 0), (1, 1), (1, 1), (0, 0))
    )


def edges(x):
    x = jnp.asarray(x, jnp.float32)
    return dilate3x3(x) - x


def negative(x):
    return 1.0 - jnp.asarray(x, jnp.float32)


# name -> (transform, its inverse or None): the inverse lets a digit classifier read domain 2.
TRANSFORMS = {"edges": (edges, None), "negative": (negative, negative)}


def get(name: str):
    """(transform, inverse or None) of `name`; a ConfigError for unknown names."""
    if name not in TRANSFORMS:
        raise ConfigError(
            f"config.objective.transform={name!r} is not a derived domain gendl knows; use one "
            f"of {', '.join(sorted(TRANSFORMS))} (gendl/data/derived_domains.py)."
        )
    return TRANSFORMS[name]
