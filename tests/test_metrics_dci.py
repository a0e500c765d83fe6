import math

import numpy as np
import pytest

from metrics import METRICS
from metrics.dci import dci, dci_completeness, dci_disentanglement
from metrics.testing import ToyGroundTruthData

TWO_OF_TEN = 1 - math.log(2) / math.log(10)  # 0.699


def test_identity_importance_is_fully_disentangled_and_complete():
    eye = np.eye(5)
    assert dci_disentanglement(eye) == pytest.approx(1.0, abs=1e-6)
    assert dci_completeness(eye) == pytest.approx(1.0, abs=1e-6)


def test_each_factor_in_two_codes():
    importance = np.vstack([np.eye(5), np.eye(5)])  # 10 codes x 5 factors
    assert dci_completeness(importance) == pytest.approx(TWO_OF_TEN, abs=1e-6)
    assert dci_disentanglement(importance) == pytest.approx(1.0, abs=1e-6)


def test_each_code_holds_two_factors():
    importance = np.hstack([np.eye(5), np.eye(5)])  # 5 codes x 10 factors
    assert dci_disentanglement(importance) == pytest.approx(TWO_OF_TEN, abs=1e-6)
    assert dci_completeness(importance) == pytest.approx(1.0, abs=1e-6)


def test_completeness_weights_factors_by_importance():
    # factor 0: one code (C=1, weight 3/4); factor 1: spread over two codes (C=0, weight 1/4)
    importance = np.array([[3.0, 0.5], [0.0, 0.5]])
    assert dci_completeness(importance) == pytest.approx(0.75, abs=1e-6)


def test_uniform_and_zero_importance_score_zero():
    assert dci_disentanglement(np.ones((4, 3))) == pytest.approx(0.0, abs=1e-6)
    assert dci_completeness(np.ones((4, 3))) == pytest.approx(0.0, abs=1e-6)
    assert dci_disentanglement(np.zeros((4, 3))) == pytest.approx(0.0, abs=1e-6)


def _split(seed: int = 0):
    data = ToyGroundTruthData([3, 4, 5, 3])
    rng = np.random.default_rng(seed)
    return data.sample_factors(600, rng), data.sample_factors(300, rng)


def test_representation_equal_to_factors():
    train, test = _split()
    scores = dci(train.astype(float), train, test.astype(float), test)
    assert scores["disentanglement"] >= 0.9 and scores["completeness"] >= 0.9
    assert scores["informativeness_train"] == 1.0 and scores["informativeness_test"] == 1.0


def test_zero_codes():
    train, test = _split()
    scores = dci(np.zeros((len(train), 4)), train, np.zeros((len(test), 4)), test)
    assert scores["disentanglement"] <= 0.2 and scores["completeness"] <= 0.2
    assert scores["informativeness_test"] < 0.5


def test_registered_and_bad_input_refused():
    assert METRICS["dci"].function is dci
    with pytest.raises(ValueError):
        dci_disentanglement(-np.eye(3))
    train, test = _split()
    with pytest.raises(ValueError):
        dci(train.astype(float), train, test[:, :2].astype(float), test)
