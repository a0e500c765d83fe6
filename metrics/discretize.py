"""Shared pieces of the supervised disentanglement scores: input checks, the histogram
discretiser and the discrete mutual-information matrix (all in nats, as disentanglement_lib).

Arrays are sample-major: codes [N, D] (float), factors [N, K] (integer); rows are samples.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mutual_info_score


def check_codes(codes: np.ndarray, name: str = "codes") -> np.ndarray:
    """``codes`` as a finite float64 array [N, D] with N >= 2."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[0] < 2 or codes.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array [N, D] with at least two rows")
    if not np.all(np.isfinite(codes)):
        raise ValueError(f"{name} must be finite")
    return codes


def check_factors(factors: np.ndarray, name: str = "factors") -> np.ndarray:
    """``factors`` as an integer array [N, K] with N >= 2."""
    factors = np.asarray(factors)
    if factors.ndim != 2 or factors.shape[0] < 2 or factors.shape[1] < 1:
        raise ValueError(f"{name} must be a 2-D array [N, K] with at least two rows")
    if not np.issubdtype(factors.dtype, np.integer):
        raise ValueError(f"{name} must hold integers (factor value indices)")
    return factors


def check_codes_factors(codes: np.ndarray, factors: np.ndarray, suffix: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Both arrays checked, with the same number of rows."""
    codes, factors = check_codes(codes, "codes" + suffix), check_factors(factors, "factors" + suffix)
    if codes.shape[0] != factors.shape[0]:
        raise ValueError(f"codes{suffix} and factors{suffix} must have the same number of rows")
    return codes, factors


def check_train_test(
    codes_train: np.ndarray, factors_train: np.ndarray, codes_test: np.ndarray, factors_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The train and the test pair each checked, with the same codes and factors in both."""
    codes_train, factors_train = check_codes_factors(codes_train, factors_train, "_train")
    codes_test, factors_test = check_codes_factors(codes_test, factors_test, "_test")
    if codes_train.shape[1] != codes_test.shape[1] or factors_train.shape[1] != factors_test.shape[1]:
        raise ValueError("train and test arrays must have the same number of codes and of factors")
    return codes_train, factors_train, codes_test, factors_test


def histogram_discretize(codes: np.ndarray, num_bins: int = 20) -> np.ndarray:
    """Each code column cut into ``num_bins`` equal-width bins over its own [min, max].

    Bin edges are ``np.histogram(column, num_bins)``'s; a value gets the index of the
    last left edge it reaches (``np.digitize`` against the left edges), 1..num_bins.
    A constant column falls into a single bin.
    """
    codes = check_codes(codes)
    if num_bins < 1:
        raise ValueError("num_bins must be at least 1")
    out = np.empty(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], bins=num_bins)[1]
        out[:, i] = np.digitize(codes[:, i], edges[:-1])
    return out


def discrete_mutual_info(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """The matrix m[i, j] = I(code_i; v_j) in nats (sklearn ``mutual_info_score``), [D, K]."""
    discrete_codes, factors = np.asarray(discrete_codes), check_factors(factors)
    if discrete_codes.ndim != 2 or discrete_codes.shape[0] != factors.shape[0]:
        raise ValueError("discrete codes must be [N, D] with as many rows as the factors")
    m = np.zeros((discrete_codes.shape[1], factors.shape[1]))
    for i in range(discrete_codes.shape[1]):
        for j in range(factors.shape[1]):
            m[i, j] = mutual_info_score(factors[:, j], discrete_codes[:, i])
    return m


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """H(v_j) = I(v_j; v_j) in nats for every factor column, [K]."""
    factors = check_factors(factors)
    return np.array([mutual_info_score(factors[:, j], factors[:, j]) for j in range(factors.shape[1])])


def as_generator(random_state: np.random.Generator | np.random.RandomState | int | None) -> np.random.Generator:
    """A numpy ``Generator`` from a Generator, a legacy RandomState, a seed or None."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    return np.random.default_rng(random_state)
