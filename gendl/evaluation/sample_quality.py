"""Sample-quality metrics on feature vectors: FID, KID, Inception Score, improved precision and
recall, and for conditional models label accuracy and mode coverage.

Everything here is float64 numpy on the host, independent of which network produced the
features (gendl.evaluation.extractors). Memory stays bounded: Gaussian fits are accumulated
batch by batch (`GaussianFit`), kernel and distance matrices are formed a block at a time.

References: FID, Heusel et al. 2017 (TTUR); KID, Binkowski et al. 2018 ("Demystifying MMD
GANs"); IS, Salimans et al. 2016; precision/recall, Kynkäänniemi et al. 2019.
"""

import math

import numpy as np


class GaussianFit:
    """Mean and covariance of feature vectors streamed in batches.

    Batches are merged with Chan et al.'s pairwise update of (count, mean, centred co-moment)
    instead of accumulating sum(x x^T): the latter loses the covariance to cancellation when
    the mean is large against the spread.
    """

    def __init__(self, dim=None):
        self.n = 0
        self.mean = None if dim is None else np.zeros(dim)
        self.m2 = None if dim is None else np.zeros((dim, dim))

    def update(self, x):
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or not len(x):
            raise ValueError(f"features must be a non-empty [n, dim] array, got {x.shape}.")
        nb, mean_b = len(x), x.mean(0)
        centred = x - mean_b
        m2_b = centred.T @ centred
        if self.n == 0:
            self.n, self.mean, self.m2 = nb, mean_b, m2_b
            return self
        n = self.n + nb
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2_b + np.outer(delta, delta) * (self.n * nb / n)
        self.n = n
        return self

    @property
    def cov(self):
        """The unbiased covariance (divisor n - 1), as numpy.cov and the reference FID code."""
        if self.n < 2:
            raise ValueError("A covariance needs at least 2 feature vectors.")
        return self.m2 / (self.n - 1)


def _sqrt_psd(a):
    """Symmetric square root of a symmetric positive semi-definite matrix (eigenvalues that
    rounding made slightly negative are clipped to 0)."""
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(cov1, cov2):
    """tr sqrtm(cov1 @ cov2) for PSD covariances.

    cov1 @ cov2 is not symmetric, and scipy's general sqrtm of it turns complex and unstable
    when the covariances are (near-)singular, which features of few samples always are. It is
    similar to the PSD matrix sqrt(cov1) cov2 sqrt(cov1) (conjugate by sqrt(cov1)), so they
    share eigenvalues; those of the symmetric form come from eigh, are real and >= 0 up to
    rounding, and the trace of the square root is the sum of their square roots.
    """
    s1 = _sqrt_psd(np.asarray(cov1, np.float64))
    m = s1 @ np.asarray(cov2, np.float64) @ s1
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sum(np.sqrt(np.clip(w, 0, None))))


