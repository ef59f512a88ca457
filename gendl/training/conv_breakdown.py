"""Where a compiled step's convolution time goes: every distinct convolution of the optimised
program, timed alone, with its dense floating-point work.

`python -m gendl.bench --convs` prints this table. Its sum is the time the step's convolutions
need on this machine when each runs as fast as it does alone: the step cannot be faster than
that without fewer convolution FLOPs, so it separates "the kernels are slow" from "the work
is large" from "the time goes elsewhere" (step time minus the sum).

FLOPs here are dense: 2 x output elements x kernel taps x input channels per group, the
multiplies a convolution kernel performs, padding taps included. XLA's cost analysis
(`step_gflop`) counts only the taps that land inside the input, so it is lower for small,
padded maps (a 3x3 kernel over a 4x4 map: 100 of 144 taps).
"""

import dataclasses
import math
import re
import time

import jax
import jax.numpy as jnp
from jax import lax

_DTYPES = {"f32": jnp.float32, "bf16": jnp.bfloat16, "f16": jnp.float16, "f64": jnp.float64}
_SHAPE = r"(\w+)\[([0-9,]*)\]"
_DEF = re.compile(r"%([\w.\-]+) = " + _SHAPE)
_CONV = re.compile(
    r"%[\w.\-]+ = " + _SHAPE + r"\S* convolution\((?:\S+ )?%([\w.\-]+), (?:\S+ )?%([\w.\-]+)\)(.*)"
)
_COMPUTATION = re.compile(r"^(?:ENTRY )?%([\w.\-]+) ")
_WHILE_BODY = re.compile(r"while\(.*body=%([\w.\-]+)")


@dataclasses.dataclass(frozen=True)
class Conv:
    """One distinct convolution: shapes, window and layout as XLA compiled it."""

    dtype: str
    lhs: tuple
    rhs: tuple
    out: tuple
    strides: tuple
    padding: tuple  # ((lo, hi), ...) per spatial dimension
    lhs_dilation: tuple
    rhs_dilation: tuple
    dimension_numbers: tuple  # lax's strings, e.g. ("NHWC", "HWIO", "NHWC")
    feature_group_count: int

    @property
    def dense_flops(self) -> int:
        spec = self.dimension_numbers[1]
        taps = 1
        for axis, size in zip(spec, self.rhs, strict=True):
            if axis not in "IO":
                taps *= size
        cin = self.rhs[spec.index("I")]  # already per group in the kernel's shape
        return 2 * math.prod(self.out) * taps * cin


def _ints(text):
    return tuple(int(x) for x in text.split(",") if x)


def _dims(labels: str):
    """HLO's dim_labels (b01f_01io->b01f) as lax's dimension-number strings."""
    lhs, rest = labels.split("_", 1)
    rhs, out = rest.split("->")
    spatial = "HWDXYZ"  # lax needs one letter per spatial dimension, any but N, C, I, O

    def name(spec, batch, feature):
        return "".join(
            batch if c == "b" else feature if c == "f" else spatial[int(c)] for c in spec
        )

    kernel = "".join("I" if c == "i" else "O" if c == "o" else spatial[int(c)] for c in rhs)
    return name(lhs, "N", "C"), kernel, name(out, "N", "C")


def _window(text: str, n: int):
    fields = dict(kv.split("=", 1) for kv in text.split())

    def per_dim(key, default):
        if key not in fields:
            return (default,) * n
        return tuple(int(x) for x in fields[key].split("x"))

    pads = ((0, 0),) * n
    if "pad" in fields:
        pads = tuple(tuple(int(y) for y in p.split("_")) for p in fields["pad"].split("x"))
    return per_dim("stride", 1), pads, per_dim("lhs_dilate", 1), per_dim("rhs_dilate", 1)


def parse(hlo_text: str) -> list:
    """[(Conv, count, in_loop)] of an optimised HLO module's text, most frequent first.
    `count` is occurrences in the text: a convolution inside a while body (lax.scan,
    fori_loop) is counted once, as XLA's cost analysis counts it; `in_loop` says so."""
    shapes = {m.group(1): _ints(m.group(3)) for m in _DEF.finditer(hlo_text)}
    bodies = set(_WHILE_BODY.findall(hlo_text))
    counts, loops, computation = {}, set(), None
    for line in hlo_text.splitlines():
        head = _COMPUTATION.match(line)
        if head and line.rstrip().endswith("{"):
            computation = head.group(1)
        m = _CONV.search(line)
        if not m:
            continue
        attrs = m.group(5)
        labels = re.search(r"dim_labels=([\w>\-]+)", attrs).group(1)
        window = re.search(r"window=\{([^}]*)\}", attrs)
        groups = re.search(r"feature_group_count=(\d+)", attrs)
        rhs = shapes[m.group(4)]
        strides, pads, lhs_dil, rhs_dil = _window(window.group(1) if window else "", len(rhs) - 2)
        conv = Conv(
            dtype=m.group(1),
            lhs=shapes[m.group(3)],
            rhs=rhs,
            out=_ints(m.group(2)),
            strides=strides,
            padding=pads,
            lhs_dilation=lhs_dil,
            rhs_dilation=rhs_dil,
            dimension_numbers=_dims(labels),
            feature_group_count=int(groups.group(1)) if groups else 1,
        )
        counts[conv] = counts.get(conv, 0) + 1
        if computation in bodies:
            loops.add(conv)
    return sorted(((c, n, c in loops) for c, n in counts.items()), key=lambda r: -r[1])


