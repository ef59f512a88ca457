"""The training core's extension points: learning-rate schedules counted in train steps,
parameter groups, the EMA half-life schedule, phases with their own compiled steps and
metrics, objective state, frozen networks, init_from, and restoring the old state layout."""

import json
import os
import signal
import subprocess
import sys

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
import xla_flags  # tests/xla_flags.py

from gendl import checkpointing, objectives
from gendl.config import ConfigError
from gendl.data import transforms
from gendl.objectives import vae
from gendl.training import experiment, init_from, loop
from gendl.training import state as state_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "configs"))

import gan as gan_config  # noqa: E402  (configs/gan.py)
import vae as vae_config  # noqa: E402  (configs/vae.py)


def opt_config(**kw):
    base = dict(name="adam", learning_rate=0.1, b1=0.9, b2=0.999, eps=1e-8, grad_clip_norm=0.0)
    return ml_collections.ConfigDict({**base, **kw})


PARAMS = {"mapping": {"w": jnp.array([1.0, 2.0])}, "synthesis": {"w": jnp.array([3.0, -1.0])}}
GRADS = {"mapping": {"w": jnp.array([0.5, -0.25])}, "synthesis": {"w": jnp.array([0.1, 2.0])}}


# --- learning-rate schedules


def test_constant_rate_stays_a_float():
    assert state_lib.learning_rate(opt_config(), 100) == 0.1


def test_linear_decay_by_hand():
    cfg = opt_config(schedule="linear", decay_start=0.5, final_learning_rate=0.02)
    lr = state_lib.learning_rate(cfg, 100)
    # Constant to step 50, then linear from 0.1 to 0.02 at step 100.
    for step, want in ((0, 0.1), (50, 0.1), (75, 0.06), (90, 0.036), (100, 0.02), (120, 0.02)):
        np.testing.assert_allclose(float(lr(jnp.int32(step))), want, rtol=1e-6, err_msg=step)


def test_warmup_multiplies_any_schedule():
    constant = state_lib.learning_rate(opt_config(warmup_steps=10), 100)
    for step, want in ((0, 0.0), (5, 0.05), (10, 0.1), (50, 0.1)):
        np.testing.assert_allclose(float(constant(jnp.int32(step))), want, rtol=1e-6)
    cosine = state_lib.learning_rate(opt_config(schedule="cosine", warmup_steps=10), 100)
    # step 5: half warmed up, cosine at 5/100: 0.1 * 0.5 * (1 + cos(pi / 20)).
    want = 0.5 * 0.1 * 0.5 * (1 + np.cos(np.pi / 20))
    np.testing.assert_allclose(float(cosine(jnp.int32(5))), want, rtol=1e-6)
    with pytest.raises(ConfigError, match="schedule"):
        state_lib.learning_rate(opt_config(schedule="step"), 100)
    with pytest.raises(ConfigError, match="decay_start"):
        state_lib.learning_rate(opt_config(schedule="linear", decay_start=50), 100)


def test_burda_schedule_stages():
    # Burda et al. 2015: 3^i passes at 1e-3 * 10^(-i/7), i = 0..7. With a 2-step first stage
    # the stages end after 2, 8, 26, 80, ... steps (2 * (3^(i+1) - 1) / 2); the last (i = 7)
    # from step 2186 on, and its rate stays after 6560 steps (3,280 epochs).
    lr = state_lib.learning_rate(opt_config(learning_rate=1e-3, schedule="burda", stage_steps=2), 1)
    for step, stage in (
        (0, 0),
        (1, 0),
        (2, 1),
        (7, 1),
        (8, 2),
        (25, 2),
        (26, 3),
        (80, 4),
        (2185, 6),
        (2186, 7),
        (6560, 7),
        (10**6, 7),
    ):
        want = 1e-3 * 10 ** (-stage / 7)
        np.testing.assert_allclose(float(lr(jnp.int32(step))), want, rtol=1e-5, err_msg=step)
    with pytest.raises(ConfigError, match="stage_steps"):
        state_lib.learning_rate(opt_config(schedule="burda"), 100)


