"""The adversarial objective's state handling: weight clipping, per-network optimisers,
the generator EMA, and batch statistics over the global batch."""

import json
import os
import subprocess
import sys
import types

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest
import xla_flags  # tests/xla_flags.py

from gendl.config import ConfigError
from gendl.data import transforms
from gendl.objectives import gan
from gendl.parallel import mesh as mesh_lib
from gendl.training import experiment
from gendl.training import state as state_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "configs"))

import acgan as acgan_config  # noqa: E402  (configs/acgan.py)
import bgan as bgan_config  # noqa: E402  (configs/bgan.py)
import gan as gan_config  # noqa: E402  (configs/gan.py)
import resume_fixtures  # noqa: E402  (tests/resume_fixtures.py)


def test_clip_weights_bounds():
    rng = np.random.default_rng(0)
    params = {"a": jnp.asarray(rng.normal(size=(5, 4))), "b": {"c": jnp.array([0.005, -0.2])}}
    clipped = gan.clip_weights(params, 0.01)
    for leaf, orig in zip(jax.tree.leaves(clipped), jax.tree.leaves(params), strict=True):
        assert float(jnp.max(jnp.abs(leaf))) <= 0.01
        inside = np.abs(np.asarray(orig)) <= 0.01
        np.testing.assert_array_equal(np.asarray(leaf)[inside], np.asarray(orig)[inside])
    np.testing.assert_array_equal(clipped["b"]["c"], np.float32([0.005, -0.01]))


def test_ema_arithmetic():
    state = state_lib.TrainState(
        step=jnp.zeros((), jnp.int32),
        params={"generator": {"w": jnp.array([3.0, -1.0])}, "discriminator": {"w": jnp.ones(1)}},
        opt_state={},
        ema={"generator": {"w": jnp.array([1.0, 1.0])}},
    )
    once = state_lib.update_ema(state, 0.9)
    np.testing.assert_allclose(once.ema["generator"]["w"], [0.9 + 0.3, 0.9 - 0.1], rtol=1e-6)
    twice = state_lib.update_ema(once, 0.9)  # params unchanged: moves 10% closer again
    np.testing.assert_allclose(
        twice.ema["generator"]["w"], [0.9 * 1.2 + 0.3, 0.9 * 0.8 - 0.1], rtol=1e-6
    )
    assert set(twice.ema) == {"generator"}  # only the averaged networks
    variables = twice.variables()  # inference uses the average, training the raw weights
    np.testing.assert_allclose(variables["generator"]["params"]["w"], twice.ema["generator"]["w"])
    np.testing.assert_allclose(twice.variables(use_ema=False)["generator"]["params"]["w"], [3, -1])
    no_ema = state.replace(ema={})
    assert state_lib.update_ema(no_ema, 0.9) is no_ema


def test_network_sections_override_the_shared_optimizer():
    cfg = ml_collections.ConfigDict(
        dict(name="adam", learning_rate=1e-3, b1=0.5, b2=0.9, eps=1e-8, grad_clip_norm=0.0)
    )
    cfg.discriminator = dict(name="rmsprop", learning_rate=0.1, decay=0.9)
    txs = state_lib.make_optimizers(cfg, ["discriminator", "generator"])
    params, grads = {"w": jnp.ones(3)}, {"w": jnp.array([1.0, -2.0, 0.5])}
    for name, want in (
        ("discriminator", optax.rmsprop(0.1, decay=0.9, eps=1e-8)),
        ("generator", optax.adam(1e-3, b1=0.5, b2=0.9, eps=1e-8)),
    ):
        got, _ = txs[name].update(grads, txs[name].init(params), params)
        expected, _ = want.update(grads, want.init(params), params)
        chex.assert_trees_all_close(got, expected)
    cfg.critic = dict(learning_rate=1.0)  # no network of that name
    with pytest.raises(ConfigError, match="critic"):
        state_lib.make_optimizers(cfg, ["discriminator", "generator"])


def _wgan_mlp_config(fake_data):
    """A WGAN on tiny MLPs: weight clipping, 2 critic steps, RMSProp critic, generator EMA."""
    c = gan_config.get_config("smoke")
    c.batch_size = 8
    c.model.g_hidden, c.model.d_hidden, c.model.z_dim = (8,), (8,), 4
    c.objective.loss, c.objective.n_critic, c.objective.weight_clip = "wasserstein", 2, 0.01
    c.optimizer.learning_rate = 0.05  # large, so that clipping has something to clip
    c.optimizer.discriminator = dict(name="rmsprop")
    c.ema.decay = 0.75
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    return c


