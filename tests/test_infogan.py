"""InfoGAN with the paper's conv networks: shapes, Q reading the image, and the
mutual-information term training both G and Q on the codes G was given."""

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from test_configs import load

from gendl import models
from gendl.config import ConfigError
from gendl.data.spec import DataSpec
from gendl.evaluation import evaluators, sample_quality
from gendl.training import experiment

TINY = dict(name="infogan_conv", dim=4, fc=16, q_hidden=16, num_categories=10, num_continuous=2)


def test_conv_network_shapes():
    nets = models.build(ml_collections.ConfigDict(TINY), DataSpec.of_images((28, 28, 1)))
    gen, disc = nets["generator"], nets["discriminator"]
    z = jax.ShapeDtypeStruct((3, 74), jnp.float32)
    g = jax.eval_shape(gen.init, jax.random.key(1), z)  # shapes only: nothing compiled
    assert set(g) == {"params", "batch_stats"}
    x = jax.eval_shape(lambda g, z: gen.apply(g, z, train=False), g, z)
    chex.assert_shape(x, (3, 28, 28, 1))
    d = jax.eval_shape(disc.init, jax.random.key(2), x)
    out = jax.eval_shape(lambda d, x: disc.apply(d, x, train=False), d, x)
    chex.assert_shape(list(out), [(3,), (3, 10), (3, 2)])


def test_conv_networks_refuse_sizes_they_cannot_halve_twice():
    with pytest.raises(ConfigError, match="multiples of 4"):
        models.build(ml_collections.ConfigDict(TINY), DataSpec.of_images((30, 30, 1)))


def _names(exp, metrics):
    return dict(zip(exp.metric_names, np.asarray(metrics).tolist(), strict=True))


def _config(fake_data):
    # The paper's objective (Q reads the plain fakes): the MI term's mechanics are tested on it;
    # the warped read (the config's default) by test_code_augment_* below.
    c = load("infogan", "conv,paper,smoke")
    c.batch_size = 32
    c.data.manual_dir, c.data.data_dir = fake_data["manual_dir"], fake_data["data_dir"]
    c.optimizer.learning_rate = 1e-2
    c.optimizer.generator = dict(learning_rate=1e-2)
    return c


@pytest.fixture(scope="module")
def trained(fake_data):
    """The `:conv,smoke` config trained on one fixed real batch for 80 steps with large
    learning rates (1e-2 for both): (experiment, final state, metrics of each step)."""
    exp = experiment.build(_config(fake_data))
    state, batch, rows = exp.init_state(), exp.batch(0), []
    for _ in range(80):
        state, m = exp.train_step(state, batch)
        rows.append(_names(exp, m))
    return exp, state, rows


def test_mutual_information_term_falls_when_g_and_q_train(trained):
    # Q scored against the codes G was given: its cross-entropy starts near ln 10 (chance)
    # and falls well below it (measured: 2.79 -> 1.75 over the last 5 steps); scored against
    # other codes than G's it would stay at ln 10 = 2.30.
    _, _, rows = trained
    first = rows[0]["mi/categorical_ce"]
    last = np.mean([r["mi/categorical_ce"] for r in rows[-5:]])
    assert abs(first - np.log(10)) < 0.6
    assert last < np.log(10) - 0.4, (first, last)


