"""Anomaly scores (gendl.evaluation.anomaly_scores) on constructed cases with known answers,
the background model's input mutation and L2 weight decay, and bad score names."""

import io

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from PIL import Image

from gendl.config import ConfigError
from gendl.data import ops as ops_lib
from gendl.evaluation import anomaly, anomaly_scores
from gendl.training import state as state_lib

LN2 = np.log(2.0)


def _images(*arrays):
    return np.stack([np.asarray(a, np.float32)[..., None] for a in arrays])


BLANK = np.zeros((28, 28))
NOISE = (np.random.default_rng(0).random((28, 28)) < 0.5).astype(np.float32)


def test_png_bits_are_the_length_of_a_one_bit_png_of_a_binary_image():
    bits = anomaly_scores.png_bits(_images(BLANK, NOISE))
    buffer = io.BytesIO()
    Image.fromarray(NOISE.astype(bool)).save(buffer, format="PNG", compress_level=9)
    assert bits[1] == 8 * len(buffer.getvalue())
    # Fair coin flips do not compress: the noise costs the blank image's bits (the PNG's
    # fixed chunks, about 69 bytes) plus at least its 784 pixels' bits.
    assert bits[1] - bits[0] >= 784
    grey = anomaly_scores.png_bits(_images(BLANK + 0.5))  # not binary: an 8-bit PNG
    buffer = io.BytesIO()
    Image.fromarray(np.full((28, 28), 128, np.uint8)).save(buffer, "PNG", compress_level=9)
    assert grey[0] == 8 * len(buffer.getvalue())


def test_complexity_correction_removes_the_simplicity_bias():
    images = _images(BLANK, NOISE)
    bits = anomaly_scores.png_bits(images)
    # A model that is exactly as good as PNG on both: nothing is left to surprise.
    np.testing.assert_allclose(
        anomaly_scores.complexity_corrected(LN2 * bits, images), [0, 0], atol=1e-9
    )
    # A model fooled by simplicity: the blank image 40 nats more surprising than PNG finds
    # it, the noise 10 nats more. The raw NLL ranks the blank image as the more normal one;
    # after the correction it is the more anomalous.
    nll = LN2 * bits + np.array([40.0, 10.0])
    assert nll[0] < nll[1]
    np.testing.assert_allclose(anomaly_scores.complexity_corrected(nll, images), [40, 10])


def test_typicality_and_likelihood_ratio_by_hand():
    np.testing.assert_allclose(anomaly_scores.typicality([2.0, 0.0, 5.0], [1, 2, 3]), [0, 2, 3])
    np.testing.assert_allclose(anomaly_scores.likelihood_ratio([3.0, 5.0], [1.0, 4.0]), [2, 1])


def test_knn_distance_is_zero_on_a_training_code_and_grows_with_distance():
    ref = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0]])
    np.testing.assert_array_equal(anomaly_scores.knn_distance(ref, ref, k=1), [0, 0, 0])
    # 2nd nearest: of (0,0) is (1,0); of (10,0) is (1,0), 9 away; along a ray it grows.
    np.testing.assert_allclose(anomaly_scores.knn_distance([[0, 0], [10, 0]], ref, k=2), [1, 9])
    far = anomaly_scores.knn_distance([[0, t] for t in (1.0, 2.0, 4.0, 8.0)], ref, k=1)
    assert np.all(np.diff(far) > 0)
    # Chunks of the query give the brute-force answer.
    rng = np.random.default_rng(1)
    q, r = rng.normal(size=(37, 5)), rng.normal(size=(50, 5))
    brute = np.sort(np.linalg.norm(q[:, None] - r[None], axis=-1), 1)[:, 4]
    np.testing.assert_allclose(anomaly_scores.knn_distance(q, r, k=5, chunk=8), brute)
    with pytest.raises(ConfigError, match="knn_k=4"):
        anomaly_scores.knn_distance(q, ref, k=4)


def test_mahalanobis_by_hand():
    # Mean 0; np.cov (n - 1 = 3): var x = 2/3, var y = 8/3, no covariance.
    ref = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    d = anomaly_scores.mahalanobis([[0, 0], [1, 0], [0, 2], [1, 2]], ref, ridge=0.0)
    np.testing.assert_allclose(d, [0, 1.5, 1.5, 3.0])


def test_a_score_separating_anomalies_gets_auroc_one_and_its_negation_zero():
    ref = np.zeros((10, 2))
    codes = np.array([[0.1, 0.0], [0.0, 0.2], [3.0, 0.0], [0.0, 4.0]])
    is_anomaly = np.array([False, False, True, True])
    score = anomaly_scores.knn_distance(codes, ref, k=3)
    assert anomaly.roc_auc(score, is_anomaly) == 1.0
    assert anomaly.roc_auc(-score, is_anomaly) == 0.0


