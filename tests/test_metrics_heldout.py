import math

import numpy as np
import pytest
import torch

from metrics import METRICS
from metrics.heldout import CategoricalTarget, RecogniserConfig, UniformTarget, mi_heldout, targets_for
from models.latent import CategoricalCode, UniformCode

CODES = [CategoricalTarget(10, "cat"), UniformTarget("c1")]
FAST = RecogniserConfig(num_train=3000, num_eval=1500, hidden=64, steps=400, batch_size=128, lr=3e-3, eval_every=50)


@pytest.fixture(autouse=True)
def _one_thread():
    # tiny matrix products: threads only add contention on a busy machine
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _codes(n, rng):
    return rng.integers(10, size=n), rng.uniform(-1, 1, size=n)


def writes_codes(n, rng):
    """The category as a noisy one-hot, the continuous code as a noisy pixel, plus noise pixels."""
    category, value = _codes(n, rng)
    images = np.hstack([
        np.eye(10)[category] + 0.2 * rng.normal(size=(n, 10)),
        value[:, None] + 0.05 * rng.normal(size=(n, 1)),
        rng.normal(size=(n, 20)),
    ])
    return np.stack([category, value], axis=1), images.reshape(n, 1, 31)


def ignores_codes(n, rng):
    category, value = _codes(n, rng)
    noise = torch.Generator().manual_seed(int(rng.integers(2**31)))
    return np.stack([category, value], axis=1), torch.randn(n, 31, generator=noise)


def test_generator_that_writes_its_codes():
    mi = mi_heldout(writes_codes, CODES, FAST)
    assert 2.0 < mi["cat"] <= math.log(10) + 0.01
    assert mi["c1"] > 1.0


def test_generator_that_ignores_its_codes():
    mi = mi_heldout(ignores_codes, CODES, FAST)
    assert abs(mi["cat"]) < 0.1
    # a Gaussian q of a uniform code: at best ln 2 - (1/2) ln(2 pi e / 3) = -0.18 nats
    assert -0.4 < mi["c1"] < 0.1


def test_reproducible_and_leaves_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    config = RecogniserConfig(num_train=200, num_eval=100, hidden=16, steps=20, eval_every=10)
    a = mi_heldout(writes_codes, CODES, config, seed=3)
    assert torch.rand(1) == expected
    assert mi_heldout(writes_codes, CODES, config, seed=3) == a


def test_targets_from_latent_codes_and_entropies():
    targets = targets_for([CategoricalCode(10, "digit"), UniformCode("slant")])
    assert targets == [CategoricalTarget(10, "digit"), UniformTarget("slant", -1.0, 1.0)]
    assert targets[0].entropy() == pytest.approx(math.log(10))
    assert targets[1].entropy() == pytest.approx(math.log(2))


def test_registered_and_bad_input_refused():
    assert METRICS["mi_heldout"].function is mi_heldout
    config = RecogniserConfig(num_train=20, num_eval=10, steps=1)
    with pytest.raises(ValueError):
        mi_heldout(writes_codes, [CategoricalTarget(10, "a"), CategoricalTarget(10, "a")], config)
    with pytest.raises(ValueError):
        mi_heldout(writes_codes, [CategoricalTarget(10, "cat")], config)  # two target columns for one code
    with pytest.raises(ValueError):
        CategoricalTarget(1)


def test_uniform_target_mixture_bounds_one_confident_miss():
    """A confident Gaussian far from the value scores ln(eps / (high - low)) at worst, not -1e6."""
    import math

    import torch

    from metrics.heldout import UniformTarget

    target = UniformTarget("c", prior_weight=0.01)
    params = torch.tensor([[0.9, -7.0]])  # mean 0.9, std e^-7
    value = torch.tensor([-0.9])
    assert math.isclose(target.log_likelihood(params, value).item(), math.log(0.01 / 2), rel_tol=1e-4)
    # ... and costs almost nothing where the Gaussian is right
    exact = UniformTarget("c", prior_weight=1e-9).log_likelihood(torch.tensor([[0.0, 0.0]]), torch.tensor([0.0]))
    mixed = target.log_likelihood(torch.tensor([[0.0, 0.0]]), torch.tensor([0.0]))
    assert abs(exact.item() - mixed.item()) < 0.011