def test_trained_networks_sample_and_q_reads_each_image(trained):
    exp, state, _ = trained
    obj, variables = exp.objective, state.variables()
    stats = state.model_state["generator"]["batch_stats"]["fc1_bn"]
    assert not np.allclose(stats["mean"], 0.0)  # the running statistics moved from zero
    assert "discriminator" in state.model_state

    @jax.jit
    def sample_and_read(variables, noise):
        images = obj.sample(variables, noise)
        read = lambda x: obj.discriminator.apply(variables["discriminator"], x, train=False)
        return images, read(images), read(images[::-1])

    images, (_, cat, cont), (_, cat_rev, cont_rev) = sample_and_read(
        variables, obj.sample_noise(jax.random.key(0), 4)
    )
    chex.assert_shape(images, (4, 28, 28, 1))
    assert float(jnp.min(images)) >= 0.0 and float(jnp.max(images)) <= 1.0
    # Q's verdict on an image is its own: other images give other logits, and (running
    # statistics, no batch coupling) reordering the batch reorders the outputs.
    assert not np.allclose(cat[0], cat[1])
    np.testing.assert_allclose(cat_rev, cat[::-1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(cont_rev, cont[::-1], rtol=1e-5, atol=1e-5)


def test_both_networks_train_on_the_mutual_information_term(trained, fake_data):
    # Chen et al. eq. 5: G and Q (D's step) both minimise the MI term. One step from the same
    # state and batch with lambda = 0 instead of 1 must move G's and Q's parameters otherwise.
    exp, state, _ = trained
    c = _config(fake_data)
    c.objective.lambda_categorical = c.objective.lambda_continuous = 0.0
    without = experiment.build(c)
    copy = lambda: jax.tree.map(jnp.copy, state)  # the steps donate their state
    a, _ = exp.train_step(copy(), exp.batch(0))
    b, _ = without.train_step(copy(), without.batch(0))
    for net, layer in (("generator", "fc1"), ("discriminator", "q_hidden")):
        moved_a = a.params[net][layer]["kernel"] - state.params[net][layer]["kernel"]
        moved_b = b.params[net][layer]["kernel"] - state.params[net][layer]["kernel"]
        assert not np.allclose(moved_a, moved_b, rtol=1e-3, atol=1e-7), (net, layer)


def test_code_augment_warps_what_q_reads_for_the_category_only(trained, fake_data):
    # code_augment: Q's categorical read (and its cross-entropy) comes from warped fakes; the
    # GAN loss and Q's plain accuracy are computed exactly as without it.
    _, state, _ = trained
    c = _config(fake_data)
    c.objective.code_augment = dict(rotation_degrees=20.0, scale=0.15, translate_pixels=2.0)
    warped = experiment.build(c)
    c.objective.code_augment = dict(rotation_degrees=0.0, scale=0.0, translate_pixels=0.0)
    plain = experiment.build(c)  # all ranges 0: the paper's objective (`infogan.py:paper`)
    copy = lambda: jax.tree.map(jnp.copy, state)
    _, plain_m = plain.train_step(copy(), plain.batch(0))
    _, warped_m = warped.train_step(copy(), warped.batch(0))
    plain_m, warped_m = _names(plain, plain_m), _names(warped, warped_m)
    for same in ("loss/discriminator", "q_categorical_accuracy", "mi/continuous_mse"):
        assert warped_m[same] == pytest.approx(plain_m[same], rel=1e-5), same
    assert "q_categorical_accuracy_warped" not in plain_m
    assert 0.0 <= warped_m["q_categorical_accuracy_warped"] <= 1.0
    assert warped_m["mi/categorical_ce"] != pytest.approx(plain_m["mi/categorical_ce"], rel=1e-3)


def test_unknown_code_augment_key_is_refused(fake_data):
    c = _config(fake_data)
    c.objective.code_augment = dict(rotate=10.0)
    with pytest.raises(ConfigError, match="code_augment"):
        experiment.build(c)


@pytest.mark.parametrize("dist", ["normal", "uniform"])
def test_noise_distribution_draws_z_and_leaves_the_codes(dist, fake_data):
    # "uniform": z ~ U(-1, 1) as openai/InfoGAN's Uniform(62); the codes are drawn alike.
    c = _config(fake_data)
    c.objective.noise_distribution = dist
    obj = experiment.build(c).objective
    z, cat, cont = obj.sample_codes(jax.random.key(3), 4000)
    inside = float(jnp.mean(jnp.abs(z) <= 1.0))
    if dist == "uniform":
        assert inside == 1.0 and float(jnp.var(z)) == pytest.approx(1 / 3, rel=0.02)
    else:
        assert inside == pytest.approx(0.683, abs=0.01)  # P(|z| <= 1) of N(0, 1)
    assert set(np.unique(cat).tolist()) == set(range(10))
    assert float(jnp.min(cont)) >= -1.0 and float(jnp.max(cont)) <= 1.0


def test_unknown_noise_distribution_is_refused(fake_data):
    c = _config(fake_data)
    c.objective.noise_distribution = "laplace"
    with pytest.raises(ConfigError, match="noise_distribution"):
        experiment.build(c)


def _labelled_by_brightness(monkeypatch, n=200):
    """uint8 test images of brightness 20 x their label (labels 0-9 in turn), read by the
    clustering evaluator in place of the test split."""
    labels = np.arange(n) % 10
    images = np.broadcast_to((20 * labels).astype(np.uint8)[:, None, None, None], (n, 28, 28, 1))
    monkeypatch.setattr(evaluators, "_test_arrays", lambda c: (images, labels))
    return labels


def _label(x):
    """The label of a brightness-coded image in [0, 1] (the evaluator's input)."""
    return jnp.round(x.mean((1, 2, 3)) * 255 / 20).astype(jnp.int32)


@pytest.mark.parametrize(
    "relabel, expected",
    [
        (lambda y: (y + 3) % 10, 1.0),  # every cluster is one class under another name
        (lambda y: jnp.where(y == 9, 4, y), 0.9),  # 4s and 9s in one cluster: one of them lost
    ],
)
def test_clustering_scores_clusters_by_the_best_one_to_one_assignment(
    relabel, expected, trained, monkeypatch
):
    exp, state, _ = trained
    _labelled_by_brightness(monkeypatch)
    cluster = lambda variables, x: jax.nn.one_hot(relabel(_label(x)), 10)
    monkeypatch.setattr(type(exp.objective), "predictors", lambda self: {"cluster": cluster})
    ev = evaluators.build(exp, "clustering", dict(type="clustering", batch_size=64))
    figures, _ = ev.run(state.variables())
    assert figures == {"cluster_accuracy_n200": pytest.approx(expected)}


def test_infogan_clusters_images_by_q_categorical_code(trained, monkeypatch):
    exp, state, _ = trained
    _labelled_by_brightness(monkeypatch, n=20)
    variables = state.variables()
    x = jnp.asarray(evaluators._test_arrays(None)[0], jnp.float32) / 255
    logits = exp.objective.cluster(variables, x)
    read = exp.objective.discriminator.apply(variables["discriminator"], x, train=False)[1]
    np.testing.assert_array_equal(logits, read)
    figures, _ = evaluators.build(exp, "clustering", dict(type="clustering", batch_size=20)).run(
        variables
    )
    expected = sample_quality.matched_accuracy(np.arange(20) % 10, np.argmax(read, -1), 10)
    assert figures == {"cluster_accuracy_n20": pytest.approx(expected)}
