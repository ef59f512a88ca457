"""Times the train step that `gendl.main` runs, and the full training loop around it.

    python -m gendl.bench --config=configs/wgan_gp.py [--steps=N]

Prints one JSON line: `steps_per_s` and `images_per_s` of the full loop (input pipeline,
metric fetches and logging as in training, checkpoints excluded), `step_steps_per_s` of the
compiled step alone on a device-resident batch, `compile_s`, peak resident memory, device
and versions. Compare with ../shared/bench/torch_ref.py run in the same session.

How close to the machine's limit: `step_gflop` is the compiled step's floating-point work
(XLA's cost analysis of the very program that is timed alone: the first step's phase),
`loop_gflop` the mean over the loop's timed steps (StyleGAN2's plain steps cost less than its
R1 / path-length ones), `gflop_per_s` and `step_gflop_per_s` what the loop and the step alone
achieve, `matmul_gflop_per_s`
the rate of a jitted 2048x2048 float32 matmul on the same device (best of a few), and
`fraction_of_matmul` = step_gflop_per_s / matmul_gflop_per_s: near 1 the step is
compute-bound at the machine's dense rate, far below it dispatch, memory or a slow kernel
is the limit.

Where the convolution time goes (`gendl/training/conv_breakdown.py`):

    python -m gendl.bench --config=configs/wgan_gp.py --convs

also times every distinct convolution of the compiled step alone and prints a table (count,
shapes, ms alone, dense GFLOP, GFLOP/s) before the JSON line, which gains `conv_alone_ms`
(their sum per step), `conv_dense_gflop`, `conv_alone_gflop_per_s` and `step_ms`.

Scaling over fake CPU devices (data parallel over 1, 2, 4, 8 devices of this host):

    python -m gendl.bench --config=configs/wgan_gp.py --devices=1,2,4,8

runs each count in a subprocess (XLA_FLAGS must be set before jax starts), all with the same
global batch (the config's, rounded down to a multiple of the largest count), then prints a
table and one JSON line per count. On an accelerator host `--devices=1,2,...` uses the first
N real devices (CUDA_VISIBLE_DEVICES / TPU_VISIBLE_CHIPS are not touched: the mesh is cut).
"""

import json
import math
import os
import subprocess
import sys

from absl import flags, logging
from ml_collections import config_flags

from gendl import cli
from gendl.config import ConfigError
from gendl.training import benchmark

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
_STEPS = flags.DEFINE_integer(
    "steps", 0, "Timed steps (0: ~10 s worth, from a probe).", lower_bound=0
)
_WARMUP = flags.DEFINE_integer(
    "warmup",
    2,
    "Untimed steps after compilation; the loop's warmup is extended until every phase the "
    "timed steps take has compiled (reported as warmup_steps).",
    lower_bound=0,
)
_DEVICES = flags.DEFINE_list(
    "devices", [], "Device counts to sweep, e.g. 1,2,4,8: one subprocess each, then a table."
)
_MESH_SIZE = flags.DEFINE_integer(
    "mesh_size", 0, "Use only the first N devices (set by --devices for its subprocesses)."
)
_CONVS = flags.DEFINE_bool(
    "convs", False, "Also time every convolution of the step alone and print the table."
)
flags.mark_flags_as_required(["config"])


def _sweep(argv, counts) -> int:
    """Runs this command once per device count in a fresh process; prints a table."""
    counts = [int(c) for c in counts]
    config = _CONFIG.value
    batch = config.batch_size // math.lcm(*counts) * math.lcm(*counts)
    if batch < 1:
        raise ConfigError(f"The batch size must be a multiple of {math.lcm(*counts)} to sweep.")
    # The same flags minus the sweep, plus the pieces that vary per count.
    own = [
        a for a in argv[1:] if not a.startswith(("--devices", "--mesh_size", "--config.batch_size"))
    ]
    env = dict(os.environ)
    cpu = "cpu" in env.get("JAX_PLATFORMS", "cpu") and _default_backend_is_cpu()
    results = []
    for n in counts:
        if cpu:  # fake devices: XLA reads the flag when the backend starts
            flags_ = [f for f in env.get("XLA_FLAGS", "").split() if "device_count" not in f]
            env["XLA_FLAGS"] = " ".join([*flags_, f"--xla_force_host_platform_device_count={n}"])
        cmd = [sys.executable, "-m", "gendl.bench", *own, f"--mesh_size={n}"]
        cmd.append(f"--config.batch_size={batch}")
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode:
            print(r.stderr[-3000:], file=sys.stderr)
            return r.returncode
        results.append(json.loads(r.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    print(_table(results))
    return 0


def _default_backend_is_cpu() -> bool:
    # Asks a subprocess, so this process does not start a backend with the wrong flags.
    code = "import jax; print(jax.default_backend())"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    return r.stdout.strip() == "cpu"


def _table(results) -> str:
    # Per-device throughput relative to the first count: 1.0 is perfect (strong) scaling.
    base = results[0]["images_per_s"] / results[0]["devices"]
    rows = [
        "| devices | global batch | steps/s | images/s | images/s per device | step alone, steps/s"
        " | efficiency |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        n = r["devices"]
        rows.append(
            f"| {n} | {r['batch_size']} | {r['steps_per_s']:.3f} | {r['images_per_s']:.1f} | "
            f"{r['images_per_s'] / n:.1f} | {r['step_steps_per_s']:.3f} | "
            f"{r['images_per_s'] / n / base:.2f} |"
        )
    return "\n".join(rows)


def main(argv):
    del argv
    if _DEVICES.value:
        return _sweep(sys.argv, _DEVICES.value)
    result = benchmark.bench(
        _CONFIG.value, _STEPS.value, _WARMUP.value, _MESH_SIZE.value, convs=_CONVS.value
    )
    if "conv_table" in result:
        print(result.pop("conv_table"))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    cli.run(main, "gendl.bench", verbosity=logging.WARNING)