def test_wgan_step_clips_the_critic_and_averages_the_generator(fake_data):
    exp = experiment.build(_wgan_mlp_config(fake_data))
    assert exp.batches_per_step == 2
    state = exp.init_state()
    g0 = jax.device_get(state.params["generator"])
    chex.assert_trees_all_equal(jax.device_get(state.ema["generator"]), g0)
    new, metrics = exp.train_step(state, exp.batch(0))
    d = jax.device_get(new.params["discriminator"])
    biggest = max(float(np.max(np.abs(leaf))) for leaf in jax.tree.leaves(d))
    assert biggest == pytest.approx(0.01)  # some weights reached the bound, none passed it
    g1 = jax.device_get(new.params["generator"])
    want = jax.tree.map(lambda a, b: 0.75 * a + 0.25 * b, g0, g1)
    chex.assert_trees_all_close(jax.device_get(new.ema["generator"]), want, rtol=1e-5, atol=1e-7)
    assert not jax.tree.all(jax.tree.map(np.array_equal, g0, g1))  # the generator moved
    assert np.all(np.isfinite(np.asarray(metrics)))


def test_ema_needs_an_objective_that_names_networks(fake_data):
    c = _wgan_mlp_config(fake_data)
    exp = experiment.build(c)
    exp.objective.ema_networks = ()
    with pytest.raises(ConfigError, match="ema"):
        exp.init_state()


def test_batch_statistics_are_global_over_eight_devices(fake_data):
    # The batch-normed DCGAN discriminator on a batch split over 8 devices must see the
    # statistics of the whole batch: same logits, gradients and running averages as 1 device.
    script = """
import json, jax, jax.numpy as jnp, ml_collections, numpy as np
from gendl import models
from gendl.data.spec import DataSpec
from gendl.parallel import mesh as mesh_lib
cfg = ml_collections.ConfigDict(dict(name="dcgan", dim=4))
d = models.build(cfg, DataSpec.of_images((28, 28, 1)))["discriminator"]
x = jax.random.uniform(jax.random.key(0), (16, 28, 28, 1))
variables = d.init(jax.random.key(1), x[:1])
def loss(params, x):
    out, new = d.apply({**variables, "params": params}, x, mutable=["batch_stats"])
    return jnp.mean(out ** 2), (out, new)
step = jax.grad(loss, has_aux=True)
out = {}
for n in (1, 8):
    mesh = mesh_lib.make_mesh(jax.devices()[:n])
    xs = jax.device_put(x, mesh_lib.batch_sharding(mesh))
    ps = jax.device_put(variables["params"], mesh_lib.replicated(mesh))
    grads, (logits, new) = jax.jit(step)(ps, xs)
    out[n] = [np.asarray(v).ravel().tolist() for v in jax.tree.leaves((logits, new, grads))]
print(json.dumps({"devices": jax.device_count(), "out": out}))
"""
    env = dict(os.environ, XLA_FLAGS=xla_flags.with_devices(8), JAX_PLATFORMS="cpu")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    r = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr[-3000:]
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["devices"] == 8
    one, eight = result["out"]["1"], result["out"]["8"]
    assert len(one) == len(eight) > 3
    for a, b in zip(one, eight, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)


class _ToyConditional:
    """A 'generator' whose image is its class label (as grey level) and its first noise
    coordinate (as the top-left pixel), so the pictures' layout can be read back."""

    conditional = True

    def latents(self, rng, n):
        return jax.random.normal(rng, (n, 3)), jnp.arange(n) % 10

    def sample_noise(self, rng, n):
        return gan.Gan.sample_noise(self, rng, n)

    def sample(self, variables, noise):
        z, labels = noise["z"], noise["label"]
        images = jnp.broadcast_to(labels[:, None, None, None] / 10.0, (len(z), 4, 4, 1))
        return images.at[:, 0, 0, 0].set(jax.nn.sigmoid(z[:, 0]))

    def predictors(self):
        return {"sample": self.sample, "sample_noise": self.sample_noise, "latents": self.latents}


def test_generator_pictures_layout():
    from gendl.evaluation.generator_pictures import GeneratorPictures

    toy = _ToyConditional()
    toy.num_classes, toy.z_dim = 10, 3
    config = ml_collections.ConfigDict({"objective": {"name": "toy"}, "model": {"num_classes": 10}})
    exp = types.SimpleNamespace(objective=toy, config=config, mesh=mesh_lib.make_mesh())
    cfg = dict(num_samples=100, interpolation_rows=3, interpolation_steps=5)
    _, pictures = GeneratorPictures(exp, cfg).run(None)
    grid, strip = pictures["samples"], pictures["interpolations"]
    assert grid.shape == (2 + 10 * 6, 2 + 10 * 6, 1) and strip.shape == (2 + 3 * 6, 2 + 5 * 6, 1)
    tiles = lambda img, rows, cols: img[2:, 2:, 0].reshape(rows, 6, cols, 6)[:, :4, :, :4]
    t = tiles(grid, 10, 10).astype(int)
    # Grid: class r in every cell of row r, the same noise down every column.
    np.testing.assert_array_equal(
        t[:, 2, :, 2], np.repeat(np.round(np.arange(10) * 25.5), 10).reshape(10, 10)
    )
    np.testing.assert_array_equal(t[:, 0, :, 0], np.broadcast_to(t[0, 0, :, 0], (10, 10)))
    assert len(set(t[0, 0, :, 0])) > 1
    s = tiles(strip, 3, 5).astype(int)
    np.testing.assert_array_equal(
        s[:, 2, :, 2], np.repeat(np.round(np.arange(3) * 25.5), 5).reshape(3, 5)
    )


