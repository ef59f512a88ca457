"""Times the train step that `gendl.main` runs, and the full training loop around it.

    python -m gendl.bench --config=configs/wgan_gp.py [--steps=N]

Prints one JSON line: `steps_per_s` and `images_per_s` of the full loop (input pipeline,
metric fetches and logging as in training, checkpoints excluded), `step_steps_per_s` of the
compiled step alone on a device-resident batch, `compile_s`, peak resident memory, device
and versions. Compare with ../shared/bench/torch_ref.py run in the same session.
"""

import gc
import json
import platform
import resource
import sys
import tempfile
import time

import flax
import jax
import optax
from absl import app, flags, logging
from ml_collections import config_flags

from gendl import cli
from gendl.config import ConfigError
from gendl.data.source import DataError
from gendl.training import experiment as experiment_lib
from gendl.training import loop

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
_STEPS = flags.DEFINE_integer("steps", 0, "Timed steps (0: ~10 s worth, from a probe).")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps after compilation.")
flags.mark_flags_as_required(["config"])


def _time_step_alone(exp, steps, warmup):
    state = exp.init_state()
    batch = exp.batch(0)
    t = time.perf_counter()
    compiled = exp.train_step.lower(state, batch).compile()
    compile_s = time.perf_counter() - t
    for _ in range(warmup):
        state, _ = compiled(state, batch)
    jax.block_until_ready(state)
    if steps <= 0:  # probe: aim for ~10 s of timing
        t = time.perf_counter()
        state, _ = compiled(state, batch)
        jax.block_until_ready(state)
        steps = max(5, int(10.0 / max(time.perf_counter() - t, 1e-4)))
    t = time.perf_counter()
    for _ in range(steps):
        state, _ = compiled(state, batch)
    jax.block_until_ready(state)
    return compile_s, steps, steps / (time.perf_counter() - t)


def _time_full_loop(config, steps, warmup):
    config = config.copy_and_resolve_references()
    with config.unlocked():
        config.total_steps = warmup + steps
        # Checkpoints and evaluators are excluded: their cost depends on the disk and on the
        # evaluation protocol, not on the training loop.
        config.checkpoint.every_steps = 10**9
        config.evals = {}
    with tempfile.TemporaryDirectory() as workdir:
        result = loop.train(config, workdir, timed_after=warmup)
    return result["timed_steps"] / result["timed_seconds"]


def bench(config, steps=0, warmup=2) -> dict:
    exp = experiment_lib.build(config)
    compile_s, steps, step_rate = _time_step_alone(exp, steps, warmup)
    images = config.batch_size * exp.batches_per_step
    del exp  # the loop builds its own; keeping both would inflate peak memory
    gc.collect()
    loop_rate = _time_full_loop(config, steps, warmup)
    dev = jax.devices()[0]
    return {
        "impl": "gendl",
        "config": f"{config.model.name}/{config.objective.name}",
        "steps": steps,
        "steps_per_s": round(loop_rate, 3),
        "images_per_s": round(loop_rate * images, 1),
        "step_steps_per_s": round(step_rate, 3),
        "compile_s": round(compile_s, 2),
        # ru_maxrss is KiB on Linux.
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')} x{jax.device_count()}",
        "host": platform.machine(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
    }


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    try:
        result = bench(_CONFIG.value, _STEPS.value, _WARMUP.value)
    except (ConfigError, DataError, loop.NonFiniteLossError, loop.Preempted) as e:
        print(f"gendl.bench: error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    app.run(lambda argv: sys.exit(main(argv)), flags_parser=cli.parse_flags)
