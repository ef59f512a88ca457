"""Losses on cases whose answer is known in closed form."""

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gendl.data.spec import DataSpec
from gendl.objectives import vae, wgan_gp


def test_gradient_penalty_linear_critic():
    # D(x) = <w, x> + b has input gradient w everywhere: every sample's norm is ||w||.
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(5, 5, 2)), jnp.float32)
    critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3)) + 3.0
    real = jnp.asarray(rng.normal(size=(7, 5, 5, 2)), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(7, 5, 5, 2)), jnp.float32)
    eps = jnp.linspace(0.0, 1.0, 7)
    gp, norms = wgan_gp.gradient_penalty(critic, real, fake, eps)
    expected_norm = float(jnp.linalg.norm(w))
    np.testing.assert_allclose(norms, np.full(7, expected_norm), rtol=1e-5)
    np.testing.assert_allclose(gp, (expected_norm - 1.0) ** 2, rtol=1e-5)


def test_critic_loss_on_one_batch_equals_two_critic_calls():
    # The fast path (real and fake through the critic as one batch) against the plain
    # formulation, in value and in the gradient the critic's step takes.
    from gendl.models import dcgan

    critic = dcgan.Critic28(dim=4)
    keys = jax.random.split(jax.random.key(0), 4)
    real = jax.random.uniform(keys[0], (6, 28, 28, 1))
    fake = jax.random.uniform(keys[1], (6, 28, 28, 1))
    eps = jax.random.uniform(keys[2], (6,))
    params = critic.init(keys[3], real)["params"]
    apply = lambda p, x: critic.apply({"params": p}, x)

    def plain(p):
        gp, _ = wgan_gp.gradient_penalty(lambda x: apply(p, x), real, fake, eps)
        return jnp.mean(apply(p, fake)) - jnp.mean(apply(p, real)) + 10.0 * gp

    def fast(p):
        return wgan_gp.critic_loss(lambda x: apply(p, x), real, fake, eps, 10.0)[0]

    # Under jit: op by op, the double backward pass dispatches (and compiles) each primitive.
    fast, plain = jax.jit(fast), jax.jit(plain)
    np.testing.assert_allclose(fast(params), plain(params), rtol=1e-6)
    chex.assert_trees_all_close(
        jax.jit(jax.grad(fast))(params), jax.jit(jax.grad(plain))(params), rtol=1e-5, atol=1e-7
    )


def test_gradient_penalty_is_zero_for_unit_norm_critic():
    w = jnp.zeros((4, 4, 1)).at[1, 2, 0].set(1.0)  # ||w|| = 1
    critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
    x = jnp.ones((3, 4, 4, 1))
    gp, _ = wgan_gp.gradient_penalty(critic, x, 2 * x, jnp.array([0.1, 0.5, 0.9]))
    assert float(gp) == pytest.approx(0.0, abs=1e-7)


def test_gradient_penalty_per_sample_interpolation_and_norm_over_all_pixels():
    # D(x) = 0.5 ||x||^2 has gradient x_hat itself, so each sample's norm is the norm of its
    # own interpolate: this checks one eps per sample and the norm over all pixels/channels.
    critic = lambda x: 0.5 * jnp.sum(x**2, axis=(1, 2, 3))
    rng = np.random.default_rng(1)
    real = jnp.asarray(rng.normal(size=(4, 3, 3, 2)), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(4, 3, 3, 2)), jnp.float32)
    eps = jnp.array([0.0, 0.25, 0.5, 1.0])
    gp, norms = wgan_gp.gradient_penalty(critic, real, fake, eps)
    x_hat = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
    want = np.linalg.norm(np.asarray(x_hat).reshape(4, -1), axis=1)
    np.testing.assert_allclose(norms, want, rtol=1e-5)
    np.testing.assert_allclose(gp, np.mean((want - 1) ** 2), rtol=1e-5)


def test_gradient_penalty_is_differentiable_at_zero_gradient():
    critic = lambda x, a: a * jnp.sum(x, axis=(1, 2, 3))
    x = jnp.ones((2, 2, 2, 1))
    g = jax.grad(lambda a: wgan_gp.gradient_penalty(lambda y: critic(y, a), x, x, jnp.ones(2))[0])(
        0.0
    )
    assert np.isfinite(g)


def test_gaussian_kl_closed_form():
    chex.assert_trees_all_close(vae.gaussian_kl(jnp.zeros((2, 3)), jnp.zeros((2, 3))), jnp.zeros(2))
    mean, logvar = jnp.array([[1.0, -2.0]]), jnp.log(jnp.array([[4.0, 0.5]]))
    # KL(N(m, s2) || N(0,1)) = 0.5 (s2 + m^2 - 1 - log s2), summed over dims.
    want = 0.5 * ((4 + 1 - 1 - np.log(4)) + (0.5 + 4 - 1 - np.log(0.5)))
    np.testing.assert_allclose(vae.gaussian_kl(mean, logvar), [want], rtol=1e-6)