def test_score_names_parse_and_unknown_ones_get_one_clear_paragraph():
    assert anomaly_scores.parse(" neg_elbo, latent_knn ") == ("neg_elbo", "latent_knn")
    with pytest.raises(ConfigError) as e:
        anomaly_scores.parse("neg_elbo,latent_kn")
    message = str(e.value)
    assert "'latent_kn'" in message and "--scores=" in message and "\n" not in message
    assert all(name in message for name in anomaly_scores.SCORES)
    with pytest.raises(ConfigError, match="none given"):
        anomaly_scores.parse("")


def test_mutate_op_replaces_the_asked_share_of_pixels():
    image = {"image": np.full((100, 100, 1), 7, np.uint8)}
    rng = np.random.default_rng(0)
    (none,) = ops_lib.parse(["mutate:0"])
    np.testing.assert_array_equal(none(image, rng)["image"], image["image"])
    (some,) = ops_lib.parse(["mutate:20"])
    changed = some(image, rng)["image"] != 7
    # 20% replaced, of which 1/256 by the same value 7: 0.2 * 255/256 changed, +- 4 sd.
    assert abs(changed.mean() - 0.2 * 255 / 256) < 4 * np.sqrt(0.2 * 0.8 / 1e4)
    with pytest.raises(ConfigError, match="mutate:P"):
        ops_lib.parse(["mutate:101"])


def test_weight_decay_adds_an_l2_gradient_before_adam():
    params = {"w": jnp.array([2.0, -0.5])}
    zero = {"w": jnp.zeros(2)}
    base = dict(name="adam", learning_rate=0.1, b1=0.9, b2=0.999, eps=1e-8, grad_clip_norm=0.0)
    plain = state_lib.make_optimizer(ml_collections.ConfigDict(base))
    decayed = state_lib.make_optimizer(ml_collections.ConfigDict({**base, "weight_decay": 0.01}))
    u0, _ = plain.update(zero, plain.init(params), params)
    np.testing.assert_array_equal(u0["w"], [0.0, 0.0])
    # Adam's first step on the gradient 0.01 * w is -lr * sign(w) (eps aside).
    u, _ = jax.jit(decayed.update)(zero, decayed.init(params), params)
    np.testing.assert_allclose(u["w"], [-0.1, 0.1], rtol=1e-4)


def test_context_model_code_length_by_hand():
    # A 2x2 blank image: every pixel in the all-zero context, KT estimates of a 0 after
    # 0, 1, 2, 3 zeros: 1/2, 3/4, 5/6, 7/8.
    want = -np.log2(1 / 2 * 3 / 4 * 5 / 6 * 7 / 8)
    np.testing.assert_allclose(anomaly_scores.context_model_bits(np.zeros((1, 2, 2, 1))), want)
    # A one in the corner: its own code 1/2, then the pixel east of it (context west=1) 1/2,
    # below it (north=1) 1/2, diagonal (north-west=1) 1/2.
    corner = np.zeros((1, 2, 2, 1))
    corner[0, 0, 0] = 1
    np.testing.assert_allclose(anomaly_scores.context_model_bits(corner), 4.0)
    bits = anomaly_scores.context_model_bits(_images(BLANK, NOISE))
    # Coin flips cost about one bit each (plus the estimator's learning cost); a blank image
    # costs the estimator's regret only, O(log n) bits.
    assert bits[1] > 784 and bits[0] < 10
    with pytest.raises(ConfigError, match="complexity_png"):
        anomaly_scores.context_model_bits(_images(BLANK + 0.5))


def test_context_plus_knn_is_a_sum_of_standardised_parts():
    rng = np.random.default_rng(2)
    images = (rng.random((40, 6, 6, 1)) < rng.random((40, 1, 1, 1))).astype(np.float32)
    nll, codes = rng.normal(30, 5, 40), rng.normal(size=(40, 3))
    test, ref = slice(0, 10), slice(10, 40)

    def score(nll, codes):
        return anomaly_scores.context_plus_knn(
            nll[test], images[test], codes[test], nll[ref], images[ref], codes[ref], k=2
        )

    base = score(nll, codes)
    # Units drop out: codes 10x larger, every NLL 7 nats higher, the same score.
    np.testing.assert_allclose(score(nll + 7.0, 10 * codes), base, rtol=1e-9)
    # One test image 1 nat more surprising moves its score by 1 / std of the reference's
    # complexity-corrected NLL, and no other score.
    ref_s = anomaly_scores.complexity_context(nll[ref], images[ref])
    bumped = nll.copy()
    bumped[3] += 1.0
    np.testing.assert_allclose(score(bumped, codes) - base, np.eye(10)[3] / ref_s.std())
