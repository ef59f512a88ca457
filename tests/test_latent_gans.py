"""InfoGAN, BiGAN, adversarial autoencoder and the boundary-seeking loss: losses on fixed
values against hand-computed ones, network shapes, the label-aware mixture prior."""

import functools
import math

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gendl import models
from gendl.data.spec import DataSpec
from gendl.objectives import aae, gan_losses, infogan


def test_boundary_seeking_generator_loss():
    # 1/2 E (log D - log(1 - D))^2 with D = sigmoid(l): the log-odds is the logit itself.
    logits = jnp.array([0.0, 2.0, -1.0])
    np.testing.assert_allclose(
        gan_losses.generator_loss("boundary_seeking", logits), (0 + 4 + 1) / 6, rtol=1e-6
    )
    d = 1 / (1 + np.exp(-np.array([0.0, 2.0, -1.0])))
    by_probabilities = np.mean(0.5 * (np.log(d) - np.log(1 - d)) ** 2)
    np.testing.assert_allclose(
        gan_losses.generator_loss("boundary_seeking", logits), by_probabilities, rtol=1e-5
    )
    # Its discriminator is the ordinary one: -log D(x) - log(1 - D(G(z))) at D = 1/2 is 2 ln 2.
    zero = jnp.zeros(4)
    np.testing.assert_allclose(
        gan_losses.discriminator_loss("boundary_seeking", zero, zero), 2 * math.log(2), rtol=1e-6
    )


def test_boundary_seeking_target_log_z():
    # With log Z (the authors' continuous-data code): 1/2 E (l - log Z)^2, whose gradient in
    # each logit is (l_i - log Z) / n; log_z None is the paper's target 0, bit for bit.
    logits = jnp.array([0.0, 2.0, -1.0])
    loss = functools.partial(gan_losses.generator_loss, "boundary_seeking")
    np.testing.assert_allclose(loss(logits, -0.5), (0.25 + 6.25 + 0.25) / 6, rtol=1e-6)
    np.testing.assert_allclose(jax.grad(loss)(logits, -0.5), [0.5 / 3, 2.5 / 3, -0.5 / 3])
    np.testing.assert_allclose(jax.grad(loss)(logits), [0.0, 2.0 / 3, -1.0 / 3])
    assert float(loss(logits, None)) == float(loss(logits))
    with pytest.raises(ValueError, match="boundary_seeking"):
        gan_losses.generator_loss("non_saturating", logits, 0.0)
    # log Z = log mean D/(1 - D) = log mean exp(l), finite where exp(l) overflows float32.
    np.testing.assert_allclose(
        gan_losses.log_normaliser(logits), math.log((1 + math.e**2 + math.e**-1) / 3), rtol=1e-6
    )
    np.testing.assert_allclose(gan_losses.log_normaliser(jnp.array([200.0, 200.0])), 200.0)


def test_infogan_mutual_information_terms():
    # Uniform Q over 4 categories: -log Q(c) = ln 4 whatever the code.
    np.testing.assert_allclose(
        infogan.categorical_code_loss(jnp.zeros((2, 4)), jnp.array([2, 0])), math.log(4), rtol=1e-6
    )
    # log(1/e) vs log(e) logits: CE of the likely class is log(1 + e^-2).
    logits = jnp.array([[1.0, -1.0]])
    np.testing.assert_allclose(
        infogan.categorical_code_loss(logits, jnp.array([0])), math.log1p(math.exp(-2)), rtol=1e-6
    )
    # Unit-variance Gaussian: 1/2 sum_j (c_j - mu_j)^2, averaged over the batch.
    means = jnp.array([[0.0, 0.0], [1.0, 1.0]])
    codes = jnp.array([[1.0, 2.0], [1.0, 1.0]])
    np.testing.assert_allclose(infogan.continuous_code_loss(means, codes), 2.5 / 2, rtol=1e-6)


def _cfg(**kw):
    return ml_collections.ConfigDict(kw)


@pytest.mark.parametrize("batch", [1, 7])
def test_infogan_network_shapes(batch):
    cfg = _cfg(
        name="infogan_mlp",
        g_hidden=(16,),
        d_hidden=(16, 8),
        num_categories=10,
        num_continuous=2,
    )
    nets = models.build(cfg, DataSpec.of_images((28, 28, 1)))
    z = jnp.zeros((batch, 74))
    g = nets["generator"].init(jax.random.key(0), z)
    x = jax.nn.sigmoid(nets["generator"].apply(g, z))
    chex.assert_shape(x, (batch, 28, 28, 1))
    d = nets["discriminator"].init(jax.random.key(1), x)
    logit, cat, cont = nets["discriminator"].apply(d, x)
    chex.assert_shape([logit, cat, cont], [(batch,), (batch, 10), (batch, 2)])


@pytest.mark.parametrize("batch", [1, 7])
def test_bigan_network_shapes(batch):
    cfg = _cfg(name="bigan_mlp", z_dim=5, g_hidden=(16,), e_hidden=(16,), d_hidden=(16, 8))
    nets = models.build(cfg, DataSpec.of_images((28, 28, 1)))
    x = jnp.zeros((batch, 28, 28, 1))
    z = jnp.zeros((batch, 5))
    e = nets["encoder"].init(jax.random.key(0), x)
    chex.assert_shape(nets["encoder"].apply(e, x), (batch, 5))
    g = nets["generator"].init(jax.random.key(1), z)
    chex.assert_shape(nets["generator"].apply(g, z), (batch, 28, 28, 1))
    d = nets["discriminator"].init(jax.random.key(2), x, z)
    chex.assert_shape(nets["discriminator"].apply(d, x, z), (batch,))


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("label_prior", [False, True])
def test_aae_network_shapes(batch, label_prior):
    cfg = _cfg(
        name="aae_mlp",
        hidden=(16,),
        latent_dim=2,
        activation="relu",
        d_hidden=(8,),
        prior_classes=10,
        label_prior=label_prior,
    )
    nets = models.build(cfg, DataSpec.of_images((28, 28, 1)))
    x = jnp.zeros((batch, 28, 28, 1))
    z = jnp.zeros((batch, 2))
    ae = nets["autoencoder"].init(jax.random.key(0), x, z)
    code, logits = nets["autoencoder"].apply(ae, x, z)
    chex.assert_shape([code, logits], [(batch, 2), (batch, 28, 28, 1)])
    labels = jnp.arange(batch) % 10
    d = nets["discriminator"].init(jax.random.key(1), z, labels)
    chex.assert_shape(nets["discriminator"].apply(d, z, labels), (batch,))
    if label_prior:  # the label changes the discriminator's verdict on the same code
        other = nets["discriminator"].apply(d, z, (labels + 1) % 10)
        assert not np.allclose(other, nets["discriminator"].apply(d, z, labels))


def test_mixture_prior_puts_each_label_on_its_own_arm():
    k = 10
    labels = jnp.repeat(jnp.arange(k), 2000)
    z = np.asarray(aae.mixture_prior_sample(jax.random.key(0), labels, k))
    for c in range(k):
        mean = z[np.asarray(labels) == c].mean(0)
        angle = 2 * math.pi * c / k
        np.testing.assert_allclose(mean, [1.4 * math.cos(angle), 1.4 * math.sin(angle)], atol=0.05)
