"""Exact convolution layers that avoid input-dilated convolutions.

XLA:CPU can run convolutions with lhs (input) dilation 10-50x slower than an ordinary stride-1
convolution of the same arithmetic size (how much depends on the shapes). Such convolutions
appear in

* the forward pass of a strided transposed convolution,
* the input-gradient of a strided convolution,
* the kernel-gradient of a strided transposed convolution,

and, through the WGAN-GP gradient penalty, in second-order derivatives as well. The "phase"
implementations below are exact algebraic rewrites (space-to-depth for strided convolutions,
sub-pixel / depth-to-space for transposed ones) that express everything as a single stride-1,
undilated convolution plus pads, reshapes and transposes. That convolution has hand-written
adjoints (see ``_conv_s1``) that are again stride-1 undilated convolutions, so every reverse-mode
derivative order stays on the fast path. Forward-mode autodiff is not supported on the phase path.

Layout: activations NHWC (any number of leading batch dims), kernels HWIO, i.e.
``(KH, KW, Cin, Cout)``, for both the convolution and the transposed convolution.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from gendl.models import conv_matmul

__all__ = [
    "Conv",
    "ConvTranspose",
    "conv2d",
    "conv2d_fan_in",
    "conv_transpose2d",
    "conv_transpose2d_fan_in",
    "torch_default_uniform",
]

IntOrPair = int | Sequence[int]
Initializer = Callable[..., jax.Array]

_DIMENSION_NUMBERS = ("NHWC", "HWIO", "NHWC")
_IMPLS = ("auto", "xla", "phase", "mixed", "matmul")
# "auto" computes strided layers whose small map has at most this many positions (2x2) as
# matrix products (conv_matmul.py): there the window covers the whole padded map, and XLA:CPU
# ran such convolutions, native or phase-decomposed, 4-50x slower than the products (U-Net
# levels 4-5 at 64x64, batch 16). At 4x4 the phase path was as fast or faster.
_MATMUL_MAX_POSITIONS = 4


def _pair(v: IntOrPair, name: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = tuple(int(e) for e in v)
    if len(v) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {v}")
    return v


def _use_phase(stride: tuple[int, int]) -> bool:
    # The phase rewrite only matters when the plain formulation needs lhs dilation somewhere in
    # forward or backward, i.e. stride > 1. On XLA:CPU it wins in every derivative order for
    # transposed convs and in backward / gradient-penalty for convs (a plain strided conv's
    # forward alone is ~2x faster natively). It is used on every backend: on an NVIDIA H200
    # (README, Performance) the WGAN-GP loop ran 1.7x faster with "auto" than with XLA's own
    # convolutions (cuDNN), and Pix2Pix's step as fast. TPUs have not been measured; if one
    # favours the native lowering, decide here by jax.default_backend(), not at the call sites.
    return any(s > 1 for s in stride)


def _resolve_impl(impl: str, stride: tuple[int, int], coarse: int, *, transposed: bool) -> str:
    """The implementation `impl` asks for; "auto" picks by stride and by `coarse`, the number
    of positions of the layer's small map (a conv's output, a transposed conv's input)."""
    if impl not in _IMPLS:
        raise ValueError(f"impl must be one of {_IMPLS}, got {impl!r}")
    if impl == "mixed" and transposed:
        raise ValueError('impl="mixed" exists for conv2d only; use "phase" or "xla".')
    if impl == "auto":
        if not _use_phase(stride):
            # Through _conv_s1's hand-written adjoints rather than lax's: their kernel gradient
            # is a convolution in a non-canonical layout that XLA:CPU canonicalises in straight-
            # line code but not inside a loop (lax.scan / while), where it ran 50-80x slower.
            return "phase"
        if coarse <= _MATMUL_MAX_POSITIONS:
            return "matmul"
        # Measured on XLA:CPU, batch 50, WGAN-GP critic convs: the native strided forward and
        # kernel gradient are ~2x faster than space-to-depth (which computes a zero-padded 6x6
        # kernel), and only the input gradient needs lhs dilation. "mixed" keeps the native
        # parts and takes the input gradient through the phase transposed conv: the critic's
        # loss-with-penalty gradient went from 252 ms (phase) to 126 ms (mixed).
        return "phase" if transposed else "mixed"
    return impl


