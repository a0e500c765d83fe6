"""The one-channel layers' one-channel pass as a matrix product and a col2im, timed layer by layer and in the step.

    python -m bench.benchmarks.thin_layers [--pairs 15] [--steps 20] [--calls 30] [--repeats 7]
        [--precision bf16] [--batch-size 128] [--out results/bench_thin_layers]

G's last MNIST layer (a transposed convolution from 64 channels to one) and the input gradient of
D's first (a convolution from one channel to 64, in G's step) compute the same thing: every input
pixel's C values spread over a 4x4 window of a one-channel map, overlapping windows added.
oneDNN's kernels for it run at a few per cent of the CPU's matmul peak (conv_passes). Written as
one product per image, columns = W^T [k*k, C] x x [C, h*w], whose columns col2im (``F.fold``)
adds into the map, it is the thin form here: ``ThinConvTranspose2d`` computes its forward pass
so, ``ThinConv2d`` its input gradient, and both take every other pass (the convolution's
forward, the transposed convolution's gradients, the weight and bias gradients) from PyTorch's
kernels, on the CPU; elsewhere they are PyTorch's layers. The script measures what that gives
against PyTorch's layers throughout, in two ways:

* each of the two layers in its roles in the step (strided_conv_forms' roles with a one-channel
  side), under bf16 autocast with the gradients the role takes, the two forms alternating over
  ``repeats`` repeats of ``calls`` calls: ``<out>/thin_layers_roles.csv``;
* the whole training step (fused Adam, ``--precision``) with either kind of layer, from the same
  weights, in one process: ``pairs`` pairs of ``steps``-step blocks, the order alternating from
  pair to pair, the median and range of the per-pair ratios and the Wilcoxon signed-rank
  p-value: ``<out>/thin_layers_step.csv`` (each pair's rates: ``thin_layers_step_pairs.csv``).
"""

from __future__ import annotations

import argparse
import statistics
from functools import partial
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from bench.aggregate import write_csv
from bench.benchmarks.paired import in_turn, paired_ratios, rates_in_rounds
from bench.benchmarks.strided_conv_forms import (Form, LayerRole, conv_standard, milliseconds_per_call,
                                                 mnist_roles, role_tensors, upconv_standard)
from bench.perf import PerfConfig, random_images, toolkit_loop

CPU = torch.device("cpu")
FORMS = ("standard", "thin")


def transposed_as_fold(x: torch.Tensor, weight: torch.Tensor, output_size: tuple[int, int],
                       stride: int, padding: int) -> torch.Tensor:
    """conv_transpose2d(x, weight) for x [n, C, h, w] and weight [C, O, k, k], as
    fold(W^T x): the product gives each input pixel's O*k*k contributions, col2im adds them up."""
    columns = torch.matmul(weight.flatten(1).t(), x.flatten(2))
    return F.fold(columns, output_size, weight.shape[-2:], stride=stride, padding=padding)


class _StridedConvolution(torch.autograd.Function):
    """A convolution function of (x, weight, bias, stride, padding) that keeps x and the weight
    for its backward pass; vmap runs it per copy (stacked seeds)."""

    generate_vmap_rule = True

    @staticmethod
    def setup_context(ctx, inputs, output):
        x, weight, _, ctx.stride, ctx.padding = inputs
        ctx.save_for_backward(x, weight)


class _FoldedConvTranspose(_StridedConvolution):
    """conv_transpose2d with its forward pass as ``transposed_as_fold`` and its backward pass as
    PyTorch's (aten.convolution_backward: d/dx is a convolution with the same weight)."""

    @staticmethod
    def forward(x, weight, bias, stride, padding):
        size = tuple((s - 1) * stride - 2 * padding + k for s, k in zip(x.shape[-2:], weight.shape[-2:]))
        return transposed_as_fold(x, weight, size, stride, padding) + bias.view(1, -1, 1, 1)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grads = _convolution_backward(grad, x, weight, ctx, transposed=True, mask=ctx.needs_input_grad[:3])
        return *grads, None, None


class _ConvFoldedInputGradient(_StridedConvolution):
    """conv2d with PyTorch's forward pass and weight and bias gradients, and its input gradient
    (a transposed convolution with the same weight) as ``transposed_as_fold``."""

    @staticmethod
    def forward(x, weight, bias, stride, padding):
        return F.conv2d(x, weight, bias, stride, padding)

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        needs_x, needs_w, needs_b = ctx.needs_input_grad[:3]
        grad_x = transposed_as_fold(grad, weight, x.shape[-2:], ctx.stride, ctx.padding) if needs_x else None
        _, grad_w, grad_b = _convolution_backward(grad, x, weight, ctx, transposed=False,
                                                  mask=(False, needs_w, needs_b))
        return grad_x, grad_w, grad_b, None, None


