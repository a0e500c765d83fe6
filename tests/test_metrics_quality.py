import numpy as np
import pytest

from metrics import METRICS
from metrics.quality import frechet_distance


def _features(n=2000, f=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, f)) @ rng.normal(size=(f, f))


def test_identical_sets_are_at_distance_zero():
    a = _features()
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)


def test_shifted_mean_gives_squared_shift():
    a = _features()
    d = np.linspace(-1.0, 2.0, a.shape[1])
    assert frechet_distance(a, a + d) == pytest.approx(float(d @ d), rel=1e-6)


def test_gaussians_with_known_covariances():
    # 1-D: d^2 = (m_a - m_b)^2 + (s_a - s_b)^2
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50000, 1))
    a = (a - a.mean()) / a.std(ddof=1)
    b = 3.0 * a + 1.0
    assert frechet_distance(a, b) == pytest.approx(1.0 + 4.0, rel=1e-6)


def test_singular_covariances_stay_finite():
    rng = np.random.default_rng(0)
    a = np.hstack([rng.normal(size=(100, 3)), np.zeros((100, 5))])  # rank 3 of 8
    b = np.hstack([rng.normal(size=(100, 3)), np.zeros((100, 5))])
    distance = frechet_distance(a, b)
    assert np.isfinite(distance) and distance >= 0
    assert distance == pytest.approx(frechet_distance(a[:, :3], b[:, :3]), abs=1e-4)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-4)


def test_registered_as_lower_is_better_and_bad_input_refused():
    assert METRICS["frechet_distance"].higher_is_better is False
    with pytest.raises(ValueError):
        frechet_distance(_features(f=4), _features(f=5))
    with pytest.raises(ValueError):
        frechet_distance(np.ones((1, 3)), np.ones((5, 3)))