def frechet_distance(mean1, cov1, mean2, cov2):
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrtm(S1 S2)): the squared 2-Wasserstein distance of
    the two Gaussian fits (FID when the features are Inception pool3)."""
    mean1, mean2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
    if mean1.shape != mean2.shape or np.shape(cov1) != np.shape(cov2):
        raise ValueError(
            f"Feature statistics of different sizes: {mean1.shape} vs {mean2.shape}; the two "
            "sets must come from the same feature extractor."
        )
    diff = mean1 - mean2
    value = diff @ diff + np.trace(cov1) + np.trace(cov2) - 2 * trace_sqrt_product(cov1, cov2)
    return float(max(value, 0.0))  # >= 0 in exact arithmetic; rounding can give -1e-12


def fid(features1, features2):
    """FID of two [n, d] feature sets (convenience over GaussianFit + frechet_distance)."""
    a, b = GaussianFit().update(features1), GaussianFit().update(features2)
    return frechet_distance(a.mean, a.cov, b.mean, b.cov)


def _cubic_kernel(x, y):
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
    """Unbiased estimate of MMD^2 with the kernel k(a, b) = (a.b / d + 1)^3 (KID's kernel):
    within-set sums leave out the diagonal, so its expectation is the true MMD^2 (0 when x and
    y come from one distribution)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    m, n = len(x), len(y)
    if m < 2 or n < 2:
        raise ValueError("The unbiased MMD needs at least 2 samples in each set.")
    kxx, kyy, kxy = _cubic_kernel(x, x), _cubic_kernel(y, y), _cubic_kernel(x, y)
    return float(
        (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
        + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
        - 2 * kxy.mean()
    )


def kid(features1, features2, num_subsets=100, subset_size=1000, seed=0):
    """Kernel Inception Distance: (mean, std) of the unbiased MMD^2 over `num_subsets` random
    subsets of `subset_size` from each set, as in Binkowski et al.'s reference code. Memory
    is set by subset_size^2, not by the set sizes. Sets smaller than subset_size use subsets
    of half the smaller set: subsets of a whole set are all that set, and their std would be
    0 however uncertain the mean."""
    f1, f2 = np.asarray(features1), np.asarray(features2)
    smaller = min(len(f1), len(f2))
    size = subset_size if subset_size <= smaller else max(smaller // 2, 2)
    rng = np.random.default_rng(seed)
    values = [
        mmd2_unbiased(
            f1[rng.choice(len(f1), size, replace=False)],
            f2[rng.choice(len(f2), size, replace=False)],
        )
        for _ in range(num_subsets)
    ]
    return float(np.mean(values)), float(np.std(values))


def _log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def inception_score(logits, num_splits=10):
    """(mean, std) over `num_splits` consecutive splits of exp(E_x KL(p(y|x) || p(y))), where
    p(y) is the split's mean prediction (Salimans et al. 2016 and their code). Between 1 and
    the number of classes; one-hot predictions spread evenly over K classes give K."""
    log_p = _log_softmax(logits)
    if len(log_p) < num_splits:
        raise ValueError(f"{len(log_p)} predictions cannot make {num_splits} splits.")
    scores = []
    for part in np.array_split(log_p, num_splits):
        p = np.exp(part)
        log_marginal = np.log(np.maximum(p.mean(0), 1e-300))
        # p * (log p - log p(y)), with 0 log 0 = 0 for classes a prediction rules out.
        kl = np.sum(np.where(p > 0, p * (part - log_marginal), 0.0), axis=1)
        scores.append(math.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _pairwise_sq_dists(a, b):
    d = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.maximum(d, 0.0)


def knn_radii(features, k=3, block=1000):
    """Squared distance of every vector to its k-th nearest other vector of the same set."""
    f = np.asarray(features, np.float64)
    if len(f) <= k:
        raise ValueError(f"k-NN radii with k={k} need more than {k} vectors, got {len(f)}.")
    radii = np.empty(len(f))
    for i in range(0, len(f), block):
        d = _pairwise_sq_dists(f[i : i + block], f)
        # Index k, not k - 1: the smallest distance is the vector's 0 to itself.
        radii[i : i + block] = np.partition(d, k, axis=1)[:, k]
    return radii


def _covered(queries, centres, radii, block=1000):
    """For each query: does it lie in some ball (centre, k-NN radius) of the other set?"""
    out = np.empty(len(queries), bool)
    for i in range(0, len(queries), block):
        d = _pairwise_sq_dists(queries[i : i + block], centres)
        out[i : i + block] = np.any(d <= radii[None, :], axis=1)
    return out


def precision_recall(real, fake, k=3):
    """Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the
    union of balls around its vectors with radius the distance to the k-th nearest neighbour;
    precision = fraction of fake vectors inside the real manifold, recall = fraction of real
    vectors inside the fake manifold. Distances are formed in blocks of rows."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    precision = _covered(fake, real, knn_radii(real, k)).mean()
    recall = _covered(real, fake, knn_radii(fake, k)).mean()
    return float(precision), float(recall)


def mode_coverage(predicted_classes, num_classes):
    """(number of classes predicted at least once, KL of the predicted-class histogram from the
    uniform distribution in nats: 0 when every class is equally frequent, log K for one)."""
    counts = np.bincount(np.asarray(predicted_classes), minlength=num_classes)[:num_classes]
    p = counts / counts.sum()
    kl = float(np.sum(np.where(p > 0, p * np.log(np.maximum(p, 1e-300) * num_classes), 0.0)))
    return int(np.sum(counts > 0)), kl


def code_class_counts(predicted_classes, codes, num_classes):
    """[code, class] -> how many samples drawn with that code the classifier put in that class."""
    counts = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(counts, (np.asarray(codes), np.asarray(predicted_classes)), 1)
    return counts


def code_assignment(counts):
    """The best one-to-one assignment of codes to classes (Hungarian method on the counts):
    assigned[code] = class."""
    import scipy.optimize  # jax's own dependency

    rows, cols = scipy.optimize.linear_sum_assignment(counts, maximize=True)
    assigned = np.empty(counts.shape[0], np.int64)
    assigned[rows] = cols
    return assigned


def matched_accuracy(predicted_classes, codes, num_classes):
    """Accuracy of the unsupervised codes as class labels under the best one-to-one
    assignment of codes to classes: how InfoGAN's categorical code is scored against the
    digit classes."""
    return counts_accuracy(code_class_counts(predicted_classes, codes, num_classes))


def counts_accuracy(counts):
    """`matched_accuracy` from code x class counts already made (one table for the score and
    the logged table)."""
    assigned = code_assignment(counts)
    return float(counts[np.arange(len(assigned)), assigned].sum() / counts.sum())


def format_code_class_counts(counts):
    """The counts as a text table, one row per code with its assigned class and that class's
    share of the code's samples: where a code that draws two digits (a merge) shows."""
    assigned = code_assignment(counts)
    head = " ".join(f"{c:>5d}" for c in range(counts.shape[1]))
    lines = [f"code class share | samples per class {head}"]
    for code, row in enumerate(counts):
        share = row[assigned[code]] / max(row.sum(), 1)
        cells = " ".join(f"{v:>5d}" for v in row)
        lines.append(f"{code:>4d} {assigned[code]:>5d} {share:>5.0%} | {'':>17} {cells}")
    return "\n".join(lines)


def label_accuracy(predicted_classes, requested_labels):
    """How often the classifier agrees with the class a conditional model was asked for."""
    return float(np.mean(np.asarray(predicted_classes) == np.asarray(requested_labels)))