def test_checkpoints_hold_batch_stats_spectral_vectors_and_ema(fake_data, tmp_path):
    import dcgan as dcgan_config  # configs/dcgan.py

    from gendl import checkpointing

    c = dcgan_config.get_config("smoke")
    c.model.dim, c.model.spectral_norm, c.ema.decay = 4, True, 0.9
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    exp = experiment.build(c)
    abstract = exp.abstract_state()  # what restore expects: shapes only, nothing compiled
    assert set(abstract.model_state["discriminator"]) == {"batch_stats", "spectral"}
    assert set(abstract.model_state["generator"]) == {"batch_stats"}
    assert set(abstract.ema) == {"generator"}
    # Distinct values in every leaf, saved and restored through the trainer's checkpointer.
    leaves, treedef = jax.tree.flatten(abstract)
    values = [jnp.full(s.shape, i % 97 + 0.5, s.dtype) for i, s in enumerate(leaves)]
    state = jax.tree.unflatten(treedef, values)
    ckpt = checkpointing.Checkpointer(str(tmp_path / "ckpt"), save_every_steps=1, keep=1)
    ckpt.save(1, state, exp.checkpoint_meta(1), force=True)
    ckpt.wait()
    restored, _, step = ckpt.restore(abstract)
    ckpt.close()
    assert step == 1
    chex.assert_trees_all_equal(jax.device_get(restored), jax.device_get(state))


def _acgan_step_metrics(fake_data, aux_fake_weight):
    """One ACGAN step (`configs/acgan.py:smoke`, batch 8) from the seed's initial state:
    (experiment, metrics by name, initial discriminator variables, the batch)."""
    c = acgan_config.get_config("smoke")
    c.batch_size = 8
    c.objective.aux_fake_weight = aux_fake_weight
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    exp = experiment.build(c)
    state, batch = exp.init_state(), exp.batch(0)
    # Copies first: the step donates its inputs.
    d, real = jax.device_get((state.variables()["discriminator"], batch))
    _, metrics = exp.train_step(state, batch)
    return exp, dict(zip(exp.metric_names, np.asarray(metrics).tolist(), strict=True)), d, real


def test_acgan_class_head_learns_from_fakes_only_when_asked(fake_data):
    """aux_fake_weight 0: the discriminator's class loss is the cross-entropy on the real batch
    alone (computed here by hand from the initial discriminator); 1 (the paper's L_C) adds the
    cross-entropy on the fakes with the labels the generator was given, about log 10 for an
    untrained class head."""
    exp, real_only, d, batch = _acgan_step_metrics(fake_data, 0.0)
    real = transforms.prepare_images(batch["image"][0])  # uint8 -> [0, 1], as the step does
    (_, aux), _ = exp.objective.discriminator.apply(
        d, real, None, train=True, mutable=["batch_stats"]
    )
    ce = optax.softmax_cross_entropy_with_integer_labels(aux, batch["label"][0])
    assert real_only["loss/discriminator_class"] == pytest.approx(float(jnp.mean(ce)), rel=1e-5)
    _, paper, _, _ = _acgan_step_metrics(fake_data, 1.0)
    assert paper["loss/discriminator_class"] - real_only["loss/discriminator_class"] == (
        pytest.approx(np.log(10), abs=0.5)
    )


def _bgan_config(fake_data, log_z_decay):
    c = bgan_config.get_config("mlp,smoke")  # the MLPs, shrunk below
    c.batch_size = 8
    c.model.g_hidden, c.model.d_hidden, c.model.z_dim = (8,), (8,), 4
    c.objective.log_z_decay = log_z_decay
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    return c


