"""Several train steps per compiled call (config.steps_per_call): the same steps as one call
each, with every log, checkpoint and phase boundary kept exact; and the benchmark's FLOP
count and matmul rate."""

import json
import os
import sys
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gendl import checkpointing
from gendl.config import ConfigError
from gendl.training import benchmark, experiment, loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "configs"))

import gan as gan_config  # noqa: E402  (configs/gan.py)
import vae as vae_config  # noqa: E402  (configs/vae.py)


def tiny_vae(fake_data, **kw):
    c = vae_config.get_config("smoke")  # dynamic binarisation: per-step randomness on device
    c.batch_size, c.model.hidden, c.model.latent_dim = 8, (16,), 4
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    c.evals = {}
    c.log.sample_every_steps = 1000
    c.steps_per_call = 1  # one step per call unless a test asks (configs/vae.py runs 20)
    c.update(kw)
    return c


def tiny_wgan(fake_data):
    """Two networks, two real batches per step (n_critic) and a generator EMA."""
    c = gan_config.get_config("smoke")
    c.batch_size, c.model.g_hidden, c.model.d_hidden, c.model.z_dim = 8, (8,), (8,), 4
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    c.objective.loss, c.objective.n_critic = "wasserstein", 2
    c.ema.decay = 0.9
    c.steps_per_call = 3
    return c


def assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_k_steps_in_one_call_equal_k_single_steps_bitwise(fake_data):
    # A GAN here; the VAE's equality, through the loop, is the next test's.
    exp = experiment.build(tiny_wgan(fake_data))
    single = exp.init_state()
    rows = []
    for step in range(3):
        single, m = exp.jitted_step("train")(single, exp.frozen, exp.batch(step))
        rows.append(np.asarray(m))
    batches = exp.stacked_batches(0, 3)
    assert jax.tree.leaves(batches)[0].shape[:2] == (3, exp.batches_per_step)
    multi, metrics = exp.jitted_steps("train", 3)(exp.init_state(), exp.frozen, batches)
    assert int(multi.step) == int(single.step) == 3
    # Bitwise: the loop body is the very step function, on the same data and keys.
    assert_trees_equal(single, multi)
    np.testing.assert_array_equal(np.stack(rows), np.asarray(metrics))


def read_metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return {row["step"]: row for row in map(json.loads, f)}


def test_loop_keeps_every_cadence_and_resumes_exactly(fake_data, tmp_path, monkeypatch):
    """k = 4 with logs and checkpoints every 6 steps: calls must end at 6 and 12, so the run
    mixes 4-step and 1-step calls; a run stopped at 7 resumes off the k-grid. Everything
    written equals the one-step-per-call run's, bit for bit."""
    calls = []
    original = experiment.Experiment.jitted_steps

    def recording(self, phase, k):
        calls.append(k)
        return original(self, phase, k)

    monkeypatch.setattr(experiment.Experiment, "jitted_steps", recording)

    def config(**kw):
        c = tiny_vae(fake_data, **{"total_steps": 14, **kw})
        c.log.every_steps = c.checkpoint.every_steps = 6
        return c

    plain, multi, resumed = (str(tmp_path / n) for n in ("plain", "multi", "resumed"))
    loop.train(config(), plain)
    assert not calls
    loop.train(config(steps_per_call=4), multi)
    # 0-2 one by one (the bench timer starts after 2 steps), 2-6, 6-10, then 10 .. 14 one by
    # one (a call of 4 from 10 would pass 12, one from 12 would pass the end).
    assert calls == [4, 4]
    loop.train(config(steps_per_call=4, total_steps=7), resumed)
    loop.train(config(steps_per_call=4), resumed)
    want = read_metrics(plain)
    assert sorted(want) == [6, 12, 14]
    assert read_metrics(multi) == want
    got = read_metrics(resumed)
    assert sorted(got) == [6, 7, 12, 14]
    # Step 12's row averages 8-12 after the resume at 7 (as with one step per call).
    assert got[6] == want[6] and got[14] == want[14]
    a, _ = checkpointing.read_tree(os.path.join(plain, "checkpoints"))
    for workdir in (multi, resumed):
        b, step = checkpointing.read_tree(os.path.join(workdir, "checkpoints"))
        assert step == 14
        assert_trees_equal(a, b)


def test_call_length_stops_at_phase_changes_and_evaluations(fake_data):
    c = tiny_vae(fake_data, steps_per_call=4, total_steps=40)
    c.log.every_steps = c.checkpoint.every_steps = 20
    c.evals = {"x": dict(type="reconstruction", every_steps=10)}
    exp = experiment.build(c)
    length = lambda step: loop._call_length(exp, c, step, exp.phase(step), timer_step=0)  # noqa: E731
    assert [length(s) for s in (0, 6, 7, 8, 36, 37)] == [4, 4, 1, 1, 4, 1]
    exp.objective.phases = lambda: ("train", "other")
    exp.objective.phase = lambda step: "train" if step < 3 else "other"
    assert length(0) == 1 and length(3) == 4
    assert loop._call_length(exp, c, 0, "train", timer_step=2) == 1
    c.steps_per_call = 0
    with pytest.raises(ConfigError, match="steps_per_call must be >= 1"):
        experiment.build(c)


