"""Modularity and explicitness (Ridgeway & Zemel 2018), as computed in disentanglement_lib."""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from metrics.discretize import check_codes_factors, check_train_test, discrete_mutual_info, histogram_discretize
from metrics.registry import register_metric


def modularity_from_mi(mi_matrix: np.ndarray) -> float:
    """Modularity of a mutual-information matrix m [D codes, K factors] (K >= 2).

    Per code i, with theta_i = max_k m_ik: the squared deviation from the template that keeps
    only the maximum, delta_i = (sum_k m_ik^2 - theta_i^2) / (theta_i^2 (K - 1)), and the
    score 1 - delta_i (0 for a code with theta_i = 0). Result: the mean over codes.
    Examples: a diagonal m gives 1; [[1, 0], [0, 1], [0, 0]] gives 2/3; hstack(I_5, I_5)
    (5 codes each informative about 2 of 10 factors) gives 1 - 1/9.
    """
    m = np.asarray(mi_matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2 or m.shape[0] < 1 or np.any(m < 0):
        raise ValueError("mi_matrix must be non-negative [D codes, K >= 2 factors]")
    squared = m**2
    theta2 = squared.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = (squared.sum(axis=1) - theta2) / (theta2 * (m.shape[1] - 1))
    score = np.where(theta2 == 0, 0.0, 1.0 - delta)
    return float(np.mean(score))


@register_metric("modularity", "modularity: how far each code's MI row is from informing about one factor only")
def modularity(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """Modularity of ``codes`` [N, D] for ``factors`` [N, K]: :func:`modularity_from_mi` of
    m[i, k] = I(code_i; v_k) in nats with every code cut into ``num_bins`` histogram bins."""
    codes, factors = check_codes_factors(codes, factors)
    return modularity_from_mi(discrete_mutual_info(histogram_discretize(codes, num_bins), factors))


def _standardise(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x - mean_train) / std_train per code; a constant train code keeps std 1."""
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, (test - mean) / std


def _macro_auc(classes: np.ndarray, y: np.ndarray, proba: np.ndarray) -> float:
    """Mean one-vs-rest ROC AUC over the classes that are both present and absent in ``y``."""
    onehot = y[:, None] == classes[None, :]
    usable = onehot.any(axis=0) & ~onehot.all(axis=0)
    if not usable.any():
        return float("nan")
    return float(roc_auc_score(onehot[:, usable].astype(int), proba[:, usable], average="macro"))


@register_metric("explicitness", "explicitness: mean one-vs-rest ROC AUC of a logistic regression from all codes")
def explicitness(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
) -> dict[str, float]:
    """Explicitness: for each factor a default sklearn ``LogisticRegression`` on the codes,
    standardised with the train mean and std; its class probabilities are scored by the
    macro-averaged one-vs-rest ROC AUC. ``train`` and ``test``: the means over factors.
    A factor taking one value in the training set cannot be fitted and scores 0.5.
    """
    codes_train, factors_train, codes_test, factors_test = check_train_test(
        codes_train, factors_train, codes_test, factors_test
    )
    x_train, x_test = _standardise(codes_train, codes_test)
    train, test = [], []
    for k in range(factors_train.shape[1]):
        y_train, y_test = factors_train[:, k], factors_test[:, k]
        if np.unique(y_train).size < 2:
            train.append(0.5)
            test.append(0.5)
            continue
        model = LogisticRegression().fit(x_train, y_train)
        classes = model.classes_
        train.append(_macro_auc(classes, y_train, model.predict_proba(x_train)))
        test.append(_macro_auc(classes, y_test, model.predict_proba(x_test)))
    return {"train": float(np.nanmean(train)), "test": float(np.nanmean(test))}
