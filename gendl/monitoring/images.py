"""Image grids and their PNG encoding (Pillow) for sample dumps: 8-bit grey or RGB PNGs,
which every viewer and TensorBoard can read."""

import io
import math
import os
import secrets

import numpy as np
from PIL import Image

_MODES = {1: "L", 3: "RGB"}  # channels -> Pillow mode (PNG colour type 0 or 2)


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Converts float images in [0, 1] to uint8; uint8 input passes through unchanged."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    # Clip first: generator outputs routinely overshoot [0, 1] slightly, and a wrap-around on
    # the uint8 cast would turn a bright pixel black.
    scaled = np.clip(images.astype(np.float32), 0.0, 1.0) * 255.0
    return np.round(scaled).astype(np.uint8)


def make_grid(
    images: np.ndarray, ncol: int | None = None, pad: int = 2, pad_value: float = 1.0
) -> np.ndarray:
    """Tiles `images` [N, H, W, C] (float in [0, 1] or uint8) into one uint8 [H', W', C] image.

    Images fill rows left to right; `ncol` defaults to ceil(sqrt(N)) for a near-square grid.
    `pad` pixels of `pad_value` (in [0, 1] units) separate the tiles and surround the grid.
    Empty cells in the last row are left at `pad_value`.
    """
    images = to_uint8(images)
    if images.ndim != 4 or images.shape[-1] not in _MODES:
        raise ValueError(f"expected [N, H, W, C] with C in (1, 3), got {images.shape}")
    n, h, w, c = images.shape
    if n == 0:
        raise ValueError("make_grid needs at least one image")
    ncol = min(ncol or math.ceil(math.sqrt(n)), n)
    nrow = math.ceil(n / ncol)
    fill = to_uint8(np.float32(pad_value))
    grid = np.full((pad + nrow * (h + pad), pad + ncol * (w + pad), c), fill, dtype=np.uint8)
    for i in range(n):
        top = pad + (i // ncol) * (h + pad)
        left = pad + (i % ncol) * (w + pad)
        grid[top : top + h, left : left + w] = images[i]
    return grid


def encode_png(image: np.ndarray) -> bytes:
    """Encodes a uint8 image [H, W], [H, W, 1] or [H, W, 3] as PNG bytes."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"encode_png needs uint8, got {image.dtype}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[-1] not in _MODES:
        raise ValueError(f"expected [H, W], [H, W, 1] or [H, W, 3], got {image.shape}")
    buffer = io.BytesIO()
    pixels = image[..., 0] if image.shape[-1] == 1 else image
    Image.fromarray(np.ascontiguousarray(pixels), _MODES[image.shape[-1]]).save(buffer, "PNG")
    return buffer.getvalue()


def write_atomic(path: str, data: bytes) -> None:
    """Writes `data` to `path` via a temp file + rename so readers never see a partial file.

    The temp file is created with mode 0666 less the umask, as `open()` would create `path`
    (tempfile.mkstemp's 0600 would make the result unreadable to the rest of a team).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".tmp-{secrets.token_hex(6)}-{os.path.basename(path)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_png(path: str, image: np.ndarray) -> None:
    """Encodes a uint8 image as PNG and writes it atomically to `path`."""
    write_atomic(path, encode_png(image))