def _convolution_backward(grad, x, weight, ctx, transposed: bool, mask) -> tuple:
    """PyTorch's backward pass of the layer (ctx holds its stride and padding), the gradients
    ``mask`` asks for (input, weight, bias), None for the others."""
    if not any(mask):
        return None, None, None
    bias_size = [weight.shape[1] if transposed else weight.shape[0]]
    stride, padding = [ctx.stride] * 2, [ctx.padding] * 2
    grads = torch.ops.aten.convolution_backward(grad, x, weight, bias_size, stride, padding, [1, 1], transposed,
                                                [0, 0], 1, list(mask))
    return tuple(g if wanted else None for g, wanted in zip(grads, mask))


def _apply_as_autocast_would(function: type[torch.autograd.Function], x: torch.Tensor, weight: torch.Tensor,
                             bias: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """``function`` on x, weight and bias in the dtype the layer runs in: under CPU autocast cast
    to the autocast dtype, as autocast casts a convolution's arguments, else as they are."""
    if torch.is_autocast_enabled("cpu"):
        dtype = torch.get_autocast_dtype("cpu")
        x, weight, bias = x.to(dtype), weight.to(dtype), bias.to(dtype)
    with torch.autocast("cpu", enabled=False):
        return function.apply(x, weight, bias, stride, padding)


def conv_transpose2d_thin(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int,
                          padding: int) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight, bias, stride, padding)`` with its forward pass as one matrix
    product and a col2im (``transposed_as_fold``)."""
    return _apply_as_autocast_would(_FoldedConvTranspose, x, weight, bias, stride, padding)


def conv2d_thin(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, stride: int,
                padding: int) -> torch.Tensor:
    """``F.conv2d(x, weight, bias, stride, padding)`` with its input gradient as one matrix
    product and a col2im (``transposed_as_fold``)."""
    return _apply_as_autocast_would(_ConvFoldedInputGradient, x, weight, bias, stride, padding)


def _check(layer: nn.Module) -> None:
    """Refuse the layers the thin forms do not handle."""
    square = all(a == b for a, b in (layer.stride, layer.padding, layer.kernel_size))
    if not square or layer.bias is None or layer.groups != 1 or layer.dilation != (1, 1) \
            or layer.padding_mode != "zeros":
        raise ValueError("square kernel, stride and padding, a bias, no groups, no dilation, zero padding")


class ThinConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d whose forward pass on the CPU is ``conv_transpose2d_thin`` (meant for an
    output of one channel)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _check(self)
        if self.output_padding != (0, 0):
            raise ValueError("no output padding")

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        if x.device.type != "cpu" or output_size is not None:
            return super().forward(x, output_size)
        return conv_transpose2d_thin(x, self.weight, self.bias, self.stride[0], self.padding[0])


class ThinConv2d(nn.Conv2d):
    """nn.Conv2d whose input gradient on the CPU is ``conv2d_thin``'s (meant for an input of one
    channel)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _check(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            return super().forward(x)
        return conv2d_thin(x, self.weight, self.bias, self.stride[0], self.padding[0])


def thin_roles(batch_size: int) -> list[LayerRole]:
    """The step's roles of the layers with a one-channel side."""
    return [role for role in mnist_roles(batch_size)
            if (role.out_channels if role.transposed else role.input_shape[1]) == 1]


def role_forms(role: LayerRole) -> dict[str, Form]:
    """PyTorch's form of the role's layer and the thin one (kernel 4, stride 2, padding 1)."""
    if role.transposed:
        return {"standard": upconv_standard, "thin": partial(conv_transpose2d_thin, stride=2, padding=1)}
    return {"standard": conv_standard, "thin": partial(conv2d_thin, stride=2, padding=1)}


def time_roles(batch_size: int, calls: int, repeats: int) -> pd.DataFrame:
    """Median ms per call of each form per role, and the median and range of the per-repeat ratios
    (standard over thin: above 1, the thin form is faster)."""
    rows = []
    for role in thin_roles(batch_size):
        tensors, forms = role_tensors(role), role_forms(role)
        times = {form: [] for form in FORMS}
        for repeat in range(repeats):
            for form in in_turn(FORMS, repeat):
                times[form].append(milliseconds_per_call(forms[form], tensors, calls))
        ratios = [a / b for a, b in zip(times["standard"], times["thin"])]
        rows.append({"layer": role.name, "input": "x".join(map(str, role.input_shape)),
                     "input_gradient": role.input_grad, "weight_gradient": role.weight_grad,
                     "standard_ms": statistics.median(times["standard"]), "thin_ms": statistics.median(times["thin"]),
                     "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)})
    return pd.DataFrame(rows)


def thin_copy(layer: nn.Conv2d | nn.ConvTranspose2d) -> nn.Module:
    """The thin form of a kernel-4, stride-2, padding-1 layer, holding its weights."""
    thin_class = ThinConvTranspose2d if isinstance(layer, nn.ConvTranspose2d) else ThinConv2d
    thin = thin_class(layer.in_channels, layer.out_channels, layer.kernel_size, stride=layer.stride,
                      padding=layer.padding).to(layer.weight.device)
    thin.load_state_dict(layer.state_dict())
    return thin


def use_thin_layers(generator: nn.Module, discriminator: nn.Module) -> None:
    """Replace, in place, G's last and D's first layer of the MNIST networks (models.networks)
    by their thin forms."""
    generator.conv[3] = thin_copy(generator.conv[3])
    discriminator.body[0] = thin_copy(discriminator.body[0])


def time_steps(precision: str, batch_size: int, steps: int, pairs: int) -> pd.DataFrame:
    """One row per pair: the images/s of a ``steps``-step block of ``bench perf``'s toolkit loop
    (fused Adam, ``precision``) with PyTorch's layers and with the thin ones."""
    config, variant = PerfConfig(batch_size=batch_size), f"toolkit-{precision}+fused"
    data = random_images(config.suite, 60000)
    loops = {form: toolkit_loop(config, variant, data, CPU, use_thin_layers if form == "thin" else None)
             for form in FORMS}
    for loop in loops.values():
        for _ in range(5):
            loop()
    rounds = rates_in_rounds(loops, steps, pairs, batch_size, CPU)
    return rounds.rename(columns={"round": "pair", **{form: f"{form}_images_per_s" for form in FORMS}})


def summarise_steps(blocks: pd.DataFrame, precision: str) -> pd.DataFrame:
    """The step table's one row: each form's median images/s and the paired ratio, thin over standard."""
    ratios = paired_ratios(blocks["thin_images_per_s"], blocks["standard_images_per_s"])
    return pd.DataFrame([{
        "precision": precision, "pairs": len(blocks),
        "standard_images_per_s": blocks["standard_images_per_s"].median(),
        "thin_images_per_s": blocks["thin_images_per_s"].median(),
        "ratio": ratios.median, "ratio_min": ratios.low, "ratio_max": ratios.high,
        "pairs_above_1": ratios.above_1, "wilcoxon_p": ratios.wilcoxon_p, "threads": torch.get_num_threads()}])


def main(argv: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=15, help="pairs of step blocks")
    parser.add_argument("--steps", type=int, default=20, help="training steps per block")
    parser.add_argument("--calls", type=int, default=30, help="timed calls per layer form and repeat")
    parser.add_argument("--repeats", type=int, default=7, help="repeats of the layer timings")
    parser.add_argument("--precision", default="bf16", choices=("bf16", "fp32"))
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", default="results/bench_thin_layers")
    args = parser.parse_args(argv)
    roles = time_roles(args.batch_size, args.calls, args.repeats)
    write_csv(roles, Path(args.out) / "thin_layers_roles.csv")
    print(f"{torch.get_num_threads()} threads; layers under bf16 autocast, {args.repeats} repeats of {args.calls} calls")
    print(roles.round(3).to_string(index=False))
    blocks = time_steps(args.precision, args.batch_size, args.steps, args.pairs)
    steps = summarise_steps(blocks, args.precision)
    write_csv(blocks, Path(args.out) / "thin_layers_step_pairs.csv")
    write_csv(steps, Path(args.out) / "thin_layers_step.csv")
    print(f"\ntraining step ({args.precision}, fused Adam), {args.pairs} pairs of {args.steps} steps")
    print(steps.round(3).to_string(index=False))
    return roles, steps


if __name__ == "__main__":
    main()
