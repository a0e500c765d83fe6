"""The metrics that take a train and a test split refuse splits that do not match."""

import numpy as np
import pytest

from metrics.dci import dci
from metrics.modularity import explicitness
from metrics.sap import sap

TRAIN_TEST_METRICS = [dci, sap, explicitness]


def _split(num_codes: int, num_factors: int, rows: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(rows, num_codes)), rng.integers(0, 3, size=(rows, num_factors))


@pytest.mark.parametrize("metric", TRAIN_TEST_METRICS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("test_shape", [(3, 2), (2, 3)], ids=["more codes", "more factors"])
def test_train_and_test_must_have_the_same_codes_and_factors(metric, test_shape):
    codes_train, factors_train = _split(2, 2)
    codes_test, factors_test = _split(*test_shape, seed=1)
    with pytest.raises(ValueError, match="same number of codes and of factors"):
        metric(codes_train, factors_train, codes_test, factors_test)


@pytest.mark.parametrize("metric", TRAIN_TEST_METRICS, ids=lambda m: m.__name__)
def test_codes_and_factors_of_a_split_must_have_the_same_rows(metric):
    codes_train, factors_train = _split(2, 2)
    codes_test, factors_test = _split(2, 2, seed=1)
    with pytest.raises(ValueError, match="codes_test and factors_test must have the same number of rows"):
        metric(codes_train, factors_train, codes_test[:-1], factors_test)
