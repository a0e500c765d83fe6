"""How well a categorical code matches the true classes: matched accuracy, NMI, ARI."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, confusion_matrix, normalized_mutual_info_score

from metrics.registry import register_metric


def _as_labels(values: np.ndarray, name: str) -> np.ndarray:
    values = np.asarray(values)
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D integer array")
    return values


def matching(pred: np.ndarray, labels: np.ndarray) -> dict[int, int]:
    """The one-to-one map category -> label maximising agreement (Hungarian, scipy)."""
    pred, labels = _as_labels(pred, "pred"), _as_labels(labels, "labels")
    categories, classes = np.unique(pred), np.unique(labels)
    counts = confusion_matrix(labels, pred, labels=np.union1d(categories, classes))
    index = np.union1d(categories, classes)
    rows, cols = linear_sum_assignment(counts, maximize=True)  # rows: labels, cols: predictions
    return {int(index[c]): int(index[r]) for r, c in zip(rows, cols)}


@register_metric("cluster_accuracy", "accuracy of the categorical code after the best one-to-one matching to labels")
def cluster_accuracy(pred: np.ndarray, labels: np.ndarray) -> float:
    """max over bijections m of mean(m(pred) == labels), found by the Hungarian algorithm."""
    pred, labels = _as_labels(pred, "pred"), _as_labels(labels, "labels")
    if pred.shape != labels.shape or pred.size == 0:
        raise ValueError("pred and labels must be non-empty and of the same length")
    mapping = matching(pred, labels)
    mapped = np.array([mapping.get(int(p), -1) for p in pred])
    return float(np.mean(mapped == labels))


@register_metric("nmi", "normalised mutual information between the categorical code and the labels")
def nmi(pred: np.ndarray, labels: np.ndarray) -> float:
    return float(normalized_mutual_info_score(_as_labels(labels, "labels"), _as_labels(pred, "pred")))


@register_metric("ari", "adjusted Rand index between the categorical code and the labels")
def ari(pred: np.ndarray, labels: np.ndarray) -> float:
    return float(adjusted_rand_score(_as_labels(labels, "labels"), _as_labels(pred, "pred")))
