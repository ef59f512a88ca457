"""Semi-supervised GAN: its losses on fixed logits, its networks, the labelled subset and the
labelled batches (a stateless function of the step, so a resumed run sees the same ones)."""

import math
import os

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gendl import models
from gendl.config import ConfigError
from gendl.data import labelled as labelled_lib
from gendl.data import sampler as sampler_lib
from gendl.data.spec import DataSpec
from gendl.objectives import sgan

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_supervised_loss_is_k_class_cross_entropy():
    # logits (0, ln 3), label 1: p = 3/4, loss = ln(4/3). Label 0: p = 1/4, loss = ln 4.
    logits = jnp.array([[0.0, math.log(3.0)], [0.0, math.log(3.0)]])
    got = sgan.supervised_loss(logits, jnp.array([1, 0]))
    np.testing.assert_allclose(got, 0.5 * (math.log(4 / 3) + math.log(4)), rtol=1e-6)


def test_unsupervised_loss_uses_d_equal_z_over_z_plus_one():
    # Real logits (0, 0): Z = 2, D = 2/3, -log D = ln 1.5.
    # Fake logits (ln 1/2, ln 1/2): Z = 1, D = 1/2, -log(1 - D) = ln 2.
    real = jnp.zeros((3, 2))
    fake = jnp.full((5, 2), math.log(0.5))
    got = sgan.unsupervised_loss(real, fake)
    np.testing.assert_allclose(got, 0.5 * math.log(1.5) + 0.5 * math.log(2.0), rtol=1e-6)


def test_unsupervised_loss_is_stable_for_large_logits():
    big = jnp.array([[300.0, -300.0]])
    assert np.isfinite(float(sgan.unsupervised_loss(big, -big)))
    # D(real) -> 1 and D(fake) -> 1: no loss on real, -log(1 - D(fake)) = lse = 300 on fake.
    np.testing.assert_allclose(sgan.unsupervised_loss(big, big), 150.0, rtol=1e-6)


def test_feature_matching_loss():
    real = jnp.array([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = jnp.array([[0.0, 0.0], [2.0, 2.0], [1.0, 1.0]])  # mean (1, 1)
    np.testing.assert_allclose(sgan.feature_matching_loss(real, fake), (1 + 4) / 2, rtol=1e-6)


def _sgan_nets():
    cfg = ml_collections.ConfigDict(
        dict(
            name="sgan_mlp",
            gen_hidden=(16, 16),
            disc_hidden=(32, 8),
            num_classes=10,
            input_noise=0.3,
            hidden_noise=0.5,
        )
    )
    return models.build(cfg, DataSpec.of_images((28, 28, 1)))


@pytest.mark.parametrize("batch", [1, 7])
def test_sgan_network_shapes(batch):
    nets = _sgan_nets()
    z = jax.random.uniform(jax.random.key(0), (max(batch, 2), 100))[:batch]
    g_vars = nets["generator"].init(jax.random.key(1), jnp.zeros((2, 100)))
    x = nets["generator"].apply(g_vars, z)
    chex.assert_shape(x, (batch, 28, 28, 1))
    data = jax.random.uniform(jax.random.key(2), (16, 28, 28, 1))
    d_vars = nets["discriminator"].init(jax.random.key(3), data)
    logits, feats = nets["discriminator"].apply(d_vars, x)
    chex.assert_shape(logits, (batch, 10))
    chex.assert_shape(feats, (batch, 8))
    noisy, _ = nets["discriminator"].apply(d_vars, x, train=True, rngs={"noise": jax.random.key(4)})
    assert not np.allclose(noisy, logits)  # Gaussian noise layers are on in training


def test_weight_norm_data_dependent_init_standardises_pre_activations():
    layer = models.sgan_mlp.WeightNormDense(5)
    x = jax.random.normal(jax.random.key(0), (200, 12)) * 3.0 + 1.0
    params = layer.init(jax.random.key(1), x)
    y = layer.apply(params, x)
    np.testing.assert_allclose(jnp.mean(y, 0), 0.0, atol=1e-4)
    np.testing.assert_allclose(jnp.std(y, 0), 1.0, rtol=1e-3)
    # The untrained scale gets no gradient.
    g = jax.grad(lambda p: jnp.sum(layer.apply(p, x) ** 2))(params)
    np.testing.assert_array_equal(g["params"]["g"], 0.0)


def test_labelled_subset_has_ten_per_class_and_depends_on_the_seed():
    labels = np.random.default_rng(0).integers(0, 10, 5000)
    a = labelled_lib.labelled_subset(labels, 100, seed=3)
    assert len(a) == 100 and len(set(a.tolist())) == 100
    np.testing.assert_array_equal(np.bincount(labels[a], minlength=10), np.full(10, 10))
    np.testing.assert_array_equal(a, labelled_lib.labelled_subset(labels, 100, seed=3))
    assert not np.array_equal(a, labelled_lib.labelled_subset(labels, 100, seed=4))


def test_labelled_subset_rejects_uneven_counts():
    labels = np.arange(50) % 10
    with pytest.raises(ConfigError, match="multiple of the number of classes"):
        labelled_lib.labelled_subset(labels, 25, seed=0)
    with pytest.raises(ConfigError, match="fewer than"):
        labelled_lib.labelled_subset(labels, 100, seed=0)


def _with_labelled(images, labels):
    unl = sampler_lib.BatchIterator(
        images, labels, sampler_lib.BatchSampler(len(images), 8, seed=1)
    )
    return labelled_lib.WithLabelled(unl, images, labels, num_labelled=20, batch_size=10, seed=1)


def test_labelled_batches_are_a_stateless_function_of_the_step():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 4, 4, 1), dtype=np.uint8)
    labels = (np.arange(300) % 10).astype(np.uint8)
    served = _with_labelled(images, labels)
    steps = [served.get(2 * s, count=2) for s in range(7)]  # 2 unlabelled batches a step
    fresh = _with_labelled(images, labels)  # a resumed run starts at step 5
    for s in (5, 6):
        again = fresh.get(2 * s, count=2)
        for key in ("image", "label", "labelled_image", "labelled_label"):
            np.testing.assert_array_equal(again[key], steps[s][key])
    subset = set(served.index.tolist())
    for batch in steps:
        assert batch["labelled_image"].shape == (1, 10, 4, 4, 1)
        assert batch["image"].shape == (2, 8, 4, 4, 1)
    # Every labelled image comes from the subset; two consecutive steps cover it (20 = 2 x 10).
    seen = np.concatenate([b["labelled_label"][0] for b in steps[:2]])
    np.testing.assert_array_equal(np.sort(seen), np.sort(labels[sorted(subset)]))
