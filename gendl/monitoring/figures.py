"""Figures for autoencoders, VAEs and GANs, rendered straight to uint8 images.

Everything here returns a uint8 [H, W, C] array that `images.write_png` (or the TensorBoard
image summary) takes as is, so monitoring needs no matplotlib or Pillow at runtime: tiling
reuses `images.make_grid` and the scatter plot rasterizes its points, box and legend with numpy.

The latent helpers (`linear_interpolation`, `slerp`) use jax.numpy so that they also run under
`jit` and on the accelerator next to the decoder they feed; numpy arrays are accepted as input.
"""

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from gendl.monitoring.images import make_grid, to_uint8

# matplotlib's "tab10" qualitative palette: ten hues that stay distinguishable on white and for
# the common colour-vision deficiencies, and none of them is black (the box and text colour).
PALETTE = np.array(
    [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ],
    dtype=np.uint8,
)

# A 3x5 bitmap font for the digits 0-9, enough to label the legend without a font file. Every
# glyph touches all four sides of its 3x5 cell, so glyphs line up in a row of text.
_GLYPH_ROWS = (
    ("111", "101", "101", "101", "111"),  # 0
    ("010", "110", "010", "010", "111"),  # 1
    ("111", "001", "111", "100", "111"),  # 2
    ("111", "001", "111", "001", "111"),  # 3
    ("101", "101", "111", "001", "001"),  # 4
    ("111", "100", "111", "001", "111"),  # 5
    ("111", "100", "111", "101", "111"),  # 6
    ("111", "001", "001", "001", "001"),  # 7
    ("111", "101", "111", "101", "111"),  # 8
    ("111", "101", "111", "001", "111"),  # 9
)
DIGIT_GLYPHS = np.array([[[c == "1" for c in row] for row in g] for g in _GLYPH_ROWS], dtype=bool)

_BLACK = np.zeros(3, np.uint8)


def _as_nhwc(images: np.ndarray, name: str) -> np.ndarray:
    """uint8 [N, H, W, C]; a channel-less [N, H, W] batch is treated as grayscale."""
    images = to_uint8(np.asarray(images))
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"{name}: expected [N, H, W] or [N, H, W, C] with C in (1, 3)")
    return images


# --- autoencoder reconstructions ---------------------------------------------------------------


def reconstruction_grid(
    inputs: np.ndarray,
    outputs: np.ndarray,
    ncol: int | None = None,
    pad: int = 2,
    pad_value: float = 1.0,
    sep: int = 2,
    sep_value: float = 0.5,
) -> np.ndarray:
    """Tiles inputs [N, H, W(, C)] above their reconstructions `outputs` (same shape).

    Rows come in pairs: `ncol` inputs (default min(N, 8)), then the same `ncol` outputs right
    below them, so input i and output i share a column. Pairs are separated by a `sep`-pixel band
    of `sep_value` on top of the usual `pad`, so one pair is not read as the next one's inputs.
    Returns uint8 [H', W', C].
    """
    inputs = _as_nhwc(inputs, "inputs")
    outputs = _as_nhwc(outputs, "outputs")
    if inputs.shape != outputs.shape:
        raise ValueError(f"inputs {inputs.shape} and outputs {outputs.shape} differ in shape")
    n, h, w, c = inputs.shape
    if n == 0:
        raise ValueError("reconstruction_grid needs at least one image")
    ncol = min(ncol or 8, n)
    # Blank tiles pad a short last pair so its outputs stay under their inputs instead of
    # wrapping into the inputs' row.
    blank = np.full((ncol, h, w, c), to_uint8(np.float32(pad_value)), np.uint8)
    blocks = []
    for start in range(0, n, ncol):
        k = min(ncol, n - start)
        pair = np.concatenate(
            [inputs[start : start + k], blank[k:], outputs[start : start + k], blank[k:]]
        )
        blocks.append(make_grid(pair, ncol=ncol, pad=pad, pad_value=pad_value))
    band = np.full((sep, blocks[0].shape[1], c), to_uint8(np.float32(sep_value)), np.uint8)
    pieces = [blocks[0]]
    for block in blocks[1:]:
        pieces += [band, block]
    return np.concatenate(pieces, axis=0)


