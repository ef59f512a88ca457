"""The two-stochastic-layer VAE (Burda et al. 2015) and the convolutional VAE."""

import functools

import chex
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gendl import models, objectives
from gendl.data.spec import DataSpec
from gendl.evaluation import likelihood


@functools.lru_cache  # one initialisation per setting for the whole module
def _objective(bound="elbo", num_samples=1, image_shape=(28, 28, 1)):
    config = ml_collections.ConfigDict(
        {
            "model": {
                "name": "mlp_vae_2layer",
                "hidden1": (16, 12),
                "latent1": 6,
                "hidden2": (10, 8),
                "latent_dim": 3,
                "activation": "tanh",
                "num_classes": 0,
            },
            "objective": {
                "name": "hierarchical_vae",
                "beta": 1.0,
                "kl_warmup_steps": 0,
                "bound": bound,
                "num_samples": num_samples,
            },
        }
    )
    nets = models.build(config.model, DataSpec.of_images(image_shape))
    obj = objectives.build(config, nets, DataSpec.of_images(image_shape))
    # Jitted: one compilation instead of one per eager op (most of these tests' time).
    return obj, jax.jit(obj.init)(jax.random.key(0))


@pytest.mark.parametrize("batch", [1, 7])
def test_two_layer_shapes(batch):
    obj, variables = _objective()
    x = jnp.zeros((batch, 28, 28, 1))

    @jax.jit  # one compilation instead of one per eager op
    def outputs(variables, key):
        mean, logvar = obj.encode(variables, x)
        return (
            obj.log_weights(variables, x, None, key, 4),
            obj.elbo(variables, x, None, key),
            mean,
            logvar,
            obj.decode_mean(variables, mean),
            obj.sample(variables, obj.sample_noise(key, batch)),
        )

    log_w, elbo, mean, logvar, decoded, sampled = outputs(variables, jax.random.key(1))
    chex.assert_shape(log_w, (batch, 4))
    chex.assert_shape(elbo, (batch,))
    chex.assert_shape([mean, logvar], (batch, 3))
    chex.assert_shape([decoded, sampled], (batch, 28, 28, 1))
    assert 0.0 <= float(decoded.min()) and float(decoded.max()) <= 1.0


def _mlp(params, h, names, act=np.tanh):
    for name in names:
        h = act(h @ params[name]["kernel"] + params[name]["bias"])
    return h


def _gauss(params, h, hidden):
    h = _mlp(params, h, hidden)
    dense = lambda n: h @ params[n]["kernel"] + params[n]["bias"]
    return dense("mean"), dense("logvar")


def _log_normal(z, mean, logvar):
    return np.sum(-0.5 * (np.log(2 * np.pi) + logvar + (z - mean) ** 2 / np.exp(logvar)), -1)


def test_log_weights_equal_the_joint_over_the_posterior_written_out():
    """log w = log p(x|z1) + log p(z1|z2) + log p(z2) - log q(z1|x) - log q(z2|z1), recomputed
    in numpy from the parameters at the z1, z2 the objective drew."""
    obj, variables = _objective()
    p = jax.tree.map(lambda a: np.asarray(a, np.float64), variables["vae"]["params"])
    rng = np.random.default_rng(0)
    x = (rng.random((3, 28, 28, 1)) < 0.3).astype(np.float32)
    n, key = 2, jax.random.key(5)
    log_w = np.asarray(obj.log_weights(variables, jnp.asarray(x), None, key, n))

    # The same draws: log_weights splits its key into (z1 key, z2 key) and takes z = mean +
    # std * eps with eps of the posterior's shape, rows ordered example-major.
    k1, k2 = jax.random.split(key)
    hidden = ("hidden0", "hidden1")
    xr = np.repeat(x.reshape(3, -1).astype(np.float64), n, 0)
    m1, lv1 = _gauss(p["q_z1"], xr, hidden)
    z1 = m1 + np.exp(0.5 * lv1) * np.asarray(jax.random.normal(k1, m1.shape), np.float64)
    m2, lv2 = _gauss(p["q_z2"], z1, hidden)
    z2 = m2 + np.exp(0.5 * lv2) * np.asarray(jax.random.normal(k2, m2.shape), np.float64)
    pm1, plv1 = _gauss(p["p_z1"], z2, hidden)
    logits = _mlp(p["p_x"], z1, hidden)
    logits = logits @ p["p_x"]["logits"]["kernel"] + p["p_x"]["logits"]["bias"]
    log_px = np.sum(xr * -np.logaddexp(0, -logits) + (1 - xr) * -np.logaddexp(0, logits), -1)
    want = (
        log_px
        + _log_normal(z1, pm1, plv1)
        + _log_normal(z2, 0.0, 0.0)
        - _log_normal(z1, m1, lv1)
        - _log_normal(z2, m2, lv2)
    )
    np.testing.assert_allclose(log_w, want.reshape(3, n), rtol=1e-4, atol=1e-3)


