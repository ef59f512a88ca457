"""Exactness tests for the phase (space-to-depth / sub-pixel) and matmul (im2col, overlap-add)
convolutions in gendl.models.conv and gendl.models.conv_matmul.

The fast implementations must match the plain XLA formulation in the forward pass and in first-
and second-order derivatives (the WGAN-GP penalty differentiates through the input-gradient), and
must never emit an lhs-dilated convolution, since avoiding those is the whole point.
"""

import itertools
import math
import random

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gendl.models.conv import (
    Conv,
    ConvTranspose,
    conv2d,
    conv_transpose2d,
)

# Comparisons run in float64 so that a genuine indexing/phase mistake cannot hide inside float32
# rounding slack; the float64 mode is scoped to these tests instead of set globally.
TOL64 = dict(atol=1e-9, rtol=1e-9)
# The fast formulations, each proved equal to impl="xla".
CONV_IMPLS = ("phase", "mixed", "matmul")
CONV_TRANSPOSE_IMPLS = ("phase", "matmul")

SIZES = [1, 4, 5, 7, 8, 13, 28]
KERNELS = [1, 2, 3, 4, 5]
STRIDES = [1, 2, 3]
PADDINGS = [0, 1, 2]


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def _sample(cases, n, seed):
    # The full product is thousands of configurations and each costs a compile; a fixed random
    # subset (plus hand-picked cases) keeps coverage broad while the file stays fast.
    cases = sorted(set(cases))
    return sorted(random.Random(seed).sample(cases, min(n, len(cases))))


def _conv_cases():
    all_cases = [
        (h, w, k, s, p)
        for h, w, k, s, p in itertools.product(SIZES, SIZES, KERNELS, STRIDES, PADDINGS)
        if h + 2 * p >= k and w + 2 * p >= k and h <= 13 and w <= 13
    ]
    picked = [
        (28, 28, 5, 2, 2),  # WGAN-GP MNIST discriminator, first layer
        (7, 7, 5, 2, 2),  # last discriminator layer (odd input)
        (5, 8, 4, 3, 1),  # non-square, K not a multiple of s
        (1, 1, 1, 2, 0),  # 1x1 everything
        (4, 13, 2, 2, 0),  # K == s
        (13, 5, 3, 3, 2),  # K == s, odd sizes
        (2, 2, 4, 2, 1),  # U-Net innermost down conv: 2x2 -> 1x1, only the kernel's centre
        (1, 1, 1, 2, 1),  # every output reads padding only
    ]
    return picked + _sample(all_cases, 26, seed=0)


def _conv_transpose_cases():
    all_cases = [
        (h, w, k, s, p, op)
        for h, w, k, s, p, op in itertools.product(SIZES, SIZES, KERNELS, STRIDES, PADDINGS, [0, 1])
        if op < s
        and (h - 1) * s - 2 * p + k + op >= 1
        and (w - 1) * s - 2 * p + k + op >= 1
        and h <= 13
        and w <= 13
    ]
    picked = [
        (4, 4, 5, 2, 2, 1),  # WGAN-GP MNIST generator: 4x4 -> 8x8
        (7, 7, 5, 2, 2, 1),  # 7x7 -> 14x14
        (14, 14, 5, 2, 2, 1),  # 14x14 -> 28x28
        (5, 8, 4, 3, 1, 2),  # non-square, output_padding = s - 1
        (1, 1, 1, 2, 0, 1),  # output_padding beyond the kernel's reach: pure zero padding
        (3, 4, 2, 2, 2, 0),  # padding crops more than one stride
        (4, 13, 3, 3, 2, 0),  # K == s
        (1, 1, 4, 2, 1, 0),  # U-Net innermost up conv: 1x1 -> 2x2
        (2, 2, 4, 2, 1, 0),  # 2x2 -> 4x4
    ]
    return picked + _sample(all_cases, 26, seed=1)


