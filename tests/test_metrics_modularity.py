import numpy as np
import pytest

from metrics import METRICS
from metrics.modularity import explicitness, modularity, modularity_from_mi
from metrics.testing import ToyGroundTruthData


def test_diagonal_mi_is_fully_modular():
    assert modularity_from_mi(np.diag([1.0, 0.5, 2.0])) == pytest.approx(1.0)


def test_uninformative_code_scores_zero():
    # 3 codes x 2 factors: two perfect codes, one code informative about nothing
    assert modularity_from_mi(np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])) == pytest.approx(2 / 3)


def test_each_code_informative_about_two_of_ten_factors():
    # disentanglement_lib's orientation, [codes, factors]: hstack(I5, I5) is 5 codes x 10 factors.
    # Per code: sum of squares 2, max^2 1, delta = (2 - 1) / (1 * (10 - 1)) = 1/9.
    mi = np.hstack([np.eye(5), np.eye(5)])
    assert mi.shape == (5, 10)
    assert modularity_from_mi(mi) == pytest.approx(1 - 1 / 9)
    # the transpose (each factor in two codes) is perfectly modular
    assert modularity_from_mi(mi.T) == pytest.approx(1.0)


def test_uniform_row_scores_zero():
    assert modularity_from_mi(np.ones((3, 4))) == pytest.approx(0.0)


def _split(seed: int = 0):
    data = ToyGroundTruthData([3, 4, 5, 3])
    rng = np.random.default_rng(seed)
    return data.sample_factors(2000, rng), data.sample_factors(1000, rng)


def test_modularity_of_factors_and_of_zeros():
    train, _ = _split()
    assert modularity(train.astype(float), train) >= 0.9
    assert modularity(np.zeros((len(train), 4)), train) <= 0.2


def test_explicitness_of_factors_and_of_zeros():
    train, test = _split()
    good = explicitness(train.astype(float), train, test.astype(float), test)
    assert good["train"] >= 0.9 and good["test"] >= 0.9
    zeros = explicitness(np.zeros((len(train), 4)), train, np.zeros((len(test), 4)), test)
    assert zeros["test"] == pytest.approx(0.5)


def test_registered_and_bad_input_refused():
    assert METRICS["modularity"].function is modularity
    assert METRICS["explicitness"].function is explicitness
    with pytest.raises(ValueError):
        modularity_from_mi(np.ones((3, 1)))
