"""GAN networks: shapes for every variant and batch size, and spectral normalisation."""

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gendl import models
from gendl.config import ConfigError
from gendl.data.spec import DataSpec
from gendl.models import conv, mlp_gan, spectral

VARIANTS = {
    "gan": dict(name="mlp_gan", g_hidden=(16, 32), d_hidden=(32, 16), g_batch_norm=True),
    "cgan": dict(name="mlp_gan", g_hidden=(16,), d_hidden=(16,), num_classes=10, d_dropout=0.3),
    "dcgan": dict(name="dcgan", dim=4),
    "dcgan_conditional": dict(name="dcgan", dim=4, num_classes=10),
    "acgan": dict(name="dcgan", dim=4, num_classes=10, aux_classifier=True),
    "sngan": dict(name="dcgan", dim=4, batch_norm=False, spectral_norm=True),
}


def _run(nets, z, labels, train):
    """Shapes of both networks' variables and outputs (traced, not computed: fast)."""

    def run():
        g_vars = nets["generator"].init(jax.random.key(0), z, labels)
        x, _ = nets["generator"].apply(g_vars, z, labels, train=train, mutable=True)
        d_vars = nets["discriminator"].init(jax.random.key(1), x, labels)
        rngs = {"dropout": jax.random.key(3)}
        out, _ = nets["discriminator"].apply(
            d_vars, x, labels, train=train, mutable=True, rngs=rngs
        )
        return x, out, g_vars, d_vars

    return jax.eval_shape(run)


@pytest.mark.parametrize("size", [28, 32])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("batch", [1, 7])
def test_gan_network_shapes(variant, size, batch):
    channels = 1 if size == 28 else 3  # mnist / cifar10
    cfg = ml_collections.ConfigDict(VARIANTS[variant])
    nets = models.build(cfg, DataSpec.of_images((size, size, channels)))
    z = jnp.zeros((batch, 8))
    labels = jnp.arange(batch) % 10 if cfg.get("num_classes") else None
    for train in (True, False):
        x, out, g_vars, d_vars = _run(nets, z, labels, train)
        chex.assert_shape(x, (batch, size, size, channels))
        if cfg.get("aux_classifier"):
            chex.assert_shape(out, ((batch,), (batch, 10)))
        else:
            chex.assert_shape(out, (batch,))
    # Non-parameter state exists exactly where the variant needs it.
    assert ("batch_stats" in g_vars) == (cfg.name == "dcgan" or cfg.get("g_batch_norm", False))
    assert ("batch_stats" in d_vars) == (cfg.name == "dcgan" and cfg.get("batch_norm", True))
    assert (spectral.COLLECTION in d_vars) == cfg.get("spectral_norm", False)


@pytest.mark.parametrize("variant", ["cgan"])
def test_gan_networks_compute_images_in_range_and_finite_logits(variant):
    cfg = ml_collections.ConfigDict(VARIANTS[variant])
    nets = models.build(cfg, DataSpec.of_images((28, 28, 1)))
    z, labels = jax.random.normal(jax.random.key(2), (3, 8)), jnp.array([0, 4, 9])

    @jax.jit
    def run():
        g_vars = nets["generator"].init(jax.random.key(0), z, labels)
        x, _ = nets["generator"].apply(g_vars, z, labels, mutable=True)
        d_vars = nets["discriminator"].init(jax.random.key(1), x, labels)
        rngs = {"dropout": jax.random.key(3)}
        return x, nets["discriminator"].apply(d_vars, x, labels, mutable=True, rngs=rngs)[0]

    x, logits = run()
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    chex.assert_tree_all_finite(logits)


@pytest.mark.parametrize("variant", ["acgan"])
def test_gan_networks_compute_in_the_given_dtype_with_float32_params(variant):
    cfg = ml_collections.ConfigDict(dict(VARIANTS[variant], dtype="bfloat16"))
    nets = models.build(cfg, DataSpec.of_images((28, 28, 1)))
    z, labels = jnp.ones((2, 8)), jnp.array([1, 2])
    x, out, g_vars, d_vars = _run(nets, z, labels, train=True)
    for tree in (g_vars["params"], d_vars["params"]):
        assert {leaf.dtype for leaf in jax.tree.leaves(tree)} == {jnp.dtype(jnp.float32)}
    assert x.dtype == jnp.float32  # outputs are handed back in float32
    ir = jax.jit(lambda v, z: nets["generator"].apply(v, z, labels, mutable=True)).lower(g_vars, z)
    assert "bf16" in ir.as_text()


def test_dcgan_rejects_other_image_sizes():
    cfg = ml_collections.ConfigDict(VARIANTS["dcgan"])
    with pytest.raises(ConfigError, match="28"):
        models.build(cfg, DataSpec.of_images((48, 48, 3)))