def _inputs(rng, batch, h, w, k, cin, cout, dtype):
    # numpy RNG: jax.random would compile a fresh sampler for every new shape.
    x = rng.normal(size=(batch, h, w, cin)).astype(dtype)
    kern = rng.normal(size=(k, k, cin, cout)).astype(dtype) / math.sqrt(k * k * cin)
    return jnp.asarray(x), jnp.asarray(kern)


def _derivatives(op):
    """Forward, first-order and WGAN-GP-style second-order derivatives of ``op(x, w)``."""

    def loss(x, w, r):
        return jnp.sum(op(x, w) * r)

    def penalty(x, w, r):
        # Same structure as the gradient penalty: squared norm of the input-gradient.
        return jnp.sum(jax.grad(loss)(x, w, r) ** 2)

    def f(x, w, r):
        gx, gw = jax.grad(loss, argnums=(0, 1))(x, w, r)
        hx, hw = jax.grad(penalty, argnums=(0, 1))(x, w, r)
        return dict(y=op(x, w), gx=gx, gw=gw, hx=hx, hw=hw)

    return f


# Compile time dominates these tests (execution is ~1 ms); the XLA backend optimisation level
# does not change what is being computed, and dropping it more than halves compile time.
_FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _compare_impls(op, x, w, rng, impls=("phase",)):
    """Evaluates the implementations in one executable (one compile per case) and compares
    each with the plain XLA formulation."""
    y_shape = jax.eval_shape(lambda x, w: op(x, w, "xla"), x, w).shape
    r = jnp.asarray(rng.normal(size=y_shape).astype(x.dtype))

    def all_impls(x, w, r):
        return [_derivatives(lambda x, w, i=i: op(x, w, i))(x, w, r) for i in ("xla", *impls)]

    compiled = jax.jit(all_impls).lower(x, w, r).compile(compiler_options=_FAST_COMPILE)
    ref, *others = compiled(x, w, r)
    for impl, got in zip(impls, others, strict=True):
        for name in ref:
            chex.assert_equal_shape([got[name], ref[name]])
            np.testing.assert_allclose(got[name], ref[name], err_msg=f"{impl}: {name}", **TOL64)


@pytest.mark.parametrize("h,w,k,s,p", _conv_cases())
def test_conv2d_phase_matches_xla(x64, h, w, k, s, p):
    rng = np.random.default_rng([h, w, k, s, p])
    x, kern = _inputs(rng, 2, h, w, k, 3, 4, np.float64)
    _compare_impls(lambda x, w, impl: conv2d(x, w, s, p, impl=impl), x, kern, rng, CONV_IMPLS)


@pytest.mark.parametrize("h,w,k,s,p,op", _conv_transpose_cases())
def test_conv_transpose2d_phase_matches_xla(x64, h, w, k, s, p, op):
    rng = np.random.default_rng([h, w, k, s, p, op])
    x, kern = _inputs(rng, 2, h, w, k, 3, 4, np.float64)
    _compare_impls(
        lambda x, w, impl: conv_transpose2d(x, w, s, p, op, impl=impl),
        x,
        kern,
        rng,
        CONV_TRANSPOSE_IMPLS,
    )


def test_rectangular_stride_padding_kernel(x64):
    """Per-dimension stride/padding/kernel sizes are handled independently."""
    rng = np.random.default_rng(3)
    x = jnp.asarray(rng.normal(size=(2, 9, 6, 3)))
    kern = jnp.asarray(rng.normal(size=(3, 4, 3, 2)))
    _compare_impls(
        lambda x, w, impl: conv2d(x, w, (2, 3), (1, 2), impl=impl), x, kern, rng, CONV_IMPLS
    )
    _compare_impls(
        lambda x, w, impl: conv_transpose2d(x, w, (3, 2), (2, 1), (1, 0), impl=impl),
        x,
        kern,
        rng,
        CONV_TRANSPOSE_IMPLS,
    )
    # A stride of 1 in one dim only still takes the phase path (one phase along that dim).
    _compare_impls(
        lambda x, w, impl: conv2d(x, w, (1, 2), (2, 0), impl=impl), x, kern, rng, CONV_IMPLS
    )
    _compare_impls(
        lambda x, w, impl: conv_transpose2d(x, w, (2, 1), (0, 2), (1, 0), impl=impl),
        x,
        kern,
        rng,
        CONV_TRANSPOSE_IMPLS,
    )


