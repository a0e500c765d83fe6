"""The networks' stride-2 convolutions in two forms, each layer timed in its role in the training step.

    python -m bench.benchmarks.strided_conv_forms [--calls 30] [--repeats 7] [--out results/bench_strided_conv_forms]

The standard form is what the networks run: ``conv2d`` and ``conv_transpose2d`` with kernel 4,
stride 2 and padding 1. The space-to-depth form computes the same thing with stride-1
convolutions of kernel 2:

* A 4x4 convolution of stride 2 over the input padded by 1 reads, for output pixel (i, j),
  rows and columns 2i..2i+3 and 2j..2j+3. Cut the padded input into 2x2 blocks
  (``pixel_unshuffle``, 4 times the channels) and that window is 2x2 blocks, so the layer is a
  2x2 convolution of stride 1 with the same weights regrouped:
  W'[o, 4c + 2ry + rx, by, bx] = W[o, c, 2by + ry, 2bx + rx].
* A 4x4 transposed convolution of stride 2 and padding 1 writes output row 2m + r from input
  rows m - 1 and m (taps 3 and 1) when r = 0, and from rows m and m + 1 (taps 2 and 0) when
  r = 1. One 2x2 convolution of the input padded by 1, with 4 times the output channels (one
  set per output phase (ry, rx)), gives all four phases; each is cut to size and the four are
  interleaved into the output.

Each layer runs under bf16 autocast on the CPU with the gradients its role in the step needs: in
the D step D's convolutions on the joint batch (real and fake, 256 images) with weight
gradients (and conv2 with its input gradient, which conv1's weights need); in the G step D's
convolutions on 128 fakes with the input gradient alone (D's weights get none there); G's
upconvolutions on 128 images, forward and backward with every gradient. A repeat times
``calls`` calls of each form after 3 warm-up calls, alternating between the forms, and the table
(``<out>/strided_conv_forms.csv``) gives each form's median milliseconds per call and the median
of the per-repeat ratios (standard over space-to-depth; above 1, space-to-depth is faster).
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from bench.aggregate import write_csv
from bench.perf import seeded_networks, time_block

Form = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]  # (input, weight, bias) -> output

# Kernel taps of a 4x4, stride-2, padding-1 transposed convolution: output phase r reads its
# two input rows (m - 1 + r, m + r) with taps PHASE_TAPS[r].
PHASE_TAPS = torch.tensor([[3, 1], [2, 0]])


def conv_standard(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The layer as nn.Conv2d(kernel 4, stride 2, padding 1) runs it."""
    return F.conv2d(x, weight, bias, stride=2, padding=1)


