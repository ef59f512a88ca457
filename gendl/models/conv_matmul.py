"""Strided convolutions and transposed convolutions over small feature maps as matrix products.

Where the coarse side of a layer is tiny (the output of a strided conv, the input of a
strided transposed conv: 2x2 or 1x1 in the innermost levels of a 64x64 U-Net) the 4x4 window
covers the whole padded map, and XLA:CPU runs such a convolution tens of times slower than
the matrix product it amounts to (a 4x4 stride-2 conv of 16x2x2x512 -> 16x1x1x512: 38 ms
native, 0.8 ms as one matmul). Here the layer is written as that product:

* conv: the kernel taps are gathered as strided slices of the padded input, concatenated
  on channels (im2col), and multiplied by the kernel reshaped to (taps * Cin, Cout);
* transposed conv: each input pixel is multiplied by every kernel tap and the products are
  added into place in the output (overlap-add, PyTorch's scatter definition).

Taps that read only padding (conv) or land only in the cropped border (transposed conv) are
left out, so no multiply-by-zero is computed: at 1x1 -> 2x2 only the kernel's central 2x2 is
used. Slices, pads and dots differentiate into slices, pads and dots, so every derivative
order (and forward mode) stays on matrix products; tests/test_conv.py proves outputs and
derivatives equal to the plain lax formulation. Meant for small maps only: on large ones the
patches (taps x the input) cost more memory traffic than the native convolution.
"""

import jax.numpy as jnp
from jax import lax


def live_taps(length: int, k: int, s: int, p: int, out: int) -> tuple[int, int]:
    """[first, last + 1) of the kernel taps along one dim of a conv (input `length`, kernel
    `k`, stride `s`, padding `p`, output `out`) that read the unpadded input for some output
    position; the others only ever multiply padding zeros. Taps in between always read some
    input, so the range is exact."""
    live = [t for t in range(k) if any(p <= s * o + t < p + length for o in range(out))]
    return (live[0], live[-1] + 1) if live else (0, 0)


def conv2d(x, w, stride: tuple, padding: tuple):
    """torch Conv2d semantics, NHWC x [n, H, W, Cin], HWIO w; a non-empty output assumed."""
    n, h, wd, cin = x.shape
    kh, kw, _, cout = w.shape
    (sh, sw), (ph, pw) = stride, padding
    oh, ow = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    r0, r1 = live_taps(h, kh, sh, ph, oh)
    c0, c1 = live_taps(wd, kw, sw, pw, ow)
    if r0 == r1 or c0 == c1:  # every output reads padding only
        return jnp.zeros((n, oh, ow, cout), jnp.result_type(x, w))
    xp = jnp.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    patches = [
        lax.slice(
            xp,
            (0, a, b, 0),
            (n, a + sh * (oh - 1) + 1, b + sw * (ow - 1) + 1, cin),
            (1, sh, sw, 1),
        )
        for a in range(r0, r1)
        for b in range(c0, c1)
    ]
    cols = jnp.concatenate(patches, axis=-1).reshape(n * oh * ow, -1)
    y = jnp.dot(cols, w[r0:r1, c0:c1].reshape(-1, cout))
    return y.reshape(n, oh, ow, cout)


def conv_transpose2d(x, w, stride: tuple, padding: tuple, out: tuple):
    """torch ConvTranspose2d semantics (y[s i + k - p] += x[i] w[k]), NHWC x, HWIO w, output
    size `out` (output_padding included)."""
    n, h, wd, cin = x.shape
    kh, kw, _, cout = w.shape
    (sh, sw), (ph, pw), (oh, ow) = stride, padding, out
    # A tap lands inside the output for some input position exactly when, in the conv this
    # layer is the adjoint of (output -> input), it reads the unpadded map.
    r0, r1 = live_taps(oh, kh, sh, ph, h)
    c0, c1 = live_taps(ow, kw, sw, pw, wd)
    taps = (r1 - r0) * (c1 - c0)
    # One batched product over the taps (x broadcast to each): its kernel gradient comes out
    # as one [taps, Cin, Cout] array, where per-tap products would add taps padded copies.
    xs = jnp.broadcast_to(x.reshape(1, n * h * wd, cin), (taps, n * h * wd, cin))
    z = lax.dot_general(xs, w[r0:r1, c0:c1].reshape(taps, cin, cout), (((2,), (1,)), ((0,), (0,))))
    z = z.reshape(r1 - r0, c1 - c0, n, h, wd, cout)
    y = jnp.zeros((n, oh, ow, cout), jnp.result_type(x, w))
    for a in range(r0, r1):
        for b in range(c0, c1):
            # Tap (a, b) of input pixel i lands on output s * i + a - p: a pad with s - 1
            # zeros between pixels, shifted by a - p (negative pads crop).
            pads = [
                (k - p, o - (k - p) - (s * (length - 1) + 1), s - 1)
                for k, p, o, s, length in ((a, ph, oh, sh, h), (b, pw, ow, sw, wd))
            ]
            tap = z[a - r0, b - c0]
            y = y + lax.pad(tap, jnp.zeros((), tap.dtype), [(0, 0, 0), *pads, (0, 0, 0)])
    return y