@pytest.mark.parametrize("name", ["adam", "rmsprop"])
def test_cosine_keeps_optax_state_layout_and_values(name):
    # Checkpoints of cosine runs from before keep restoring, and train as they did.
    cfg = opt_config(name=name, schedule="cosine", final_learning_rate=0.01)
    ours = state_lib.make_optimizer(cfg, total_steps=10)
    lr = optax.cosine_decay_schedule(0.1, 10, alpha=0.1)
    if name == "adam":
        old = optax.adam(lr, eps=1e-8)
    else:
        old = optax.rmsprop(lr, decay=0.99, eps=1e-8, eps_in_sqrt=False)
    params, grads = PARAMS, GRADS
    assert jax.tree.structure(ours.init(params)) == jax.tree.structure(old.init(params))
    bound = state_lib.at_step({"n": ours}, jnp.int32(0))["n"]
    a, b = ours.init(params), old.init(params)
    u, a = jax.jit(bound.update)(grads, a, params)
    v, b = jax.jit(old.update)(grads, b, params)
    for x, y in zip(jax.tree.leaves((u, a)), jax.tree.leaves((v, b)), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
@pytest.mark.parametrize("in_sqrt", [False, True])
def test_rmsprop_follows_pytorch_or_tensorflow(schedule, in_sqrt):
    # PyTorch's RMSprop divides by sqrt(v) + eps, TensorFlow 1's by sqrt(v + eps). Gradients
    # of 1e-5, the scale of a clipped WGAN's generator's, tell the two apart.
    eps = 1e-10 if in_sqrt else 1e-8
    cfg = opt_config(
        name="rmsprop",
        learning_rate=5e-5,
        decay=0.9,
        eps=eps,
        eps_in_sqrt=in_sqrt,
        schedule=schedule,
        final_learning_rate=1e-5,
    )
    total = 4
    tx = state_lib.make_optimizer(cfg, total_steps=total)
    cosine = optax.cosine_decay_schedule(5e-5, total, alpha=0.2)
    rng = np.random.default_rng(0)
    params = {"w": jnp.zeros(5)}
    state, v, want = tx.init(params), np.zeros(5), np.zeros(5)
    for step in range(total):
        g = rng.normal(size=5) * 1e-5
        lr = 5e-5 if schedule == "constant" else float(cosine(step))
        v = 0.9 * v + 0.1 * g**2
        want -= lr * g / (np.sqrt(v + eps) if in_sqrt else np.sqrt(v) + eps)
        bound = state_lib.at_step({"n": tx}, jnp.int32(step))["n"]
        u, state = bound.update({"w": jnp.asarray(g, jnp.float32)}, state, params)
        params = optax.apply_updates(params, u)
    np.testing.assert_allclose(params["w"], want, rtol=1e-4)


def test_schedule_counts_train_steps_not_updates():
    # A network updated twice in one train step (a critic) gets the step's rate both times.
    cfg = opt_config(schedule="linear", decay_start=0.0, final_learning_rate=0.0)
    tx = state_lib.make_optimizer(cfg, total_steps=10)
    params = {"w": jnp.array([1.0, -2.0])}
    grads = [{"w": jnp.array([0.3, -0.1])}, {"w": jnp.array([-0.2, 0.4])}]
    bound = state_lib.at_step({"n": tx}, jnp.int32(4))["n"]
    plain = optax.adam(0.1 * (1 - 4 / 10), b1=0.9, b2=0.999, eps=1e-8)
    ours, theirs = bound.init(params), plain.init(params)
    for g in grads:
        u, ours = bound.update(g, ours, params)
        v, theirs = plain.update(g, theirs, params)
        np.testing.assert_allclose(u["w"], v["w"], rtol=1e-6)


# --- parameter groups


def grouped(groups, **kw):
    cfg = opt_config(**kw)
    cfg.groups = groups
    return state_lib.make_optimizers(cfg, ["generator"], total_steps=10)["generator"]


def test_group_multiplier_scales_the_first_adam_update_exactly():
    tx = grouped({"map": dict(network="generator", pattern="^mapping/", lr_multiplier=0.01)})
    # Compiled, as in a train step (op by op, optax's masking rounds Adam differently).
    updates, _ = jax.jit(tx.update)(GRADS, tx.init(PARAMS), PARAMS)
    plain = optax.adam(0.1, b1=0.9, b2=0.999, eps=1e-8)
    want, _ = jax.jit(plain.update)(GRADS, plain.init(PARAMS), PARAMS)
    np.testing.assert_array_equal(updates["mapping"]["w"], 0.01 * want["mapping"]["w"])
    # Adam's first step is -lr * g / (|g| + eps) (float32's 1 - b2 is off by ~1e-5).
    g = np.asarray(GRADS["mapping"]["w"], np.float64)
    np.testing.assert_allclose(updates["mapping"]["w"], -0.001 * g / np.abs(g), rtol=2e-5)
    np.testing.assert_array_equal(updates["synthesis"]["w"], want["synthesis"]["w"])


def test_group_multiplier_with_a_schedule_and_clipping():
    groups = {"map": dict(network="generator", pattern="mapping", lr_multiplier=0.5)}
    tx = grouped(groups, schedule="cosine", grad_clip_norm=1.0)
    bound = state_lib.at_step({"g": tx}, jnp.int32(0))["g"]
    updates, _ = bound.update(GRADS, bound.init(PARAMS), PARAMS)
    plain = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.1, eps=1e-8))
    want, _ = plain.update(GRADS, plain.init(PARAMS), PARAMS)
    np.testing.assert_allclose(updates["mapping"]["w"], 0.5 * want["mapping"]["w"], rtol=1e-6)


