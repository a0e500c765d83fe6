"""Mutual Information Gap (Chen et al. 2018), as computed in disentanglement_lib."""

from __future__ import annotations

import numpy as np

from metrics.discretize import check_codes_factors, discrete_entropy, discrete_mutual_info, histogram_discretize
from metrics.registry import register_metric


def mig_from_mi(mi_matrix: np.ndarray, factor_entropies: np.ndarray) -> float:
    """MIG from a mutual-information matrix m [D codes, K factors] and H(v_k) [K], both in nats.

    MIG = 1/K sum_k (m_(1)k - m_(2)k) / H(v_k), where m_(1)k >= m_(2)k are the two largest
    entries of column k. Needs at least two codes and no constant factor (H(v_k) > 0).
    """
    m = np.asarray(mi_matrix, dtype=np.float64)
    h = np.asarray(factor_entropies, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] < 2 or h.shape != (m.shape[1],):
        raise ValueError("mi_matrix must be [D >= 2 codes, K factors] with one entropy per factor")
    if np.any(h <= 0):
        raise ValueError("every factor must take at least two values (H(v_k) > 0)")
    top = np.sort(m, axis=0)[::-1]
    return float(np.mean((top[0] - top[1]) / h))


@register_metric("mig", "Mutual Information Gap: per factor, gap between the two most informative codes over H(v_k)")
def mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """Mutual Information Gap of ``codes`` [N, D] (float) for ``factors`` [N, K] (integer).

    Every code is discretised into ``num_bins`` equal-width histogram bins; then
    m[i, k] = I(code_i; v_k) (sklearn ``mutual_info_score``, nats), H(v_k) = I(v_k; v_k), and
    MIG = 1/K sum_k (m_(1)k - m_(2)k) / H(v_k) (see :func:`mig_from_mi`).
    """
    codes, factors = check_codes_factors(codes, factors)
    mi = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    return mig_from_mi(mi, discrete_entropy(factors))
