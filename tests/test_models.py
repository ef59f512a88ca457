"""Network shapes and sizes."""

import chex
import jax
import jax.numpy as jnp
import ml_collections
import pytest

from gendl import models
from gendl.data.spec import DataSpec

DIM = 64


def _count(params):
    return sum(x.size for x in jax.tree.leaves(params))


@pytest.mark.parametrize("batch", [1, 7])
def test_wgan_gp_networks_shapes(batch):
    cfg = ml_collections.ConfigDict({"name": "dcgan28", "dim": 8, "z_dim": 128})
    nets = models.build(cfg, DataSpec.of_images((28, 28, 1)))
    z = jnp.zeros((batch, 128))

    @jax.jit  # one compilation instead of one per eager op
    def generate_and_criticise(z):
        g_params = nets["generator"].init(jax.random.key(0), z)["params"]
        x = nets["generator"].apply(
            {"params": g_params}, jax.random.normal(jax.random.key(1), z.shape)
        )
        d_params = nets["critic"].init(jax.random.key(2), x)["params"]
        return x, nets["critic"].apply({"params": d_params}, x)

    x, scores = generate_and_criticise(z)
    chex.assert_shape(x, (batch, 28, 28, 1))
    assert float(x.min()) > 0.0 and float(x.max()) < 1.0  # sigmoid output
    chex.assert_shape(scores, (batch,))


def test_wgan_gp_networks_match_paper_parameter_count():
    # The paper's networks (and torch_ref.py's): count every weight and bias by hand.
    cfg = ml_collections.ConfigDict({"name": "dcgan28", "dim": DIM, "z_dim": 128})
    nets = models.build(cfg, DataSpec.of_images((28, 28, 1)))
    g = jax.eval_shape(lambda: nets["generator"].init(jax.random.key(0), jnp.zeros((1, 128))))
    d = jax.eval_shape(lambda: nets["critic"].init(jax.random.key(0), jnp.zeros((1, 28, 28, 1))))
    conv = lambda cin, cout: cin * cout * 25 + cout
    want_g = (
        (128 * 64 * DIM + 64 * DIM) + conv(4 * DIM, 2 * DIM) + conv(2 * DIM, DIM) + conv(DIM, 1)
    )
    want_d = conv(1, DIM) + conv(DIM, 2 * DIM) + conv(2 * DIM, 4 * DIM) + (64 * DIM + 1)
    assert _count(g["params"]) == want_g
    assert _count(d["params"]) == want_d


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("num_classes", [0, 10])
def test_vae_shapes(batch, num_classes):
    cfg = ml_collections.ConfigDict(
        {"name": "mlp_vae", "hidden": 400, "latent_dim": 20, "num_classes": num_classes}
    )
    net = models.build(cfg, DataSpec.of_images((28, 28, 1)))["vae"]
    x, z = jnp.zeros((batch, 28, 28, 1)), jnp.zeros((batch, 20))
    labels = jnp.zeros((batch,), jnp.int32) if num_classes else None

    @jax.jit  # one compilation instead of one per eager op
    def init_and_apply(x, z, labels):
        params = net.init(jax.random.key(0), x, z, labels)["params"]
        return params, net.apply({"params": params}, x, z, labels)

    params, ((mean, logvar), logits) = init_and_apply(x, z, labels)
    chex.assert_shape(logits, (batch, 28, 28, 1))
    chex.assert_shape([mean, logvar], (batch, 20))
    extra = num_classes * 400  # the one-hot label feeds each half's first layer
    assert (
        _count(params)
        == (784 * 400 + 400)
        + 2 * (400 * 20 + 20)
        + (20 * 400 + 400)
        + (400 * 784 + 784)
        + 2 * extra
    )


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_decoder_likelihood_heads(likelihood):
    cfg = ml_collections.ConfigDict(
        {
            "name": "mlp_vae",
            "hidden": (200, 200),
            "latent_dim": 50,
            "activation": "tanh",
            "likelihood": likelihood,
        }
    )
    net = models.build(cfg, DataSpec.of_images((28, 28, 1)))["vae"]
    z = jnp.zeros((3, 50))

    @jax.jit  # one compilation instead of one per eager op
    def init_and_decode(z):
        params = net.init(jax.random.key(0), jnp.zeros((3, 28, 28, 1)), z)["params"]
        return net.apply({"params": params}, z, method="decode")

    out = init_and_decode(z)
    if likelihood == "bernoulli":
        chex.assert_shape(out, (3, 28, 28, 1))
    else:
        chex.assert_shape(list(out), (3, 28, 28, 1))
        assert float(out[0].min()) >= 0.0 and float(out[0].max()) <= 1.0


def test_autoencoder_has_a_deterministic_code():
    cfg = ml_collections.ConfigDict({"name": "mlp_ae", "hidden": 256, "latent_dim": 32})
    net = models.build(cfg, DataSpec.of_images((28, 28, 1)))["autoencoder"]
    x = jnp.zeros((2, 28, 28, 1))

    @jax.jit  # one compilation instead of one per eager op
    def init_and_encode(x):
        params = net.init(jax.random.key(0), x, jnp.zeros((2, 32)))["params"]
        return net.apply({"params": params}, x, method="encode")

    chex.assert_shape(init_and_encode(x), (2, 32))


def test_unknown_model_name_is_a_config_error():
    from gendl.config import ConfigError

    with pytest.raises(ConfigError, match="Known models"):
        models.build(ml_collections.ConfigDict({"name": "no_such_model"}), (28, 28, 1))
