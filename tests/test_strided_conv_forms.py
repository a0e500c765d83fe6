"""The space-to-depth forms of the networks' stride-2 layers compute what the standard ones do."""

import pandas as pd
import pytest
import torch

from bench.benchmarks.strided_conv_forms import main, mnist_roles


@pytest.mark.parametrize("role", mnist_roles(batch_size=3), ids=lambda role: role.name)
def test_both_forms_give_the_same_outputs_and_gradients(role):
    """In float64, on random inputs of the layer's shape (batch 3 and 6), the outputs and the
    gradients of the input, weight and bias agree to rounding."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(role.input_shape, generator=generator, dtype=torch.float64)
    weight = torch.randn(role.weight_shape, generator=generator, dtype=torch.float64)
    bias = torch.randn(role.out_channels, generator=generator, dtype=torch.float64)
    results = []
    for form in role.forms():
        tensors = [t.clone().requires_grad_() for t in (x, weight, bias)]
        out = form(*tensors)
        out.backward(torch.linspace(-1, 1, out.numel(), dtype=torch.float64).view(out.shape))
        results.append([out.detach()] + [t.grad for t in tensors])
    standard, rewritten = results
    assert standard[0].shape == rewritten[0].shape
    for a, b in zip(standard, rewritten):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10)


def test_a_displaced_tap_is_caught():
    """The comparison can fail: the phase form with its kernel mirrored disagrees."""
    role = next(r for r in mnist_roles(batch_size=2) if r.transposed)
    standard, phases = role.forms()
    x = torch.randn(role.input_shape, dtype=torch.float64)
    weight = torch.randn(role.weight_shape, dtype=torch.float64)
    bias = torch.zeros(role.out_channels, dtype=torch.float64)
    assert not torch.allclose(phases(x, weight.flip(-1), bias), standard(x, weight, bias))


def test_the_benchmark_writes_one_row_per_layer_role(tmp_path):
    table = main(["--calls", "1", "--repeats", "1", "--batch-size", "4", "--out", str(tmp_path)])
    written = pd.read_csv(tmp_path / "strided_conv_forms.csv")
    assert list(written["layer"]) == [role.name for role in mnist_roles()] == list(table["layer"])
    assert (written[["standard_ms", "space_to_depth_ms", "ratio"]] > 0).all().all()