# --- the benchmark's figures


def test_flop_count_of_a_dense_layer_by_hand():
    m, k, n = 4, 3, 5
    w, b, x = jnp.ones((k, n)), jnp.ones((n,)), jnp.ones((m, k))
    dense = jax.jit(lambda w, b, x: x @ w + b)
    # A multiply-add per (row, input, output) counts 2; the bias add 1 per output element.
    assert benchmark.compiled_flops(dense.lower(w, b, x).compile()) == 2 * m * k * n + m * n
    # d/dw 0.5 * |x w + b|^2 = x^T (x w + b): the forward plus one more matmul of the same size.
    grad = jax.jit(jax.grad(lambda w, b, x: 0.5 * jnp.sum((x @ w + b) ** 2)))
    assert benchmark.compiled_flops(grad.lower(w, b, x).compile()) == 2 * (2 * m * k * n) + m * n


def test_bench_reports_rates_against_the_matmul_rate(fake_data, monkeypatch):
    assert benchmark.matmul_rate(256, reps=2) > 0
    # A smaller matmul than 2048^2 keeps this test fast; the rate's meaning is the same.
    monkeypatch.setattr(benchmark, "matmul_rate", lambda: 100.0)
    # The real VAE's layers, so that its matmuls dominate the count: forward 784-400-(2x20)
    # and 20-400-784, backward the same twice less the first layer's input gradient.
    c = tiny_vae(fake_data, steps_per_call=2, batch_size=64)
    c.model.hidden, c.model.latent_dim = (400,), 20
    result = benchmark.bench(c, steps=4, warmup=1, convs=True)
    layers = [(784, 400), (400, 40), (20, 400), (400, 784)]
    matmuls = sum(2 * c.batch_size * i * o for i, o in layers) * 3
    matmuls -= 2 * c.batch_size * 784 * 400
    # Elementwise work, the sampling and Adam (~10 FLOPs per parameter) add a few percent.
    assert matmuls <= result["step_gflop"] * 1e9 <= 1.1 * matmuls
    assert result["steps"] == 4 and result["matmul_gflop_per_s"] == 100.0
    assert result["warmup_steps"] == 2  # one call of k = 2 steps; one phase only
    assert result["loop_gflop"] == result["step_gflop"]
    for rate, steps in (("gflop_per_s", "steps_per_s"), ("step_gflop_per_s", "step_steps_per_s")):
        want = result["step_gflop"] * result[steps]
        np.testing.assert_allclose(result[rate], want, rtol=0.01, atol=0.01)
    want = result["step_gflop_per_s"] / 100.0
    np.testing.assert_allclose(result["fraction_of_matmul"], want, rtol=0.01, atol=1e-3)
    # --convs on a model without convolutions: none found, the whole step is "elsewhere".
    assert result["conv_alone_ms"] == 0.0 and result["conv_dense_gflop"] == 0.0
    np.testing.assert_allclose(result["step_ms"], 1e3 / result["step_steps_per_s"], rtol=0.01)
    assert "convolutions alone: 0 ms per step" in result["conv_table"]


class _PhasedExperiment:
    """StyleGAN2's phase pattern (R1 every 16 steps, path length every 4) without networks;
    each phase's "program" costs a known number of FLOPs."""

    frozen = None
    flops = {"main": 10.0, "pl": 30.0, "r1_pl": 100.0}

    def __init__(self, steps_per_call=1):
        self.steps_per_call = steps_per_call

    def phase(self, step):
        return "r1_pl" if step % 16 == 0 else "pl" if step % 4 == 0 else "main"

    def init_state(self):
        return None

    def batch(self, step):
        return None

    def jitted_step(self, phase):
        cost = self.flops[phase]
        compiled = types.SimpleNamespace(cost_analysis=lambda: {"flops": cost})
        lowered = types.SimpleNamespace(compile=lambda: compiled)
        return types.SimpleNamespace(lower=lambda *args: lowered)


def test_loop_warmup_covers_every_phase_the_timed_steps_take():
    exp = _PhasedExperiment()
    # 0: r1_pl, 1-3: main, 4: pl. Timing from step 2 would compile "pl" at step 4.
    assert benchmark._warmup_covering_phases(exp, 2, steps=32) == 5
    assert benchmark._warmup_covering_phases(exp, 2, steps=2) == 2  # steps 2, 3: main
    assert benchmark._warmup_covering_phases(exp, 7, steps=32) == 7
    assert benchmark._warmup_covering_phases(_PhasedExperiment(steps_per_call=4), 2, 32) == 8


def test_loop_flops_are_the_mean_over_the_timed_steps_phases():
    exp = _PhasedExperiment()
    # Steps 5 .. 36: r1_pl at 16 and 32; pl at 8, 12, 20, 24, 28, 36; 24 main.
    want = (2 * 100.0 + 6 * 30.0 + 24 * 10.0) / 32
    assert benchmark._mean_flops(exp, 5, 32, flops_of_first_phase=100.0) == want
