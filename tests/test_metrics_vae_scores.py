import numpy as np
import pytest

from metrics import METRICS
from metrics.testing import ToyGroundTruthData
from metrics.vae_scores import _factor_vae_votes, beta_vae_score, factor_vae_score

SIZES = [3, 4, 5, 6, 4, 5]  # six factors: chance level is 1/6
FAST = dict(num_train=300, num_eval=300)


@pytest.fixture
def data() -> ToyGroundTruthData:
    return ToyGroundTruthData(SIZES, image_dim=10)


def _zeros(images: np.ndarray) -> np.ndarray:
    return np.zeros((len(images), len(SIZES)))


def test_factor_vae_perfect_and_zero(data):
    perfect = factor_vae_score(data, data.factors_of, 0, num_variance_estimate=2000, **FAST)
    assert perfect["eval_accuracy"] >= 0.9 and perfect["num_active_dims"] == len(SIZES)
    zero = factor_vae_score(data, _zeros, 0, num_variance_estimate=2000, **FAST)
    assert zero == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_factor_vae_votes_land_on_the_real_dims(data):
    # dim 0 is collapsed and pruned: fixing factor k must vote for dim k + 1, not dim k
    def representation(images):
        return np.hstack([np.full((len(images), 1), 3.0), data.factors_of(images)])

    scores = factor_vae_score(data, representation, 0, num_variance_estimate=2000, **FAST)
    assert scores["num_active_dims"] == len(SIZES) and scores["eval_accuracy"] >= 0.9
    rng = np.random.default_rng(0)
    variances = np.array([0.0] + [1.0] * len(SIZES))
    votes = _factor_vae_votes(data, representation, rng, 200, 64, variances, variances > 0)
    assert votes[:, 0].sum() == 0
    assert np.all(votes[:, 1:] == np.diag(np.diag(votes[:, 1:])))


def test_factor_vae_prunes_by_standard_deviation(data):
    # dims 0..5: std <= 0.02, pruned; dims 6..11: std 0.16..0.34, kept although several have
    # a variance below 0.05
    def representation(images):
        factors = data.factors_of(images)
        return np.hstack([0.01 * factors, 0.2 * factors])

    scores = factor_vae_score(data, representation, 0, num_variance_estimate=2000, **FAST)
    assert scores["num_active_dims"] == len(SIZES) and scores["eval_accuracy"] >= 0.9


def test_beta_vae_perfect_and_zero(data):
    assert beta_vae_score(data, data.factors_of, 0, **FAST)["eval_accuracy"] >= 0.9
    assert beta_vae_score(data, _zeros, 0, **FAST)["eval_accuracy"] <= 0.2


def test_scores_are_reproducible_and_accept_torch_outputs(data):
    import torch

    def as_tensor(images):
        return torch.as_tensor(data.factors_of(images))

    a = beta_vae_score(data, as_tensor, np.random.default_rng(5), num_train=50, num_eval=50)
    b = beta_vae_score(data, data.factors_of, 5, num_train=50, num_eval=50)
    assert a == b


def test_registered_and_bad_input_refused(data):
    assert METRICS["factor_vae_score"].function is factor_vae_score
    assert METRICS["beta_vae_score"].function is beta_vae_score
    with pytest.raises(ValueError):
        factor_vae_score(data, data.factors_of, 0, batch_size=1)
    with pytest.raises(ValueError):
        beta_vae_score(data, lambda images: np.zeros(len(images)), 0, num_train=5, num_eval=5)