def test_float32_mnist_shapes():
    """The real layer shapes in float32 agree to float32 rounding."""
    rng = np.random.default_rng(0)
    for h, cin, cout in [(4, 16, 8), (7, 8, 4), (14, 4, 1)]:
        x, kern = _inputs(rng, 3, h, h, 5, cin, cout, np.float32)
        a, b = jax.jit(
            lambda x, w: [conv_transpose2d(x, w, 2, 2, 1, impl=i) for i in ("xla", "phase")]
        )(x, kern)
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=1e-4)
    for h, cin, cout in [(28, 1, 8), (14, 8, 16), (7, 16, 8)]:
        x, kern = _inputs(rng, 3, h, h, 5, cin, cout, np.float32)
        ref, *got = jax.jit(
            lambda x, w: [conv2d(x, w, 2, 2, impl=i) for i in ("xla", *CONV_IMPLS)]
        )(x, kern)
        for y in got:
            np.testing.assert_allclose(y, ref, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "kind,h,small",
    [("conv", 2, True), ("conv", 4, True), ("conv", 8, False), ("tconv", 1, True)]
    + [("tconv", 2, True), ("tconv", 4, False)],
)
def test_auto_takes_matmuls_where_the_small_map_has_at_most_4_positions(kind, h, small):
    """The U-Net's strided 4x4 layers whose small map (a conv's output, a transposed conv's
    input) is 2x2 or 1x1 run as matrix products (no convolution in any derivative), larger
    ones on the phase / mixed path; in float32 both agree with the plain formulation."""
    rng = np.random.default_rng(h)
    x, kern = _inputs(rng, 2, h, h, 4, 8, 16, np.float32)
    if kind == "conv":
        op = lambda x, w, impl="auto": conv2d(x, w, 2, 1, impl=impl)  # noqa: E731
    else:
        op = lambda x, w, impl="auto": conv_transpose2d(x, w, 2, 1, impl=impl)  # noqa: E731
    assert (len(_all_derivative_convs(op, x, kern)) == 0) == small
    y, ref = jax.jit(lambda x, w: (op(x, w), op(x, w, "xla")))(x, kern)
    np.testing.assert_allclose(y, ref, atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# Semantics pinned to PyTorch's definitions with direct loops
# ------------------------------------------------------------------------------------------------


def _np_conv_transpose(x, w, s, p, op):
    """PyTorch ConvTranspose2d: y[o] += x[i] * w[k] whenever i*s + k - p == o (no flip)."""
    n, h, wd, _ = x.shape
    kh, kw, _, cout = w.shape
    oh = (h - 1) * s - 2 * p + kh + op
    ow = (wd - 1) * s - 2 * p + kw + op
    y = np.zeros((n, oh, ow, cout))
    for i, j, a, b in itertools.product(range(h), range(wd), range(kh), range(kw)):
        oi, oj = i * s + a - p, j * s + b - p
        if 0 <= oi < oh and 0 <= oj < ow:
            y[:, oi, oj, :] += x[:, i, j, :] @ w[a, b]
    return y


def _np_conv(x, w, s, p):
    """PyTorch Conv2d: y[o] = sum_k xpad[o*s + k] * w[k] (cross-correlation)."""
    n, h, wd, _ = x.shape
    kh, kw, _, cout = w.shape
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    oh = (h + 2 * p - kh) // s + 1
    ow = (wd + 2 * p - kw) // s + 1
    y = np.zeros((n, oh, ow, cout))
    for i, j, a, b in itertools.product(range(oh), range(ow), range(kh), range(kw)):
        y[:, i, j, :] += xp[:, i * s + a, j * s + b, :] @ w[a, b]
    return y


@pytest.mark.parametrize("impl", ["xla", "phase"])
@pytest.mark.parametrize(
    "h,w,k,s,p,op",
    [(4, 4, 5, 2, 2, 1), (3, 5, 3, 2, 1, 0), (5, 2, 4, 3, 0, 2), (2, 3, 2, 1, 1, 0)],
)
def test_conv_transpose2d_matches_pytorch_definition(x64, impl, h, w, k, s, p, op):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, h, w, 3))
    kern = rng.normal(size=(k, k, 3, 2))
    got = jax.jit(lambda x, w: conv_transpose2d(x, w, s, p, op, impl=impl))(x, kern)
    np.testing.assert_allclose(got, _np_conv_transpose(x, kern, s, p, op), **TOL64)