def conv_space_to_depth(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``conv2d(x, weight, bias, stride=2, padding=1)`` for a 4x4 ``weight`` [o, c, 4, 4] and even
    input sizes, as a stride-1 2x2 convolution of the padded input cut into 2x2 blocks."""
    out_channels, in_channels = weight.shape[:2]
    blocks = weight.view(out_channels, in_channels, 2, 2, 2, 2)  # [o, c, by, ry, bx, rx]
    regrouped = blocks.permute(0, 1, 3, 5, 2, 4).reshape(out_channels, in_channels * 4, 2, 2)
    return F.conv2d(F.pixel_unshuffle(F.pad(x, (1, 1, 1, 1)), 2), regrouped, bias)


def upconv_standard(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """The layer as nn.ConvTranspose2d(kernel 4, stride 2, padding 1) runs it."""
    return F.conv_transpose2d(x, weight, bias, stride=2, padding=1)


def upconv_phases(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``conv_transpose2d(x, weight, bias, stride=2, padding=1)`` for a 4x4 ``weight`` [c, o, 4, 4],
    as one stride-1 2x2 convolution to 4 o channels (the output's four phases), interleaved."""
    n, _, height, width = x.shape
    in_channels, out_channels = weight.shape[:2]
    taps = weight[:, :, PHASE_TAPS][:, :, :, :, PHASE_TAPS]  # [c, o, ry, dy, rx, dx]
    phase_weight = taps.permute(1, 2, 4, 0, 3, 5).reshape(out_channels * 4, in_channels, 2, 2)
    phases = F.conv2d(F.pad(x, (1, 1, 1, 1)), phase_weight).view(n, out_channels, 2, 2, height + 1, width + 1)
    cut = torch.stack([torch.stack([phases[:, :, ry, rx, ry:ry + height, rx:rx + width] for rx in (0, 1)], dim=3)
                       for ry in (0, 1)], dim=2)  # [n, o, ry, m, rx, j]
    return cut.permute(0, 1, 3, 2, 5, 4).reshape(n, out_channels, 2 * height, 2 * width) + bias.view(1, -1, 1, 1)


@dataclass(frozen=True)
class LayerRole:
    """One layer in one role of the step: its input shape [n, c, h, w], weight shape, and which
    gradients the step takes through it."""

    name: str
    transposed: bool
    input_shape: tuple[int, int, int, int]
    weight_shape: tuple[int, int, int, int]
    input_grad: bool
    weight_grad: bool

    @property
    def out_channels(self) -> int:
        return self.weight_shape[1] if self.transposed else self.weight_shape[0]

    def forms(self) -> tuple[Form, Form]:
        """(standard form, stride-1 form) of this layer."""
        return (upconv_standard, upconv_phases) if self.transposed else (conv_standard, conv_space_to_depth)


def mnist_roles(batch_size: int = 128) -> list[LayerRole]:
    """The stride-2 layers of the MNIST suite's networks (models.networks) in the step's roles."""
    suite, G, D = seeded_networks("mnist", torch.device("cpu"))
    spec, joint = suite.network, 2 * batch_size
    roles, size = [], spec.image_size
    for k, conv in enumerate(m for m in D.body if isinstance(m, nn.Conv2d)):
        out_channels, in_channels = conv.weight.shape[:2]
        name = f"D conv{k + 1} {in_channels}->{out_channels}"
        roles += [LayerRole(f"{name}, D step", False, (joint, in_channels, size, size), tuple(conv.weight.shape),
                            k > 0, True),  # a later layer's input gradient reaches the earlier weights
                  LayerRole(f"{name}, G step", False, (batch_size, in_channels, size, size), tuple(conv.weight.shape),
                            True, False)]
        size //= 2
    size = spec.base_size
    for up in (m for m in G.conv if isinstance(m, nn.ConvTranspose2d)):
        in_channels, out_channels = up.weight.shape[:2]
        roles.append(LayerRole(f"G upconv {in_channels}->{out_channels}", True, (batch_size, in_channels, size, size),
                               tuple(up.weight.shape), True, True))
        size *= 2
    return roles


def role_tensors(role: LayerRole) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random fp32 input, weight and bias of the role's shapes, requiring the gradients it takes."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(role.input_shape, generator=generator).requires_grad_(role.input_grad)
    weight = (0.02 * torch.randn(role.weight_shape, generator=generator)).requires_grad_(role.weight_grad)
    return x, weight, torch.zeros(role.out_channels).requires_grad_(role.weight_grad)


def milliseconds_per_call(form: Form, tensors: tuple[torch.Tensor, ...], calls: int) -> float:
    """ms per call of ``form`` under bf16 autocast, forward and the backward pass its role takes."""
    def call() -> None:
        with torch.autocast("cpu", torch.bfloat16):
            out = form(*tensors)
        out.float().sum().backward()
        for tensor in tensors:
            tensor.grad = None

    for _ in range(3):
        call()
    return time_block(call, calls, torch.device("cpu")) / calls * 1e3


def time_role(role: LayerRole, calls: int, repeats: int) -> dict[str, object]:
    """Median ms per call of each form and the median and range of the per-repeat ratios."""
    tensors = role_tensors(role)
    standard, space_to_depth = role.forms()
    pairs = [(milliseconds_per_call(standard, tensors, calls), milliseconds_per_call(space_to_depth, tensors, calls))
             for _ in range(repeats)]
    ratios = [a / b for a, b in pairs]
    return {"layer": role.name, "input": "x".join(map(str, role.input_shape)),
            "standard_ms": statistics.median(a for a, _ in pairs),
            "space_to_depth_ms": statistics.median(b for _, b in pairs),
            "ratio": statistics.median(ratios), "ratio_min": min(ratios), "ratio_max": max(ratios)}


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=30, help="timed calls per form and repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", default="results/bench_strided_conv_forms")
    args = parser.parse_args(argv)
    table = pd.DataFrame([time_role(role, args.calls, args.repeats) for role in mnist_roles(args.batch_size)])
    write_csv(table, Path(args.out) / "strided_conv_forms.csv")
    print(f"{torch.get_num_threads()} threads, bf16 autocast, {args.repeats} repeats of {args.calls} calls")
    print(table.round(2).to_string(index=False))
    return table


if __name__ == "__main__":
    main()
