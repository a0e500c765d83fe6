"""The training step on the CPU with glibc's default heap settings and with freed memory kept.

    python -m bench.benchmarks.heap_settings [--pairs 6] [--steps 30] [--variant <the CPU's default path>]
        [--batch-size 128] [--out results/bench_heap_settings]

:func:`models.host_heap.keep_freed_memory` changes a process-wide setting that cannot be
undone, so each measurement is a process of its own: ``--pairs`` pairs of child processes, one
with glibc's defaults (``BENCH_KEEP_FREED_MEMORY=0``) and one with freed memory kept, the order
alternating from pair to pair so that drift in the machine's speed hits both alike. A child
builds the ``--variant`` loop of ``bench perf`` (``reference`` or ``toolkit-...``) on random
uint8 MNIST-shaped images (the step's cost does not depend on the pixels), runs 5 untimed
steps, then times ``--steps`` steps one by one, and reports the median seconds a step; per
step, the minor page faults (mean and median over the steps) and the user and system CPU
seconds (getrusage; CPU seconds add up over threads); and its peak resident set. The table
gives one row per child; the summary, the pairs' median ratio of step time (kept over
default), how many pairs are below 1, and the two-sided Wilcoxon signed-rank p-value of the
paired step times (scipy.stats.wilcoxon; from 5 pairs). Writes ``<out>/heap_settings.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from bench.aggregate import write_csv
from bench.benchmarks.paired import in_turn, paired_ratios
from bench.perf import PerfConfig, default_variant, random_images, variant_loop
from models.host_heap import ENV_SWITCH, keep_freed_memory

SETTINGS = ("default", "kept")
WARMUP = 5


def measure(variant: str, steps: int, batch_size: int, images: int) -> dict[str, float]:
    """Build ``variant``'s loop in this process and time ``steps`` steps after the warm-up."""
    config = PerfConfig(batch_size=batch_size)
    one = variant_loop(config, variant, random_images(config.suite, images), torch.device("cpu"))
    kept = keep_freed_memory()  # the toolkit's step has already applied it unless switched off
    for _ in range(WARMUP):
        one()
    seconds, faults = [], []
    before = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(steps):
        start, faults_before = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        one()
        seconds.append(time.perf_counter() - start)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults_before)
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "setting": "kept" if kept else "default",
        "ms_per_step": 1000 * statistics.median(seconds),
        "page_faults_per_step": (after.ru_minflt - before.ru_minflt) / steps,
        "median_page_faults_per_step": statistics.median(faults),
        "user_cpu_ms_per_step": 1000 * (after.ru_utime - before.ru_utime) / steps,
        "system_cpu_ms_per_step": 1000 * (after.ru_stime - before.ru_stime) / steps,
        "peak_rss_mb": after.ru_maxrss / 1024,  # KiB on Linux
        "threads": torch.get_num_threads(),
    }


def run_child(setting: str, args: argparse.Namespace) -> dict[str, float]:
    """One :func:`measure` in a fresh interpreter with ``setting``'s heap."""
    env = dict(os.environ, **{ENV_SWITCH: "1" if setting == "kept" else "0"})
    command = [sys.executable, "-m", "bench.benchmarks.heap_settings", "--child", "--variant", args.variant,
               "--steps", str(args.steps), "--batch-size", str(args.batch_size), "--images", str(args.images)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the {setting} child failed:\n{done.stderr[-2000:]}")
    row = json.loads(done.stdout.strip().splitlines()[-1])
    if row["setting"] != setting:
        raise RuntimeError(f"asked for the {setting} heap, the child ran with {row['setting']} (not glibc?)")
    return row


def main(argv: list[str] | None = None) -> pd.DataFrame | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per child (default 30)")
    parser.add_argument("--variant", default=default_variant(torch.device("cpu")),
                        help="a bench perf variant (default: the CPU's default path)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=10_000, help="random images to draw batches from")
    parser.add_argument("--out", default="results/bench_heap_settings")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(args.variant, args.steps, args.batch_size, args.images)))
        return None

    rows = []
    for pair in range(args.pairs):
        for setting in in_turn(SETTINGS, pair):
            row = run_child(setting, args)
            rows.append({"pair": pair, "variant": args.variant, "batch_size": args.batch_size, **row})
            print(f"pair {pair} {setting:7s} {row['ms_per_step']:6.1f} ms a step, "
                  f"{row['page_faults_per_step']:7.0f} page faults and {row['system_cpu_ms_per_step']:5.1f} ms "
                  f"system CPU a step, peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)
    table = pd.DataFrame(rows)
    by_pair = table.pivot(index="pair", columns="setting", values="ms_per_step")
    ratios = paired_ratios(by_pair["kept"], by_pair["default"])
    table["median_ratio_kept_over_default"] = ratios.median
    table["pairs_below_1"] = ratios.below_1
    table["wilcoxon_p"] = ratios.wilcoxon_p
    medians = table.groupby("setting")[["ms_per_step", "page_faults_per_step", "system_cpu_ms_per_step",
                                        "peak_rss_mb"]].median()
    print(medians.round(1).to_string())
    print(f"kept / default step time: {ratios.median:.3f} (median of {len(by_pair)} pairs; "
          f"{ratios.low:.3f}-{ratios.high:.3f}; {ratios.below_1} below 1; "
          f"Wilcoxon signed-rank p = {ratios.wilcoxon_p:.3g})")
    write_csv(table, Path(args.out) / "heap_settings.csv")
    return table


if __name__ == "__main__":
    main()