@pytest.mark.parametrize("impl", ["xla", "phase"])
@pytest.mark.parametrize("h,w,k,s,p", [(7, 7, 5, 2, 2), (6, 5, 3, 3, 1), (4, 5, 2, 2, 0)])
def test_conv2d_matches_pytorch_definition(x64, impl, h, w, k, s, p):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, h, w, 3))
    kern = rng.normal(size=(k, k, 3, 2))
    got = jax.jit(lambda x, w: conv2d(x, w, s, p, impl=impl))(x, kern)
    np.testing.assert_allclose(got, _np_conv(x, kern, s, p), **TOL64)


# ------------------------------------------------------------------------------------------------
# The property the speed-up depends on: no lhs-dilated convolution anywhere
# ------------------------------------------------------------------------------------------------


def _conv_params(jaxpr):
    """All conv_general_dilated param dicts in a jaxpr, including nested (pjit, custom_*) ones."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "conv_general_dilated":
            found.append(eqn.params)
        for v in eqn.params.values():
            for sub in v if isinstance(v, (list, tuple)) else [v]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    found.extend(_conv_params(inner))
    return found


def _all_derivative_convs(op, x, w):
    y = jax.eval_shape(op, x, w)
    r = jnp.ones(y.shape, y.dtype)
    return _conv_params(jax.make_jaxpr(_derivatives(op))(x, w, r).jaxpr)


def _has_dilation(params):
    return any(d != 1 for d in params["lhs_dilation"]) or any(
        d != 1 for d in params["rhs_dilation"]
    )


@pytest.mark.parametrize(
    "kind,args",
    [("conv", (5, 2, 2)), ("conv", (4, 3, 1)), ("tconv", (5, 2, 2, 1)), ("tconv", (3, 3, 1, 2))],
)
def test_phase_path_has_no_dilated_convolutions(kind, args):
    k = args[0]
    x = jnp.ones((2, 7, 6, 3))
    w = jnp.ones((k, k, 3, 4))
    if kind == "conv":
        phase = lambda x, w: conv2d(x, w, *args[1:], impl="phase")
        xla = lambda x, w: conv2d(x, w, *args[1:], impl="xla")
    else:
        phase = lambda x, w: conv_transpose2d(x, w, *args[1:])
        xla = lambda x, w: conv_transpose2d(x, w, *args[1:], impl="xla")

    convs = _all_derivative_convs(phase, x, w)
    # forward + 2 first-order + >= 3 in the second-order pass
    assert len(convs) >= 6
    for params in convs:
        assert not _has_dilation(params), params
        assert tuple(params["window_strides"]) == (1, 1), params

    # Sanity check that the inspection can see the slow pattern at all.
    assert any(_has_dilation(p) for p in _all_derivative_convs(xla, x, w))


def _has_lhs_dilation(params):
    return any(d != 1 for d in params["lhs_dilation"])


def test_mixed_conv_path_has_no_input_dilated_convolutions():
    """ "mixed" keeps strided forward / window-dilated kernel gradients (fast natively) but
    must never produce the slow input-dilated form, in any derivative order."""
    x, w = jnp.ones((2, 7, 6, 3)), jnp.ones((5, 5, 3, 4))
    convs = _all_derivative_convs(lambda x, w: conv2d(x, w, 2, 2, impl="mixed"), x, w)
    assert len(convs) >= 6
    assert not any(_has_lhs_dilation(p) for p in convs), convs
    xla = _all_derivative_convs(lambda x, w: conv2d(x, w, 2, 2, impl="xla"), x, w)
    assert any(_has_lhs_dilation(p) for p in xla)


def _first_order_convs(op, x, w):
    loss = lambda x, w: jnp.sum(jnp.sin(op(x, w)))  # noqa: E731
    return _conv_params(jax.make_jaxpr(jax.grad(loss, (0, 1)))(x, w).jaxpr)


@pytest.mark.parametrize(
    "kind,args",
    [("conv", (1, 1)), ("conv", (2, 2)), ("conv", (3, 1)), ("tconv", (1, 1)), ("tconv", (2, 2))],
)
def test_auto_gradients_are_canonical_convolutions(kind, args):
    """Inside a loop body (lax.scan: critic bursts, several steps per call) XLA:CPU leaves
    convolutions in the layout they come in, and lax's kernel gradient (batch as the
    contracted dim, output in kernel order) then runs 50-80x slower than the same sum in
    NHWC/HWIO/NHWC layout. So every convolution of "auto"'s forward and first derivatives
    must already be canonical; lax's own gradients are not (the inspection can see it)."""
    x, w = jnp.ones((2, 9, 8, 3)), jnp.ones((5, 5, 3, 4))
    fn = conv2d if kind == "conv" else conv_transpose2d
    canonical = jax.lax.conv_dimension_numbers(x.shape, w.shape, ("NHWC", "HWIO", "NHWC"))
    convs = _first_order_convs(lambda x, w: fn(x, w, *args), x, w)
    assert len(convs) == 3
    for params in convs:
        assert params["dimension_numbers"] == canonical, params["dimension_numbers"]
    xla = _first_order_convs(lambda x, w: fn(x, w, *args, impl="xla"), x, w)
    assert any(p["dimension_numbers"] != canonical for p in xla)


