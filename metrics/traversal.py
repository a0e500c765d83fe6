"""Traversal consistency: does a code do the same thing to the image whatever the noise z?"""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr

from metrics.registry import register_metric


@register_metric(
    "traversal_consistency_categorical",
    "per category value, share of samples in its modal reference class; and number of classes covered",
)
def traversal_consistency_categorical(predicted_classes: np.ndarray) -> dict[str, float]:
    """Consistency of a categorical code from a reference classifier's classes of G(z_m, c=k).

    ``predicted_classes`` is an integer array [K code values, M noise samples].
    For value k with modal class y_k (the most frequent, ties to the smallest class),
    share_k = mean_m [pred[k, m] == y_k].
    Returns ``consistency`` = mean_k share_k (1 when every value draws one class whatever z),
    ``classes_covered`` = number of distinct y_k (K when the values draw K different classes)
    and ``coverage`` = classes_covered / K.
    """
    pred = np.asarray(predicted_classes)
    if pred.ndim != 2 or pred.size == 0 or not np.issubdtype(pred.dtype, np.integer):
        raise ValueError("predicted_classes must be a non-empty integer array [K values, M samples]")
    modal, shares = [], []
    for row in pred:
        classes, counts = np.unique(row, return_counts=True)
        best = int(np.argmax(counts))
        modal.append(int(classes[best]))
        shares.append(counts[best] / row.size)
    covered = len(set(modal))
    return {
        "consistency": float(np.mean(shares)),
        "classes_covered": float(covered),
        "coverage": float(covered / pred.shape[0]),
    }


@register_metric(
    "traversal_consistency_continuous",
    "median |Spearman rho| between a swept code and an attribute over noise samples; and sign agreement",
)
def traversal_consistency_continuous(
    attribute_values: np.ndarray, code_values: np.ndarray | None = None
) -> dict[str, float]:
    """Consistency of a continuous code from an attribute read off G(z_m, c_j = s) along a sweep.

    ``attribute_values`` is [M noise samples, S steps] for the code values ``code_values`` [S]
    (default: increasing steps 0..S-1; only their order matters). Per z_m,
    rho_m = Spearman rank correlation (scipy ``spearmanr``) between the code values and the
    attribute; an attribute constant along the sweep has no rank order and counts as rho_m = 0.
    Returns ``median_abs_rho`` = median_m |rho_m|, ``sign_agreement`` = share of m whose
    sign(rho_m) equals the majority sign (the sign of sum_m sign(rho_m), + on a tie; rho_m = 0
    never agrees) and ``mean_rho`` = mean_m rho_m (its sign: which way the attribute moves).
    """
    values = np.asarray(attribute_values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] < 1 or values.shape[1] < 2:
        raise ValueError("attribute_values must be [M noise samples, S >= 2 steps]")
    if not np.all(np.isfinite(values)):
        raise ValueError("attribute_values must be finite")
    steps = np.arange(values.shape[1], dtype=np.float64) if code_values is None else np.asarray(code_values, float)
    if steps.shape != (values.shape[1],) or np.unique(steps).size < 2:
        raise ValueError("code_values must hold S values, not all equal")
    rho = np.zeros(values.shape[0])
    for m, row in enumerate(values):
        if np.ptp(row) > 0:
            rho[m] = spearmanr(steps, row)[0]
    rho = np.nan_to_num(rho)
    signs = np.sign(rho)
    majority = 1.0 if signs.sum() >= 0 else -1.0
    return {
        "median_abs_rho": float(np.median(np.abs(rho))),
        "sign_agreement": float(np.mean(signs == majority)),
        "mean_rho": float(np.mean(rho)),
    }
