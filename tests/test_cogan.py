"""CoGAN: weight sharing of the coupled networks, the derived domains, disjoint halves of the
data, pair and class agreement on constructed pairs. (configs/cogan.py:smoke trains end to end
with its pixel-agreement evaluation in test_configs.)"""

import types

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gendl.config import ConfigError
from gendl.data import derived_domains, sources
from gendl.evaluation import extractors, pair_agreement
from gendl.models import cogan

WIDTHS = (8, 8, 8, 4)


def _init(module, *inputs):
    # Jitted: one compilation instead of one per initialiser call.
    return jax.jit(lambda key: module.init(key, *inputs, train=False))(jax.random.key(0))


def test_generators_share_their_first_layers_as_one_set_of_parameters():
    gen = cogan.CoGenerator(widths=WIDTHS)
    z = jax.random.normal(jax.random.key(1), (3, 5))
    variables = _init(gen, z)
    params = variables["params"]
    assert sorted(params) == sorted(
        [f"shared{i}" for i in range(4)]
        + [f"shared_prelu{i}" for i in range(4)]
        + ["out_a", "out_b"]
    )
    a, b = jax.jit(gen.apply)(variables, z)
    assert a.shape == b.shape == (3, 28, 28, 1)
    assert float(jnp.min(a)) >= 0 and float(jnp.max(a)) <= 1

    def loss(p, wa, wb):
        a, b = gen.apply({**variables, "params": p}, z)
        return wa * jnp.sum(a**2) + wb * jnp.sum(b**2)

    grad = jax.jit(jax.grad(loss))  # one compilation for the three weightings
    g_a, g_b, g_ab = grad(params, 1.0, 0.0), grad(params, 0.0, 1.0), grad(params, 1.0, 1.0)
    norm = lambda t: float(optax_norm(t))
    # Each domain's loss reaches the shared layers and only its own output layer ...
    assert norm(g_a["shared1"]) > 0 and norm(g_b["shared1"]) > 0
    assert norm(g_a["out_b"]) == 0 and norm(g_b["out_a"]) == 0
    # ... and the shared layers' gradient is the sum of both branches'.
    chex_close(g_ab["shared1"], jax.tree.map(jnp.add, g_a["shared1"], g_b["shared1"]))


def test_discriminators_share_their_last_layers():
    disc = cogan.CoDiscriminator()
    x = jax.random.uniform(jax.random.key(2), (2, 28, 28, 1))
    variables = _init(disc, x, x)
    params = variables["params"]
    assert sorted(params) == ["in_a", "in_b", "shared0", "shared1", "shared2", "shared_prelu1"]
    apply = jax.jit(disc.apply)
    la, lb = apply(variables, x, x)
    assert la.shape == lb.shape == (2,)
    # Different first layers: the same image scores differently in the two domains.
    assert not np.allclose(la, lb)
    # The shared layers act the same on both domains: with in_b := in_a the logits agree.
    same = {**params, "in_b": params["in_a"]}
    la, lb = apply({"params": same}, x, x)
    np.testing.assert_array_equal(la, lb)

    def loss(p):
        la, lb = disc.apply({"params": p}, x, x)
        return jnp.sum(la) + jnp.sum(lb)

    g = jax.jit(jax.grad(loss))(params)
    assert all(float(optax_norm(g[k])) > 0 for k in params)


def optax_norm(tree):
    return jnp.sqrt(sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree)))


def chex_close(x, y):
    for u, v in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


def test_edges_are_the_dilation_minus_the_image_by_hand():
    x = np.zeros((1, 5, 5, 1), np.float32)
    x[0, 2, 2, 0] = 1.0  # one bright pixel: its 8 neighbours become edge, it does not
    x[0, 0, 0, 0] = 0.5  # a dim corner pixel: dilation ignores outside the image
    e = np.asarray(derived_domains.edges(x))[0, :, :, 0]
    expected = np.array(
        [
            [0.0, 0.5, 0.0, 0.0, 0.0],
            [0.5, 1.0, 1.0, 1.0, 0.0],
            [0.0, 1.0, 0.0, 1.0, 0.0],
            [0.0, 1.0, 1.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 0.0, 0.0],
        ],
        np.float32,
    )
    np.testing.assert_array_equal(e, expected)
    neg, inverse = derived_domains.get("negative")
    np.testing.assert_array_equal(inverse(neg(x)), x)
    with pytest.raises(ConfigError, match="edges, negative"):
        derived_domains.get("blur")