def test_two_layer_iwae_bound_above_elbo_and_grows_with_k():
    obj, variables = _objective()
    x = jax.random.bernoulli(jax.random.key(1), 0.3, (256, 28, 28, 1)).astype(jnp.float32)
    bound = jax.jit(
        lambda key, k: jnp.mean(likelihood.iwae_bound(obj.log_weights(variables, x, None, key, k))),
        static_argnums=1,
    )
    bounds = [
        float(bound(key, k))
        for k, key in ((1, jax.random.key(2)), (5, jax.random.key(3)), (50, jax.random.key(4)))
    ]
    elbo = float(jnp.mean(obj.elbo(variables, x, None, jax.random.key(6))))
    assert bounds[0] == pytest.approx(elbo, abs=0.5)
    assert bounds[0] < bounds[1] < bounds[2]


@pytest.mark.parametrize("bound,k", [("elbo", 3), ("iwae", 4)])
def test_two_layer_loss_is_the_bound_and_trains(bound, k):
    import optax

    obj, variables = _objective(bound, k)
    x = jax.random.bernoulli(jax.random.key(1), 0.2, (16, 28, 28, 1)).astype(jnp.float32)
    params = variables["vae"]["params"]
    loss, metrics = obj.loss(params, x, None, jax.random.key(2), jnp.int32(0))
    log_w = obj.log_weights(variables, x, None, jax.random.key(2), k)
    want = likelihood.iwae_bound(log_w) if bound == "iwae" else jnp.mean(log_w, 1)
    np.testing.assert_allclose(loss, -jnp.mean(want), rtol=1e-5)
    tx = optax.adam(1e-2)
    first = float(loss)

    @jax.jit
    def train(params):
        def step(carry, i):
            params, opt = carry
            g = jax.grad(lambda p: obj.loss(p, x, None, jax.random.key(i), i)[0])(params)
            u, opt = tx.update(g, opt)
            return (optax.apply_updates(params, u), opt), None

        return jax.lax.scan(step, (params, tx.init(params)), jnp.arange(30))[0][0]

    params = train(params)
    assert float(obj.loss(params, x, None, jax.random.key(99), jnp.int32(0))[0]) < first - 20


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("likelihood_name", ["bernoulli", "gaussian"])
def test_conv_vae_shapes(batch, likelihood_name):
    cfg = ml_collections.ConfigDict(
        {
            "name": "conv_vae",
            "latent_dim": 5,
            "channels": (4, 8),
            "dense": 16,
            "likelihood": likelihood_name,
        }
    )
    net = models.build(cfg, DataSpec.of_images((28, 28, 1)))["vae"]
    x, z = jnp.zeros((batch, 28, 28, 1)), jnp.zeros((batch, 5))

    @jax.jit  # one compilation instead of one per eager op
    def init_and_apply(x, z):
        params = net.init(jax.random.key(0), x, z)["params"]
        return net.apply({"params": params}, x, z)

    (mean, logvar), out = init_and_apply(x, z)
    chex.assert_shape([mean, logvar], (batch, 5))
    if likelihood_name == "bernoulli":
        chex.assert_shape(out, (batch, 28, 28, 1))
    else:
        chex.assert_shape(list(out), (batch, 28, 28, 1))


def test_conv_vae_rejects_image_sizes_it_cannot_halve():
    from gendl.config import ConfigError

    cfg = ml_collections.ConfigDict({"name": "conv_vae", "latent_dim": 5, "channels": (4, 8, 8)})
    with pytest.raises(ConfigError, match="divide by 8"):
        models.build(cfg, DataSpec.of_images((28, 28, 1)))
