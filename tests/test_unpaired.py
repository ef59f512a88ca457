"""CycleGAN and DualGAN: losses by hand, the image pool's rule, the schedule, the networks,
training end to end with exact resume, both directions of translation, and the scores against
the true pairs that training never sees."""

import importlib.util
import json
import os
import pathlib

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from gendl.config import ConfigError
from gendl.data import paired_view
from gendl.evaluation import file_translation, runs
from gendl.models import patchgan, resnet_generator
from gendl.objectives import cyclegan, dualgan, image_pool
from gendl.training import experiment, loop
from gendl.training import state as state_lib

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _config(name, manual_dir, variant="smoke"):
    spec = importlib.util.spec_from_file_location(f"{name}_config", ROOT / "configs" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    c = mod.get_config(variant)
    c.data.manual_dir = manual_dir
    # The :smoke networks and tests/test_configs.py's settings, so that the session's
    # compilation cache serves both files the same programs (init, samples, evaluators).
    c.batch_size = 8
    c.total_steps = 4
    c.checkpoint.every_steps = 2
    c.log.every_steps = 1
    c.log.sample_every_steps = 3
    c.log.num_samples = 4
    return c


# --- losses, by hand


def test_lsgan_losses_on_a_fixed_patch_map():
    real = jnp.array([[1.0, 0.0], [0.5, 1.0]])  # (r - 1)^2: 0, 1, 0.25, 0 -> mean 0.3125
    fake = jnp.array([[0.0, 1.0], [0.5, 0.0]])  # f^2: 0, 1, 0.25, 0 -> 0.3125
    assert cyclegan.lsgan_discriminator_loss(real, fake) == pytest.approx(0.5 * (0.3125 + 0.3125))
    # (f - 1)^2: 1, 0, 0.25, 1 -> 0.5625; no 1/2 for the generator, as in the reference code.
    assert cyclegan.lsgan_generator_loss(fake) == pytest.approx(0.5625)


def test_cycle_and_identity_losses_by_hand():
    a, b = jnp.zeros((1, 2, 2, 1)), jnp.ones((1, 2, 2, 1))
    rec_a = a.at[0, 0].set(0.5)  # half the pixels off by 0.5: L1 0.25
    rec_b = b - 0.2  # every pixel off by 0.2: L1 0.2
    assert cyclegan.cycle_loss(a, rec_a, b, rec_b, 10.0) == pytest.approx(10 * (0.25 + 0.2))
    # Identity: G(b) against b, F(a) against a, at 0.5 * lambda = 5.
    g_of_b, f_of_a = b.at[0, 1, 1].set(0.0), a + 0.1  # L1 0.25 and 0.1
    assert cyclegan.identity_loss(a, f_of_a, b, g_of_b, 5.0) == pytest.approx(5 * (0.25 + 0.1))


def test_critic_loss_by_hand():
    real, fake = jnp.array([[1.0, 3.0]]), jnp.array([[-1.0, 0.0]])
    assert dualgan.critic_loss(real, fake) == pytest.approx(-0.5 - 2.0)


# --- the image pool


def _images(*values):
    return jnp.asarray(values, jnp.float32).reshape(-1, 1)


def test_pool_fills_first_returning_the_new_fakes():
    pool = image_pool.init(3, (1,))
    pool, out = image_pool.query(pool, _images(1, 2), jax.random.key(0))
    np.testing.assert_array_equal(out, _images(1, 2))
    assert int(pool["count"]) == 2
    np.testing.assert_array_equal(pool["images"], _images(1, 2, 0))
    # The third image still fills (returned as is); the fourth meets a full pool.
    key = jax.random.key(7)
    pool, out = image_pool.query(pool, _images(3, 4), key)
    assert int(pool["count"]) == 3 and float(out[0, 0]) == 3.0
    # The fourth image's draws, by the documented rule: its own key (the 2nd of the split),
    # split into the coin's key and the slot's.
    k_coin, k_slot = jax.random.split(jax.random.split(key, 2)[1])
    if float(jax.random.uniform(k_coin)) > 0.5:  # swap: the stored image out, 4 in its place
        slot = int(jax.random.randint(k_slot, (), 0, 3))
        assert float(out[1, 0]) == slot + 1
        np.testing.assert_array_equal(
            pool["images"], _images(*[4 if i == slot else i + 1 for i in range(3)])
        )
    else:
        assert float(out[1, 0]) == 4.0
        np.testing.assert_array_equal(pool["images"], _images(1, 2, 3))


def test_pool_returns_stored_images_half_the_time_and_loses_none():
    pool = {"images": jnp.arange(10.0).reshape(-1, 1), "count": jnp.int32(10)}  # full
    query = jax.jit(image_pool.query)
    from_pool, n = 0, 0
    for step in range(4):
        new = 100.0 + 100 * step + jnp.arange(100.0).reshape(-1, 1)
        before = np.asarray(pool["images"][:, 0])
        pool, out = query(pool, new, jax.random.key(100 + step))
        after, out = np.asarray(pool["images"][:, 0]), np.asarray(out[:, 0])
        # Nothing is lost or made up: pool + returned = old pool + new fakes.
        np.testing.assert_array_equal(
            np.sort(np.concatenate([after, out])), np.sort(np.concatenate([before, new[:, 0]]))
        )
        from_pool += int(np.sum(out != np.asarray(new[:, 0])))
        n += len(out)
    assert 0.4 < from_pool / n < 0.6  # p = 0.5; 400 draws: 4 standard deviations
    # Deterministic given the key.
    a = query(pool, new, jax.random.key(5))
    b = query(pool, new, jax.random.key(5))
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


# --- the schedule and the networks


def test_cyclegan_learning_rate_is_constant_then_linear_to_zero():
    c = _config("cyclegan", "", variant=None)
    lr = state_lib.learning_rate(state_lib.network_optimizer_config(c.optimizer, "g"), 1000)
    for step, want in ((0, 2e-4), (500, 2e-4), (750, 1e-4), (900, 0.4e-4), (1000, 0.0)):
        np.testing.assert_allclose(float(lr(jnp.int32(step))), want, rtol=1e-6, atol=1e-12)


def _params(module, *inputs):
    shapes = jax.eval_shape(lambda: module.init(jax.random.key(0), *inputs, train=False))
    return shapes


def test_resnet_generator_is_the_papers():
    x = jnp.zeros((1, 64, 64, 3))
    shapes = _params(resnet_generator.ResnetGenerator(), x)
    assert set(shapes) == {"params"}  # instance norm: no running statistics
    count = sum(leaf.size for leaf in jax.tree.leaves(shapes["params"]))
    # The reference code prints 7.838 M (6 blocks) and 11.378 M (9 blocks).
    assert count == resnet_generator.parameter_count() == 7_837_699
    assert resnet_generator.parameter_count(n_blocks=9) == 11_378_179
    net = resnet_generator.ResnetGenerator(out_channels=1, ngf=4, n_blocks=1)
    y = jax.ShapeDtypeStruct((2, 32, 24, 3), jnp.float32)
    out = jax.eval_shape(lambda y: net.apply(net.init(jax.random.key(0), y), y), y)
    assert out.shape == (2, 32, 24, 1)  # the size comes back exactly


def test_unconditional_patchgans():
    x = jnp.zeros((1, 64, 64, 3))
    batch = _params(patchgan.PatchGan(), x)
    instance = _params(patchgan.PatchGan(norm="instance"), x)
    n = {
        k: sum(leaf.size for leaf in jax.tree.leaves(v["params"]))
        for k, v in (("b", batch), ("i", instance))
    }
    # pix2pix's 2,768,705 less the first conv's 3 input channels of the pair (4 x 4 x 3 x 64);
    # instance norm: conv biases (128 + 256 + 512) instead of scales and shifts (twice that).
    assert n["b"] == 2_768_705 - 4 * 4 * 3 * 64
    assert n["i"] == n["b"] + 896 - 2 * 896
    assert "batch_stats" in batch and set(instance) == {"params"}


# --- the paired view of two folders


def test_test_pairs_are_the_true_pairs_and_unpaired_sources_have_none(fake_data):
    c = _config("cyclegan", fake_data["manual_dir"])
    c.data.test_ops = ()  # raw RGBA: the fixture's Twitter image is the Google one inverted
    pairs = paired_view.test_pairs(c, ("image", "b/image"))
    batch = pairs.read(np.arange(len(pairs)), np.random.default_rng(0))
    a, b = batch["a"].astype(int), batch["b"].astype(int)
    assert len(pairs) >= 1
    np.testing.assert_array_equal(b[..., :3], 255 - a[..., :3])
    np.testing.assert_array_equal(b[..., 3], a[..., 3])
    c.data.streams.b.source = "arrays"
    with pytest.raises(paired_view.NoTruePairs, match="no counterparts"):
        paired_view.test_pairs(c, ("image", "b/image"))


# --- CycleGAN end to end


def _metrics(workdir):
    with open(workdir / "metrics.jsonl") as f:
        return [json.loads(line) for line in f]


def _training_metrics(workdir):
    drop = ("time/", "perf/", "eval/")
    return [{k: v for k, v in m.items() if not k.startswith(drop)} for m in _metrics(workdir)]


class _Stop(Exception):
    pass


@pytest.fixture(scope="module")
def cyclegan_runs(fake_data, tmp_path_factory):
    """4 steps in one go (with the evaluators), and the same run stopped when it asks for the
    batch of step 4 (checkpoint at step 2, inside the learning rate's decay, pool full) and
    resumed to the end (without the evaluators: they do not touch training)."""
    root = tmp_path_factory.mktemp("cyclegan")
    c = _config("cyclegan", fake_data["manual_dir"])
    assert c.objective.pool_size < c.batch_size  # the pool fills during step 1
    loop.train(c, str(root / "straight"))
    c.evals = ml_collections.ConfigDict()
    batch = experiment.Experiment.batch

    def batch_or_stop(self, step):
        if step == 3:
            raise _Stop
        return batch(self, step)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(experiment.Experiment, "batch", batch_or_stop)
        with pytest.raises(_Stop):
            loop.train(c, str(root / "resumed"))
    assert sorted(os.listdir(root / "resumed" / "checkpoints")) == ["2"]
    loop.train(c, str(root / "resumed"))
    return root


def test_cyclegan_resumes_exactly_with_the_pool_and_the_schedule(cyclegan_runs):
    straight = _training_metrics(cyclegan_runs / "straight")
    assert [m["step"] for m in straight] == [1, 2, 3, 4]
    assert _training_metrics(cyclegan_runs / "resumed") == straight
    for m in straight:
        assert m["loss/generators"] == pytest.approx(
            m["loss/generator_ab_adversarial"]
            + m["loss/generator_ba_adversarial"]
            + m["loss/cycle"]
            + m["loss/identity"],
            rel=1e-5,
        )
    a, b = (runs.load_run(str(cyclegan_runs / d)) for d in ("straight", "resumed"))
    assert a.step == b.step == 4
    pool = a.state.objective_state["pool_b"]
    assert int(pool["count"]) == 6 and float(jnp.abs(pool["images"]).min()) > 0
    for x, y in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
        np.testing.assert_array_equal(x, y)


def test_cyclegan_scores_both_directions_against_the_true_pairs(cyclegan_runs):
    final = _metrics(cyclegan_runs / "straight")[-1]
    for direction in ("translation", "translation_b2a"):
        for name in ("l1", "psnr", "ssim", "identity_l1", "identity_psnr", "identity_ssim"):
            assert np.isfinite(final[f"eval/{direction}/{name}"])
    # The fake pairs are colour negatives: inputs differ from their true counterparts, the
    # same way in both directions.
    assert final["eval/translation/identity_l1"] > 0.05
    assert final["eval/translation/identity_l1"] == pytest.approx(
        final["eval/translation_b2a/identity_l1"]
    )
    grid = np.asarray(Image.open(cyclegan_runs / "straight" / "samples" / "samples_00000004.png"))
    assert grid.shape[1] > 3 * grid.shape[0]  # cells are a | a -> b | b | b -> a


def test_translate_files_both_ways(cyclegan_runs, tmp_path):
    workdir = str(cyclegan_runs / "straight")
    inputs = tmp_path / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (30, 20, 4), np.uint8), "RGBA").save(inputs / "x.png")
    Image.fromarray(rng.integers(0, 256, (16, 16), np.uint8), "L").save(inputs / "g.png")
    out = {}
    for direction in ("a2b", "b2a"):
        written = file_translation.translate_files(
            workdir, str(inputs), str(tmp_path / direction), direction
        )
        out[direction] = [np.asarray(Image.open(p)) for p in written]
        assert [p.rsplit("/", 1)[1] for p in written] == ["g.png", "x.png"]
        assert all(im.shape == (32, 32, 3) for im in out[direction])
    assert not np.array_equal(out["a2b"][1], out["b2a"][1])  # another generator
    # The a2b files are generator_ab's translations, the b2a files generator_ba's.
    run = runs.load_run(workdir)
    x = file_translation.load_images([inputs / "x.png"], (32, 32, 3)).astype(np.float32) / 255
    for direction, name in (("a2b", "generator_ab"), ("b2a", "generator_ba")):
        y = run.exp.objective.networks[name].apply(run.state.variables()[name], 2 * x - 1)
        want = np.rint(np.clip(0.5 * (np.asarray(y[0]) + 1), 0, 1) * 255)
        np.testing.assert_allclose(out[direction][1], want, atol=1)
    with pytest.raises(ConfigError, match="a2b, b2a"):
        file_translation.translate_files(workdir, str(inputs), str(tmp_path / "o"), "x2y")