def test_phase_path_is_reverse_mode_only():
    """Documented limitation of the custom-VJP core: forward-mode needs impl="xla"."""
    x = jnp.ones((1, 5, 5, 2))
    w = jnp.ones((3, 3, 2, 2))
    jax.jvp(lambda x: conv2d(x, w, 2, 1, impl="xla"), (x,), (x,))
    with pytest.raises(TypeError, match="forward-mode"):
        jax.jvp(lambda x: conv2d(x, w, 2, 1, impl="phase"), (x,), (x,))


def test_vmap_over_phase_path():
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(3, 2, 6, 6, 2)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(3, 3, 3, 2, 4)), jnp.float32)

    @jax.jit
    def both(x, w):
        def f(impl):
            return jax.vmap(jax.grad(lambda x, w: jnp.sum(conv2d(x, w, 2, 1, impl=impl) ** 2), 1))

        return f("phase")(x, w), f("xla")(x, w)

    got, ref = both(x, w)
    np.testing.assert_allclose(got, ref, atol=1e-4, rtol=1e-4)


# ------------------------------------------------------------------------------------------------
# Flax modules
# ------------------------------------------------------------------------------------------------


def _shapes(module, x):
    """(params shapes, output shape) without compiling anything: shapes are all we check here."""
    variables = jax.eval_shape(module.init, jax.random.key(0), x)
    y = jax.eval_shape(module.apply, variables, x)
    return jax.tree.map(lambda a: a.shape, variables["params"]), y


def test_wgan_gp_generator_and_discriminator_shapes():
    h = jax.ShapeDtypeStruct((3, 4, 4, 16), jnp.float32)
    params, h = _shapes(ConvTranspose(8, 5, stride=2, padding=2, output_padding=1), h)
    assert params == {"kernel": (5, 5, 16, 8), "bias": (8,)}
    chex.assert_shape(h, (3, 8, 8, 8))

    h = jax.ShapeDtypeStruct((3, 7, 7, 8), jnp.float32)  # the generator crops 8x8 to 7x7
    _, h = _shapes(ConvTranspose(4, 5, stride=2, padding=2, output_padding=1), h)
    chex.assert_shape(h, (3, 14, 14, 4))
    _, img = _shapes(ConvTranspose(1, 5, stride=2, padding=2, output_padding=1), h)
    chex.assert_shape(img, (3, 28, 28, 1))

    d = img
    for feats, size in [(4, 14), (8, 7), (16, 4)]:
        params, d = _shapes(Conv(feats, 5, stride=2, padding=2), d)
        chex.assert_shape(d, (3, size, size, feats))
    assert params == {"kernel": (5, 5, 8, 16), "bias": (16,)}


