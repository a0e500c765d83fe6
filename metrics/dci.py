"""DCI: disentanglement, completeness and informativeness (Eastwood & Williams 2018),
with gradient-boosted-tree importances, as computed in disentanglement_lib.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from scipy.stats import entropy
from sklearn.ensemble import GradientBoostingClassifier

from metrics.discretize import check_train_test
from metrics.registry import register_metric

_EPS = 1e-11  # added to every importance before normalising, as disentanglement_lib


def _check_importance(importance: np.ndarray) -> np.ndarray:
    r = np.asarray(importance, dtype=np.float64)
    if r.ndim != 2 or r.shape[0] < 2 or r.shape[1] < 2 or np.any(r < 0) or not np.all(np.isfinite(r)):
        raise ValueError("importance must be a finite non-negative matrix [D >= 2 codes, K >= 2 factors]")
    return r


def _weights(r: np.ndarray, axis: int) -> np.ndarray:
    """Row (axis=1) or column (axis=0) sums over the total; uniform when all is zero."""
    if r.sum() == 0:
        r = np.ones_like(r)
    return r.sum(axis=axis) / r.sum()


def dci_disentanglement(importance: np.ndarray) -> float:
    """Disentanglement of an importance matrix R [D codes, K factors].

    Per code i: D_i = 1 - H_K(P_i.), P_ij = R_ij / sum_j R_ij, entropy in base K.
    Score: sum_i rho_i D_i with rho_i = sum_j R_ij / sum_ij R_ij (uniform if R is all zero).
    """
    r = _check_importance(importance)
    per_code = 1.0 - entropy(r.T + _EPS, base=r.shape[1])  # scipy normalises each column of r.T
    return float(np.sum(per_code * _weights(r, axis=1)))


def dci_completeness(importance: np.ndarray) -> float:
    """Completeness of an importance matrix R [D codes, K factors].

    Per factor j: C_j = 1 - H_D(P_.j), P_ij = R_ij / sum_i R_ij, entropy in base D.
    Score, as disentanglement_lib: sum_j w_j C_j with w_j = sum_i R_ij / sum_ij R_ij
    (factors weighted by their total importance, uniform if R is all zero; with GBT
    importances, which sum to 1 per factor, this is the plain mean over factors).
    """
    r = _check_importance(importance)
    per_factor = 1.0 - entropy(r + _EPS, base=r.shape[0])
    return float(np.sum(per_factor * _weights(r, axis=0)))


def gbt_importance(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    n_estimators: int = 100,
    random_state: int = 0,
    n_jobs: int = -1,
) -> tuple[np.ndarray, float, float]:
    """(R [D, K], mean train accuracy, mean test accuracy).

    One sklearn ``GradientBoostingClassifier`` (default settings, ``n_estimators`` trees)
    per factor, trained on all codes; column j of R is |feature_importances_| of model j.
    The K fits run in ``n_jobs`` parallel processes (joblib; -1: one per core).
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    def fit(j: int) -> tuple[np.ndarray, float, float]:
        model = GradientBoostingClassifier(n_estimators=n_estimators, random_state=random_state)
        model.fit(codes_train, factors_train[:, j])
        return (np.abs(model.feature_importances_), np.mean(model.predict(codes_train) == factors_train[:, j]),
                np.mean(model.predict(codes_test) == factors_test[:, j]))

    fits = Parallel(n_jobs=n_jobs)(delayed(fit)(j) for j in range(factors_train.shape[1]))
    importance = np.stack([f[0] for f in fits], axis=1)
    return importance, float(np.mean([f[1] for f in fits])), float(np.mean([f[2] for f in fits]))


@register_metric("dci", "DCI disentanglement, completeness and informativeness (GBT importances, accuracies)")
def dci(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    n_estimators: int = 100,
    random_state: int = 0,
) -> dict[str, float]:
    """DCI scores of ``codes`` [N, D] (float) for ``factors`` [N, K] (integer).

    Importances R from :func:`gbt_importance`; ``disentanglement`` and ``completeness`` from
    :func:`dci_disentanglement` and :func:`dci_completeness`; ``informativeness_train`` and
    ``informativeness_test`` are the mean classification accuracies over factors.
    """
    importance, train_acc, test_acc = gbt_importance(
        codes_train, factors_train, codes_test, factors_test, n_estimators, random_state
    )
    if importance.shape[0] < 2:
        raise ValueError("DCI needs at least two codes")
    return {
        "disentanglement": dci_disentanglement(importance),
        "completeness": dci_completeness(importance),
        "informativeness_train": train_acc,
        "informativeness_test": test_acc,
    }
