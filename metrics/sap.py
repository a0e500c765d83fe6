"""Separated Attribute Predictability (Kumar et al. 2018), as computed in disentanglement_lib."""

from __future__ import annotations

import numpy as np
from sklearn.svm import LinearSVC

from metrics.discretize import check_train_test
from metrics.registry import register_metric


def sap_from_scores(score_matrix: np.ndarray) -> float:
    """1/K sum_k (s_(1)k - s_(2)k): the mean over factors of the gap between the two best codes."""
    s = np.asarray(score_matrix, dtype=np.float64)
    if s.ndim != 2 or s.shape[0] < 2:
        raise ValueError("score_matrix must be [D >= 2 codes, K factors]")
    top = np.sort(s, axis=0)
    return float(np.mean(top[-1] - top[-2]))


def sap_score_matrix(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    continuous: bool = False,
    C: float = 0.01,
) -> np.ndarray:
    """The matrix S [D codes, K factors] of how well code i alone predicts factor k.

    Discrete (``continuous=False``): test accuracy of ``LinearSVC(C=C, class_weight="balanced")``
    trained on the single train code i to predict factor k.
    Continuous: on the train set, the R^2 of a linear fit,
    S_ik = Cov(c_i, v_k)^2 / (Var c_i Var v_k) (ddof 1), and 0 where Var c_i <= 1e-12;
    the test arrays are not used, as in disentanglement_lib.
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    scores = np.zeros((num_codes, num_factors))
    for i in range(num_codes):
        for k in range(num_factors):
            if continuous:
                cov = np.cov(codes_train[:, i], factors_train[:, k].astype(np.float64), ddof=1)
                var_code, var_factor = cov[0, 0], cov[1, 1]
                if var_code > 1e-12 and var_factor > 0:
                    scores[i, k] = cov[0, 1] ** 2 / (var_code * var_factor)
            else:
                classifier = LinearSVC(C=C, class_weight="balanced")
                classifier.fit(codes_train[:, i : i + 1], factors_train[:, k])
                scores[i, k] = np.mean(classifier.predict(codes_test[:, i : i + 1]) == factors_test[:, k])
    return scores


@register_metric("sap", "SAP: per factor, gap between the two codes that best predict it alone")
def sap(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    continuous: bool = False,
    C: float = 0.01,
) -> float:
    """SAP score: :func:`sap_from_scores` of :func:`sap_score_matrix`."""
    return sap_from_scores(sap_score_matrix(codes_train, factors_train, codes_test, factors_test, continuous, C))
