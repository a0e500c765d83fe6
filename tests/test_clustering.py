import math

import numpy as np
import pytest

from metrics import METRICS
from metrics.clustering import ari, cluster_accuracy, matching, nmi
from metrics.mutual_info import mi_lower_bound


def test_cluster_accuracy_is_invariant_to_relabelling():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 1000)
    permutation = rng.permutation(10)
    pred = permutation[labels]
    assert cluster_accuracy(pred, labels) == 1.0
    assert math.isclose(nmi(pred, labels), 1.0) and math.isclose(ari(pred, labels), 1.0)
    assert matching(pred, labels) == {int(permutation[k]): k for k in range(10)}


def test_cluster_accuracy_partial_and_unequal_category_counts():
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    pred = np.array([5, 5, 7, 7, 7, 7, 5, 5])  # two categories for three classes
    # best: 7 -> 1 (3 right), 5 -> 0 (2 right) or 5 -> 2 (2 right): 5 of 8
    assert cluster_accuracy(pred, labels) == 5 / 8


def test_random_prediction_scores_near_chance():
    rng = np.random.default_rng(1)
    labels, pred = rng.integers(0, 10, 20_000), rng.integers(0, 10, 20_000)
    assert cluster_accuracy(pred, labels) < 0.12
    assert nmi(pred, labels) < 0.01 and abs(ari(pred, labels)) < 0.01


def test_bad_input_is_refused():
    with pytest.raises(ValueError):
        cluster_accuracy(np.array([0.5, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError):
        cluster_accuracy(np.array([0, 1, 2]), np.array([0, 1]))


def test_mi_lower_bound_adds_the_entropy():
    loglik = np.log(np.array([[0.5, 0.1], [0.25, 0.1]]))
    bound = mi_lower_bound(loglik, [math.log(10), math.log(2)])
    assert np.allclose(bound, [math.log(10) + (math.log(0.5) + math.log(0.25)) / 2, math.log(2) + math.log(0.1)])
    # A perfect categorical Q (log Q = 0) attains the maximum H(c) = ln 10.
    assert math.isclose(mi_lower_bound(np.zeros((4, 1)), [math.log(10)])[0], math.log(10))


def test_metrics_are_registered():
    assert {"cluster_accuracy", "nmi", "ari", "mi_lower_bound"} <= set(METRICS)
