"""bf16 autocast's error in the step's gradients, against the minibatch spread."""

import math

import torch

from bench.benchmarks.bf16_gradients import PLACEMENTS, TERMS, compare_terms, gradient_terms, measure_state, mnist_step


def _gradients(count: int, size: int, seed: int) -> list[torch.Tensor]:
    rng = torch.Generator().manual_seed(seed)
    return [torch.randn(size, generator=rng) for _ in range(count)]


def test_noise_like_errors_average_out_and_a_bias_does_not():
    base = torch.ones(4000)
    exact = [base + g for g in _gradients(64, 4000, 0)]  # mean gradient ~ base, batch noise of the same size
    noise = [0.1 * g for g in _gradients(64, 4000, 1)]
    noisy = compare_terms([{"t": e} for e in exact], [{"t": e + n} for e, n in zip(exact, noise)]).iloc[0]
    biased = compare_terms([{"t": e} for e in exact], [{"t": e - 0.1 * base} for e in exact]).iloc[0]
    assert noisy["batches"] == 64 and math.isclose(noisy["grad_norm"], math.sqrt(2 * 4000), rel_tol=0.05)
    assert math.isclose(noisy["bf16_rel_error"], 0.1 / math.sqrt(2), rel_tol=0.05)
    assert math.isclose(noisy["batch_rel_noise"], 1 / math.sqrt(2), rel_tol=0.05)  # |g_b - base| / |g_b|
    assert math.isclose(noisy["error_averaging"], 8.0, rel_tol=0.05)  # sqrt(64)
    assert math.isclose(biased["bf16_rel_error"], 0.1 / math.sqrt(2), rel_tol=0.05)
    assert math.isclose(biased["error_averaging"], 1.0, rel_tol=1e-9)


def test_the_four_gradients_are_exact_in_fp32_and_close_under_bf16():
    step = mnist_step(None)
    rng = torch.Generator().manual_seed(3)
    real = torch.rand(16, 1, 28, 28, generator=rng)
    noise, codes = step.latent.sample_noise(16, step.device, rng), step.latent.sample_codes(16, step.device, rng)
    first, again = (gradient_terms(step, real, noise, codes, "fp32") for _ in range(2))
    bf16 = gradient_terms(step, real, noise, codes, "bf16")
    sizes = {"g": sum(p.numel() for p in step.generator.parameters()),
             "d": sum(p.numel() for p in step.discriminator.parameters())}
    assert set(first) == set(TERMS)
    for term in TERMS:
        assert first[term].numel() == sizes[term[0]] and first[term].norm() > 0
        assert torch.equal(first[term], again[term])
        error = ((bf16[term] - first[term]).norm() / first[term].norm()).item()
        assert 0 < error < 0.5, (term, error)


def test_bf16_in_either_network_alone_moves_every_gradient():
    step = mnist_step(None)
    rng = torch.Generator().manual_seed(4)
    real = torch.rand(16, 1, 28, 28, generator=rng)
    noise, codes = step.latent.sample_noise(16, step.device, rng), step.latent.sample_codes(16, step.device, rng)
    exact = gradient_terms(step, real, noise, codes, "fp32")
    error = {placement: {term: ((grads[term] - exact[term]).norm() / exact[term].norm()).item() for term in TERMS}
             for placement, grads in ((p, gradient_terms(step, real, noise, codes, g, d))
                                      for p, (g, d) in PLACEMENTS.items())}
    assert all(0 < error["d"][term] < 0.5 for term in TERMS)  # every gradient passes through D
    assert all(0 < error["g"][term] < 0.5 for term in TERMS)  # and every one starts from G's images
    assert all(len({error[p][term] for p in PLACEMENTS}) == 3 for term in TERMS)  # three distinct roundings


def test_measure_state_gives_a_row_per_term_from_uint8_images():
    images = torch.randint(0, 256, (300, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    table = measure_state(mnist_step(None), images, batches=2, batch_size=16)
    assert list(table["term"]) == list(TERMS) * len(PLACEMENTS) and (table["batches"] == 2).all()
    assert list(table["bf16_in"]) == [placement for placement in PLACEMENTS for _ in TERMS]
    assert (table["bf16_rel_error"] > 0).all() and (table["batch_rel_noise"] > 0).all()
    assert (table["error_averaging"] >= 1 - 1e-9).all()
