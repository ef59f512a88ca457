"""Adversarial losses against values computed by hand on fixed logits."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gendl.config import ConfigError
from gendl.objectives import gan_losses

# Logits log 3 and -log 3 give D = sigmoid = 3/4 and 1/4; 0 gives 1/2.
L3 = math.log(3.0)
REAL = jnp.array([L3, 0.0])  # D(x) = 3/4, 1/2
FAKE = jnp.array([-L3, 0.0])  # D(G(z)) = 1/4, 1/2
C_REAL = jnp.array([2.0, 0.5, -1.0])  # critic values
C_FAKE = jnp.array([-2.0, 0.5, 3.0])


def _mean(*v):
    return sum(v) / len(v)


DISCRIMINATOR = {
    # -E log D(x) - E log(1 - D(G(z)))
    "minimax": _mean(-math.log(0.75), -math.log(0.5)) + _mean(-math.log(0.75), -math.log(0.5)),
    "non_saturating": 2 * _mean(-math.log(0.75), -math.log(0.5)),
    # E c_fake - E c_real on the critic values
    "wasserstein": _mean(-2.0, 0.5, 3.0) - _mean(2.0, 0.5, -1.0),
    # E max(0, 1 - c_real) + E max(0, 1 + c_fake)
    "hinge": _mean(0.0, 0.5, 2.0) + _mean(0.0, 1.5, 4.0),
    # 1/2 E (c_real - 1)^2 + 1/2 E c_fake^2
    "least_squares": 0.5 * _mean(1.0, 0.25, 4.0) + 0.5 * _mean(4.0, 0.25, 9.0),
}
GENERATOR = {
    "minimax": _mean(math.log(0.75), math.log(0.5)),  # E log(1 - D(G(z)))
    "non_saturating": _mean(-math.log(0.25), -math.log(0.5)),  # -E log D(G(z))
    "wasserstein": -_mean(-2.0, 0.5, 3.0),
    "hinge": -_mean(-2.0, 0.5, 3.0),
    "least_squares": 0.5 * _mean(9.0, 0.25, 4.0),  # 1/2 E (c_fake - 1)^2
}
PROBABILISTIC = ("minimax", "non_saturating")


@pytest.mark.parametrize("kind", gan_losses.KINDS)
def test_discriminator_loss_by_hand(kind):
    real, fake = (REAL, FAKE) if kind in PROBABILISTIC else (C_REAL, C_FAKE)
    got = gan_losses.discriminator_loss(kind, real, fake)
    np.testing.assert_allclose(float(got), DISCRIMINATOR[kind], rtol=1e-6)


@pytest.mark.parametrize("kind", gan_losses.KINDS)
def test_generator_loss_by_hand(kind):
    fake = FAKE if kind in PROBABILISTIC else C_FAKE
    np.testing.assert_allclose(
        float(gan_losses.generator_loss(kind, fake)), GENERATOR[kind], rtol=1e-6
    )


@pytest.mark.parametrize("kind", PROBABILISTIC)
def test_probabilistic_losses_stay_finite_at_extreme_logits(kind):
    # A confident discriminator (|logit| = 200) would give log(0) through sigmoid then log.
    extreme = jnp.array([200.0, -200.0])
    d, d_grad = jax.value_and_grad(lambda r: gan_losses.discriminator_loss(kind, r, -r))(extreme)
    g, g_grad = jax.value_and_grad(lambda f: gan_losses.generator_loss(kind, f))(extreme)
    for v in (d, d_grad, g, g_grad):
        assert np.all(np.isfinite(np.asarray(v)))
    np.testing.assert_allclose(float(d), 200.0, rtol=1e-6)  # one sample wrong by 200 nats per term


def test_non_saturating_generator_gradient_does_not_vanish():
    # Goodfellow et al.'s reason for the non-saturating loss: when D rejects fakes confidently
    # (logit -10), log(1 - D) is flat but -log D is not.
    fake = jnp.array([-10.0])
    minimax = jax.grad(lambda f: gan_losses.generator_loss("minimax", f))(fake)
    non_sat = jax.grad(lambda f: gan_losses.generator_loss("non_saturating", f))(fake)
    assert abs(float(minimax[0])) < 1e-4 < 0.99 < abs(float(non_sat[0]))


def test_unknown_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="least_squares"):
        gan_losses.discriminator_loss("wasserstain", REAL, FAKE)