# --- DualGAN end to end


def test_dualgan_clips_its_critics_and_takes_n_critic_steps(fake_data, tmp_path):
    c = _config("dualgan", fake_data["manual_dir"])
    c.total_steps = 3
    # A scheduled rate keeps optax's update count in the state: it counts each update.
    c.optimizer.schedule, c.optimizer.decay_start = "linear", 1.0
    # With its evaluators: this is also the config's smoke run (tests/test_configs.py).
    loop.train(c, str(tmp_path / "run"))
    assert os.path.exists(tmp_path / "run" / "samples" / "samples_00000003.png")
    run = runs.load_run(str(tmp_path / "run"))
    bound = c.objective.weight_clip
    for name in dualgan.CRITICS:
        leaves = jax.tree.leaves(run.state.params[name])
        assert max(float(jnp.max(jnp.abs(p))) for p in leaves) <= bound
        assert any(float(jnp.max(jnp.abs(p))) == pytest.approx(bound) for p in leaves)
        counts = [int(x) for x in jax.tree.leaves(run.state.opt_state[name]) if x.shape == ()]
        assert counts == [c.objective.n_critic * 3]
    for name in dualgan.GENERATORS:  # never clipped, updated once a step
        assert (
            max(float(jnp.max(jnp.abs(p))) for p in jax.tree.leaves(run.state.params[name])) > bound
        )
        counts = [int(x) for x in jax.tree.leaves(run.state.opt_state[name]) if x.shape == ()]
        assert counts == [3]
    # Each critic step reads its own real batches of both domains.
    batch = run.exp.batch(0)
    assert batch["image"].shape[0] == batch["b/image"].shape[0] == c.objective.n_critic
    final = _metrics(tmp_path / "run")[-1]
    assert final["step"] == 3
    for direction in ("translation", "translation_b2a"):
        assert np.isfinite(final[f"eval/{direction}/l1"])
    assert final["loss/generators"] == pytest.approx(
        final["loss/generators_adversarial"]
        + 200.0 * (final["loss/reconstruction_a"] + final["loss/reconstruction_b"]),
        rel=1e-5,
    )
    # Dropout is the noise: two keys, two translations; no key, deterministic.
    x = jnp.full((1, 32, 32, 3), 0.5)
    t = run.exp.objective.translate_b2a
    v = run.state.variables()
    assert not np.allclose(t(v, x, jax.random.key(0)), t(v, x, jax.random.key(1)))
    np.testing.assert_array_equal(t(v, x), t(v, x))
