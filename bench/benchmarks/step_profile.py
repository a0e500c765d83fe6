"""Where the training step's time goes: torch.profiler over a few steps of the MNIST recipe.

    python -m bench.benchmarks.step_profile [--precision bf16|fp32] [--steps 10] [--rows 15]
        [--out results/bench_step_profile]

Runs the toolkit's step as ``bench perf`` times it (variant ``toolkit-<precision>+fused``, on
the CPU, batches drawn by index from random uint8 images; the precision is the device's default,
bf16 where it is native and fp32 elsewhere, unless ``--precision`` names one): 5 steps to warm
up, then ``--steps`` steps under the profiler. Prints the milliseconds per step, each op's share
of the self time, and the ops grouped by input shapes (which layer an op belongs to), and writes
the per-op table to ``<out>/step_profile.csv``.

It then groups the ops by kind (matrix products, convolutions forward and backward, casts,
optimiser, batch norm, the rest), divides each compute kind's FLOPs (torch.utils.flop_counter,
one step) by its time to give the rate its kernels reach, and prints the kernel-bound ceiling:
the images/s if everything but the convolutions and matrix products took no time, as a share of
the floor as ``bench perf`` defines it (the device's measured matmul peak over the paper
recipe's FLOPs per image, those of the reference loop).
Writes the kinds to ``<out>/step_profile_kinds.csv``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from bench.aggregate import write_csv
from bench.perf import (MATMUL_DTYPES, PerfConfig, floor_images_per_s, matmul_gflops, recipe_flops_per_image,
                        toolkit_loop)
from models.infogan import default_precision

COMPUTE_KINDS = ("matrix products", "convolution forward", "convolution backward")


def op_kind(name: str) -> str:
    """The kind of a profiler op (``aten::mm``) or a FLOP counter op (``aten.mm``)."""
    op = name.replace("::", ".").removeprefix("aten.")
    if op in ("mm", "addmm", "bmm", "baddbmm"):
        return "matrix products"
    if "convolution" in op:
        return "convolution backward" if "backward" in op else "convolution forward"
    if op in ("copy_", "_to_copy", "to"):
        return "casts and copies"
    if "adam" in op or op.startswith("Optimizer."):
        return "optimiser"
    if "batch_norm" in op:
        return "batch norm"
    return "other"


def profile_step(precision: str, steps: int, batch_size: int = 128):
    """(milliseconds per step, the profiler's key averages grouped by input shape, FLOPs of one
    step by op kind)."""
    images = torch.randint(0, 256, (60000, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    one_step = toolkit_loop(PerfConfig(batch_size=batch_size), f"toolkit-{precision}+fused", images,
                            torch.device("cpu"))
    for _ in range(5):
        one_step()
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            one_step()
        seconds = time.perf_counter() - start
    with FlopCounterMode(display=False) as counter:
        one_step()
    flops: dict[str, float] = {}
    for op, count in counter.get_flop_counts()["Global"].items():
        kind = op_kind(str(op))
        flops[kind] = flops.get(kind, 0.0) + count
    return 1000 * seconds / steps, prof.key_averages(group_by_input_shape=True), flops


def kind_table(op_table: pd.DataFrame, flops: dict[str, float]) -> pd.DataFrame:
    """Per op kind: milliseconds per step, share of the self time, GFLOP per step and the
    GFLOP/s its kernels reach (FLOPs / self time; compute kinds only)."""
    ms = op_table.groupby(op_table["op"].map(op_kind))["self_ms_per_step"].sum()
    table = pd.DataFrame({"kind": ms.index, "ms_per_step": ms.to_numpy()})
    table["share"] = table["ms_per_step"] / table["ms_per_step"].sum()
    table["gflop_per_step"] = table["kind"].map(lambda kind: flops.get(kind, float("nan")) / 1e9)
    table["gflop_per_s"] = table["gflop_per_step"] / (table["ms_per_step"] / 1000)
    return table.sort_values("ms_per_step", ascending=False).reset_index(drop=True)


def kernel_ceiling(kinds: pd.DataFrame, batch_size: int, floor_flops_per_image: float,
                   peak_gflops: float) -> dict[str, float]:
    """Images/s with only the convolution and matrix-product kernels taking time, the floor
    (images/s at ``peak_gflops`` for ``floor_flops_per_image``) and the ceiling's share of it."""
    compute = kinds[kinds["kind"].isin(COMPUTE_KINDS)]
    ceiling = batch_size / (compute["ms_per_step"].sum() / 1000)
    floor = floor_images_per_s(peak_gflops, floor_flops_per_image)
    return {"ceiling_images_per_s": ceiling, "floor_images_per_s": floor, "ceiling_share_of_floor": ceiling / floor,
            "peak_gflops": peak_gflops}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default=default_precision(torch.device("cpu")), choices=sorted(MATMUL_DTYPES),
                        help="default: the device's, bf16 where it is native: %(default)s")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--out", default="results/bench_step_profile")
    args = parser.parse_args()
    cpu = torch.device("cpu")
    batch_size = 128
    ms_per_step, averages, flops = profile_step(args.precision, args.steps, batch_size)
    rows = [{"op": e.key, "input_shapes": str(e.input_shapes), "calls_per_step": e.count / args.steps,
             "self_ms_per_step": e.self_cpu_time_total / 1000 / args.steps} for e in averages]
    table = pd.DataFrame(rows).sort_values("self_ms_per_step", ascending=False)
    total = table["self_ms_per_step"].sum()
    by_op = table.groupby("op")["self_ms_per_step"].sum().sort_values(ascending=False)
    kinds = kind_table(table, flops)
    write_csv(table, Path(args.out) / "step_profile.csv")
    write_csv(kinds, Path(args.out) / "step_profile_kinds.csv")
    print(f"{args.precision}: {ms_per_step:.1f} ms per step of batch {batch_size} (profiled: {total:.1f} ms of self time)")
    print("share of self time by op:")
    for op, ms in by_op.head(args.rows).items():
        print(f"  {op:40s} {ms:6.1f} ms  {100 * ms / total:5.1f}%")
    print("by op and input shapes:")
    for row in table.head(args.rows).itertuples():
        print(f"  {row.op:32s} {row.self_ms_per_step:6.2f} ms x{row.calls_per_step:g}  {row.input_shapes[:110]}")
    print("by kind:")
    for row in kinds.itertuples():
        rate = f"  {row.gflop_per_step:5.2f} GFLOP at {row.gflop_per_s:4.0f} GFLOP/s" if row.kind in COMPUTE_KINDS else ""
        print(f"  {row.kind:22s} {row.ms_per_step:6.1f} ms  {100 * row.share:5.1f}%{rate}")
    ceiling = kernel_ceiling(kinds, batch_size, recipe_flops_per_image("mnist", batch_size, cpu),
                             matmul_gflops(cpu, MATMUL_DTYPES[args.precision]))
    print(f"kernel-bound ceiling: {ceiling['ceiling_images_per_s']:,.0f} images/s with only the convolutions and "
          f"matrix products taking time = {100 * ceiling['ceiling_share_of_floor']:.0f}% of the floor "
          f"({ceiling['floor_images_per_s']:,.0f} images/s at the measured {ceiling['peak_gflops']:.0f} GFLOP/s)")


if __name__ == "__main__":
    main()
