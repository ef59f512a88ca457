"""Batch transforms that run on the device, inside the compiled train step."""

import jax
import jax.numpy as jnp

from gendl.data.sampler import to_float

BINARIZE_MODES = ("", "dynamic", "threshold")
# The image features the train step prepares itself (`prepare_images`, maybe binarised).
PREPARED = ("image", "labelled_image")


def prepare_images(images, *, binarize: str = "", key=None):
    """uint8 images -> float32 in [0, 1], optionally binarised.

    "dynamic": a fresh Bernoulli sample of every pixel each time an image is used (the
    standard protocol for likelihoods on MNIST, Salakhutdinov & Murray 2008; Burda et al.
    2015). "threshold": pixels > 0.5 become 1.
    """
    x = to_float(images)
    if binarize == "dynamic":
        return jax.random.bernoulli(key, x).astype(jnp.float32)
    if binarize == "threshold":
        return (x > 0.5).astype(jnp.float32)
    if binarize:
        raise ValueError(f"binarize must be one of {BINARIZE_MODES}, got {binarize!r}")
    return x


def scale_stream_images(batch: dict) -> dict:
    """The uint8 image features other than the prepared `image` (extra streams'
    "<stream>/<feature>", paired folders' "a" and "b"; [count, b, H, W, C]) as float32 in
    [0, 1], like the main stream's images (without binarisation)."""
    return {
        k: to_float(v)
        for k, v in batch.items()
        if k not in PREPARED and v.dtype == jnp.uint8 and v.ndim == 5
    }