def test_bad_groups_fail_clearly():
    with pytest.raises(ConfigError, match="matches no parameter"):
        tx = grouped({"x": dict(network="generator", pattern="^nothing")})
        tx.init(PARAMS)
    with pytest.raises(ConfigError, match="network"):
        grouped({"x": dict(network="critic", pattern="w")})
    with pytest.raises(ConfigError, match="exclusive"):
        tx = grouped(
            {
                "a": dict(network="generator", pattern="w"),
                "b": dict(network="generator", pattern="map"),
            }
        )
        tx.init(PARAMS)


def small_vae(fake_data, **kw):
    c = vae_config.get_config("smoke")
    c.batch_size, c.model.hidden, c.model.latent_dim = 8, (16,), 4
    c.data.binarize = ""
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    c.evals = {}
    c.log.sample_every_steps = 1000
    for k, v in kw.items():
        c[k] = v
    return c


def test_frozen_group_stays_while_the_rest_trains(fake_data):
    c = small_vae(fake_data)
    c.optimizer.groups = {"enc": dict(network="vae", pattern="^encoder/", frozen=True)}
    exp = experiment.build(c)
    state = exp.init_state()
    before = jax.device_get(state.params["vae"])
    for step in range(2):
        state, _ = exp.train_step(state, exp.batch(step), step)
    after = jax.device_get(state.params["vae"])
    for part, should_move in (("encoder", False), ("decoder", True)):
        pairs = list(zip(*(jax.tree.leaves(p[part]) for p in (before, after)), strict=True))
        assert [not np.array_equal(a, b) for a, b in pairs] == [should_move] * len(pairs), part


# --- the EMA half-life schedule


