"""The variational lower bound on I(c; G(z, c)) (InfoGAN paper, Eq. 5 and Lemma 5.1)."""

from __future__ import annotations

import numpy as np

from metrics.registry import register_metric


@register_metric("mi_lower_bound", "L_I = E[log Q(c|G(z,c))] + H(c) per code, in nats (at most H(c) for discrete codes)")
def mi_lower_bound(log_likelihoods: np.ndarray, entropies: np.ndarray | list[float]) -> np.ndarray:
    """L_I per code: the mean over samples of log Q(c_i | x) plus the prior entropy H(c_i).

    ``log_likelihoods`` is [N, number of codes] (rows are samples), ``entropies`` one per code.
    """
    log_likelihoods = np.asarray(log_likelihoods, dtype=np.float64)
    entropies = np.asarray(entropies, dtype=np.float64)
    if log_likelihoods.ndim != 2 or log_likelihoods.shape[1] != entropies.shape[0] or not len(log_likelihoods):
        raise ValueError("log_likelihoods must be [N, codes] with one entropy per code")
    return log_likelihoods.mean(axis=0) + entropies