def _flatten_batch(x: jax.Array) -> tuple[jax.Array, tuple[int, ...]]:
    if x.ndim < 4:
        raise ValueError(f"expected input of shape (..., N, H, W, C), got {x.shape}")
    batch = x.shape[:-3]
    return x.reshape((-1,) + x.shape[-3:]), batch


def _check_kernel(w: jax.Array) -> None:
    if w.ndim != 4:
        raise ValueError(f"expected HWIO kernel of shape (KH, KW, Cin, Cout), got {w.shape}")


# --------------------------------------------------------------------------------------------
# Stride-1 core with hand-written adjoints
# --------------------------------------------------------------------------------------------


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_s1(x: jax.Array, w: jax.Array, padding: tuple[tuple[int, int], ...]) -> jax.Array:
    """Stride-1, undilated NHWC/HWIO cross-correlation with explicit (lo, hi) padding.

    The derivatives are written out (below) instead of left to lax's transpose rules. Those rules
    are already stride-1 here, but in the second-order terms of the gradient penalty they produce a
    kernel-gradient convolution whose "kernel" (the output cotangent) is larger than its input.
    XLA then swaps the operands and folds in a window reversal, and XLA:CPU runs that form with its
    generic loop emitter instead of YNNPACK/Eigen: it made the penalty of the 14x14 and 7x7 critic
    convs ~12x slower (batch 50: 675 vs 53 ms, 840 vs 67 ms). Defining the adjoints through this
    same function makes every derivative order a plain canonical NHWC/HWIO convolution with a
    small kernel.

    Being a custom_vjp, this supports reverse-mode (any order) and vmap but not forward-mode
    (jax.jvp / jacfwd); use impl="xla" where forward-mode is needed.
    """
    return lax.conv_general_dilated(
        x, w, window_strides=(1, 1), padding=padding, dimension_numbers=_DIMENSION_NUMBERS
    )


def _conv_s1_fwd(x, w, padding):
    return _conv_s1(x, w, padding), (x, w)


def _conv_s1_bwd(padding, res, dy):
    x, w = res
    ks = w.shape[:2]
    # Padding that turns an (L -> O) correlation into its (O -> L) adjoint.
    adjoint_pad = tuple((k - 1 - lo, k - 1 - hi) for k, (lo, hi) in zip(ks, padding, strict=True))
    # Input gradient: correlate dy with the spatially flipped kernel, in/out channels swapped.
    dx = _conv_s1(dy, jnp.flip(w, (0, 1)).transpose(0, 1, 3, 2), adjoint_pad)
    # Kernel gradient dw[t] = sum_{n,o} xpad[n, o+t] dy[n, o]: a correlation of x with dy as the
    # kernel, batch acting as the contracted channel dim - or, equivalently, the spatial flip of
    # (dy, adjoint-padded) correlated with x as the kernel. Use whichever keeps the kernel no
    # larger than the input so that XLA has no reason to swap operands (see _conv_s1).
    if math.prod(dy.shape[1:3]) <= math.prod(x.shape[1:3]):
        dw = _conv_s1(x.transpose(3, 1, 2, 0), dy.transpose(1, 2, 0, 3), padding)
        dw = dw.transpose(1, 2, 0, 3)
    else:
        dw = _conv_s1(dy.transpose(3, 1, 2, 0), x.transpose(1, 2, 0, 3), adjoint_pad)
        dw = jnp.flip(dw.transpose(1, 2, 3, 0), (0, 1))
    return dx, dw


_conv_s1.defvjp(_conv_s1_fwd, _conv_s1_bwd)


# --------------------------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------------------------


