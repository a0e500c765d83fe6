"""Several runs on a small CPU: one at a time on every core, or side by side on a share each.

    python -m bench.benchmarks.core_split [--pairs 6] [--steps 30] [--side-by-side 2]
        [--variant <the device's default>] [--batch-size 128] [--out results/bench_core_split]

A seed study trains many runs, so what counts there is the images per second of all runs
together, not one run's latency. This compares the two ways ``bench run`` spreads runs over
the cores: ``--jobs 1`` (one run at a time, on all of the process's threads) against ``--jobs N``
(N runs side by side, each on its share of the threads). Each arm is made of child processes,
started the way ``bench run`` starts its workers (``OMP_NUM_THREADS`` and torch's thread count
set to the arm's share), that build ``--variant``'s loop of ``bench perf`` on random uint8
MNIST-shaped images and runs 5 untimed steps; when every child of the arm is that far, they
all time ``--steps`` steps one by one (each step's start and end on the system-wide monotonic
clock).

- ``whole``: one child on all T threads; its rate is batch / median step time.
- ``split``: ``--side-by-side`` N children started together on T / N threads each. Only the
  steps that lie wholly inside the window in which every child was timing (from the last child's first
  timed step to the first child's last) count, so that no child is timed running alone; the
  arm's rate is the sum over the children of batch / median step time in that window.

``--pairs`` pairs of the two arms, the order alternating from pair to pair so that drift in the
machine's speed hits both alike. The summary gives the pairs' median ratio of the rates (split
over whole), how many pairs are above 1, and the two-sided Wilcoxon signed-rank p-value of the
paired rates (scipy.stats.wilcoxon; from 5 pairs). For scale it reads the matmul peak at the
CPU's default precision (bf16 where bf16 is native, fp32 elsewhere, as ``bench perf``'s floor)
on the whole arm's threads (``bench perf``'s product, ``--peak-size``) before the first pair and
after each pair, and gives each arm's median rate as a share of the floor at the median peak
(``bench perf``'s floor: the peak over the paper recipe's FLOPs per image). Writes
``<out>/core_split.csv``, one row per child.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from bench.aggregate import write_csv
from bench.benchmarks.paired import in_turn, paired_ratios
from bench.perf import (MATMUL_DTYPES, PerfConfig, default_variant, floor_images_per_s, matmul_gflops,
                        random_images, recipe_flops_per_image, variant_loop)
from models.infogan import default_precision

ARMS = ("whole", "split")
WARMUP = 5


def time_steps(variant: str, steps: int, batch_size: int, images: int) -> dict[str, object]:
    """Build ``variant``'s loop in this process, run the warm-up, say ``ready`` on stdout and wait
    for a line on stdin, then time ``steps`` steps: each step's (start, end) in seconds of
    ``time.monotonic`` (one clock for every process)."""
    config = PerfConfig(batch_size=batch_size)
    one = variant_loop(config, variant, random_images(config.suite, images), torch.device("cpu"))
    for _ in range(WARMUP):
        one()
    print("ready", flush=True)
    sys.stdin.readline()
    spans = []
    for _ in range(steps):
        start = time.monotonic()
        one()
        spans.append((start, time.monotonic()))
    return {"threads": torch.get_num_threads(), "spans": spans}


def matmul_peak(precision: str, threads: int, size: int) -> float:
    """``bench perf``'s matmul peak (GFLOP/s) at ``precision`` on ``threads`` torch threads; this
    process's thread count is restored afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return matmul_gflops(torch.device("cpu"), MATMUL_DTYPES[precision], size)
    finally:
        torch.set_num_threads(before)