def test_pixel_agreement_on_constructed_pairs():
    a = np.zeros((2, 6, 6, 1), np.float32)
    a[:, 2:4, 2:4] = 1.0  # a 2x2 square: its edge is the 12-pixel ring around it
    edges = derived_domains.edges(a)
    np.testing.assert_array_equal(pair_agreement.pixel_agreement(edges, edges), [1.0, 1.0])
    blank = np.zeros_like(a)
    np.testing.assert_allclose(pair_agreement.pixel_agreement(edges, blank), [24 / 36] * 2)
    # Thresholded, not compared by value: 0.6 and 0.9 agree, 0.4 and 0.6 do not.
    np.testing.assert_allclose(
        pair_agreement.pixel_agreement(np.full((1, 2, 1, 1), 0.6), [[[[0.9]], [[0.4]]]]), [0.5]
    )
    assert pair_agreement.class_agreement(np.eye(3), np.eye(3)[[0, 2, 1]]) == pytest.approx(1 / 3)


def test_partitions_are_disjoint_halves(fake_data):
    cfg = ml_collections.ConfigDict(
        dict(name="mnist", manual_dir=fake_data["manual_dir"], data_dir=fake_data["data_dir"])
    )
    whole = sources.build(cfg, "train")
    part = lambda k, n: ml_collections.ConfigDict({**cfg.to_dict(), "partition": (k, n)})
    halves = [sources.build(part(k, 2), "train") for k in (0, 1)]
    assert [len(h) for h in halves] == [128, 128] and halves[0].spec.num_examples == 128
    rng = np.random.default_rng(0)
    first, second = (h.read(np.arange(len(h)), rng)["image"] for h in halves)
    np.testing.assert_array_equal(first, whole.read(np.arange(0, 256, 2), rng)["image"])
    np.testing.assert_array_equal(second, whole.read(np.arange(1, 256, 2), rng)["image"])
    with pytest.raises(ConfigError, match="0 <= index < count"):
        sources.build(part(2, 2), "train")


def _bucket_classifier():
    """A fake digit classifier with a known rule: class = mean brightness x 10, clipped."""

    def apply(x):
        mean = jnp.mean(x, axis=(1, 2, 3))
        logits = -jnp.abs(mean[:, None] * 10 - jnp.arange(10)[None, :] - 0.5)
        return mean[:, None], logits

    return extractors.Extractor("classifier", "fake", None, 10, jax.jit(apply), batch_size=8)


def _bucket(images):
    return np.clip((images.astype(np.float32) / 255).mean(axis=(1, 2, 3)) * 10, 0, 9).astype(int)


@pytest.mark.parametrize("shuffled", [False, True])
def test_pair_agreement_evaluator_with_a_known_classifier(fake_data, monkeypatch, shuffled):
    from gendl.data import source

    images, labels = source.load_split(
        "mnist", "test", manual_dir=fake_data["manual_dir"], data_dir=fake_data["data_dir"]
    )
    digits = images[:12].astype(np.float32) / 255.0
    order = np.arange(12)[::-1] if shuffled else np.arange(12)

    def sample_pairs(variables, noise):  # noise = indices: perfect (or mismatched) pairs
        del variables
        return jnp.asarray(digits)[noise], 1.0 - jnp.asarray(digits)[order][noise]

    config = ml_collections.ConfigDict(
        dict(
            objective=dict(name="fake", transform="negative"),
            model=dict(num_classes=0),
            data=dict(name="mnist", **fake_data),
        )
    )
    exp = types.SimpleNamespace(
        config=config,
        objective=types.SimpleNamespace(
            conditional=False,
            predictors=lambda: {
                "sample_pairs": sample_pairs,
                "sample_noise": lambda key, n: jnp.arange(n) % 12,
            },
        ),
    )
    monkeypatch.setattr(extractors, "build", lambda *a: _bucket_classifier())
    ev = pair_agreement.PairAgreement(exp, dict(num_samples=12, batch_size=12))
    values, _ = ev.run(None)
    pixels = np.asarray(pair_agreement.pixel_agreement(digits, digits[order]))
    assert values["pixel_agreement"] == pytest.approx(pixels.mean())
    assert values["pairs_agreeing_95"] == pytest.approx(np.mean(pixels >= 0.95))
    real_b = 1.0 - images.astype(np.float32) / 255
    perm = np.random.default_rng(0).permutation(len(images))
    expected = np.mean(pair_agreement.pixel_agreement(real_b, real_b[perm]))
    assert values["pixel_agreement_unpaired_real"] == pytest.approx(expected)
    b = _bucket(images[:12])
    assert values["class_agreement"] == pytest.approx(np.mean(b == b[order]))
    assert values["classifier_accuracy_real_b"] == pytest.approx(np.mean(_bucket(images) == labels))
    if not shuffled:
        assert values["pixel_agreement"] == values["class_agreement"] == 1.0