# --- latent interpolation ----------------------------------------------------------------------


def _interp_inputs(z0, z1, steps: int):
    if int(steps) != steps or steps < 2:
        raise ValueError(f"steps must be an integer >= 2 (endpoints included), got {steps}")
    z0, z1 = jnp.asarray(z0), jnp.asarray(z1)
    # Integer latents (e.g. from np.arange in a quick test) would otherwise truncate the mix.
    dtype = jnp.result_type(z0.dtype, z1.dtype, jnp.float32)
    z0, z1 = jnp.broadcast_arrays(z0.astype(dtype), z1.astype(dtype))
    return z0, z1, int(steps)


def _times(steps: int, like: jnp.ndarray) -> jnp.ndarray:
    """t in [0, 1], [steps, 1, ..., 1] so it broadcasts against a latent of `like`'s shape."""
    t = jnp.linspace(0.0, 1.0, steps, dtype=like.dtype)
    return t.reshape((steps,) + (1,) * like.ndim)


# The cores are jitted (steps static) because eager dispatch compiles every small op separately,
# which made one slerp call cost ~1 s on CPU; one fused compile per shape is ~0.1-0.3 s.
@partial(jax.jit, static_argnums=2)
def _lerp(z0: jnp.ndarray, z1: jnp.ndarray, steps: int) -> jnp.ndarray:
    t = _times(steps, z0)
    # (1 - t) * z0 + t * z1 rather than z0 + t * (z1 - z0): the former hits z1 exactly at t = 1.
    return (1.0 - t) * z0 + t * z1


@partial(jax.jit, static_argnums=(2, 3))
def _slerp(z0: jnp.ndarray, z1: jnp.ndarray, steps: int, dot_threshold: float) -> jnp.ndarray:
    t = _times(steps, z0)
    norms = jnp.linalg.norm(z0, axis=-1, keepdims=True) * jnp.linalg.norm(
        z1, axis=-1, keepdims=True
    )
    # A zero endpoint has no direction; cos = 0 keeps the arithmetic finite (the result is then
    # a plain rescaling of the other endpoint, which is what any direction would give).
    cos = jnp.sum(z0 * z1, axis=-1, keepdims=True) / jnp.where(norms > 0, norms, 1.0)
    cos = jnp.clip(cos, -1.0, 1.0)
    parallel = jnp.abs(cos) > dot_threshold
    # Evaluate the spherical branch at a harmless angle where it is not used, so jnp.where never
    # sees (nor back-propagates) a 0/0.
    omega = jnp.arccos(jnp.where(parallel, 0.0, cos))
    sin_omega = jnp.sin(omega)
    w0 = jnp.sin((1.0 - t) * omega) / sin_omega
    w1 = jnp.sin(t * omega) / sin_omega
    path = jnp.where(parallel, (1.0 - t) * z0 + t * z1, w0 * z0 + w1 * z1)
    # sin(omega) / sin(omega) may round to 1 - ulp; pin the endpoints so a strip of decoded
    # images starts and ends on exactly the codes it was given.
    return path.at[0].set(z0).at[-1].set(z1)


def linear_interpolation(z0, z1, steps: int) -> jnp.ndarray:
    """`steps` evenly spaced points from z0 to z1 (both included): [steps, *z0.shape]."""
    return _lerp(*_interp_inputs(z0, z1, steps))


def slerp(z0, z1, steps: int, dot_threshold: float = 0.9995) -> jnp.ndarray:
    """Spherical interpolation from z0 to z1 (both included) along the last axis.

    Under a Gaussian prior the mass sits on a shell of radius ~sqrt(d); the straight line between
    two samples cuts through the low-norm interior the decoder rarely saw, while the great-circle
    path keeps the norm (exactly, for equal-norm endpoints). Leading axes are a batch of pairs.
    Where |cos(angle)| > `dot_threshold` the vectors are nearly (anti-)parallel, sin(angle) ~ 0
    makes the weights blow up, and the great circle is ill-defined or nearly the chord, so those
    pairs fall back to linear interpolation. Returns [steps, *z0.shape].
    """
    z0, z1, steps = _interp_inputs(z0, z1, steps)
    if z0.ndim == 0:
        raise ValueError("slerp needs vectors, got scalars")
    return _slerp(z0, z1, steps, float(dot_threshold))


