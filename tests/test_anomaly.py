"""ROC AUC against cases whose answer is known and against a brute-force pairwise count."""

import numpy as np
import pytest

from gendl.evaluation import anomaly


def _pairwise_auc(scores, is_anomaly):
    pos = scores[is_anomaly][:, None]
    neg = scores[~is_anomaly][None, :]
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def test_perfect_separation():
    assert anomaly.roc_auc([0.1, 0.2, 0.3, 5.0, 6.0], [0, 0, 0, 1, 1]) == 1.0


def test_reversed_separation():
    assert anomaly.roc_auc([5.0, 6.0, 0.1, 0.2, 0.3], [0, 0, 1, 1, 1]) == 0.0


def test_all_equal_scores():
    assert anomaly.roc_auc(np.full(7, 3.0), [1, 0, 0, 1, 0, 1, 0]) == 0.5


def test_hand_computed_ties():
    # Anomalies score 2, 3, 3; normals 1, 2, 3. Pairs (anomaly, normal), 9 in all:
    # 2 vs 1, 2, 3 -> 1 + 1/2 + 0; each 3 vs 1, 2, 3 -> 1 + 1 + 1/2. U = 1.5 + 2 * 2.5 = 6.5.
    scores = [2.0, 3.0, 3.0, 1.0, 2.0, 3.0]
    labels = np.array([True, True, True, False, False, False])
    assert anomaly.roc_auc(scores, labels) == pytest.approx(6.5 / 9, abs=1e-15)


@pytest.mark.parametrize("seed", range(5))
def test_matches_pairwise_count_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    labels = rng.random(n) < 0.3
    labels[:2] = [True, False]  # both classes present
    scores = rng.integers(0, 10, size=n).astype(np.float64)  # few values: many ties
    assert anomaly.roc_auc(scores, labels) == pytest.approx(
        _pairwise_auc(scores, labels), abs=1e-12
    )


def test_integer_scores_and_order_invariance():
    rng = np.random.default_rng(7)
    scores = rng.integers(-5, 5, size=50)
    labels = rng.random(50) < 0.5
    perm = rng.permutation(50)
    auc = anomaly.roc_auc(scores, labels)
    assert auc == pytest.approx(_pairwise_auc(scores, labels), abs=1e-12)
    assert anomaly.roc_auc(scores[perm], labels[perm]) == pytest.approx(auc, abs=1e-12)


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1]])
def test_one_class_empty_raises(labels):
    with pytest.raises(ValueError, match="both classes"):
        anomaly.roc_auc([1.0, 2.0, 3.0], labels)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="0 and 1"):
        anomaly.roc_auc([1.0, 2.0], [0, 2])
    with pytest.raises(ValueError, match="NaN"):
        anomaly.roc_auc([1.0, np.nan], [0, 1])
    with pytest.raises(ValueError, match="equal length"):
        anomaly.roc_auc([1.0, 2.0, 3.0], [0, 1])