def conv2d(
    x: jax.Array,
    w: jax.Array,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    impl: str = "auto",
) -> jax.Array:
    """Cross-correlation with torch.nn.Conv2d semantics (NHWC input, HWIO kernel).

    Args:
      x: ``(..., H, W, Cin)`` with at least one batch dim.
      w: ``(KH, KW, Cin, Cout)``.
      stride: int or ``(sh, sw)``.
      padding: int or ``(ph, pw)``; symmetric zero padding per spatial dim.
      impl: ``"xla"`` (plain strided ``lax.conv_general_dilated``), ``"phase"``
        (space-to-depth + stride-1 convolution), ``"mixed"`` (native forward and kernel
        gradient, phase input gradient) or ``"auto"`` (``"mixed"`` when strided).

    Returns:
      ``(..., OH, OW, Cout)`` with ``O = (L + 2p - K) // s + 1``.
    """
    _check_kernel(w)
    stride = _pair(stride, "stride")
    padding = _pair(padding, "padding")
    if min(stride) < 1 or min(padding) < 0:
        raise ValueError(f"need stride >= 1 and padding >= 0, got {stride}, {padding}")
    x, batch = _flatten_batch(x)
    out = [
        (length + 2 * p - k) // s + 1
        for length, k, s, p in zip(x.shape[1:3], w.shape[:2], stride, padding, strict=True)
    ]
    impl = _resolve_impl(impl, stride, math.prod(out), transposed=False)
    if min(out) < 1:  # degenerate (empty) output: XLA's shapes and errors
        impl = "xla"
    if impl == "phase" and not _use_phase(stride):
        y = _conv_s1(x, w, tuple((p, p) for p in padding))
    elif impl == "phase":
        y = _conv2d_phase(x, w, stride, padding)
    elif impl == "mixed" and _use_phase(stride):
        y = _conv2d_mixed(x, w, stride, padding)
    elif impl == "matmul":
        y = conv_matmul.conv2d(x, w, stride, padding)
    else:
        y = _conv2d_xla(x, w, stride, padding)
    return y.reshape(batch + y.shape[1:])