def interpolation_strip(
    images_rows: np.ndarray, pad: int = 2, pad_value: float = 1.0
) -> np.ndarray:
    """Tiles images_rows [rows, steps, H, W, C] (floats in [0, 1] or uint8) into one image.

    Each row is one interpolation, left endpoint to right endpoint, so it reads as a strip.
    Returns uint8 [H', W', C].
    """
    images_rows = to_uint8(np.asarray(images_rows))
    # Strictly 5-D: a 4-D array would be ambiguous between [steps, H, W, C] and
    # [rows, steps, H, W] for grayscale.
    if images_rows.ndim != 5:
        raise ValueError(f"expected [rows, steps, H, W, C], got {images_rows.shape}")
    rows, steps = images_rows.shape[:2]
    return make_grid(
        images_rows.reshape((rows * steps,) + images_rows.shape[2:]),
        ncol=steps,
        pad=pad,
        pad_value=pad_value,
    )


# --- 2-D latent manifold -----------------------------------------------------------------------


def manifold_latents(n: int = 20, lim: float | None = None) -> np.ndarray:
    """The [n * n, 2] float32 latent points `manifold_grid` decodes, in display order.

    Row-major over the displayed grid: row r, column c holds (z1[c], z2[n - 1 - r]), i.e. z1 grows
    left to right and z2 grows bottom to top, as on a plot's axes. With `lim` None the axis
    values are standard-normal quantiles of probabilities evenly spaced in [0.05, 0.95], so each
    tile covers about the same prior mass and the tails (where a VAE decodes little) are not
    oversampled; otherwise they are evenly spaced in [-lim, lim].
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if lim is None:
        # Jitted for the same reason as the interpolation cores: eager ndtri costs ~0.8 s on CPU.
        values = np.asarray(jax.jit(ndtri)(np.linspace(0.05, 0.95, n)), np.float32)
    else:
        values = np.linspace(-lim, lim, n, dtype=np.float32)
    z1, z2 = np.meshgrid(values, values[::-1])  # both [n, n], indexed [row, col]
    return np.stack([z1.ravel(), z2.ravel()], axis=-1)


def manifold_grid(
    decode_fn: Callable[[np.ndarray], np.ndarray],
    n: int = 20,
    lim: float | None = None,
    pad: int = 0,
    pad_value: float = 1.0,
) -> np.ndarray:
    """Decodes an n x n grid of 2-D latents (see `manifold_latents`) and tiles it.

    `decode_fn` maps [m, 2] latents to images [m, H, W(, C)] in [0, 1]; it is called once with
    all n * n points. The top-left tile is (low z1, high z2). `pad` defaults to 0 so the tiles
    read as one continuous map of the latent space. Returns uint8 [n * H, n * W, C] (plus pads).
    """
    latents = manifold_latents(n, lim)
    decoded = _as_nhwc(np.asarray(decode_fn(latents)), "decode_fn output")
    if decoded.shape[0] != n * n:
        raise ValueError(f"decode_fn returned {decoded.shape[0]} images for {n * n} latents")
    return make_grid(decoded, ncol=n, pad=pad, pad_value=pad_value)


# --- scatter plot of 2-D codes -----------------------------------------------------------------


def _draw_digits(canvas: np.ndarray, text: str, top: int, left: int, scale: int, colour) -> None:
    """Draws a string of digits with the 3x5 font, each glyph pixel a scale x scale block."""
    block = np.ones((scale, scale), dtype=bool)
    for j, ch in enumerate(text):
        mask = np.kron(DIGIT_GLYPHS[int(ch)], block).astype(bool)
        x = left + j * 4 * scale  # 3 columns of glyph + 1 of spacing
        canvas[top : top + 5 * scale, x : x + 3 * scale][mask] = colour


def scatter_plot(
    points: np.ndarray,
    labels: np.ndarray | None = None,
    size: int = 512,
    point_radius: int = 1,
) -> np.ndarray:
    """Rasterizes 2-D codes [N, 2] into a uint8 [size, size, 3] scatter plot.

    White background, a black axis box autoscaled to the data range (+5% margin per side, y up),
    and each point a filled disc of `point_radius` pixels (0 = one pixel) in `PALETTE[label % 10]`
    (`PALETTE[0]` without labels). Points are drawn in the given order, later ones on top.
    With labels (non-negative ints), a legend right of the box lists each label present: a
    colour square and the number in a built-in 3x5 digit font (labels that do not fit in the box
    height are left out of the legend). Non-finite points are dropped. No tick labels.
    """
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"points must be [N, 2], got {points.shape}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != points.shape[:1] or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers of shape [{len(points)}]")
        if labels.size and labels.min() < 0:
            raise ValueError("labels must be non-negative")
        labels = labels.astype(np.int64)
    if point_radius < 0:
        raise ValueError(f"point_radius must be >= 0, got {point_radius}")

    keep = np.all(np.isfinite(points), axis=1)
    points = points[keep]
    labels = labels[keep] if labels is not None else None

    # Glyphs and margins grow with the canvas so the legend stays legible at large sizes.
    scale = max(1, size // 256)
    margin = max(4, size // 32)
    glyph_h = 5 * scale  # the legend square is as tall as a digit, so the two line up
    classes = np.unique(labels) if labels is not None else np.zeros(0, np.int64)
    if classes.size:
        text_w = max(len(str(k)) for k in classes) * 4 * scale - scale
        legend_w = glyph_h + 2 * scale + text_w + margin
    else:
        legend_w = 0
    left, top = margin, margin
    right, bottom = size - 1 - margin - legend_w, size - 1 - margin
    # Discs are kept one pixel clear of the box so they never paint over it.
    x0, x1 = left + 1 + point_radius + 1, right - 1 - point_radius - 1
    y0, y1 = top + 1 + point_radius + 1, bottom - 1 - point_radius - 1
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"size {size} is too small for this plot")

    canvas = np.full((size, size, 3), 255, np.uint8)
    canvas[top, left : right + 1] = _BLACK
    canvas[bottom, left : right + 1] = _BLACK
    canvas[top : bottom + 1, left] = _BLACK
    canvas[top : bottom + 1, right] = _BLACK

    if len(points):
        lo, hi = points.min(axis=0), points.max(axis=0)
        span = hi - lo
        # A degenerate axis (all points share a coordinate) gets a unit range centred on it.
        span = np.where(span > 0, span, 1.0)
        centre = (lo + hi) / 2
        lo, hi = centre - 0.55 * span, centre + 0.55 * span  # 5% margin each side
        frac = (points - lo) / (hi - lo)
        px = np.rint(x0 + frac[:, 0] * (x1 - x0)).astype(np.int64)
        py = np.rint(y1 - frac[:, 1] * (y1 - y0)).astype(np.int64)  # row 0 is the top

        r = point_radius
        dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
        # r * (r + 1) rather than r**2 rounds the disc: r = 1 gives a 3x3 block, not a plus.
        inside = dx**2 + dy**2 <= r * (r + 1)
        rows = (py[:, None] + dy[inside][None, :]).ravel()  # point-major stamp order
        cols = (px[:, None] + dx[inside][None, :]).ravel()
        index = labels % len(PALETTE) if labels is not None else np.zeros(len(px), np.int64)
        colours = np.repeat(PALETTE[index], int(inside.sum()), axis=0)
        # Fancy-index assignment with repeated indices does not promise which write wins;
        # keeping only each pixel's last stamp makes "later points on top" explicit.
        flat = rows * size + cols
        pixel, first_in_reversed = np.unique(flat[::-1], return_index=True)
        canvas.reshape(-1, 3)[pixel] = colours[::-1][first_in_reversed]

    pitch = glyph_h + 3 * scale
    lx = right + margin
    for i, k in enumerate(classes):
        ly = top + 2 * scale + i * pitch
        if ly + glyph_h > bottom:
            break
        canvas[ly : ly + glyph_h, lx : lx + glyph_h] = PALETTE[k % len(PALETTE)]
        _draw_digits(canvas, str(k), ly, lx + glyph_h + 2 * scale, scale, _BLACK)
    return canvas