def test_ema_half_life_schedule_by_hand():
    ema = ml_collections.ConfigDict(dict(decay=0.0, half_life_images=100.0, rampup=0.05))
    decay = state_lib.ema_decay(ema, batch_size=4)
    # nimg = 4 * step; half-life min(100, 0.05 * nimg); decay = 0.5 ** (4 / half-life).
    for step, want in ((0, 0.0), (10, 0.5**2), (100, 0.5 ** (4 / 20)), (1000, 0.5 ** (4 / 100))):
        np.testing.assert_allclose(float(decay(jnp.int32(step))), want, rtol=1e-6, err_msg=step)
    ema.rampup = 0.0
    no_rampup = state_lib.ema_decay(ema, batch_size=4)
    np.testing.assert_allclose(float(no_rampup(jnp.int32(0))), 0.5 ** (4 / 100), rtol=1e-6)
    assert state_lib.ema_decay(ml_collections.ConfigDict(dict(decay=0.9)), 4) == 0.9


def test_ema_schedule_runs_inside_the_step(fake_data):
    c = gan_config.get_config("smoke")
    c.batch_size, c.model.g_hidden, c.model.d_hidden, c.model.z_dim = 8, (8,), (8,), 4
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    c.ema.half_life_images, c.ema.rampup = 1000.0, 0.5
    exp = experiment.build(c)
    state = exp.init_state()
    state, _ = exp.train_step(state, exp.batch(0), 0)
    # Step 0 has seen no images: half-life 0, decay 0, the average is the parameters.
    g1, e1 = (jax.device_get(t["generator"]) for t in (state.params, state.ema))
    for a, b in zip(jax.tree.leaves(g1), jax.tree.leaves(e1), strict=True):
        np.testing.assert_array_equal(a, b)
    state, _ = exp.train_step(state, exp.batch(1), 1)
    # Step 1: half-life min(1000, 8 * 0.5) = 4 images, decay 0.5 ** (8 / 4).
    g2, e2 = (jax.device_get(t["generator"]) for t in (state.params, state.ema))
    want = jax.tree.map(lambda e, p: 0.25 * e + 0.75 * p, e1, g2)
    for a, b in zip(jax.tree.leaves(want), jax.tree.leaves(e2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    c.ema.decay = 0.9
    with pytest.raises(ConfigError, match="set one of them to 0"):
        experiment.build(c)


# --- phases, objective state, frozen networks


def teacher_params():
    """A 'pretrained' network's params: a fixed linear read-out of the image."""
    return {"w": np.linspace(-1, 1, 28 * 28 * 1).astype(np.float32)}


class TwoPhaseVae(vae.Vae):
    """A VAE pretrained for 3 steps, then fine-tuned with a frozen teacher's read-out logged
    and its fine-tuning steps counted in the objective's own state."""

    def phases(self):
        return ("pretrain", "finetune")

    def phase(self, step):
        return "pretrain" if step < 3 else "finetune"

    def init_objective_state(self, rng):
        # A (784,) running mean of the fine-tuning images: large enough to be split by FSDP.
        return {"finetune_steps": jnp.zeros((), jnp.int32), "pixel_mean": jnp.zeros(784)}

    def frozen_networks(self):
        return {"teacher": teacher_params}

    def update(self, state, ctx, batch, rng):
        new, metrics = super().update(state, ctx, batch, rng)
        if ctx.phase == "pretrain":
            return new, metrics
        x = batch["image"][0].reshape(batch["image"].shape[1], -1)
        count = state.objective_state["finetune_steps"] + 1
        mean = 0.9 * state.objective_state["pixel_mean"] + 0.1 * jnp.mean(x, 0)
        return new.replace(objective_state={"finetune_steps": count, "pixel_mean": mean}), {
            **metrics,
            "finetune/teacher": jnp.mean(x @ ctx.frozen["teacher"]["w"]),
            "finetune/steps": count.astype(jnp.float32),
        }


@pytest.fixture
def two_phase(monkeypatch):
    monkeypatch.setitem(objectives.REGISTRY, "two_phase_vae", TwoPhaseVae)


def two_phase_config(fake_data, total_steps):
    c = small_vae(fake_data, total_steps=total_steps)
    c.objective.name = "two_phase_vae"
    c.log.every_steps = 2
    c.checkpoint.every_steps = 2
    return c


def test_each_phase_has_its_step_and_metrics_and_frozen_network_is_used(fake_data, two_phase):
    exp = experiment.build(two_phase_config(fake_data, 6))
    assert exp.frozen["teacher"]["w"].sharding.is_fully_replicated
    state = exp.init_state()
    for step in range(4):
        batch = exp.batch(step)
        state, metrics = exp.train_step(state, batch, step)
    names = exp.metric_names_of("finetune")
    assert "finetune/teacher" in names and "finetune/teacher" not in exp.metric_names_of("pretrain")
    values = dict(zip(names, np.asarray(metrics).tolist(), strict=True))
    x = np.asarray(transforms.prepare_images(batch["image"][0], binarize=""))
    want = np.mean(x.reshape(len(x), -1) @ teacher_params()["w"])
    np.testing.assert_allclose(values["finetune/teacher"], want, rtol=1e-5)
    assert int(state.objective_state["finetune_steps"]) == 1
    np.testing.assert_array_equal(jax.device_get(exp.frozen["teacher"]["w"]), teacher_params()["w"])


def test_a_phase_outside_the_declared_ones_fails_clearly(fake_data, two_phase, monkeypatch):
    exp = experiment.build(two_phase_config(fake_data, 6))
    # Lazy regularisation's kind of schedule: a phase by step % k.
    monkeypatch.setattr(exp.objective, "phase", lambda step: ("pretrain", "reg")[step % 2])
    assert exp.phase(0) == "pretrain"
    with pytest.raises(ValueError, match="'reg', not one of its phases"):
        exp.phase(1)


def test_objective_state_and_frozen_networks_on_eight_devices(fake_data):
    script = f"""
import json, sys
sys.path.insert(0, "tests")
import jax, numpy as np
import test_training_core as t
from gendl import objectives
from gendl.training import experiment
objectives.REGISTRY["two_phase_vae"] = t.TwoPhaseVae
out = {{}}
for fsdp in (1, 4):
    c = t.two_phase_config({fake_data!r}, 5)
    c.batch_size, c.parallel.fsdp = 16, fsdp
    exp = experiment.build(c)
    state = exp.init_state()
    for step in range(5):
        state, m = exp.train_step(state, exp.batch(step), step)
    mean = state.objective_state["pixel_mean"]
    out[fsdp] = dict(
        spec=str(mean.sharding.spec), mean=np.asarray(mean).tolist(),
        steps=int(state.objective_state["finetune_steps"]),
        teacher_replicated=exp.frozen["teacher"]["w"].sharding.is_fully_replicated)
print(json.dumps(out))
"""
    env = dict(os.environ, XLA_FLAGS=xla_flags.with_devices(8))
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    rep, fsdp = out["1"], out["4"]
    assert "fsdp" in fsdp["spec"] and "fsdp" not in rep["spec"]
    assert rep["steps"] == fsdp["steps"] == 2
    assert rep["teacher_replicated"] and fsdp["teacher_replicated"]
    np.testing.assert_allclose(fsdp["mean"], rep["mean"], rtol=1e-6, atol=1e-7)
    assert max(rep["mean"]) > 0


def read_metrics(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return {row["step"]: row for row in map(json.loads, f)}


def test_two_phase_run_resumes_bitwise_and_logs_each_phase(fake_data, tmp_path, two_phase):
    straight, stopped = str(tmp_path / "straight"), str(tmp_path / "stopped")
    loop.train(two_phase_config(fake_data, 6), straight)
    loop.train(two_phase_config(fake_data, 5), stopped)  # stops inside the second phase
    loop.train(two_phase_config(fake_data, 6), stopped)
    a, _ = checkpointing.read_tree(os.path.join(straight, "checkpoints"))
    b, step = checkpointing.read_tree(os.path.join(stopped, "checkpoints"))
    assert step == 6 and int(b["objective_state"]["finetune_steps"]) == 3
    assert np.any(b["objective_state"]["pixel_mean"] > 0)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)
    # Frozen networks are arguments of the step, never part of the checkpoint.
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(b)[0]]
    assert not any("teacher" in p for p in paths)
    rows = read_metrics(straight)
    assert "finetune/teacher" not in rows[2]
    # Steps 3 (pretrain) and 4 (finetune) share a window: each name over the steps that have it.
    assert rows[4]["finetune/steps"] == 1.0 and rows[6]["finetune/steps"] == 2.5
    assert read_metrics(stopped)[6]["finetune/steps"] == 3.0


def test_sigkill_inside_the_second_phase_then_resume_is_bitwise(fake_data, tmp_path, two_phase):
    """A trainer process killed (SIGKILL: no handler runs) while in the second phase, maybe
    with an asynchronous checkpoint half-written, resumes to the same bits as a run never
    killed. The process kills itself when asked for step 7's batch, so the moment is exact."""
    straight, killed = str(tmp_path / "straight"), str(tmp_path / "killed")
    loop.train(two_phase_config(fake_data, 10), straight)
    script = f"""
import os, signal, sys
sys.path.insert(0, "tests")
import test_training_core as t
from gendl import objectives
from gendl.training import experiment, loop
objectives.REGISTRY["two_phase_vae"] = t.TwoPhaseVae
kill_at, batch = int(sys.argv[1]), experiment.Experiment.batch
def batch_or_die(self, step):
    if step == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return batch(self, step)
experiment.Experiment.batch = batch_or_die
loop.train(t.two_phase_config({fake_data!r}, 10), {killed!r})
"""
    env = dict(os.environ, XLA_FLAGS=xla_flags.with_devices())
    env.update(JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)

    def run(kill_at):
        return subprocess.run(
            [sys.executable, "-c", script, str(kill_at)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    r = run(7)
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    saved = sorted(int(d) for d in os.listdir(os.path.join(killed, "checkpoints")) if d.isdigit())
    assert 10 not in saved and max(saved) >= 4, saved  # killed in the "finetune" phase
    r = run(-1)
    assert r.returncode == 0, r.stderr[-3000:]
    a, _ = checkpointing.read_tree(os.path.join(straight, "checkpoints"))
    b, step = checkpointing.read_tree(os.path.join(killed, "checkpoints"))
    assert step == 10 and int(b["objective_state"]["finetune_steps"]) == 7
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


# --- init_from


def test_init_from_copies_matching_networks_and_checks_shapes(fake_data, tmp_path):
    source = str(tmp_path / "source")
    loop.train(small_vae(fake_data, total_steps=2), source)
    theirs, _ = checkpointing.read_tree(os.path.join(source, "checkpoints"))
    exp = experiment.build(small_vae(fake_data))
    state, names, step = init_from.initialise(exp.init_state(), source, exp.state_sharding)
    assert (names, step, int(state.step)) == (["vae"], 2, 0)
    for x, y in zip(jax.tree.leaves(theirs["params"]), jax.tree.leaves(state.params), strict=True):
        np.testing.assert_array_equal(x, y)
    assert int(jax.tree.leaves(state.opt_state)[0]) == 0  # the optimiser starts fresh
    # The same reading serves as a loader of a frozen network.
    loaded = init_from.network_params(source, "vae")
    for x, y in zip(jax.tree.leaves(theirs["params"]), jax.tree.leaves(loaded), strict=True):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ConfigError, match="no network 'features'; it has vae"):
        init_from.network_params(source, "features")

    c = small_vae(fake_data)
    c.model.hidden = (400,)
    wider = experiment.build(c)
    with pytest.raises(
        ConfigError, match=r"decoder/hidden0/kernel is \(4, 400\) float32 here but \(4, 16\)"
    ):
        init_from.initialise(wider.init_state(), source, wider.state_sharding)
    with pytest.raises(ConfigError, match="not a directory"):
        init_from.initialise(exp.init_state(), str(tmp_path / "nowhere"), exp.state_sharding)


def test_init_from_takes_model_state_and_averages_of_shared_networks(tmp_path):
    def arrays(*values):
        return {"w": jnp.asarray(values, jnp.float32)}

    theirs = state_lib.TrainState(
        step=jnp.int32(7),
        params={"generator": arrays(1, 2), "discriminator": arrays(3)},
        opt_state={},
        model_state={"generator": {"batch_stats": arrays(4, 4)}},
        ema={"generator": arrays(5, 6)},
    )
    with checkpointing.Checkpointer(tmp_path / "checkpoints", save_every_steps=1, keep=1) as c:
        c.save(7, theirs, {}, force=True)
    ours = state_lib.TrainState(
        step=jnp.int32(0),
        params={"generator": arrays(0, 0), "critic": arrays(0)},
        opt_state={},
        model_state={"generator": {"batch_stats": arrays(0, 0)}},
        ema={"generator": arrays(0, 0)},
    )
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    state, names, step = init_from.initialise(ours, str(tmp_path), device)
    assert (names, step) == (["generator"], 7)
    got = jax.device_get(state)
    np.testing.assert_array_equal(got.params["generator"]["w"], [1, 2])
    np.testing.assert_array_equal(got.params["critic"]["w"], [0])  # not in that run: as is
    np.testing.assert_array_equal(got.model_state["generator"]["batch_stats"]["w"], [4, 4])
    np.testing.assert_array_equal(got.ema["generator"]["w"], [5, 6])
    # A run without an EMA: this run's average starts at the copied parameters.
    no_ema = theirs.replace(ema={}, step=jnp.int32(8))
    with checkpointing.Checkpointer(tmp_path / "checkpoints", save_every_steps=1, keep=1) as c:
        c.save(8, no_ema, {}, force=True)
    state, _, _ = init_from.initialise(ours, str(tmp_path), device)
    np.testing.assert_array_equal(jax.device_get(state.ema["generator"]["w"]), [1, 2])
    lonely = ours.replace(params={"critic": arrays(0)}, model_state={}, ema={})
    with pytest.raises(ConfigError, match="share no name"):
        init_from.initialise(lonely, str(tmp_path), device)


def test_own_checkpoint_wins_over_init_from(fake_data, tmp_path):
    source, run = str(tmp_path / "source"), str(tmp_path / "run")
    loop.train(small_vae(fake_data, total_steps=1), source)
    loop.train(small_vae(fake_data, total_steps=1, init_from=source), run)
    # Resuming reads the own checkpoint; the (now missing) source is not needed any more.
    os.rename(source, source + ".gone")
    assert loop.train(small_vae(fake_data, total_steps=2, init_from=source), run)["step"] == 2


# --- checkpoints of the state layout before objective_state


@flax.struct.dataclass
class OldTrainState:
    step: jax.Array
    params: dict
    opt_state: dict
    model_state: dict = flax.struct.field(default_factory=dict)
    ema: dict = flax.struct.field(default_factory=dict)


def test_checkpoint_without_objective_state_restores(tmp_path):
    params = {"n": {"w": jnp.arange(3.0)}}
    old = OldTrainState(step=jnp.int32(3), params=params, opt_state={"n": {}})
    with checkpointing.Checkpointer(tmp_path, save_every_steps=1, keep=1) as ckpt:
        ckpt.save(3, old, {"data": 1}, force=True)
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    new = state_lib.TrainState(step=jnp.int32(0), params=params, opt_state={"n": {}})
    abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=device), new)
    with checkpointing.Checkpointer(tmp_path, save_every_steps=1, keep=1) as ckpt:
        state, meta, step = ckpt.restore(abstract)
    assert (step, meta, state.objective_state) == (3, {"data": 1}, {})
    np.testing.assert_array_equal(state.params["n"]["w"], [0.0, 1.0, 2.0])