def as_function(conv: Conv):
    """The convolution as a jitted function of (lhs, rhs)."""
    return jax.jit(
        lambda lhs, rhs: lax.conv_general_dilated(
            lhs,
            rhs,
            conv.strides,
            conv.padding,
            conv.lhs_dilation,
            conv.rhs_dilation,
            conv.dimension_numbers,
            conv.feature_group_count,
        )
    )


def best_call_seconds(fn, shapes, dtype, reps: int) -> float:
    """Seconds of the fastest of `reps` calls of jitted `fn` on random normal operands of
    `shapes`, after one untimed call (compilation, first-touch of the buffers)."""
    keys = jax.random.split(jax.random.key(0), len(shapes))
    args = [jax.random.normal(k, shape, dtype) for k, shape in zip(keys, shapes, strict=True)]
    fn = jax.jit(fn)
    jax.block_until_ready(fn(*args))
    best = math.inf
    for _ in range(reps):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best


def time_alone(conv: Conv, reps: int = 7) -> float:
    """Seconds of one call of the convolution alone, the best of `reps` after a warm-up."""
    return best_call_seconds(as_function(conv), (conv.lhs, conv.rhs), _DTYPES[conv.dtype], reps)


def breakdown(hlo_text: str, reps: int = 7) -> dict:
    """Every distinct convolution timed alone: rows (slowest total first) and totals."""
    rows = []
    for conv, count, in_loop in parse(hlo_text):
        seconds = time_alone(conv, reps)
        rows.append(
            dict(
                conv=conv,
                count=count,
                in_loop=in_loop,
                ms=seconds * 1e3,
                total_ms=count * seconds * 1e3,
                gflop=count * conv.dense_flops / 1e9,
                gflop_per_s=conv.dense_flops / seconds / 1e9,
            )
        )
    rows.sort(key=lambda r: -r["total_ms"])
    total_ms = sum(r["total_ms"] for r in rows)
    gflop = sum(r["gflop"] for r in rows)
    return dict(
        rows=rows,
        total_ms=total_ms,
        gflop=gflop,
        gflop_per_s=gflop / total_ms * 1e3 if total_ms else 0.0,
    )


def table(result: dict, step_ms: float, matmul_gflop_per_s: float) -> str:
    """Markdown table of `breakdown`'s result against the step's measured time."""
    lines = [
        "| count | lhs | rhs | window | alone, ms | x count, ms | dense GFLOP | GFLOP/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["rows"]:
        c = r["conv"]
        window = f"stride {c.strides} pad {c.padding}"
        if set(c.lhs_dilation) != {1}:
            window += f" lhs_dilation {c.lhs_dilation}"
        if set(c.rhs_dilation) != {1}:
            window += f" rhs_dilation {c.rhs_dilation}"
        if c.feature_group_count > 1:
            window += f" groups {c.feature_group_count}"
        loop = " (loop body)" if r["in_loop"] else ""
        lines.append(
            f"| {r['count']}{loop} | {c.dimension_numbers[0]} {c.lhs} | "
            f"{c.dimension_numbers[1]} {c.rhs} | {window} | {r['ms']:.2f} | "
            f"{r['total_ms']:.1f} | {r['gflop']:.2f} | {r['gflop_per_s']:.0f} |"
        )
    lines.append(
        f"\nconvolutions alone: {result['total_ms']:.0f} ms per step for "
        f"{result['gflop']:.1f} dense GFLOP ({result['gflop_per_s']:.0f} GFLOP/s, "
        f"{result['gflop_per_s'] / matmul_gflop_per_s:.2f} of the matmul rate); the step: "
        f"{step_ms:.0f} ms, so {max(step_ms - result['total_ms'], 0):.0f} ms elsewhere"
    )
    return "\n".join(lines)
