"""FID, KID, IS and precision/recall against references and known answers."""

import numpy as np
import pytest
import scipy.linalg

from gendl.evaluation import sample_quality as sq


def reference_fid(x, y):
    """pytorch-fid's formula: scipy's general sqrtm of the covariance product."""
    m1, m2 = x.mean(0), y.mean(0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(np.sum((m1 - m2) ** 2) + np.trace(s1 + s2 - 2 * covmean))


def test_streaming_fit_matches_numpy():
    x = np.random.default_rng(0).normal(5.0, 2.0, (301, 7))
    fit = sq.GaussianFit()
    for i in range(0, 301, 40):
        fit.update(x[i : i + 40])
    np.testing.assert_allclose(fit.mean, x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(fit.cov, np.cov(x, rowvar=False), rtol=1e-10)


def test_fid_matches_scipy_reference():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 16))
    y = rng.normal(size=(400, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.3
    np.testing.assert_allclose(sq.fid(x, y), reference_fid(x, y), rtol=1e-6)


def test_fid_near_singular_covariances():
    # Fewer samples than dimensions, and features on a 3-d subspace: both covariances are
    # singular. The reference's sqrtm still converges here; ours must agree and stay finite.
    rng = np.random.default_rng(2)
    basis = rng.normal(size=(3, 32))
    x = rng.normal(size=(20, 3)) @ basis
    y = rng.normal(size=(25, 3)) @ basis * 1.3 + 0.1
    ours = sq.fid(x, y)
    assert np.isfinite(ours)
    np.testing.assert_allclose(ours, reference_fid(x, y), rtol=1e-5, atol=1e-6)


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(3).normal(size=(200, 64))  # rank-deficient-ish: n ~ 3 d
    assert sq.fid(x, x) == pytest.approx(0.0, abs=1e-8)
    assert sq.fid(x, x + 1.0) == pytest.approx(64.0, rel=1e-8)  # only the mean term


def test_kid_is_unbiased_on_one_distribution():
    # The mean over many independent pairs of small sets from one distribution must be ~0
    # (a biased V-statistic would be clearly positive at this size).
    rng = np.random.default_rng(4)
    estimates = [
        sq.mmd2_unbiased(rng.normal(size=(20, 4)), rng.normal(size=(20, 4))) for _ in range(400)
    ]
    mean, sem = np.mean(estimates), np.std(estimates) / np.sqrt(len(estimates))
    assert abs(mean) < 3 * sem
    biased = np.mean(
        [
            (
                sq._cubic_kernel(a, a).mean()
                + sq._cubic_kernel(b, b).mean()
                - 2 * sq._cubic_kernel(a, b).mean()
            )
            for a, b in ((rng.normal(size=(20, 4)), rng.normal(size=(20, 4))) for _ in range(100))
        ]
    )
    assert biased > 3 * sem  # the test can tell


def test_kid_separates_distributions():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(300, 8)), rng.normal(0.5, 1.0, (300, 8))
    same, _ = sq.kid(x, rng.normal(size=(300, 8)), num_subsets=10, subset_size=100)
    diff, std = sq.kid(x, y, num_subsets=10, subset_size=100)
    assert diff > 10 * abs(same) and std > 0


def test_kid_of_sets_smaller_than_a_subset_has_a_spread():
    # Subsets as large as the sets would all be the whole sets: std 0 whatever the noise.
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(60, 8)), rng.normal(0.5, 1.0, (60, 8))
    mean, std = sq.kid(x, y, num_subsets=20, subset_size=1000)
    assert mean > 0 and std > 0.05 * mean


def test_inception_score_of_one_hot_predictions_is_num_classes():
    k = 7
    logits = np.full((70, k), -1e4)
    logits[np.arange(70), np.arange(70) % k] = 0.0  # each split sees every class equally
    mean, std = sq.inception_score(logits, num_splits=10)
    assert mean == pytest.approx(k, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)
    uniform, _ = sq.inception_score(np.zeros((70, k)), num_splits=10)
    assert uniform == pytest.approx(1.0)


def test_precision_recall_known_answers():
    # Real = clusters A and B, fake = A and a far cluster C: half the fakes lie on the real
    # manifold (precision 0.5) and half the reals on the fake manifold (recall 0.5).
    rng = np.random.default_rng(6)
    a, b, c = (rng.normal(size=(100, 2)) * 0.1 + off for off in ([0, 0], [50, 0], [0, 50]))
    real, fake = np.concatenate([a, b]), np.concatenate([a, c])
    assert sq.precision_recall(real, fake, k=3) == (0.5, 0.5)
    assert sq.precision_recall(real, real, k=3) == (1.0, 1.0)


def test_knn_radius_is_the_kth_neighbour():
    points = np.array([[0.0], [1.0], [3.0], [6.0]])
    np.testing.assert_allclose(sq.knn_radii(points, k=2), [9.0, 4.0, 9.0, 25.0])


def test_mode_coverage_and_label_accuracy():
    assert sq.mode_coverage(np.arange(10) % 5, 5) == (5, pytest.approx(0.0))
    present, kl = sq.mode_coverage(np.zeros(10, int), 4)
    assert present == 1 and kl == pytest.approx(np.log(4))
    assert sq.label_accuracy([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75


def test_matched_accuracy_finds_the_best_one_to_one_assignment():
    classes = np.repeat(np.arange(4), 5)
    codes = (classes + 1) % 4  # every code is one class, under another name
    assert sq.matched_accuracy(classes, codes, 4) == 1.0
    # Codes 0 and 1 both mostly class 0: only one of them may take it (one-to-one), so the
    # best assignment is 0->0, 1->1, 2->2, 3->3 with 5 + 2 + 5 + 5 of 20 right.
    codes = classes.copy()
    codes[5:8] = 0  # three class-1 samples carry code 0
    assert sq.matched_accuracy(classes, codes, 4) == pytest.approx(17 / 20)
    # A greedy per-code choice would map both codes to class 0; the assignment cannot.
    assert sq.matched_accuracy([0, 0, 0, 0], [0, 0, 1, 1], 2) == 0.5


def test_code_class_table_names_each_codes_assigned_class_and_a_merge():
    # Codes 0 and 1 both draw class 0 and 1 half and half (a merge); code 2 draws class 2.
    classes = np.array([0, 1, 0, 1, 2, 2])
    codes = np.array([0, 0, 1, 1, 2, 2])
    counts = sq.code_class_counts(classes, codes, 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [1, 1, 0], [0, 0, 2]])
    assigned = sq.code_assignment(counts)
    assert sorted(assigned) == [0, 1, 2] and assigned[2] == 2  # one-to-one
    rows = sq.format_code_class_counts(counts).splitlines()[1:]
    assert [r.split()[:3] for r in rows] == [
        ["0", str(assigned[0]), "50%"],
        ["1", str(assigned[1]), "50%"],
        ["2", "2", "100%"],
    ]
    assert rows[2].split("|")[1].split() == ["0", "0", "2"]
