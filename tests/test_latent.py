import math

import torch

from models.latent import CategoricalCode, LatentSpec, UniformCode


def test_entropies_closed_form():
    assert math.isclose(CategoricalCode(10).entropy(), math.log(10))
    assert math.isclose(UniformCode("c").entropy(), math.log(2))
    assert math.isclose(UniformCode("c", low=0, high=5).entropy(), math.log(5))


def test_categorical_log_likelihood_is_log_softmax():
    code = CategoricalCode(4)
    logits = torch.tensor([[1.0, 2.0, 0.5, -1.0]])
    value = torch.tensor([[0.0, 1.0, 0.0, 0.0]])
    expected = 2.0 - math.log(sum(math.exp(v) for v in (1.0, 2.0, 0.5, -1.0)))
    assert math.isclose(code.log_likelihood(logits, value).item(), expected, rel_tol=1e-6)


def test_uniform_code_gaussian_log_likelihood():
    value = torch.tensor([[0.3]])
    learned = UniformCode("c", learn_std=True)
    mean, log_std = 0.1, math.log(0.5)
    expected = -0.5 * ((0.3 - mean) / 0.5) ** 2 - math.log(0.5) - 0.5 * math.log(2 * math.pi)
    got = learned.log_likelihood(torch.tensor([[mean, log_std]]), value).item()
    assert math.isclose(got, expected, rel_tol=1e-6)
    fixed = UniformCode("c", learn_std=False)
    expected_fixed = -0.5 * (0.3 - mean) ** 2 - 0.5 * math.log(2 * math.pi)
    assert math.isclose(fixed.log_likelihood(torch.tensor([[mean]]), value).item(), expected_fixed, rel_tol=1e-6)


def test_priors_and_spec_dimensions():
    spec = LatentSpec(62, (CategoricalCode(10), UniformCode("c1"), UniformCode("c2")))
    assert spec.input_dim == 74 and spec.q_dim == 14
    g = torch.Generator().manual_seed(0)
    cat, c1, _ = spec.sample_codes(5000, torch.device("cpu"), g)
    assert torch.all(cat.sum(1) == 1)
    counts = cat.sum(0)
    assert counts.min() > 400  # about 500 per category
    assert c1.min() >= -1 and c1.max() <= 1 and abs(c1.mean().item()) < 0.05
    noise = spec.sample_noise(5000, torch.device("cpu"), g)
    assert noise.shape == (5000, 62) and noise.min() >= -1 and noise.max() <= 1


def test_uniform_prior_has_the_entropy_the_bound_uses():
    # A perfect Q for a uniform code would be the uniform density 1/2: E[log q] + H = 0 nats.
    # A Gaussian Q centred on the true value with small std beats that: L_I > 0.
    code = UniformCode("c")
    value = code.sample(10_000, torch.device("cpu"), torch.Generator().manual_seed(1))
    q = torch.cat([value, torch.full_like(value, math.log(0.1))], dim=1)
    bound = code.log_likelihood(q, value).mean().item() + code.entropy()
    assert bound > 1.0
