"""The paper profile on MNIST: InfoGAN and the GAN baseline, each on seeds 0-2.

    python -m bench.benchmarks.mnist_paper [--out results/bench_mnist_paper] [--precision fp32]

Trains the six runs (resuming any that were interrupted), rebuilds the tables, and writes
``<out>/tables/paper_benchmark.csv``: per run, the final categorical-code accuracy, NMI, ARI,
L_I per code, wall time, and the test accuracy along training (every 250 iterations).
Takes about 17 minutes a run in fp32 on the two CPU cores of the development machine, 24-26
minutes on a slower machine's. Apart from the precision, the runs take ``bench run``'s speed
settings (fused Adam; on a GPU the step replayed from a CUDA graph).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import torch

from bench.aggregate import collect_histories, write_csv, write_report
from bench.runner import RunOptions, Runner, RunSpec

PLAN = [RunSpec("mnist", model, seed, "paper") for model in ("infogan", "gan") for seed in (0, 1, 2)]
CURVE_POINTS = (500, 1000, 2000, 3000, 4000, 5000)


def summarise(out: Path) -> pd.DataFrame:
    runs, _ = write_report(out)
    history = collect_histories(out, "mnist")
    rows = []
    for _, run in runs.sort_values(["model", "seed"], ascending=[False, True]).iterrows():
        row = {"model": run["model"], "seed": run["seed"], "status": run["status"], "precision": run["precision"],
               "minutes": round(run["wall_seconds"] / 60, 1) if pd.notna(run["wall_seconds"]) else None}
        for metric in ("cluster_accuracy", "nmi", "ari", "mi_lower_bound/cat", "mi_lower_bound/c1", "mi_lower_bound/c2"):
            row[metric] = round(run.get(metric, float("nan")), 4)
        curve = history[(history["model"] == run["model"]) & (history["seed"] == run["seed"])]
        curve = curve.dropna(subset=["test_accuracy"]).set_index("iteration")["test_accuracy"]
        for point in CURVE_POINTS:
            row[f"acc@{point}"] = round(curve.get(point, float("nan")), 4)
        rows.append(row)
    table = pd.DataFrame(rows)
    write_csv(table, out / "tables" / "paper_benchmark.csv")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/bench_mnist_paper")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    out = Path(args.out)
    options = RunOptions(out=out, device=torch.device("cuda" if torch.cuda.is_available() else "cpu"),
                         precision=args.precision, data_dir=args.data_dir, progress=not args.no_progress)
    Runner(options).run_all(PLAN)
    table = summarise(out)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