def start_child(threads: int, args: argparse.Namespace) -> subprocess.Popen:
    """A fresh interpreter timing the loop on ``threads`` threads."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    command = [sys.executable, "-m", "bench.benchmarks.core_split", "--child", "--threads", str(threads),
               "--variant", args.variant, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
               "--images", str(args.images)]
    return subprocess.Popen(command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def collect(children: list[subprocess.Popen]) -> list[dict[str, object]]:
    """Start the children's timing together once all are warm, and return each child's result
    when all have finished; the first failure raised with its stderr."""
    for child in children:
        if child.stdout.readline().strip() != "ready":
            for other in children:
                other.kill()
                other.wait()
            raise RuntimeError(f"a timing child failed:\n{child.stderr.read()[-2000:]}")
    for child in children:
        child.stdin.write("go\n")
        child.stdin.flush()
    results = []
    for child in children:
        out, err = child.communicate()
        if child.returncode != 0:
            raise RuntimeError(f"a timing child failed:\n{err[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def steps_in_window(results: list[dict[str, object]]) -> list[list[float]]:
    """Per child, the durations of its steps that lie wholly inside the window in which every
    child was timing: from the latest first-step start to the earliest last-step end (for one
    child, all of its steps)."""
    begin = max(result["spans"][0][0] for result in results)
    end = min(result["spans"][-1][1] for result in results)
    return [[stop - start for start, stop in result["spans"] if begin <= start and stop <= end] for result in results]


def run_arm(arm: str, args: argparse.Namespace) -> list[dict[str, object]]:
    """One row per child of ``arm``: its threads, median step, rate and steps counted."""
    children = 1 if arm == "whole" else args.side_by_side
    threads = args.threads // children
    results = collect([start_child(threads, args) for _ in range(children)])
    rows = []
    for child, (result, seconds) in enumerate(zip(results, steps_in_window(results))):
        if len(seconds) < 3:
            raise RuntimeError(f"only {len(seconds)} steps of the {arm} arm overlapped; raise --steps")
        median = statistics.median(seconds)
        rows.append({"arm": arm, "child": child, "threads": result["threads"], "steps_counted": len(seconds),
                     "ms_per_step": 1000 * median, "images_per_s": args.batch_size / median})
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per child (default 30)")
    parser.add_argument("--side-by-side", type=int, default=2, help="runs side by side in the split arm (default 2)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="threads of the whole arm, shared out in the split one (default: torch's, "
                             f"{torch.get_num_threads()} here)")
    parser.add_argument("--variant", default=default_variant(torch.device("cpu")),
                        help="a bench perf variant (default: the CPU's default path)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=10_000, help="random images to draw batches from")
    parser.add_argument("--peak-size", type=int, default=2048, help="side of the peak's product (default 2048)")
    parser.add_argument("--out", default="results/bench_core_split")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        torch.set_num_threads(args.threads)
        print(json.dumps(time_steps(args.variant, args.steps, args.batch_size, args.images)))
        return None
    if args.side_by_side < 2 or args.threads % args.side_by_side:
        parser.error(f"--side-by-side must be at least 2 and divide --threads ({args.threads})")

    flops = recipe_flops_per_image("mnist", args.batch_size, torch.device("cpu"))
    precision = default_precision(torch.device("cpu"))  # bf16 exactly where bf16 is native
    peaks = [matmul_peak(precision, args.threads, args.peak_size)]
    rows = []
    for pair in range(args.pairs):
        for arm in in_turn(ARMS, pair):
            arm_rows = run_arm(arm, args)
            rows += [{"pair": pair, "variant": args.variant, "batch_size": args.batch_size, **row} for row in arm_rows]
            rate = sum(row["images_per_s"] for row in arm_rows)
            steps = ", ".join(f"{row['ms_per_step']:.0f}" for row in arm_rows)
            print(f"pair {pair} {arm:5s} {rate:6.1f} images/s in all ({len(arm_rows)} x "
                  f"{arm_rows[0]['threads']} threads; ms a step: {steps})", flush=True)
        peaks.append(matmul_peak(precision, args.threads, args.peak_size))
    table = pd.DataFrame(rows)
    rates = table.groupby(["pair", "arm"])["images_per_s"].sum().unstack("arm")
    ratios = paired_ratios(rates["split"], rates["whole"])
    table["median_ratio_split_over_whole"] = ratios.median
    table["pairs_above_1"] = ratios.above_1
    table["wilcoxon_p"] = ratios.wilcoxon_p
    peak = statistics.median(peaks)
    floor = floor_images_per_s(peak, flops)
    table["peak_gflops"], table["peak_gflops_min"], table["peak_gflops_max"] = peak, min(peaks), max(peaks)
    table["floor_precision"] = precision
    table["floor_images_per_s"] = floor
    for arm in ARMS:
        table[f"share_of_floor_{arm}"] = rates[arm].median() / floor
    print(f"{precision} matmul peak on {args.threads} threads {peak:.0f} GFLOP/s (median of {len(peaks)} readings, "
          f"{min(peaks):.0f}-{max(peaks):.0f}): floor {floor:.0f} images/s at {flops / 1e6:.0f} MFLOP an image")
    print(f"images/s in all, median of {len(rates)} pairs: whole {rates['whole'].median():.1f} "
          f"({rates['whole'].median() / floor:.1%} of the floor), split {rates['split'].median():.1f} "
          f"({rates['split'].median() / floor:.1%})")
    print(f"split / whole: {ratios.median:.3f} ({ratios.low:.3f}-{ratios.high:.3f}; {ratios.above_1} above 1; "
          f"Wilcoxon signed-rank p = {ratios.wilcoxon_p:.3g})")
    write_csv(table, Path(args.out) / "core_split.csv")
    return table


if __name__ == "__main__":
    main()