@pytest.mark.parametrize(
    "module",
    [
        Conv(4, 5, stride=2, padding=2),
        ConvTranspose(4, 5, stride=2, padding=2, output_padding=1),
    ],
)
def test_modules_default_to_fast_path(module):
    x = jnp.ones((2, 7, 7, 3))
    variables = jax.jit(module.init)(jax.random.key(0), x)

    def loss(params, x):
        return jnp.sum(module.apply({"params": params}, x) ** 2)

    jaxpr = jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(variables["params"], x)
    convs = _conv_params(jaxpr.jaxpr)
    assert convs and not any(_has_lhs_dilation(p) for p in convs)

    slow = module.clone(impl="xla")
    y_fast, y_slow = jax.jit(lambda v, x: (module.apply(v, x), slow.apply(v, x)))(variables, x)
    np.testing.assert_allclose(y_fast, y_slow, atol=1e-5, rtol=1e-5)


def test_modules_match_functional_api_and_leading_batch_dims():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 3, 5, 5, 3)), jnp.float32)
    m = ConvTranspose(4, 3, stride=2, padding=1, output_padding=1)
    v = jax.jit(m.init)(jax.random.key(0), x)
    p = v["params"]

    @jax.jit
    def both(v, x):
        ref = conv_transpose2d(x.reshape(6, 5, 5, 3), p["kernel"], 2, 1, 1) + p["bias"]
        return m.apply(v, x), ref.reshape(2, 3, 10, 10, 4)

    y, ref = both(v, x)
    np.testing.assert_allclose(y, ref, atol=1e-6)

    params, y = _shapes(Conv(4, 3, stride=2, padding=1, use_bias=False), x)
    assert params == {"kernel": (3, 3, 3, 4)}
    chex.assert_shape(y, (2, 3, 3, 3, 4))


@pytest.mark.parametrize(
    "module,fan_in",
    [
        (Conv(64, 5, stride=2, padding=2), 5 * 5 * 32),  # Cin * K * K
        (ConvTranspose(64, 5, stride=2, padding=2), 5 * 5 * 64),  # Cout * K * K (PyTorch quirk)
    ],
)
def test_default_init_matches_pytorch(module, fan_in):
    params = jax.jit(module.init)(jax.random.key(0), jnp.ones((1, 8, 8, 32)))["params"]
    bound = 1.0 / math.sqrt(fan_in)
    for name in ("kernel", "bias"):
        v = np.asarray(params[name])
        assert np.all(np.abs(v) <= bound), name
    # Uniform on [-b, b]: the kernel (51200 samples) should essentially reach the bound, and its
    # std should be b / sqrt(3).
    k = np.asarray(params["kernel"])
    assert np.abs(k).max() > 0.99 * bound
    np.testing.assert_allclose(k.std(), bound / math.sqrt(3), rtol=0.02)


def test_custom_initializers_are_used():
    m = Conv(2, 3, kernel_init=jax.nn.initializers.zeros, bias_init=jax.nn.initializers.ones)
    params = jax.jit(m.init)(jax.random.key(0), jnp.ones((1, 5, 5, 1)))["params"]
    assert np.all(params["kernel"] == 0) and np.all(params["bias"] == 1)


def test_invalid_arguments():
    x = jnp.ones((1, 4, 4, 2))
    w = jnp.ones((3, 3, 2, 2))
    with pytest.raises(ValueError):
        conv2d(x, w, 2, 1, impl="fft")
    with pytest.raises(ValueError):
        conv2d(x, w, 0, 1)
    with pytest.raises(ValueError):
        conv_transpose2d(x, w, 2, -1)
    with pytest.raises(ValueError):
        conv2d(jnp.ones((4, 4, 2)), w)
