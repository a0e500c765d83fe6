"""The device's matmul throughput by product size, and the bf16 floor each size would give.

    python -m bench.benchmarks.matmul_peak [--sizes 512,1024,2048,4096,8192] [--rounds 3]
        [--out results/bench_matmul_peak]

``bench perf`` takes its peak from one size (2048 x 2048 on a CPU, 8192 x 8192 on a GPU) and
defines the bf16 floor as the paper recipe's step (FLOPs per image, counted on its reference
loop) at that peak. This script measures [size x size] @ [size x size] products (2 size^3
FLOPs) of every size in fp32 and bf16, going round the sizes ``rounds`` times so that drift in
the machine's speed hits all alike, and reports the median GFLOP/s of each with the floor in
images/s it implies, so one can see how much the floor depends on the size chosen. Table:
``<out>/matmul_peak.csv``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import pandas as pd
import torch

from bench.aggregate import write_csv
from bench.perf import MATMUL_DTYPES, floor_images_per_s, matmul_gflops, recipe_flops_per_image


def peak_table(sizes: list[int], rounds: int, device: torch.device, flops_per_image: float) -> pd.DataFrame:
    """One row per (size, dtype): median GFLOP/s over ``rounds`` (each the median of 3 products)
    and the recipe's images/s at that rate (rate / FLOPs per image)."""
    rates: dict[tuple[int, str], list[float]] = {(s, d): [] for s in sizes for d in MATMUL_DTYPES}
    for _ in range(rounds):
        for size, dtype in rates:
            rates[size, dtype].append(matmul_gflops(device, MATMUL_DTYPES[dtype], size, repeats=3))
    rows = []
    for (size, dtype), measured in rates.items():
        gflops = statistics.median(measured)
        rows.append({"size": size, "dtype": dtype, "gflops": gflops, "gflops_min": min(measured),
                     "gflops_max": max(measured), "floor_images_per_s": floor_images_per_s(gflops, flops_per_image)})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024,2048,4096,8192")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default="results/bench_matmul_peak")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    flops = recipe_flops_per_image("mnist", 128, torch.device("cpu"))
    table = peak_table([int(s) for s in args.sizes.split(",")], args.rounds, device, flops)
    write_csv(table, Path(args.out) / "matmul_peak.csv")
    print(f"device {device}, {torch.get_num_threads()} threads; recipe {flops / 1e6:.0f} MFLOP per image")
    print(table.round(1).to_string(index=False))


if __name__ == "__main__":
    main()
