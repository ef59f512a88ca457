"""Low-resolution inputs derived from high-resolution images, and the bicubic upscaling that
super-resolution is measured against (SRGAN, Ledig et al. 2017, sec. 3: "the LR images are
obtained by a bicubic kernel with downsampling factor r").

Both run on the device (jnp) on images in [0, 1], [n, H, W, C]. The train step, the
super-resolution evaluator and the bicubic baseline all call these, so training inputs,
test inputs and the floor cannot drift apart.

  downscale    bicubic (Keys, a = -0.5) with antialiasing: the kernel is widened by the
               factor, as Pillow's and MATLAB's imresize do, so no detail aliases into the
               small image; then rounded to 8 bits, as a stored low-resolution image is.
  upscale      bicubic, clipped to [0, 1]: the baseline every model has to beat.
"""

import jax
import jax.numpy as jnp

from gendl.config import ConfigError


def check_scale(scale: int, height: int, width: int) -> None:
    """A ConfigError unless `scale` is a power of two >= 2 dividing both sides."""
    if scale < 2 or scale & (scale - 1):
        raise ConfigError(
            f"config.model.scale={scale}; use a power of two >= 2 (the generator "
            "upsamples by sub-pixel convolutions of x2 each), e.g. 4."
        )
    if height % scale or width % scale:
        raise ConfigError(
            f"The {height}x{width} training images do not divide by config.model.scale="
            f"{scale}: resize or crop them to a multiple of it in config.data.ops "
            f"(e.g. 'random_crop:{height // scale * scale}')."
        )


def downscale(images, scale: int):
    """[n, H, W, C] in [0, 1] -> [n, H/scale, W/scale, C] in [0, 1], on the 1/255 grid."""
    n, h, w, c = images.shape
    small = jax.image.resize(
        jnp.asarray(images, jnp.float32), (n, h // scale, w // scale, c), "bicubic", antialias=True
    )
    return jnp.round(jnp.clip(small, 0.0, 1.0) * 255.0) / 255.0


def upscale(images, scale: int):
    """[n, h, w, C] in [0, 1] -> bicubic [n, h * scale, w * scale, C] in [0, 1]."""
    n, h, w, c = images.shape
    big = jax.image.resize(
        jnp.asarray(images, jnp.float32), (n, h * scale, w * scale, c), "bicubic"
    )
    return jnp.clip(big, 0.0, 1.0)


def nearest(images, scale: int):
    """Each pixel repeated scale x scale times: how a low-resolution input is shown."""
    return jnp.repeat(jnp.repeat(jnp.asarray(images), scale, axis=1), scale, axis=2)
