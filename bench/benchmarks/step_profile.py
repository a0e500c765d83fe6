"""Where the training step's time goes: torch.profiler over a few steps of the MNIST recipe.

    python -m bench.benchmarks.step_profile [--precision bf16] [--steps 10] [--rows 15]
        [--out results/bench_step_profile]

Runs the toolkit's step as ``bench perf`` times it (variant ``toolkit-<precision>+fused``, on
the CPU, batches drawn by index from random uint8 images): 5 steps to warm up, then
``--steps`` steps under the profiler. Prints the milliseconds per step, each op's share of the
self time, and the ops grouped by input shapes (which layer an op belongs to), and writes the
per-op table to ``<out>/step_profile.csv``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch
from torch.profiler import ProfilerActivity, profile

from bench.aggregate import write_csv
from bench.perf import PerfConfig, toolkit_loop


def profile_step(precision: str, steps: int, batch_size: int = 128):
    """(milliseconds per step, the profiler's key averages grouped by input shape)."""
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
    return 1000 * seconds / steps, prof.key_averages(group_by_input_shape=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--rows", type=int, default=15)
    parser.add_argument("--out", default="results/bench_step_profile")
    args = parser.parse_args()
    ms_per_step, averages = profile_step(args.precision, args.steps)
    rows = [{"op": e.key, "input_shapes": str(e.input_shapes), "calls_per_step": e.count / args.steps,
             "self_ms_per_step": e.self_cpu_time_total / 1000 / args.steps} for e in averages]
    table = pd.DataFrame(rows).sort_values("self_ms_per_step", ascending=False)
    total = table["self_ms_per_step"].sum()
    by_op = table.groupby("op")["self_ms_per_step"].sum().sort_values(ascending=False)
    write_csv(table, Path(args.out) / "step_profile.csv")
    print(f"{args.precision}: {ms_per_step:.1f} ms per step of batch 128 (profiled: {total:.1f} ms of self time)")
    print("share of self time by op:")
    for op, ms in by_op.head(args.rows).items():
        print(f"  {op:40s} {ms:6.1f} ms  {100 * ms / total:5.1f}%")
    print("by op and input shapes:")
    for row in table.head(args.rows).itertuples():
        print(f"  {row.op:32s} {row.self_ms_per_step:6.2f} ms x{row.calls_per_step:g}  {row.input_shapes[:110]}")


if __name__ == "__main__":
    main()
