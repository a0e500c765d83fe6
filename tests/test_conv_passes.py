"""The convolution pass benchmark: its FLOP count, its im2col weight gradient and its table."""

import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from bench.benchmarks.conv_passes import conv_flops, main, weight_gradient_im2col
from bench.benchmarks.strided_conv_forms import mnist_roles
from models.infogan import default_precision


@pytest.mark.parametrize("role", mnist_roles(batch_size=2), ids=lambda role: role.name)
def test_the_pass_flops_are_what_torch_counts_for_the_forward_pass(role):
    x, weight = torch.randn(role.input_shape), torch.randn(role.weight_shape)
    conv = F.conv_transpose2d if role.transposed else F.conv2d
    with FlopCounterMode(display=False) as counter:
        conv(x, weight, stride=2, padding=1)
    assert conv_flops(role) == counter.get_total_flops()


@pytest.mark.parametrize("in_channels", [1, 3])
def test_the_im2col_weight_gradient_is_the_convolutions(in_channels):
    """In float64, against autograd through conv2d (kernel 4, stride 2, padding 1)."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(3, in_channels, 10, 8, generator=generator, dtype=torch.float64)
    weight = torch.randn(5, in_channels, 4, 4, generator=generator, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(3, 5, 5, 4, generator=generator, dtype=torch.float64)
    F.conv2d(x, weight, stride=2, padding=1).backward(grad_out)
    computed = weight_gradient_im2col(grad_out, x)
    torch.testing.assert_close(computed, weight.grad, rtol=1e-12, atol=1e-12)
    # the comparison can fail: windows read one pixel off give another gradient
    shifted = weight_gradient_im2col(grad_out, torch.roll(x, 1, dims=-1))
    assert not torch.allclose(shifted, weight.grad)


def test_the_benchmark_writes_one_row_per_pass_a_role_takes(tmp_path):
    """In the device's default precision (fp32 where bf16 is emulated); a small peak product, as a
    bf16 one of the default size takes minutes where bf16 is emulated."""
    table = main(["--calls", "1", "--repeats", "1", "--batch-size", "4", "--peak-size", "256", "--out", str(tmp_path)])
    written = pd.read_csv(tmp_path / "conv_passes.csv")
    passes = dict(written.groupby("layer", sort=False)["pass"].apply(list))
    assert passes["D conv1 1->64, D step"] == ["forward", "weight gradient", "weight gradient, im2col + matmul"]
    assert passes["D conv1 1->64, G step"] == ["forward", "input gradient"]
    assert passes["G upconv 128->64"] == ["forward", "input gradient", "weight gradient"]
    assert len(written) == len(table) == 17
    assert (written[["ms", "gflops", "share_of_peak"]] > 0).all().all()
    assert set(written["precision"]) == {default_precision(torch.device("cpu"))}


def test_the_other_precision_can_be_asked_for(tmp_path):
    """bf16 where fp32 is the default and the reverse; a batch of 2, so that emulated bf16 is quick."""
    other = "fp32" if default_precision(torch.device("cpu")) == "bf16" else "bf16"
    table = main(["--calls", "1", "--repeats", "1", "--batch-size", "2", "--peak-size", "64", "--precision", other,
                  "--out", str(tmp_path)])
    assert set(table["precision"]) == {other} and (table["ms"] > 0).all()