def _conv2d_xla(x, w, stride, padding):
    return lax.conv_general_dilated(
        x,
        w,
        window_strides=stride,
        padding=[(p, p) for p in padding],
        dimension_numbers=_DIMENSION_NUMBERS,
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv2d_mixed(x, w, stride, padding):
    """Native strided convolution whose input gradient is the phase transposed convolution.

    The adjoint of a strided conv with respect to its input is the transposed conv with the same
    kernel (in/out channels swapped); output_padding restores rows the forward's floor division
    dropped. The kernel gradient is a window-dilated (not input-dilated) convolution, which
    XLA:CPU runs at full speed, written out in canonical layout (_strided_kernel_grad).
    """
    return _conv2d_xla(x, w, stride, padding)


def _conv2d_mixed_fwd(x, w, stride, padding):
    return _conv2d_mixed(x, w, stride, padding), (x, w)


def _conv2d_mixed_bwd(stride, padding, res, dy):
    x, w = res
    # Asking for x's own length supplies the output_padding the forward's floor dropped.
    dx = _conv_transpose2d_phase(dy, w.transpose(0, 1, 3, 2), stride, padding, x.shape[1:3])
    return dx, _strided_kernel_grad(x, dy, w.shape[:2], stride, padding)


def _strided_kernel_grad(x, dy, kernel_size, stride, padding):
    """dL/dw of a strided correlation: dw[t] = sum_{n,o} xpad[n, s*o + t] dy[n, o], written as
    one canonical NHWC/HWIO convolution (channels of x as its batch, the batch as the
    contracted dim, dy as a window-dilated kernel). lax's own transpose rule gives the same
    sum in a non-canonical layout, which XLA:CPU rewrites in straight-line code but not in a
    loop body, where it ran 50-80x slower (tests/test_conv.py checks the layout)."""
    # High padding that makes the correlation yield exactly K rows: K + s*(O-1) rows are read.
    pads = [
        (p, k + s * (o - 1) - length - p)
        for k, s, p, o, length in zip(
            kernel_size, stride, padding, dy.shape[1:3], x.shape[1:3], strict=True
        )
    ]
    dw = lax.conv_general_dilated(
        x.transpose(3, 1, 2, 0),  # [Cin, H, W, N]
        dy.transpose(1, 2, 0, 3),  # [OH, OW, N, Cout]
        window_strides=(1, 1),
        padding=pads,
        rhs_dilation=stride,
        dimension_numbers=_DIMENSION_NUMBERS,
    )
    return dw.transpose(1, 2, 0, 3)  # [KH, KW, Cin, Cout]


_conv2d_mixed.defvjp(_conv2d_mixed_fwd, _conv2d_mixed_bwd)


def _conv2d_phase(x, w, stride, padding):
    n, h, wd, cin = x.shape
    kh, kw, _, cout = w.shape
    sh, sw = stride
    out = [
        (length + 2 * p - k) // s + 1
        for length, k, s, p in zip((h, wd), (kh, kw), stride, padding, strict=True)
    ]
    if min(out) < 1:
        # Degenerate (empty) output: defer to XLA so shapes/errors match the reference exactly.
        return _conv2d_xla(x, w, stride, padding)
    taps = [-(-k // s) for k, s in zip((kh, kw), stride, strict=True)]

    # Output o reads padded input rows s*o + k. Writing k = s*t + r turns that into row o + t
    # of phase r of the space-to-depth input, so we need exactly out + taps - 1 blocks of s rows.
    # A (possibly negative) high pad both adds the missing rows and crops the unused tail; the
    # pad's transpose is again a pad/slice, so no dilation appears in the gradient.
    blocks = [o + t - 1 for o, t in zip(out, taps, strict=True)]
    pad_cfg = [(0, 0, 0)]
    for length, s, p, b in zip((h, wd), stride, padding, blocks, strict=True):
        pad_cfg.append((p, s * b - length - p, 0))
    pad_cfg.append((0, 0, 0))
    xp = lax.pad(x, jnp.zeros((), x.dtype), pad_cfg)
    bh, bw = blocks
    xs = xp.reshape(n, bh, sh, bw, sw, cin).transpose(0, 1, 3, 2, 4, 5)
    xs = xs.reshape(n, bh, bw, sh * sw * cin)

    # Zero taps at k >= K make the kernel a whole number of phase blocks; channel order
    # (rh, rw, cin) must match the space-to-depth order above.
    th, tw = taps
    wp = jnp.pad(w, ((0, th * sh - kh), (0, tw * sw - kw), (0, 0), (0, 0)))
    ws = wp.reshape(th, sh, tw, sw, cin, cout).transpose(0, 2, 1, 3, 4, 5)
    ws = ws.reshape(th, tw, sh * sw * cin, cout)

    return _conv_s1(xs, ws, ((0, 0), (0, 0)))


# --------------------------------------------------------------------------------------------
# Transposed convolution
# --------------------------------------------------------------------------------------------


def conv_transpose2d(
    x: jax.Array,
    w: jax.Array,
    stride: IntOrPair = 1,
    padding: IntOrPair = 0,
    output_padding: IntOrPair = 0,
    impl: str = "auto",
) -> jax.Array:
    """Transposed convolution with torch.nn.ConvTranspose2d semantics (NHWC, HWIO kernel).

    ``y[o] = sum_{i, k : i*s + k - p = o} x[i] * w[k]`` per spatial dim, with output length
    ``(L - 1) * s - 2p + K + output_padding``. The kernel is ``(KH, KW, Cin, Cout)`` and is used
    as given (no user-side flip), i.e. it is PyTorch's ``(Cin, Cout, KH, KW)`` weight transposed
    to ``(2, 3, 0, 1)``.

    Args:
      x: ``(..., H, W, Cin)`` with at least one batch dim.
      w: ``(KH, KW, Cin, Cout)``.
      stride, padding, output_padding: int or per-dim pair (padding is symmetric).
      impl: ``"xla"`` (``lax.conv_transpose``, i.e. an lhs-dilated convolution), ``"phase"``
        (one stride-1 convolution producing all s*s output phases + depth-to-space) or
        ``"auto"``.
    """
    _check_kernel(w)
    stride = _pair(stride, "stride")
    padding = _pair(padding, "padding")
    output_padding = _pair(output_padding, "output_padding")
    if min(stride) < 1 or min(padding) < 0 or min(output_padding) < 0:
        raise ValueError(
            f"need stride >= 1, padding >= 0, output_padding >= 0; got "
            f"{stride}, {padding}, {output_padding}"
        )
    x, batch = _flatten_batch(x)
    impl = _resolve_impl(impl, stride, math.prod(x.shape[1:3]), transposed=True)
    out = [
        (length - 1) * s - 2 * p + k + op
        for length, k, s, p, op in zip(
            x.shape[1:3], w.shape[:2], stride, padding, output_padding, strict=True
        )
    ]
    if min(out) < 1:
        raise ValueError(f"transposed convolution output would be empty: {out}")
    if impl == "phase":  # at stride 1: one _conv_s1 with the flipped kernel
        y = _conv_transpose2d_phase(x, w, stride, padding, out)
    elif impl == "matmul":
        y = conv_matmul.conv_transpose2d(x, w, stride, padding, out)
    else:
        y = _conv_transpose2d_xla(x, w, stride, padding, output_padding)
    return y.reshape(batch + y.shape[1:])


def _conv_transpose2d_xla(x, w, stride, padding, output_padding):
    # lax.conv_transpose correlates the dilated input with the kernel as given, so flipping it
    # (and padding K-1-p) yields PyTorch's scatter definition; pinned by a numpy test.
    pads = [
        (k - 1 - p, k - 1 - p + op)
        for k, p, op in zip(w.shape[:2], padding, output_padding, strict=True)
    ]
    return lax.conv_transpose(
        x,
        jnp.flip(w, (0, 1)),
        strides=stride,
        padding=pads,
        dimension_numbers=_DIMENSION_NUMBERS,
    )


def _conv_transpose2d_phase(x, w, stride, padding, out):
    n, h, wd, cin = x.shape
    kh, kw, _, cout = w.shape
    sh, sw = stride
    taps = [-(-k // s) for k, s in zip((kh, kw), stride, strict=True)]
    th, tw = taps

    # Uncropped output: y_full[s*m + r] = sum_j x[m - j] * w[s*j + r]. For a fixed phase r this
    # is a stride-1 full correlation of x with the flipped sub-kernel w[s*(T-1-t) + r], so one
    # conv with s*s*Cout output channels computes every phase at once.
    wp = jnp.pad(w, ((0, th * sh - kh), (0, tw * sw - kw), (0, 0), (0, 0)))
    ws = jnp.flip(wp.reshape(th, sh, tw, sw, cin, cout), (0, 2))
    ws = ws.transpose(0, 2, 4, 1, 3, 5).reshape(th, tw, cin, sh * sw * cout)

    # Only compute the block rows m whose phases intersect the crop [p, p + out): the T-1 border
    # rows the crop would discard are a large share of the work at 4x4/7x7. Full-correlation row
    # m reads x[m - T + 1 .. m], so conv padding lo = T-1-m_lo; negative values crop, and rows
    # past the end of y_full come out as zeros, which is what output_padding asks for.
    conv_pad, m_lo = [], []
    for length, t, s, p, o in zip((h, wd), taps, stride, padding, out, strict=True):
        lo = p // s
        hi = -(-(p + o) // s)
        # High pad so that the conv yields exactly hi - lo rows: (hi - lo) + T - 1 input rows.
        conv_pad.append((t - 1 - lo, hi - length))
        m_lo.append(lo)
    y = _conv_s1(x, ws, tuple(conv_pad))
    _, mh, mw, _ = y.shape
    y = y.reshape(n, mh, mw, sh, sw, cout).transpose(0, 1, 3, 2, 4, 5)
    y = y.reshape(n, mh * sh, mw * sw, cout)

    start = [p - s * lo for p, s, lo in zip(padding, stride, m_lo, strict=True)]
    return lax.slice(y, (0, start[0], start[1], 0), (n, start[0] + out[0], start[1] + out[1], cout))


# --------------------------------------------------------------------------------------------
# PyTorch-compatible default initialisation
# --------------------------------------------------------------------------------------------


def torch_default_uniform(fan_in: int) -> Initializer:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's default for conv weights and biases.

    PyTorch initialises weights with kaiming_uniform_(a=sqrt(5)), whose bound
    sqrt(3) * sqrt(2 / (1 + 5)) / sqrt(fan_in) simplifies to 1/sqrt(fan_in), and biases with the
    same bound. Matching it means JAX and PyTorch runs start from the same distribution, so
    cross-framework comparisons are not confounded by initialisation scale.
    """
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


def conv2d_fan_in(kernel_size: tuple[int, int], in_features: int) -> int:
    """PyTorch's fan_in for Conv2d: weight (Cout, Cin, KH, KW) -> Cin * KH * KW."""
    return in_features * kernel_size[0] * kernel_size[1]


def conv_transpose2d_fan_in(kernel_size: tuple[int, int], out_features: int) -> int:
    """PyTorch's fan_in for ConvTranspose2d: weight (Cin, Cout, KH, KW) -> Cout * KH * KW.

    PyTorch derives fan_in from dim 1 of the stored weight, which for a transposed conv is the
    number of *output* channels; we reproduce that quirk to get the same distribution.
    """
    return out_features * kernel_size[0] * kernel_size[1]


# --------------------------------------------------------------------------------------------
# Flax modules
# --------------------------------------------------------------------------------------------


class Conv(nn.Module):
    """torch.nn.Conv2d-like layer on NHWC inputs, using the phase path for strides > 1.

    ``kernel_init`` / ``bias_init`` default (None) to PyTorch's initialisation, which needs the
    fan-in and therefore cannot be a plain flax initializer default.
    """

    features: int
    kernel_size: IntOrPair
    stride: IntOrPair = 1
    padding: IntOrPair = 0
    use_bias: bool = True
    impl: str = "auto"
    kernel_init: Initializer | None = None
    bias_init: Initializer | None = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        ks = _pair(self.kernel_size, "kernel_size")
        cin = x.shape[-1]
        default = torch_default_uniform(conv2d_fan_in(ks, cin))
        kernel = self.param(
            "kernel", self.kernel_init or default, (*ks, cin, self.features), self.param_dtype
        )
        y = conv2d(x, kernel.astype(x.dtype), self.stride, self.padding, impl=self.impl)
        if self.use_bias:
            bias = self.param("bias", self.bias_init or default, (self.features,), self.param_dtype)
            y = y + bias.astype(y.dtype)
        return y


class ConvTranspose(nn.Module):
    """torch.nn.ConvTranspose2d-like layer on NHWC inputs with an HWIO ``(K, K, Cin, Cout)``
    kernel, using the phase (sub-pixel) path for strides > 1."""

    features: int
    kernel_size: IntOrPair
    stride: IntOrPair = 1
    padding: IntOrPair = 0
    output_padding: IntOrPair = 0
    use_bias: bool = True
    impl: str = "auto"
    kernel_init: Initializer | None = None
    bias_init: Initializer | None = None
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        ks = _pair(self.kernel_size, "kernel_size")
        cin = x.shape[-1]
        default = torch_default_uniform(conv_transpose2d_fan_in(ks, self.features))
        kernel = self.param(
            "kernel", self.kernel_init or default, (*ks, cin, self.features), self.param_dtype
        )
        y = conv_transpose2d(
            x,
            kernel.astype(x.dtype),
            self.stride,
            self.padding,
            self.output_padding,
            impl=self.impl,
        )
        if self.use_bias:
            bias = self.param("bias", self.bias_init or default, (self.features,), self.param_dtype)
            y = y + bias.astype(y.dtype)
        return y
