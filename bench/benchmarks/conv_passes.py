"""The rate of each pass of the networks' convolutions: forward, input gradient, weight gradient.

    python -m bench.benchmarks.conv_passes [--calls 20] [--repeats 5] [--peak-size 2048]
        [--precision bf16|fp32] [--out results/bench_conv_passes]

Each stride-2 layer of the MNIST networks, in each role it has in the training step (the shapes
of ``strided_conv_forms``: D's convolutions on the joint batch of 256 in the D step and on 128
fakes in the G step, G's upconvolutions on 128), is timed pass by pass on tensors of the
device's default precision (bf16, the dtype autocast gives them, where bf16 is native; fp32
elsewhere; ``--precision`` picks): ``aten.convolution`` for the forward pass and
``aten.convolution_backward`` with one output asked for at a time for the input gradient and
the weight gradient. Only the passes the role takes are timed (D's first layer needs no input
gradient in the D step, and D's weights get none in the G step). All three passes of a layer
do the same arithmetic, 2 x (output pixels of the convolution) x (input channels) x 16 FLOPs
(for a transposed convolution, its input pixels times its output channels), so their rates
compare directly, and against the device's matmul peak in the same precision, measured in the
same run.

For D's convolutions in the D step the weight gradient is also computed as one matrix product:
the input, padded and in channels-last order, viewed as its 4x4 windows (im2col; a strided view
copied once), times the output gradient, dW[o, (ky, kx, c)] = sum over (n, i, j) of
g[n, o, i, j] x[n, c, 2i + ky - 1, 2j + kx - 1]. Its shape (a reduction over every output pixel
of the batch into a small weight) is what keeps the weight gradient slow, not oneDNN's kernel.
Table: ``<out>/conv_passes.csv``, one row per layer role and pass.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from bench.aggregate import write_csv
from bench.benchmarks.strided_conv_forms import LayerRole, mnist_roles
from bench.perf import MATMUL_DTYPES, matmul_gflops, time_block
from models.infogan import default_precision

STRIDE, PADDING, KERNEL = [2, 2], [1, 1], 4
CPU = torch.device("cpu")


def conv_flops(role: LayerRole) -> float:
    """FLOPs of one pass of the layer: 2 multiply-adds' worth per weight tap and output pixel."""
    n, c, h, w = role.input_shape
    if role.transposed:
        return 2.0 * n * h * w * c * role.out_channels * KERNEL * KERNEL
    return 2.0 * n * (h // 2) * (w // 2) * role.out_channels * c * KERNEL * KERNEL


def weight_gradient_im2col(grad_out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The weight gradient [o, c, 4, 4] of ``conv2d(x, W, stride=2, padding=1)`` given the output
    gradient [n, o, h/2, w/2], as one matrix product of the output gradient and x's 4x4 windows."""
    n, c, h, w = x.shape
    out_channels, out_h, out_w = grad_out.shape[1:]
    padded = F.pad(x, (1, 1, 1, 1)).contiguous(memory_format=torch.channels_last)
    sn, sc, sh, sw = padded.stride()
    windows = padded.as_strided((n, out_h, out_w, KERNEL, KERNEL, c), (sn, 2 * sh, 2 * sw, sh, sw, sc))
    columns = windows.reshape(n * out_h * out_w, KERNEL * KERNEL * c)
    grad_rows = grad_out.permute(0, 2, 3, 1).reshape(n * out_h * out_w, out_channels)
    return (grad_rows.t() @ columns).view(out_channels, KERNEL, KERNEL, c).permute(0, 3, 1, 2)


def role_passes(role: LayerRole, dtype: torch.dtype) -> dict[str, Callable[[], object]]:
    """The passes the role takes, each a call on fixed random tensors of the role's shapes."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(role.input_shape, generator=generator).to(dtype)
    weight = (0.02 * torch.randn(role.weight_shape, generator=generator)).to(dtype)
    conv_args = (STRIDE, PADDING, [1, 1], role.transposed, [0, 0], 1)
    out = torch.ops.aten.convolution(x, weight, None, *conv_args)
    grad_out = torch.randn(out.shape, generator=generator).to(dtype)

    def backward(mask: list[bool]) -> Callable[[], object]:
        return lambda: torch.ops.aten.convolution_backward(grad_out, x, weight, None, *conv_args, mask)

    passes = {"forward": lambda: torch.ops.aten.convolution(x, weight, None, *conv_args)}
    if role.input_grad:
        passes["input gradient"] = backward([True, False, False])
    if role.weight_grad:
        passes["weight gradient"] = backward([False, True, False])
        if not role.transposed:
            passes["weight gradient, im2col + matmul"] = lambda: weight_gradient_im2col(grad_out, x)
    return passes


def time_passes(roles: list[LayerRole], calls: int, repeats: int, peak_gflops: float,
                dtype: torch.dtype) -> pd.DataFrame:
    """Median milliseconds per call of every pass of every role on ``dtype`` tensors (repeats go
    round the passes in turn), its GFLOP/s and its share of the matmul peak."""
    rows = []
    for role in roles:
        passes = role_passes(role, dtype)
        for run in passes.values():
            for _ in range(3):
                run()
        times: dict[str, list[float]] = {name: [] for name in passes}
        for _ in range(repeats):
            for name, run in passes.items():
                times[name].append(time_block(run, calls, CPU) / calls * 1e3)
        flops = conv_flops(role)
        for name, samples in times.items():
            ms = statistics.median(samples)
            gflops = flops / ms / 1e6
            rows.append({"layer": role.name, "input": "x".join(map(str, role.input_shape)), "pass": name,
                         "ms": ms, "ms_min": min(samples), "ms_max": max(samples), "gflops": gflops,
                         "share_of_peak": gflops / peak_gflops})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20, help="timed calls per pass and repeat")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--peak-size", type=int, default=2048,
                        help="side of the square matrix product that measures the peak")
    parser.add_argument("--precision", choices=sorted(MATMUL_DTYPES), default=default_precision(CPU),
                        help="tensors' precision (default: the device's, bf16 where it is native: %(default)s)")
    parser.add_argument("--out", default="results/bench_conv_passes")
    args = parser.parse_args(argv)
    dtype = MATMUL_DTYPES[args.precision]
    peak = matmul_gflops(CPU, dtype, size=args.peak_size)
    table = time_passes(mnist_roles(args.batch_size), args.calls, args.repeats, peak, dtype)
    table.insert(3, "precision", args.precision)
    write_csv(table, Path(args.out) / "conv_passes.csv")
    print(f"{torch.get_num_threads()} threads, {args.precision} tensors, {args.repeats} repeats of {args.calls} calls; "
          f"{args.precision} matmul peak {peak:.0f} GFLOP/s")
    print(table.drop(columns=["ms_min", "ms_max"]).round(2).to_string(index=False))
    return table


if __name__ == "__main__":
    main()
