"""Importance-sampled log-likelihood: the IWAE bound, its streaming estimator and a
linear-Gaussian model whose log p(x) is known in closed form."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gendl.evaluation import likelihood as lk

# A small nonlinear VAE on 4x4 binary images, as plain functions of a params dict.
LATENT, HIDDEN, PIXELS = 4, 32, 16


def _mlp_params(seed):
    rng = np.random.default_rng(seed)
    dense = lambda n_in, n_out: jnp.asarray(rng.normal(size=(n_in, n_out)) / np.sqrt(n_in))
    return {"enc": dense(PIXELS, 2 * LATENT), "dec1": dense(LATENT, HIDDEN)} | {
        "dec2": dense(HIDDEN, PIXELS)
    }


def _mlp_encode(params, x):
    h = x.reshape(x.shape[0], -1) @ params["enc"]
    return h[:, :LATENT], h[:, LATENT:] - 1.0


def _mlp_decode_log_prob(params, z, x):
    return lk.bernoulli_log_prob(jnp.tanh(z @ params["dec1"]) @ params["dec2"], x)


MLP_LOG_WEIGHTS = lk.vae_log_weights(_mlp_encode, _mlp_decode_log_prob)
# Compiled once for the reference computations; n, the sample count, fixes shapes.
MLP_LOG_WEIGHTS_JIT = jax.jit(MLP_LOG_WEIGHTS, static_argnums=3)


def _binary_images(n, seed=1):
    return (jax.random.uniform(jax.random.key(seed), (n, 4, 4, 1)) < 0.3).astype(jnp.float32)


def test_log_mean_exp_matches_numpy():
    a = np.random.default_rng(0).normal(size=(3, 4, 5)) * 3
    for axis in (0, 1, -1, (0, 2)):
        want = np.log(np.mean(np.exp(a), axis=axis))
        np.testing.assert_allclose(lk.log_mean_exp(jnp.asarray(a), axis), want, rtol=1e-5)
    # exp(1000) overflows; the shifted form must not.
    np.testing.assert_allclose(
        lk.log_mean_exp(jnp.asarray(a[0] + 1000.0), 1),
        1000.0 + np.log(np.mean(np.exp(a[0]), axis=1)),
        rtol=1e-6,
    )
    zeros = jnp.array([[-jnp.inf, -jnp.inf], [0.0, -jnp.inf]])
    np.testing.assert_allclose(lk.log_mean_exp(zeros, -1), [-np.inf, -math.log(2.0)], rtol=1e-6)


def test_densities_match_numpy():
    rng = np.random.default_rng(0)
    z, mean, logvar = (rng.normal(size=(6, 3)) for _ in range(3))
    want = -0.5 * np.sum(np.log(2 * np.pi) + logvar + (z - mean) ** 2 / np.exp(logvar), -1)
    np.testing.assert_allclose(lk.diag_gaussian_log_prob(z, mean, logvar), want, rtol=1e-5)
    np.testing.assert_allclose(
        lk.std_normal_log_prob(z), -0.5 * np.sum(np.log(2 * np.pi) + z**2, -1), rtol=1e-5
    )
    # Gaussian decoder with one shared observation variance over [batch, h, w, c] images.
    x, mu = rng.normal(size=(2, 6, 2, 2, 1))
    want = -0.5 * np.sum(np.log(2 * np.pi) + np.log(0.3) + (x - mu) ** 2 / 0.3, (1, 2, 3))
    np.testing.assert_allclose(lk.gaussian_log_prob(x, mu, np.log(0.3)), want, rtol=1e-5)
    # Bernoulli with grey levels, and logits large enough that log(sigmoid) would underflow.
    logits = rng.normal(size=(6, 2, 2, 1)) * 4
    grey = rng.uniform(size=(6, 2, 2, 1))
    p = 1 / (1 + np.exp(-logits))
    want = np.sum(grey * np.log(p) + (1 - grey) * np.log(1 - p), (1, 2, 3))
    np.testing.assert_allclose(lk.bernoulli_log_prob(logits, grey), want, rtol=1e-5)
    extreme = lk.bernoulli_log_prob(jnp.array([[200.0, -200.0]]), jnp.array([[1.0, 0.0]]))
    np.testing.assert_allclose(extreme, [0.0], atol=1e-6)


def test_vae_log_weights_matches_per_sample_computation():
    # Row b * n + j of the flattened decoder batch must be sample j of example b: compare
    # with the weights computed one sample index j at a time (vmap over j), from the same eps.
    params, x, rng, n = _mlp_params(0), _binary_images(5), jax.random.key(3), 7
    mean, logvar = _mlp_encode(params, x)

    def one_sample(eps_j):
        z = mean + jnp.exp(0.5 * logvar) * eps_j
        log_q = lk.diag_gaussian_log_prob(z, mean, logvar)
        return _mlp_decode_log_prob(params, z, x) + lk.std_normal_log_prob(z) - log_q

    eps = jax.random.normal(rng, (5, n, LATENT))
    want = jax.jit(jax.vmap(one_sample, in_axes=1, out_axes=1))(eps)
    got = MLP_LOG_WEIGHTS_JIT(params, x, rng, n)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_iwae_bound_increases_with_k():
    # E[L_k] is non-decreasing in k (Burda et al., Thm. 1); on 512 examples the mean gaps
    # (about 0.8 and 0.6 nats) are ten times the spread of the means between seeds. One
    # draw of 1 + 5 + 50 samples gives three independent sets.
    params, x = _mlp_params(0), _binary_images(512)
    log_w = MLP_LOG_WEIGHTS_JIT(params, x, jax.random.key(0), 56)
    means = [float(jnp.mean(lk.iwae_bound(w))) for w in jnp.split(log_w, [1, 6], axis=1)]
    assert means[0] + 0.3 < means[1] < means[2] - 0.3, means


@pytest.mark.parametrize("chunk_size", [4, 5, 20])
def test_streaming_equals_one_shot_on_the_same_samples(chunk_size):
    params, x, rng, k = _mlp_params(0), _binary_images(9), jax.random.key(5), 12
    stream = lk.importance_sampled_log_likelihood(MLP_LOG_WEIGHTS, params, x, rng, k, chunk_size)
    # The same draws: chunk i uses fold_in(rng, i); the surplus of the last chunk is dropped.
    size = min(chunk_size, k)
    chunks = [
        MLP_LOG_WEIGHTS_JIT(params, x, jax.random.fold_in(rng, i), size)
        for i in range(-(-k // size))
    ]
    one_shot = lk.iwae_bound(jnp.concatenate(chunks, axis=1)[:, :k])
    np.testing.assert_allclose(stream, one_shot, rtol=1e-5)


def test_streaming_under_jit_and_with_zero_weights():
    # Example 0 has every weight 0 (log -inf): its estimate is -inf, never nan, and the
    # others are untouched.
    def log_weights_fn(params, x, rng, n):
        log_w = params + jax.random.normal(rng, (x.shape[0], n))
        return log_w.at[0].set(-jnp.inf)

    x, rng = jnp.zeros((3, 2)), jax.random.key(0)
    run = jax.jit(
        lambda p, x, r: lk.importance_sampled_log_likelihood(log_weights_fn, p, x, r, 10, 3)
    )
    got = run(jnp.float32(50.0), x, rng)
    chunks = [log_weights_fn(50.0, x, jax.random.fold_in(rng, i), 3) for i in range(4)]
    want = lk.iwae_bound(jnp.concatenate(chunks, axis=1)[:, :10])
    assert got[0] == -jnp.inf
    np.testing.assert_allclose(got[1:], want[1:], rtol=1e-6)


def test_streaming_rejects_empty_sample_counts():
    with pytest.raises(ValueError, match=">= 1"):
        lk.importance_sampled_log_likelihood(MLP_LOG_WEIGHTS, None, None, None, 0, 4)


# --- Linear-Gaussian model: p(z) = N(0, I_d), p(x|z) = N(Wz + b, sigma^2 I_D), so
# p(x) = N(b, W W^T + sigma^2 I) and p(z|x) = N(S W^T (x - b) / sigma^2, S),
# S = (I + W^T W / sigma^2)^-1. W has orthogonal columns, so S is diagonal and the
# diagonal-Gaussian q(z|x) can be the exact posterior.
SIGMA = 0.5


def _linear_gaussian(seed=0, obs_dim=5, scales=(0.7, 1.3, 2.0), n=16):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(obs_dim, len(scales))))
    w, b = q * np.asarray(scales), rng.normal(size=obs_dim)
    z = rng.normal(size=(n, len(scales)))
    x = z @ w.T + b + SIGMA * rng.normal(size=(n, obs_dim))
    return w, b, x


def _closed_form_log_px(w, b, x):
    cov = w @ w.T + SIGMA**2 * np.eye(len(b))
    _, logdet = np.linalg.slogdet(cov)
    r = x - b
    maha = np.sum(r * np.linalg.solve(cov, r.T).T, axis=1)
    return -0.5 * (len(b) * np.log(2 * np.pi) + logdet + maha)


def _posterior(params, x):
    var = 1.0 / (1.0 + jnp.sum(params["w"] ** 2, axis=0) / SIGMA**2)
    mean = (x - params["b"]) @ params["w"] * var / SIGMA**2
    return mean, jnp.broadcast_to(var, mean.shape)


def _linear_log_weights(mean_shift=0.0, var_scale=1.0):
    """q(z|x) = the posterior with its mean moved by `mean_shift` posterior standard
    deviations and its variance scaled by `var_scale`; (0, 1) is the exact posterior."""

    def encode(params, x):
        mean, var = _posterior(params, x)
        return mean + mean_shift * jnp.sqrt(var), jnp.log(var_scale * var)

    def decode_log_prob(params, z, x):
        return lk.gaussian_log_prob(x, z @ params["w"].T + params["b"], 2 * math.log(SIGMA))

    return lk.vae_log_weights(encode, decode_log_prob)


@pytest.mark.parametrize("k, chunk_size, x64", [(1, 1, True), (7, 3, False), (1000, 300, True)])
def test_exact_posterior_gives_exact_log_likelihood(k, chunk_size, x64):
    # log p(x, z) - log p(z|x) = log p(x) for every z: the estimate is exact for any k, to
    # float64 precision, or to float32 rounding.
    w, b, x = _linear_gaussian()
    want = _closed_form_log_px(w, b, x)
    with jax.enable_x64(x64):
        params = {"w": jnp.asarray(w), "b": jnp.asarray(b)}
        got = lk.importance_sampled_log_likelihood(
            _linear_log_weights(), params, jnp.asarray(x), jax.random.key(0), k, chunk_size
        )
        assert got.dtype == (jnp.float64 if x64 else jnp.float32)
        np.testing.assert_allclose(got, want, rtol=1e-12 if x64 else 1e-5)


def test_wrong_posterior_converges_with_many_samples():
    # q is off by one posterior std in each of 3 dims and 1.5x too wide:
    # KL(q || p(z|x)) = 3 * (1.5 + 1 - 1 - log 1.5) / 2 = 1.64 nats, the ELBO's gap. q wider
    # than the posterior keeps the weights' variance finite, chi^2(p||q) ~ 1.9, so with
    # k = 20000 the estimate's spread is ~ sqrt(1.9 / 20000) = 0.01 nats (0.015 measured over
    # seeds): 0.08 is over 5 of them, and 20 times smaller than the ELBO's gap.
    w, b, x = _linear_gaussian()
    want = _closed_form_log_px(w, b, x)
    kl = 3 * (1.5 + 1.0 - 1.0 - math.log(1.5)) / 2
    with jax.enable_x64(True):
        params = {"w": jnp.asarray(w), "b": jnp.asarray(b)}
        fn = _linear_log_weights(mean_shift=1.0, var_scale=1.5)
        x64 = jnp.asarray(x)
        iwae = lk.importance_sampled_log_likelihood(fn, params, x64, jax.random.key(1), 20000, 4096)
        elbo = jnp.mean(fn(params, x64, jax.random.key(2), 20000), axis=1)
        iwae, elbo = np.asarray(iwae), np.asarray(elbo)  # compare in float64, not after x64
    np.testing.assert_allclose(iwae, want, atol=0.08)
    assert abs(np.mean(iwae - want)) < 0.02
    np.testing.assert_allclose(elbo, want - kl, atol=0.08)
    assert np.all(elbo < want - 1.5)
    assert np.all(iwae > elbo + 1.4)
