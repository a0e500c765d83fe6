import numpy as np
import pytest

from metrics import METRICS
from metrics.sap import sap, sap_from_scores, sap_score_matrix
from metrics.testing import ToyGroundTruthData


def _split(sizes=(3, 4, 5, 6), seed: int = 0):
    data = ToyGroundTruthData(list(sizes))
    rng = np.random.default_rng(seed)
    return data.sample_factors(1500, rng), data.sample_factors(800, rng)


def test_continuous_sap_of_factors_is_about_one():
    train, test = _split()
    assert sap(train.astype(float), train, test.astype(float), test, continuous=True) >= 0.9


def test_continuous_sap_is_the_squared_correlation_gap():
    rng = np.random.default_rng(0)
    factors = rng.integers(0, 5, size=(4000, 1))
    codes = np.hstack([factors + 0.5 * rng.normal(size=factors.shape), rng.normal(size=factors.shape)])
    scores = sap_score_matrix(codes, factors, codes, factors, continuous=True)
    expected = np.corrcoef(codes[:, 0], factors[:, 0])[0, 1] ** 2
    assert scores[0, 0] == pytest.approx(expected)
    assert scores[1, 0] < 0.01


def test_discrete_sap_of_binary_factors_is_one_minus_chance():
    # the right code predicts its factor perfectly, any other code is at chance (1/2)
    train, test = _split(sizes=(2, 2, 2))
    assert sap(train.astype(float), train, test.astype(float), test) == pytest.approx(0.5, abs=0.06)


def test_discrete_sap_of_factors_picks_the_right_code():
    train, test = _split()
    scores = sap_score_matrix(train.astype(float), train, test.astype(float), test)
    assert np.argmax(scores, axis=0).tolist() == [0, 1, 2, 3]
    assert sap_from_scores(scores) > 0.2


def test_zero_codes_score_zero():
    train, test = _split()
    zeros_train, zeros_test = np.zeros((len(train), 4)), np.zeros((len(test), 4))
    assert sap(zeros_train, train, zeros_test, test) <= 0.2
    assert sap(zeros_train, train, zeros_test, test, continuous=True) <= 0.2


def test_registered_and_bad_input_refused():
    assert METRICS["sap"].function is sap
    with pytest.raises(ValueError):
        sap_from_scores(np.ones((1, 3)))
