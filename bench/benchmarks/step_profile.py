"""Where the training step's time goes: torch.profiler over a few steps of the MNIST recipe.

    python -m bench.benchmarks.step_profile [--precision bf16|fp32] [--steps 10] [--rows 15]
        [--peak-size 2048] [--out results/bench_step_profile]

Runs the toolkit's step as ``bench perf`` times it (variant ``toolkit-<precision>+fused``, on
the CPU, batches drawn by index from random uint8 images; the precision is the device's default,
bf16 where it is native and fp32 elsewhere, unless ``--precision`` names one): 5 steps to warm
up, then ``--steps`` steps, each under the profiler and each followed by one timed matmul
product of the peak's size (``--peak-size``, 2,048) in the same precision: the peak of that moment. Prints the
milliseconds per step, each op's share of the self time, and the ops grouped by input shapes
(which layer an op belongs to), and writes the per-op table (mean over the steps) to
``<out>/step_profile.csv``.

It then groups the ops by kind (matrix products, convolutions forward and backward, casts,
optimiser, batch norm, the rest) and divides each compute kind's FLOPs (torch.utils.flop_counter,
one step) by its time to give the rate its kernels reach, and that rate's share of the peak
measured right after the same step. The kernel-bound ceiling of a step is the images/s if
everything but the convolutions and matrix products took no time, as a share of the floor as
``bench perf`` defines it (the peak over the paper recipe's FLOPs per image, those of the
reference loop), with the step's own peak. Pairing each step with its own peak takes out most
of a machine's drift from minute to minute; the script prints the median over the steps and
their range. Writes the kinds (medians over the steps) to ``<out>/step_profile_kinds.csv`` and
one row per step to ``<out>/step_profile_steps.csv``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile
from torch.utils.flop_counter import FlopCounterMode

from bench.aggregate import write_csv
from bench.perf import (MATMUL_DTYPES, PerfConfig, floor_images_per_s, matmul_gflops, random_images,
                        recipe_flops_per_image, toolkit_loop)
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


@dataclass
class StepProfile:
    """``steps`` profiled training steps, each with the matmul peak timed right after it."""

    ms_per_step: list[float]   # wall milliseconds of each step (under the profiler)
    ops: pd.DataFrame          # step, op, input_shapes, calls, self_ms: one row per op and shapes per step
    flops: dict[str, float]    # FLOPs of one step by op kind
    peaks: list[float]         # GFLOP/s of the product timed after each step


def profile_step(precision: str, steps: int, batch_size: int = 128, peak_size: int | None = None) -> StepProfile:
    """Profile ``steps`` steps one at a time, timing a ``peak_size`` product (default: the peak's
    2,048) after each, and count one step's FLOPs by kind."""
    images = random_images("mnist", 60000)
    cpu = torch.device("cpu")
    one_step = toolkit_loop(PerfConfig(batch_size=batch_size), f"toolkit-{precision}+fused", images, cpu)
    for _ in range(5):
        one_step()
    ms, rows, peaks = [], [], []
    for step in range(steps):
        with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
            start = time.perf_counter()
            one_step()
            ms.append(1000 * (time.perf_counter() - start))
        rows += [{"step": step, "op": e.key, "input_shapes": str(e.input_shapes), "calls": e.count,
                  "self_ms": e.self_cpu_time_total / 1000} for e in prof.key_averages(group_by_input_shape=True)]
        peaks.append(matmul_gflops(cpu, MATMUL_DTYPES[precision], size=peak_size, repeats=1))
    with FlopCounterMode(display=False) as counter:
        one_step()
    flops: dict[str, float] = {}
    for op, count in counter.get_flop_counts()["Global"].items():
        kind = op_kind(str(op))
        flops[kind] = flops.get(kind, 0.0) + count
    return StepProfile(ms, pd.DataFrame(rows), flops, peaks)


def op_table(ops: pd.DataFrame, steps: int) -> pd.DataFrame:
    """Per op and input shapes: calls and self milliseconds per step (means over the steps)."""
    table = ops.groupby(["op", "input_shapes"], as_index=False)[["calls", "self_ms"]].sum()
    table["calls_per_step"] = table.pop("calls") / steps
    table["self_ms_per_step"] = table.pop("self_ms") / steps
    return table.sort_values("self_ms_per_step", ascending=False).reset_index(drop=True)


