import math

import numpy as np
import pytest

from metrics import METRICS
from metrics.discretize import discrete_entropy, histogram_discretize
from metrics.mig import mig, mig_from_mi
from metrics.testing import ToyGroundTruthData


def _factors(n: int = 3000, seed: int = 0) -> np.ndarray:
    return ToyGroundTruthData([4, 5, 6, 3, 5]).sample_factors(n, np.random.default_rng(seed))


def test_histogram_discretiser_uses_equal_width_bins_per_code():
    codes = np.array([[0.0, 10.0], [0.49, 10.0], [0.51, 10.0], [1.0, 10.0]])
    binned = histogram_discretize(codes, num_bins=2)
    assert binned[:, 0].tolist() == [1, 1, 2, 2]
    assert np.unique(binned[:, 1]).size == 1  # a constant code is one bin


def test_factor_entropy_is_in_nats():
    factors = np.repeat(np.arange(4), 250)[:, None]
    assert math.isclose(discrete_entropy(factors)[0], math.log(4))


def test_representation_equal_to_factors_scores_about_one():
    factors = _factors()
    assert mig(factors.astype(float), factors) >= 0.9


def test_noisy_rescaled_factors_still_score_high():
    factors = _factors(seed=1)
    rng = np.random.default_rng(1)
    codes = 3.0 * factors - 2.0 + 0.01 * rng.normal(size=factors.shape)
    assert mig(codes, factors) >= 0.9


def test_zero_codes_score_zero():
    factors = _factors()
    assert mig(np.zeros((len(factors), 5)), factors) <= 0.2


def test_duplicated_codes_have_no_gap():
    factors = _factors()
    codes = np.hstack([factors, factors]).astype(float)
    assert mig(codes, factors) == pytest.approx(0.0, abs=1e-12)


def test_mig_from_mi_by_hand():
    mi = np.array([[1.0, 0.1], [0.2, 0.5], [0.0, 0.4]])
    entropies = np.array([2.0, 1.0])
    assert mig_from_mi(mi, entropies) == pytest.approx(((1.0 - 0.2) / 2.0 + (0.5 - 0.4) / 1.0) / 2)


def test_registered_and_bad_input_refused():
    assert METRICS["mig"].function is mig
    factors = _factors(100)
    with pytest.raises(ValueError):
        mig(factors.astype(float), factors.astype(float))  # factors must be integers
    with pytest.raises(ValueError):
        mig(factors[:50].astype(float), factors)
    with pytest.raises(ValueError):
        mig_from_mi(np.ones((2, 2)), np.array([1.0, 0.0]))  # a constant factor