def test_bgan_log_z_is_a_running_mean_of_the_batch_estimate(fake_data):
    """log_z_decay g: the generator's target log Z starts at 0 (the plain loss's target) and
    after each step becomes g * log Z + (1 - g) * log mean exp(l_fake) of that step's
    generator batch, as in the authors' code; off (0, the default) the state holds nothing."""
    assert experiment.build(_bgan_config(fake_data, 0.0)).init_state().objective_state == {}
    exp = experiment.build(_bgan_config(fake_data, 0.9))
    state = exp.init_state()
    assert float(state.objective_state["log_z"]) == 0.0
    by_name = []
    for step in range(2):
        state, metrics = exp.train_step(state, exp.batch(step))
        by_name.append(dict(zip(exp.metric_names, np.asarray(metrics).tolist(), strict=True)))
    first, second = (m["log_z_batch"] for m in by_name)
    assert by_name[0]["log_z"] == 0.0
    assert by_name[1]["log_z"] == pytest.approx(0.1 * first, rel=1e-5)
    want = 0.9 * 0.1 * first + 0.1 * second
    assert float(state.objective_state["log_z"]) == pytest.approx(want, rel=1e-5)
    with pytest.raises(ConfigError, match="boundary_seeking"):
        c = _bgan_config(fake_data, 0.9)
        c.objective.loss = "non_saturating"
        experiment.build(c)


# --- WGAN's critic bursts: a phase that reads more real batches


def _burst_config(fake_data, burst, first, every):
    c = _wgan_mlp_config(fake_data)
    c.objective.critic_burst, c.objective.burst_first, c.objective.burst_every = burst, first, every
    return c


@pytest.mark.parametrize("first,every", [(25, 500), (2, 3), (0, 4), (3, 0)])
def test_burst_data_position_is_the_sum_of_batches_per_step(fake_data, first, every):
    # The closed form a checkpoint's data position and a resume rely on.
    exp = experiment.build(_burst_config(fake_data, 7, first, every))
    phases = [exp.phase(s) for s in range(1200)]
    at = [exp.objective.batches_at(s) for s in range(1200)]
    assert at == [7 if p == "burst" else 2 for p in phases]
    # The reference code's rule: 100 critic steps while gen_iterations < 25 or % 500 == 0.
    assert phases == [
        "burst" if s < first or (every and s % every == 0) else "train" for s in range(1200)
    ]
    running = np.concatenate([[0], np.cumsum(at)])
    assert [exp.batches_before(s) for s in range(1201)] == running.tolist()


def test_burst_step_is_n_critic_steps_exactly(fake_data):
    # The scanned burst (3 critic steps) against the unrolled loop with n_critic = 3: same
    # batches, same keys, same updates.
    burst = experiment.build(_burst_config(fake_data, 3, 1, 0))
    assert burst.phase(0) == "burst" and burst.phase(1) == "train"
    plain_config = _wgan_mlp_config(fake_data)
    plain_config.objective.n_critic = 3
    plain = experiment.build(plain_config)
    batch = burst.batch(0)
    assert batch["image"].shape[0] == 3
    chex.assert_trees_all_equal(jax.device_get(batch), jax.device_get(plain.batch(0)))
    (a, ma), (b, mb) = (
        burst.train_step(burst.init_state(), batch, 0),
        plain.train_step(plain.init_state(), batch, 0),
    )
    # Up to float rounding (the scan and the unrolled loop are compiled apart): relative, and
    # absolute 1e-6 of the clip bound 0.01 for the weights that updates of the bound's size
    # left near zero.
    chex.assert_trees_all_close(
        jax.device_get(a.params), jax.device_get(b.params), rtol=1e-5, atol=1e-8
    )
    np.testing.assert_allclose(np.asarray(ma), np.asarray(mb), rtol=1e-5, atol=1e-7)
    # The next (plain) step reads the two batches after the burst's three.
    chex.assert_trees_all_equal(
        jax.device_get(burst.batch(1)["image"]), jax.device_get(plain.batch(1)["image"][:2])
    )


def test_a_run_with_bursts_resumes_exactly(fake_data, tmp_path):
    # SIGTERM after step 2, between two bursts (steps 0 and 3): the resumed run reads the
    # same batches and logs the same losses as the uninterrupted one.
    c = _burst_config(fake_data, 3, 1, 3)
    c.total_steps, c.log.every_steps, c.checkpoint.every_steps = 4, 1, 100
    c.log.sample_every_steps, c.evals = 100, ml_collections.ConfigDict()
    root = resume_fixtures.straight_and_resumed(c, tmp_path, stop_after=2)
    straight = resume_fixtures.metrics(root / "straight")
    resumed = resume_fixtures.metrics(root / "resumed")
    drop = ("time/", "perf/", "eval/")
    strip = lambda ms: [{k: v for k, v in m.items() if not k.startswith(drop)} for m in ms]
    assert [m["step"] for m in straight] == [1, 2, 3, 4]
    assert strip(resumed) == strip(straight)
