"""Anomaly-detection metrics on per-example scores (e.g. the negative log-likelihood)."""

import numpy as np


def roc_auc(scores, is_anomaly):
    """Area under the ROC curve, where a higher score means more anomalous.

    Exact with ties: the Mann-Whitney U statistic over n_pos * n_neg, i.e. the probability
    that a random anomaly scores above a random normal example, a tie counting 1/2. Ranks
    with ties averaged give it in O(n log n).

    Args:
      scores: [n] real scores, no NaN.
      is_anomaly: [n] labels, bool or 0/1; True / 1 marks an anomaly (the positive class).

    Returns:
      The AUC as a Python float in [0, 1].
    """
    scores = np.asarray(scores)
    labels = np.asarray(is_anomaly)
    if scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(
            f"scores and is_anomaly must be 1-D of equal length, got shapes {scores.shape} "
            f"and {labels.shape}."
        )
    if labels.dtype != np.bool_:
        if not np.all((labels == 0) | (labels == 1)):
            raise ValueError("is_anomaly must be bool or hold only 0 and 1.")
        labels = labels.astype(bool)
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        raise ValueError("scores contain NaN: an AUC needs every score ordered.")
    n_pos = int(labels.sum())
    n_neg = labels.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"roc_auc needs both classes, got {n_pos} anomalies and {n_neg} normal examples."
        )
    # 1-based ranks, each tie group given the mean of the ranks it spans.
    _, group, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = (ends - counts + 1 + ends) / 2.0
    rank_sum = mean_rank[group.reshape(-1)][labels].sum()
    u = rank_sum - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