def test_bernoulli_nll_matches_formula():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(3, 4, 4, 1)).astype(np.float32)
    x = rng.uniform(size=(3, 4, 4, 1)).astype(np.float32)
    p = 1 / (1 + np.exp(-logits))
    want = -np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=(1, 2, 3))
    np.testing.assert_allclose(
        vae.bernoulli_nll(jnp.asarray(logits), jnp.asarray(x)), want, rtol=1e-5
    )


def _vae_objective(**objective):
    import ml_collections

    from gendl import models, objectives

    config = ml_collections.ConfigDict(
        {
            "model": {"name": "mlp_vae", "hidden": 32, "latent_dim": 3, "num_classes": 0},
            "objective": {
                "name": "vae",
                "beta": 1.0,
                "kl_warmup_steps": 0,
                "bound": "elbo",
                "num_samples": 1,
                **objective,
            },
        }
    )
    nets = models.build(config.model, DataSpec.of_images((4, 4, 1)))
    obj = objectives.build(config, nets, DataSpec.of_images((4, 4, 1)))
    return obj, obj.init(jax.random.key(0))


def test_gaussian_kl_matches_monte_carlo():
    mean, logvar = jnp.array([[0.5, -1.0, 2.0]]), jnp.array([[0.3, -0.7, 0.1]])
    z = mean + jnp.exp(0.5 * logvar) * jax.random.normal(jax.random.key(0), (200_000, 3))
    from gendl.evaluation import likelihood

    mc = jnp.mean(
        likelihood.diag_gaussian_log_prob(z, mean, logvar) - likelihood.std_normal_log_prob(z)
    )
    np.testing.assert_allclose(mc, vae.gaussian_kl(mean, logvar)[0], rtol=0.02)


def test_iwae_bound_is_above_elbo_and_grows_with_k():
    from gendl.evaluation import likelihood

    obj, params = _vae_objective()
    x = jax.random.bernoulli(jax.random.key(1), 0.3, (256, 4, 4, 1)).astype(jnp.float32)
    # Compiled, as the evaluator runs them (op by op, each call dispatches every primitive).
    log_weights = jax.jit(lambda key, k: obj.log_weights(params, x, None, key, k), static_argnums=1)
    bounds = []
    for k in (1, 5, 50):
        log_w = log_weights(jax.random.key(2), k)
        bounds.append(float(jnp.mean(likelihood.iwae_bound(log_w))))
    elbo = float(jnp.mean(jax.jit(lambda key: obj.elbo(params, x, None, key))(jax.random.key(3))))
    assert bounds[0] == pytest.approx(elbo, abs=0.3)  # k=1 is an ELBO estimate
    assert bounds[0] < bounds[1] < bounds[2]


def test_kl_warmup_schedule():
    obj, params = _vae_objective(beta=4.0, kl_warmup_steps=10)
    x = jnp.full((2, 4, 4, 1), 0.5)
    betas = [
        float(
            obj.loss(params["vae"]["params"], x, None, jax.random.key(0), jnp.int32(s))[1]["beta"]
        )
        for s in (0, 5, 10, 20)
    ]
    assert betas == pytest.approx([0.0, 2.0, 4.0, 4.0])


def test_iwae_rejects_beta():
    from gendl.config import ConfigError

    with pytest.raises(ConfigError, match="IWAE"):
        _vae_objective(bound="iwae", beta=2.0)


def test_denoising_corruptions():
    from gendl.objectives import autoencoder

    x = jnp.full((4, 8, 8, 1), 0.5)
    masked = autoencoder.corrupt(x, jax.random.key(0), "masking", mask_prob=0.5)
    assert set(np.unique(np.asarray(masked)).tolist()) == {0.0, 0.5}
    noisy = autoencoder.corrupt(x, jax.random.key(0), "gaussian", noise_std=3.0)
    assert float(noisy.min()) == 0.0 and float(noisy.max()) == 1.0  # clipped to the pixel range
    np.testing.assert_allclose(autoencoder.psnr(jnp.float32(0.01)), 20.0, rtol=1e-6)


def test_bernoulli_nll_equals_log_prob_form():
    from gendl.evaluation import likelihood

    rng = np.random.default_rng(3)
    logits = jnp.asarray(rng.normal(size=(5, 4, 4, 1)) * 30, jnp.float32)
    x = jnp.asarray(rng.uniform(size=(5, 4, 4, 1)), jnp.float32)
    np.testing.assert_allclose(
        -vae.bernoulli_nll(logits, x), likelihood.bernoulli_log_prob(logits, x), rtol=1e-5
    )
