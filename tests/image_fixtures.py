"""Tiny image folders written by the tests: paired emoji-like folders for pix2pix."""

import os

import numpy as np
from PIL import Image


def write_paired_emoji(root, n=24, size=40):
    """<root>/emoji/google and <root>/emoji/twitter: n RGBA PNG pairs of the same names, the
    twitter image a colour-inverted copy of the google one (a learnable translation)."""
    for style in ("google", "twitter"):
        os.makedirs(os.path.join(root, "emoji", style), exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        a = rng.integers(0, 256, (size, size, 4), dtype=np.uint8)
        a[..., 3] = np.where(rng.random((size, size)) < 0.8, 255, 0)
        b = a.copy()
        b[..., :3] = 255 - a[..., :3]
        name = f"e{i:03d}.png"
        Image.fromarray(a, "RGBA").save(os.path.join(root, "emoji", "google", name))
        Image.fromarray(b, "RGBA").save(os.path.join(root, "emoji", "twitter", name))
    return os.path.join(root, "emoji")
