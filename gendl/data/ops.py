"""Host-side preprocessing of decoded images, by name (`config.data.ops`).

Each op is a string ``"name"`` or ``"name:arguments"`` and maps one example's image features
(uint8 [H, W, C] arrays; every feature but `label` of a folder source) to new uint8 arrays. The
ops of one example see all its image features at once, so the random ops draw ONCE per example
and apply the same crop offset / flip to every paired feature (pix2pix A and B stay aligned).

    "rgb"              3 channels: grey repeated, alpha dropped (use "alpha_*" to composite)
    "grey"             1 channel (Pillow's "L" luma, ITU-R 601-2)
    "alpha_white"      RGBA/LA composited onto white -> RGB; "alpha_black" onto black;
    "alpha:R,G,B"      onto any colour. Images without alpha just become RGB.
    "resize:N"         shorter side to N, aspect kept; "resize:H,W" to exactly H x W (bicubic)
    "center_crop:H[,W]"
    "random_crop:H[,W]"  one offset per example, shared by its features
    "random_flip"      left-right flip with probability 1/2, shared by its features
    "mutate:P"         each pixel value replaced, with probability P percent, by a uniform
                       random value in 0..255 (Ren et al. 2019's background-model inputs)

Decoding happens in the source (folder sources decode with Pillow to L, RGB or RGBA); scaling
to [0, 1] happens on the device, in the train step, as for the prepared datasets.
"""

import numpy as np
from PIL import Image

from gendl.config import ConfigError
from gendl.data.errors import DataError

_RESAMPLE = Image.Resampling.BICUBIC


def fixed_prefix(specs) -> int:
    """How many leading ops of `specs` draw nothing from the rng: those are a fixed function of
    the decoded images, which a source may compute once per file and keep (folder.py)."""
    for n, spec in enumerate(specs):
        if str(spec).partition(":")[0] in _RANDOM_MAKERS:
            return n
    return len(specs)


def parse(specs) -> list:
    """The ops of `config.data.ops` as callables ``(images: dict, rng) -> dict``; raises a
    ConfigError naming a bad entry."""
    return [_parse_one(str(spec)) for spec in specs]


def apply(ops: list, images: dict, rng: np.random.Generator) -> dict:
    for op in ops:
        images = op(images, rng)
    return images


def _parse_one(spec: str):
    name, _, args = spec.partition(":")
    try:
        numbers = [int(a) for a in args.split(",")] if args else []
    except ValueError:
        numbers = None
    op = _MAKERS[name](numbers) if name in _MAKERS and numbers is not None else None
    if op is None:
        raise ConfigError(
            f"config.data.ops has {spec!r}, which is not an op gendl knows. Use entries such as "
            "'rgb', 'grey', 'alpha_white', 'alpha:R,G,B', 'resize:N', 'resize:H,W', "
            "'center_crop:N', 'random_crop:N', 'random_flip', 'mutate:P' (P percent, 0..100) "
            "(see gendl/data/ops.py)."
        )
    return op


# name -> maker(arguments): the op, or None when the arguments do not fit. Two tables, so
# that a new op has to say whether it draws from the rng (fixed_prefix relies on it).
_FIXED_MAKERS = {
    "rgb": lambda n: _each(_to_rgb) if not n else None,
    "grey": lambda n: _each(_to_grey) if not n else None,
    "alpha_white": lambda n: _alpha((255, 255, 255)) if not n else None,
    "alpha_black": lambda n: _alpha((0, 0, 0)) if not n else None,
    "alpha": lambda n: _alpha(tuple(n)) if len(n) == 3 else None,
    "resize": lambda n: _resize(*n) if len(n) in (1, 2) else None,
    "center_crop": lambda n: _crop(*_size(n), random=False) if len(n) in (1, 2) else None,
}
_RANDOM_MAKERS = {
    "random_crop": lambda n: _crop(*_size(n), random=True) if len(n) in (1, 2) else None,
    "random_flip": lambda n: _flip if not n else None,
    "mutate": lambda n: _mutate(n[0]) if len(n) == 1 and 0 <= n[0] <= 100 else None,
}
_MAKERS = {**_FIXED_MAKERS, **_RANDOM_MAKERS}


def _size(numbers):
    return (numbers[0], numbers[-1])


def _each(fn):
    return lambda images, rng: {k: fn(v) for k, v in images.items()}


def _pil(x: np.ndarray) -> Image.Image:
    return Image.fromarray(x[..., 0] if x.shape[-1] == 1 else x)


def _array(im: Image.Image) -> np.ndarray:
    x = np.asarray(im, np.uint8)
    return x[..., None] if x.ndim == 2 else x


def _to_rgb(x):
    if x.shape[-1] in (1, 2):
        return np.repeat(x[..., :1], 3, axis=-1)
    return x[..., :3]


def _to_grey(x):
    return _array(_pil(_to_rgb(x)).convert("L"))


def _alpha(colour):
    background = np.asarray(colour, np.float32)

    def composite(x):
        if x.shape[-1] not in (2, 4):
            return _to_rgb(x)
        alpha = x[..., -1:].astype(np.float32) / 255.0
        rgb = _to_rgb(x[..., :-1]).astype(np.float32)
        return np.rint(rgb * alpha + background * (1.0 - alpha)).astype(np.uint8)

    return _each(composite)


def _resize(*size):
    def resize(x):
        h, w = x.shape[:2]
        if len(size) == 2:
            out_h, out_w = size
        else:  # shorter side to size[0]
            scale = size[0] / min(h, w)
            out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
        if (out_h, out_w) == (h, w):
            return x
        return _array(_pil(x).resize((out_w, out_h), _RESAMPLE))

    return _each(resize)


def _crop(height, width, *, random):
    def crop(images, rng):
        h, w = _common_size(images)
        if h < height or w < width:
            raise DataError(
                f"An image of {h}x{w} pixels is smaller than the crop {height}x{width} of "
                "config.data.ops. Resize it first (e.g. 'resize:N' before the crop) or crop less."
            )
        if random:  # one draw per example, shared by all its image features
            top, left = int(rng.integers(h - height + 1)), int(rng.integers(w - width + 1))
        else:
            top, left = (h - height) // 2, (w - width) // 2
        return {k: v[top : top + height, left : left + width] for k, v in images.items()}

    return crop


def _flip(images, rng):
    if rng.random() < 0.5:
        return {k: v[:, ::-1] for k, v in images.items()}
    return images


def _mutate(percent):
    def mutate(images, rng):
        out = {}
        for k, v in images.items():
            replace = rng.random(v.shape) < percent / 100
            out[k] = np.where(replace, rng.integers(0, 256, v.shape, dtype=np.uint8), v)
        return out

    return mutate


def _common_size(images: dict) -> tuple:
    sizes = {v.shape[:2] for v in images.values()}
    if len(sizes) > 1:
        raise DataError(
            f"The paired images of one example have different sizes {sorted(sizes)}, so one crop "
            "cannot apply to all. Add 'resize:H,W' before the crop in config.data.ops."
        )
    return sizes.pop()