def test_dcgan_64_has_the_papers_four_stride_2_layers():
    cfg = ml_collections.ConfigDict(VARIANTS["dcgan"])
    nets = models.build(cfg, DataSpec.of_images((64, 64, 3)))
    x, out, g_vars, d_vars = _run(nets, jnp.zeros((2, 8)), None, train=True)
    chex.assert_shape(x, (2, 64, 64, 3))
    chex.assert_shape(out, (2,))
    assert sorted(k for k in g_vars["params"] if k.startswith("up") and "_" not in k) == [
        f"up{i}" for i in range(1, 5)
    ]
    assert sorted(k for k in d_vars["params"] if k.startswith("down") and "_" not in k) == [
        f"down{i}" for i in range(1, 5)
    ]


class _Dense(nn.Module):
    @nn.compact
    def __call__(self, x, update):
        layer = nn.Dense(10, use_bias=False, name="fc")
        return spectral.apply(layer, x, enabled=True, update=update)


class _Conv(nn.Module):
    @nn.compact
    def __call__(self, x, update):
        layer = conv.Conv(8, kernel_size=3, stride=2, padding=1, use_bias=False, name="c")
        return spectral.apply(layer, x, enabled=True, update=update)


def _power_iterate(module, x, steps=40):
    variables = module.init(jax.random.key(0), x, update=False)
    # A spread-out spectrum makes the test meaningful: scale the kernel far from norm 1.
    variables = jax.tree.map(lambda v: v, dict(variables))
    variables["params"] = jax.tree.map(lambda w: 7.0 * w, variables["params"])
    step = jax.jit(lambda v: module.apply(v, x, update=True, mutable=[spectral.COLLECTION])[1])
    for _ in range(steps):
        variables = {**variables, **step(variables)}
    return variables


def _sigma(variables):
    (value,) = [
        v
        for path, v in jax.tree.leaves_with_path(variables[spectral.COLLECTION])
        if "sigma" in jax.tree_util.keystr(path)
    ]
    return float(value)


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_spectral_norm_top_singular_value_is_one(kind):
    if kind == "dense":
        module, x = _Dense(), jnp.eye(20)
    else:
        module, x = _Conv(), jnp.ones((2, 6, 6, 4))
    variables = _power_iterate(module, x)
    (kernel,) = jax.tree.leaves(variables["params"])
    matrix = np.asarray(kernel).reshape(-1, kernel.shape[-1])  # Miyato et al.'s flattening
    true_sigma = np.linalg.svd(matrix, compute_uv=False)[0]
    assert true_sigma > 2.0  # the raw kernel is far from normalised
    normalised = matrix / _sigma(variables)
    assert abs(np.linalg.svd(normalised, compute_uv=False)[0] - 1.0) < 0.01
    # The layer really computes with the normalised kernel.
    y = module.apply(variables, x, update=False)
    if kind == "dense":
        want = np.asarray(x) @ normalised  # x = I: the output is the normalised kernel
    else:
        want = conv.conv2d(x, jnp.asarray(normalised.reshape(kernel.shape)), 2, 1)
    np.testing.assert_allclose(np.asarray(y), np.asarray(want), rtol=1e-4, atol=1e-5)


def test_spectral_norm_state_is_frozen_in_evaluation():
    x = jnp.eye(20)
    variables = _power_iterate(_Dense(), x, steps=2)
    _, updated = _Dense().apply(variables, x, update=True, mutable=[spectral.COLLECTION])
    _, frozen = _Dense().apply(variables, x, update=False, mutable=[spectral.COLLECTION])
    chex.assert_trees_all_equal(frozen[spectral.COLLECTION], variables[spectral.COLLECTION])
    with pytest.raises(AssertionError):
        chex.assert_trees_all_equal(updated[spectral.COLLECTION], variables[spectral.COLLECTION])


@pytest.mark.parametrize("kw", [dict(label_hidden=50), dict(projection=True)])
def test_conditional_mlp_discriminator_reads_the_label_at_init(kw):
    """The label paths give a conditional discriminator a label-dependent output from the
    start; the one-hot concatenated to 784 pixels barely moves it (why cGAN ignored labels)."""
    x = jax.random.uniform(jax.random.key(0), (64, 28, 28, 1))
    labels = jnp.arange(64) % 10

    def spread(**kw):
        d = mlp_gan.MlpDiscriminator(hidden=(64, 32), num_classes=10, **kw)
        v = d.init(jax.random.key(1), x, labels, train=False)
        other = d.apply(v, x, (labels + 3) % 10, train=False)
        return float(jnp.std(d.apply(v, x, labels, train=False) - other))

    assert spread(**kw) > 3 * spread()


def test_generator_label_pathway_joins_the_first_hidden_layer():
    g = mlp_gan.MlpGenerator(hidden=(32, 16), num_classes=10, label_hidden=20)
    z, labels = jnp.zeros((3, 100)), jnp.array([0, 1, 2])
    v = g.init(jax.random.key(0), z, labels, train=False)
    shapes = jax.tree.map(jnp.shape, v["params"])
    assert shapes["hidden0"]["kernel"] == (100, 32)  # z alone
    assert shapes["label"]["kernel"] == (10, 20)
    assert shapes["hidden1"]["kernel"] == (52, 16)  # z's features and the label's
    images = g.apply(v, z, labels, train=False)
    assert not jnp.allclose(images[0], images[1])  # same z, other label