def kind_table(ops: pd.DataFrame, flops: dict[str, float]) -> pd.DataFrame:
    """Per op kind: milliseconds per step, share of the self time, GFLOP per step and the
    GFLOP/s its kernels reach (FLOPs / self time; compute kinds only)."""
    ms = ops.groupby(ops["op"].map(op_kind))["self_ms_per_step"].sum()
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


def step_table(result: StepProfile, batch_size: int, floor_flops_per_image: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per step: its milliseconds, peak and kernel-bound ceiling; one row per kind: the
    medians over the steps of its time, share, rate and the rate's share of the step's peak)."""
    steps, kinds = [], []
    for step, ops in result.ops.groupby("step"):
        table = kind_table(ops.rename(columns={"self_ms": "self_ms_per_step"}), result.flops)
        table["share_of_peak"] = table["gflop_per_s"] / result.peaks[step]
        table["step"] = step
        kinds.append(table)
        ceiling = kernel_ceiling(table, batch_size, floor_flops_per_image, result.peaks[step])
        steps.append({"step": step, "ms": result.ms_per_step[step], **ceiling})
    by_kind = pd.concat(kinds).groupby("kind", as_index=False)[
        ["ms_per_step", "share", "gflop_per_step", "gflop_per_s", "share_of_peak"]].median()
    return pd.DataFrame(steps), by_kind.sort_values("ms_per_step", ascending=False).reset_index(drop=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default=default_precision(torch.device("cpu")), choices=sorted(MATMUL_DTYPES),
                        help="default: the device's, bf16 where it is native: %(default)s")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--peak-size", type=int, default=2048, help="side of the peak's product (default 2048)")
    parser.add_argument("--out", default="results/bench_step_profile")
    args = parser.parse_args()
    batch_size = 128
    result = profile_step(args.precision, args.steps, batch_size, args.peak_size)
    table = op_table(result.ops, args.steps)
    total = table["self_ms_per_step"].sum()
    by_op = table.groupby("op")["self_ms_per_step"].sum().sort_values(ascending=False)
    steps, kinds = step_table(result, batch_size, recipe_flops_per_image("mnist", batch_size, torch.device("cpu")))
    write_csv(table, Path(args.out) / "step_profile.csv")
    write_csv(kinds, Path(args.out) / "step_profile_kinds.csv")
    write_csv(steps, Path(args.out) / "step_profile_steps.csv")
    print(f"{args.precision}: {statistics.median(result.ms_per_step):.1f} ms per step of batch {batch_size} "
          f"(median of {args.steps}; profiled: {total:.1f} ms of self time)")
    print("share of self time by op:")
    for op, ms in by_op.head(args.rows).items():
        print(f"  {op:40s} {ms:6.1f} ms  {100 * ms / total:5.1f}%")
    print("by op and input shapes:")
    for row in table.head(args.rows).itertuples():
        print(f"  {row.op:32s} {row.self_ms_per_step:6.2f} ms x{row.calls_per_step:g}  {row.input_shapes[:110]}")
    print("by kind (medians over the steps):")
    for row in kinds.itertuples():
        rate = (f"  {row.gflop_per_step:5.2f} GFLOP at {row.gflop_per_s:4.0f} GFLOP/s = "
                f"{100 * row.share_of_peak:3.0f}% of the step's peak") if row.kind in COMPUTE_KINDS else ""
        print(f"  {row.kind:22s} {row.ms_per_step:6.1f} ms  {100 * row.share:5.1f}%{rate}")
    shares, peaks = 100 * steps["ceiling_share_of_floor"], steps["peak_gflops"]
    print(f"kernel-bound ceiling: {steps['ceiling_images_per_s'].median():,.0f} images/s with only the convolutions "
          f"and matrix products taking time = {shares.median():.0f}% of the floor (median over the steps; "
          f"{shares.min():.0f}-{shares.max():.0f}%), each step against the peak timed right after it "
          f"({peaks.median():.0f} GFLOP/s; {peaks.min():.0f}-{peaks.max():.0f})")


if __name__ == "__main__":
    main()
