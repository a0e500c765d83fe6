import numpy as np
import pytest

from metrics import METRICS
from metrics.traversal import traversal_consistency_categorical, traversal_consistency_continuous


def test_code_k_always_draws_class_k():
    predicted = np.repeat(np.arange(10)[:, None], 50, axis=1)  # [K values, M samples]
    scores = traversal_consistency_categorical(predicted)
    assert scores == {"consistency": 1.0, "classes_covered": 10.0, "coverage": 1.0}


def test_permuted_classes_are_just_as_consistent():
    predicted = np.repeat(np.random.default_rng(0).permutation(10)[:, None], 20, axis=1)
    assert traversal_consistency_categorical(predicted)["consistency"] == 1.0


def test_random_predictions_score_low():
    predicted = np.random.default_rng(0).integers(0, 10, size=(10, 200))
    assert traversal_consistency_categorical(predicted)["consistency"] < 0.2


def test_two_values_drawing_the_same_class():
    predicted = np.array([[0, 0, 0, 1], [0, 0, 1, 1], [2, 2, 2, 2]])
    scores = traversal_consistency_categorical(predicted)
    assert scores["consistency"] == pytest.approx((0.75 + 0.5 + 1.0) / 3)  # tie in row 2 -> class 0
    assert scores["classes_covered"] == 2.0


def test_monotone_sweeps_are_consistent():
    rng = np.random.default_rng(0)
    steps = np.linspace(-2, 2, 9)
    # different z: different offsets and slopes, but always increasing
    values = rng.normal(size=(30, 1)) + np.exp(rng.normal(size=(30, 1))) * steps ** 3
    scores = traversal_consistency_continuous(values, steps)
    assert scores["median_abs_rho"] == pytest.approx(1.0)
    assert scores["sign_agreement"] == 1.0 and scores["mean_rho"] == pytest.approx(1.0)
    decreasing = traversal_consistency_continuous(-values, steps)
    assert decreasing["sign_agreement"] == 1.0 and decreasing["mean_rho"] == pytest.approx(-1.0)


def test_random_sweeps_score_low():
    values = np.random.default_rng(0).normal(size=(200, 9))
    scores = traversal_consistency_continuous(values)
    assert scores["median_abs_rho"] < 0.4
    assert scores["sign_agreement"] < 0.65


def test_sign_disagreement_and_constant_rows():
    up, down, flat = np.arange(5.0), -np.arange(5.0), np.zeros(5)
    scores = traversal_consistency_continuous(np.stack([up, up, down, flat]))
    assert scores["sign_agreement"] == 0.5  # majority +: two of four agree; flat never agrees
    assert scores["median_abs_rho"] == pytest.approx(1.0)


def test_registered_and_bad_input_refused():
    assert METRICS["traversal_consistency_categorical"].function is traversal_consistency_categorical
    assert METRICS["traversal_consistency_continuous"].function is traversal_consistency_continuous
    with pytest.raises(ValueError):
        traversal_consistency_categorical(np.zeros((3, 4)))  # floats
    with pytest.raises(ValueError):
        traversal_consistency_continuous(np.zeros((3, 1)))
    with pytest.raises(ValueError):
        traversal_consistency_continuous(np.zeros((3, 4)), np.ones(4))
