"""Timing a config's train step and training loop, and the FLOP rate they reach: the library
side of `python -m gendl.bench` (which defines the command-line flags), importable without
defining any flag."""

import gc
import platform
import resource
import tempfile
import time

import flax
import jax
import jax.numpy as jnp
import optax

from gendl.config import ConfigError
from gendl.training import conv_breakdown, loop
from gendl.training import experiment as experiment_lib


def compiled_flops(compiled) -> float:
    """Floating-point operations of one call of a compiled program, from XLA's cost analysis
    (a multiply-add counts 2); per device for a program partitioned over several. 0.0 when
    the backend gives no estimate."""
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):  # older jax: one dict per partition
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", 0.0))


def matmul_rate(n=2048, reps=5) -> float:
    """GFLOP/s of a jitted n x n float32 matmul on the default device, the best of `reps`
    timed calls after a warm-up: the dense rate this machine can reach from XLA."""
    best = conv_breakdown.best_call_seconds(jnp.matmul, ((n, n), (n, n)), jnp.float32, reps)
    return 2 * n**3 / best / 1e9


def _time_step_alone(exp, steps, warmup):
    """(compile s, FLOPs per step, timed steps, steps/s) of the step of the first phase (for
    most objectives the only one) as training starts; with config.steps_per_call = k > 1,
    of the k-step program, per step. `steps` counts calls here."""
    state = exp.init_state()
    k, frozen, phase = exp.steps_per_call, exp.frozen, exp.phase(0)
    t = time.perf_counter()
    compiled = exp.jitted_step(phase).lower(state, frozen, exp.batch(0)).compile()
    compile_s = time.perf_counter() - t
    # From the one-step program: XLA's cost analysis counts a loop's body once, not per trip.
    flops, hlo_text = compiled_flops(compiled), compiled.as_text()
    batch = exp.batch(0)
    if k > 1:
        batch = exp.stacked_batches(0, k)
        compiled = exp.jitted_steps(phase, k).lower(state, frozen, batch).compile()
    if steps > 0:
        steps = max(1, steps // k)
    for _ in range(warmup):
        state, _ = compiled(state, frozen, batch)
    jax.block_until_ready(state)
    if steps <= 0:  # probe: aim for ~10 s of timing
        t = time.perf_counter()
        state, _ = compiled(state, frozen, batch)
        jax.block_until_ready(state)
        steps = max(5, int(10.0 / max(time.perf_counter() - t, 1e-4)))
    # Several fake CPU devices: at most two steps in flight, as in the training loop. With an
    # unbounded queue XLA:CPU can run one step's all-reduce on a worker thread that another
    # step's devices need, and aborts after its 40 s collective timeout (seen on 2 cores).
    in_flight = 2 if exp.mesh.size > 1 and jax.default_backend() == "cpu" else steps
    t = time.perf_counter()
    queue = []
    for _ in range(steps):
        state, m = compiled(state, frozen, batch)
        queue.append(m)
        if len(queue) > in_flight:
            jax.block_until_ready(queue.pop(0))
    jax.block_until_ready(state)
    rate = steps * k / (time.perf_counter() - t)
    return compile_s, flops, hlo_text, steps * k, rate


def _warmup_covering_phases(exp, warmup, steps):
    """The fewest untimed steps, at least `warmup`, after which every phase that the timed
    steps take has been taken once: the timer must not include a phase's first compilation
    (StyleGAN2's lazy R1 and path-length steps come every 16 and 4 steps). A multiple of
    steps_per_call, so the timer starts where a call ends and the timed calls are whole."""
    k = exp.steps_per_call
    w = -(-warmup // k) * k
    while True:
        seen = {exp.phase(s) for s in range(w)}
        late = [s for s in range(w, w + steps) if exp.phase(s) not in seen]
        if not late:
            return w
        w = -(-(late[0] + 1) // k) * k


def _mean_flops(exp, first, steps, flops_of_first_phase):
    """FLOPs per step averaged over the steps [first, first + steps): phases differ (R1 and
    path-length steps cost more than plain ones)."""
    phases = [exp.phase(s) for s in range(first, first + steps)]
    flops = {exp.phase(0): flops_of_first_phase}
    state = exp.init_state()
    for phase in set(phases) - set(flops):
        # A step of that phase's own batch: phases may read more batches (WGAN's bursts).
        step = first + phases.index(phase)
        lowered = exp.jitted_step(phase).lower(state, exp.frozen, exp.batch(step))
        flops[phase] = compiled_flops(lowered.compile())
    return sum(flops[p] for p in phases) / len(phases)


def _time_full_loop(config, steps, warmup, mesh=None):
    """Steps/s of the training loop over `steps` steps after `warmup` untimed steps."""
    config = config.copy_and_resolve_references()
    with config.unlocked():
        config.total_steps = warmup + steps
        # Checkpoints and evaluators are excluded: their cost depends on the disk and on the
        # evaluation protocol, not on the training loop.
        config.checkpoint.every_steps = 10**9
        config.evals = {}
    with tempfile.TemporaryDirectory() as workdir:
        result = loop.train(config, workdir, timed_after=warmup, mesh=mesh)
    return result["timed_steps"] / result["timed_seconds"]


def bench(config, steps=0, warmup=2, mesh_size=0, convs=False) -> dict:
    """The bench line's figures (see gendl.bench); with `convs`, also every convolution of
    the step timed alone (`conv_breakdown`): `conv_alone_ms` and friends, and under
    `conv_table` the table, which the command prints apart from the JSON line."""
    mesh = None
    if mesh_size:
        from gendl.parallel import mesh as mesh_lib

        if mesh_size > jax.device_count():
            raise ConfigError(f"--mesh_size={mesh_size} but only {jax.device_count()} devices.")
        mesh = mesh_lib.make_mesh(jax.devices()[:mesh_size], config.parallel.fsdp)
    exp = experiment_lib.build(config, mesh)
    compile_s, flops, hlo_text, steps, step_rate = _time_step_alone(exp, steps, warmup)
    images = config.batch_size * exp.batches_per_step
    loop_warmup = _warmup_covering_phases(exp, warmup * exp.steps_per_call, steps)
    loop_flops = _mean_flops(exp, loop_warmup, steps, flops)
    del exp  # the loop builds its own; keeping both would inflate peak memory
    gc.collect()
    loop_rate = _time_full_loop(config, steps, loop_warmup, mesh)
    dev = jax.devices()[0]
    devices = mesh.size if mesh is not None else jax.device_count()
    # The cost analysis is per device; fake CPU devices share the host's cores, so there
    # the machine's limit is one device's matmul rate, elsewhere that times the devices.
    total_gflop = flops * devices / 1e9
    loop_gflop = loop_flops * devices / 1e9
    peak = matmul_rate() * (1 if dev.platform == "cpu" else devices)
    result = {
        "impl": "gendl",
        "config": f"{config.model.name}/{config.objective.name}",
        "steps": steps,
        "steps_per_s": round(loop_rate, 3),
        "images_per_s": round(loop_rate * images, 1),
        "step_steps_per_s": round(step_rate, 3),
        "warmup_steps": loop_warmup,
        "step_gflop": float(f"{total_gflop:.4g}"),  # the first phase's: the step timed alone
        "loop_gflop": float(f"{loop_gflop:.4g}"),  # mean over the loop's timed steps
        "gflop_per_s": round(loop_gflop * loop_rate, 2),
        "step_gflop_per_s": round(total_gflop * step_rate, 2),
        "matmul_gflop_per_s": round(peak, 1),
        "fraction_of_matmul": round(total_gflop * step_rate / peak, 3),
        "compile_s": round(compile_s, 2),
        # ru_maxrss is KiB on Linux.
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', '')} x{devices}",
        "devices": devices,
        "batch_size": config.batch_size,
        "host": platform.machine(),
        "jax": jax.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
    }
    if convs:
        result.update(_conv_figures(hlo_text, 1e3 / step_rate, peak))
    return result


def _conv_figures(hlo_text, step_ms, peak) -> dict:
    found = conv_breakdown.breakdown(hlo_text)
    return {
        "conv_alone_ms": round(found["total_ms"], 1),
        "conv_dense_gflop": round(found["gflop"], 2),
        "conv_alone_gflop_per_s": round(found["gflop_per_s"], 1),
        "step_ms": round(step_ms, 1),
        "conv_table": conv_breakdown.table(found, step_ms, peak),
    }
