"""gendl.bench --convs: every convolution of a compiled program, found, rebuilt and timed."""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from gendl.training import conv_breakdown

_NHWC = ("NHWC", "HWIO", "NHWC")


def _strided(x, w):
    return lax.conv_general_dilated(x, w, (2, 2), [(2, 2), (2, 2)], dimension_numbers=_NHWC)


def _grouped(x, w):
    return lax.conv_general_dilated(
        x, w, (1, 1), [(1, 1), (1, 1)], dimension_numbers=_NHWC, feature_group_count=2
    )


def _program(x, w1, w2, w3):
    """Two strided convolutions of one shape, one grouped, one in a scanned loop body."""
    a = _strided(x, w1) + _strided(x + 1.0, w1)
    b = _grouped(a, w2)

    def body(h, _):
        return _grouped(h, w3), None

    c, _ = lax.scan(body, b, None, length=3)
    return c.sum()


def _arrays():
    keys = jax.random.split(jax.random.key(0), 4)
    x = jax.random.normal(keys[0], (4, 12, 12, 6))
    w1 = jax.random.normal(keys[1], (5, 5, 6, 8))
    w2 = jax.random.normal(keys[2], (3, 3, 4, 8))  # 2 groups of 4 input channels
    w3 = jax.random.normal(keys[3], (3, 3, 4, 8))
    return x, w1, w2, w3


def _parsed():
    text = jax.jit(_program).lower(*_arrays()).compile().as_text()
    return conv_breakdown.parse(text)


def test_parse_finds_every_convolution_with_its_count_loop_and_flops():
    found = {
        (c.lhs, c.rhs, c.strides, c.feature_group_count): (c, n, loop) for c, n, loop in _parsed()
    }
    strided = found[((4, 12, 12, 6), (5, 5, 6, 8), (2, 2), 1)]
    assert strided[1] == 2 and not strided[2]
    assert strided[0].out == (4, 6, 6, 8) and strided[0].padding == ((2, 2), (2, 2))
    assert strided[0].dense_flops == 2 * 4 * 6 * 6 * 8 * 25 * 6
    plain = found[((4, 6, 6, 8), (3, 3, 4, 8), (1, 1), 2)]
    assert plain[0].dense_flops == 2 * 4 * 6 * 6 * 8 * 9 * 4
    # The loop body's convolution has the same shape: one entry, counted once for the body
    # (not once per trip) beside the one outside, and marked as in a loop.
    assert plain[1] == 2 and plain[2]
    assert len(found) == 2


def test_rebuilt_convolutions_compute_what_the_program_computes():
    x, w1, w2, _ = _arrays()
    convs = {c.rhs + (c.feature_group_count,): c for c, _, _ in _parsed()}
    strided = conv_breakdown.as_function(convs[(5, 5, 6, 8, 1)])
    np.testing.assert_allclose(strided(x, w1), _strided(x, w1), rtol=1e-5, atol=1e-5)
    a = jnp.ones((4, 6, 6, 8))
    grouped = conv_breakdown.as_function(convs[(3, 3, 4, 8, 2)])
    np.testing.assert_allclose(grouped(a, w2), _grouped(a, w2), rtol=1e-5, atol=1e-5)


def test_dim_labels_translate_to_lax_dimension_numbers():
    assert conv_breakdown._dims("b01f_01io->b01f") == ("NHWC", "HWIO", "NHWC")
    assert conv_breakdown._dims("bf01_oi01->bf01") == ("NCHW", "OIHW", "NCHW")
    assert conv_breakdown._dims("b0f_0io->b0f") == ("NHC", "HIO", "NHC")


def test_breakdown_sums_its_rows_and_the_table_reports_the_rest_of_the_step():
    text = jax.jit(_program).lower(*_arrays()).compile().as_text()
    result = conv_breakdown.breakdown(text, reps=2)
    rows = result["rows"]
    assert len(rows) == len(conv_breakdown.parse(text))
    assert all(r["ms"] > 0 and r["total_ms"] == r["count"] * r["ms"] for r in rows)
    np.testing.assert_allclose(result["total_ms"], sum(r["total_ms"] for r in rows))
    want = sum(r["count"] * r["conv"].dense_flops for r in rows) / 1e9
    np.testing.assert_allclose(result["gflop"], want)
    assert [r["total_ms"] for r in rows] == sorted((r["total_ms"] for r in rows), reverse=True)
    step_ms = result["total_ms"] + 7.0
    table = conv_breakdown.table(result, step_ms, matmul_gflop_per_s=100.0)
    assert table.count("\n| ") == len(rows) + 1  # separator and rows after the header
    assert "(loop body)" in table and "groups 2" in table
    assert "so 7 ms elsewhere" in table
