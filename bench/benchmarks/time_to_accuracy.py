"""Time to accuracy: the MNIST paper recipe on the fast path, wall time to 90% and 95%.

    python -m bench.benchmarks.time_to_accuracy [--seeds 0,1,2] [--variant toolkit-bf16]
        [--eval-every 250] [--out results/bench_time_to_accuracy] [--fp32-results results/bench_mnist_paper]

Trains InfoGAN with the paper profile (5,000 iterations of batch 128) and the speed settings
of ``--variant`` (see ``bench perf``), evaluating the categorical code's accuracy on the real
test set every ``--eval-every`` iterations. The clock is the training loop's own (data,
steps, logging); the evaluations are timed apart and left out, so ``train_seconds`` is what
training alone took to reach a point. Writes per seed ``curve_seed<k>.csv`` (iteration,
train_seconds, wall_seconds, test_accuracy) and ``time_to_accuracy.csv`` (one row per seed:
seconds to 90% and 95%, empty when never reached, the final accuracy, and, read from the
fp32 paper benchmark's run records when given, the fp32 final accuracy of the same seed).
A seed whose curve exists is not trained again.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from bench import io as bio
from bench.aggregate import write_csv
from bench.evaluate import clustering_metrics
from bench.perf import variant_settings
from bench.suites import SUITES
from datasets import ImageSplit, load_dataset
from models.trainer import Trainer

THRESHOLDS = (0.90, 0.95)


def train_seed(seed: int, variant: str, eval_every: int, train: ImageSplit, test: ImageSplit, device: torch.device,
               progress: bool = True, iterations: int | None = None) -> pd.DataFrame:
    """Train one InfoGAN run; the test accuracy against training seconds every ``eval_every`` iterations."""
    suite = SUITES["mnist"]
    config = replace(suite.train_config("paper", "infogan", "fp32"), **variant_settings(variant))
    if iterations:
        config = replace(config, iterations=iterations)
    trainer = Trainer(suite.latent, suite.network, config, train.images, device, seed)
    eval_seconds = 0.0

    def on_log(t: Trainer, row: dict) -> dict:
        nonlocal eval_seconds
        if t.iteration % eval_every and t.iteration != config.iterations:
            return {}
        train_seconds = row["wall_seconds"] - eval_seconds  # evaluations so far are inside the wall clock
        start = time.perf_counter()
        scores, _ = clustering_metrics(suite.latent, t.discriminator, test.images, test.labels)
        eval_seconds += time.perf_counter() - start
        return {"train_seconds": round(train_seconds, 3), "test_accuracy": scores["cluster_accuracy"]}

    history = trainer.train(on_log=on_log, progress=progress, description=f"{variant} seed{seed}")
    curve = pd.DataFrame([row for row in history if "test_accuracy" in row])
    curve.insert(0, "seed", seed)
    return curve[["seed", "iteration", "train_seconds", "wall_seconds", "test_accuracy"]]


def seconds_to(curve: pd.DataFrame, threshold: float) -> float:
    """Training seconds at the first evaluation with accuracy >= threshold; NaN if none."""
    reached = curve[curve["test_accuracy"] >= threshold]
    return float(reached["train_seconds"].iloc[0]) if len(reached) else float("nan")


def fp32_accuracy(results: Path | None, seed: int) -> float:
    """Final cluster accuracy of the fp32 paper run of InfoGAN ``seed``, NaN when not there."""
    path = results / "runs" / "mnist" / "infogan" / f"seed{seed}" / "metrics.json" if results else None
    if path is None or not path.is_file():
        return float("nan")
    record = bio.read_json(path)
    return float(record.get("metrics", {}).get("cluster_accuracy", float("nan")))


def summarise(curves: dict[int, pd.DataFrame], variant: str, fp32_results: Path | None) -> pd.DataFrame:
    rows = []
    for seed, curve in sorted(curves.items()):
        row = {"seed": seed, "variant": variant}
        for threshold in THRESHOLDS:
            row[f"seconds_to_{round(100 * threshold)}"] = seconds_to(curve, threshold)
        row["final_accuracy"] = float(curve["test_accuracy"].iloc[-1])
        row["fp32_final_accuracy"] = fp32_accuracy(fp32_results, seed)
        row["train_seconds"] = float(curve["train_seconds"].iloc[-1])
        row["iterations"] = int(curve["iteration"].iloc[-1])
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variant", default="toolkit-bf16")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--iterations", type=int, default=None, help="cut the recipe (for a quick check)")
    parser.add_argument("--out", default="results/bench_time_to_accuracy")
    parser.add_argument("--fp32-results", default="results/bench_mnist_paper")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    variant_settings(args.variant)
    out = Path(args.out)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    suite = SUITES["mnist"]
    train = load_dataset(suite.dataset, suite.train_split, args.data_dir).to(device)
    test = load_dataset(suite.dataset, suite.test_split, args.data_dir).to(device)
    curves = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        path = out / f"curve_seed{seed}.csv"
        if path.is_file():
            curves[seed] = pd.read_csv(path)
            continue
        curves[seed] = train_seed(seed, args.variant, args.eval_every, train, test, device,
                                  progress=not args.no_progress, iterations=args.iterations)
        write_csv(curves[seed], path)
    table = summarise(curves, args.variant, Path(args.fp32_results) if args.fp32_results else None)
    write_csv(table, out / "time_to_accuracy.csv")
    print(f"device {device}, {torch.get_num_threads()} threads")
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
