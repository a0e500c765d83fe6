"""Time to accuracy: the MNIST paper recipe on the fast path, wall time to 90% and 95%.

    python -m bench.benchmarks.time_to_accuracy [--seeds 0,1,2] [--variant toolkit-bf16+fused] [--stack]
        [--eval-every 250] [--out results/bench_time_to_accuracy] [--fp32-results results/bench_mnist_paper]
        [--lambda-cont 1 --fixed-std] [--g-latent fresh|reuse] [--leak 0.01 --bn-gamma-std 0.02]

Trains InfoGAN with the paper profile (5,000 iterations of batch 128) and the speed settings of
``--variant`` (see ``bench perf``; by default the device's default path), evaluating the
categorical code's accuracy on the real test set every ``--eval-every`` iterations. The clock is
the training loop's own (data, steps, logging); the evaluations are timed apart and left out, so
``train_seconds`` is what training alone took to reach a point. Writes per seed
``curve_seed<k>.csv`` (iteration, train_seconds, wall_seconds, test_accuracy) and
``time_to_accuracy.csv`` (one row per seed: seconds to 90% and 95%, empty when never reached,
the final accuracy, and, read from the fp32 paper benchmark's run records when given, the fp32
final accuracy of the same seed). A seed whose curve exists is not trained again, and the table
holds the seeds of ``--seeds`` alone: to add seeds to a folder's table, name the earlier ones
too (their curves are read). With ``--stack`` the seeds train together in one process
(models.stacked_trainer); their clock is then the shared one, the time all of them took
together.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

from bench import io as bio
from bench.aggregate import write_csv
from bench.evaluate import clustering_metrics
from bench.perf import default_variant, variant_settings
from bench.suites import SUITES
from datasets import ImageSplit, load_dataset
from models.infogan import TrainConfig
from models.latent import LatentSpec
from models.networks import NetworkSpec
from models.stacked_trainer import StackedTrainer
from models.trainer import Trainer

THRESHOLDS = (0.90, 0.95)
CURVE_PREFIX = "curve_seed"


def curve_path(out: Path, seed: int) -> Path:
    """Where the curve of ``seed`` lives under ``out``: ``curve_seed<k>.csv``."""
    return Path(out) / f"{CURVE_PREFIX}{seed}.csv"


@dataclass(frozen=True)
class Recipe:
    """The MNIST paper profile with a perf variant's speed settings and, optionally, the
    official code's continuous-code setting (weight ``lambda_cont``, Q's std fixed at 1), its
    G step latent (``g_latent`` "fresh": a new draw, "reuse": the D step's fakes) and its network
    details (leaky-ReLU slope ``leak`` 0.01, batch-norm scales from N(1, ``bn_gamma_std`` 0.02))."""

    variant: str = "toolkit-bf16+fused"     # the default path on a CPU with native bf16
    iterations: int | None = None      # cut the run (quick checks)
    lambda_cont: float | None = None   # None: the profile's weight
    fixed_std: bool = False
    g_latent: str | None = None        # None: the profile's
    leak: float | None = None          # None: the suite's (paper: 0.1)
    bn_gamma_std: float = 0.0          # 0: batch-norm scales start at 1 (paper)

    def latent(self) -> LatentSpec:
        latent = SUITES["mnist"].latent
        if not self.fixed_std:
            return latent
        return replace(latent, codes=tuple(replace(c, learn_std=False) if c.kind == "uniform" else c
                                           for c in latent.codes))

    def network(self) -> NetworkSpec:
        network = SUITES["mnist"].network
        network = replace(network, leak=self.leak) if self.leak is not None else network
        return replace(network, bn_gamma_std=self.bn_gamma_std)

    def config(self) -> TrainConfig:
        config = replace(SUITES["mnist"].train_config("paper", "infogan", "fp32"), **variant_settings(self.variant))
        if self.iterations:
            config = replace(config, iterations=self.iterations)
        if self.g_latent is not None:
            config = replace(config, fresh_g_latent=self.g_latent == "fresh")
        return replace(config, lambda_cont=self.lambda_cont) if self.lambda_cont is not None else config

    def describe(self) -> str:
        extra = ([f"lambda_cont {self.lambda_cont:g}"] if self.lambda_cont is not None else []) + \
            (["fixed std"] if self.fixed_std else []) + ([f"{self.g_latent} G latent"] if self.g_latent else []) + \
            ([f"leak {self.leak:g}"] if self.leak is not None else []) + \
            ([f"BN scales N(1, {self.bn_gamma_std:g})"] if self.bn_gamma_std else [])
        return self.variant + (f" ({', '.join(extra)})" if extra else "")


class _Evaluator:
    """Test accuracy every ``eval_every`` iterations, with the evaluations' own time kept apart."""

    def __init__(self, latent: LatentSpec, eval_every: int, last: int, test: ImageSplit):
        self.latent, self.eval_every, self.last, self.test, self.eval_seconds = latent, eval_every, last, test, 0.0
        self._at: tuple[int, float] | None = None

    def __call__(self, iteration: int, wall_seconds: float, discriminator) -> dict:
        if iteration % self.eval_every and iteration != self.last:
            return {}
        if self._at is None or self._at[0] != iteration:  # stacked seeds share one clock reading
            self._at = (iteration, wall_seconds - self.eval_seconds)  # earlier evaluations are inside the wall clock
        start = time.perf_counter()
        scores, _ = clustering_metrics(self.latent, discriminator, self.test.images, self.test.labels)
        self.eval_seconds += time.perf_counter() - start
        return {"train_seconds": round(self._at[1], 3), "test_accuracy": scores["cluster_accuracy"]}


CURVE_COLUMNS = ["seed", "iteration", "train_seconds", "wall_seconds", "test_accuracy"]


def _curve(seed: int, history: list[dict]) -> pd.DataFrame:
    rows = [{"seed": seed, **row} for row in history if "test_accuracy" in row]
    return pd.DataFrame(rows, columns=CURVE_COLUMNS)


def train_seed(seed: int, recipe: Recipe, eval_every: int, train: ImageSplit, test: ImageSplit, device: torch.device,
               progress: bool = True) -> pd.DataFrame:
    """Train one InfoGAN run; the test accuracy against training seconds every ``eval_every`` iterations."""
    latent, config = recipe.latent(), recipe.config()
    trainer = Trainer(latent, recipe.network(), config, train.images, device, seed)
    evaluate = _Evaluator(latent, eval_every, config.iterations, test)
    history = trainer.train(on_log=lambda t, row: evaluate(t.iteration, row["wall_seconds"], t.discriminator),
                            progress=progress, description=f"{recipe.variant} seed{seed}")
    return _curve(seed, history)


def train_stacked(seeds: list[int], recipe: Recipe, eval_every: int, train: ImageSplit, test: ImageSplit,
                  device: torch.device, progress: bool = True) -> dict[int, pd.DataFrame]:
    """Train the seeds together in one process; per seed, the accuracy curve against the shared clock."""
    latent, config = recipe.latent(), recipe.config()
    trainer = StackedTrainer(latent, recipe.network(), config, train.images, device, seeds)
    evaluate = _Evaluator(latent, eval_every, config.iterations, test)

    def on_log(t: StackedTrainer, k: int, row: dict) -> dict:
        return evaluate(t.iteration, row["wall_seconds"], t.discriminator.module(k))

    histories = trainer.train(on_log=on_log, progress=progress, description=f"{recipe.variant} seeds {seeds}")
    for k, exc in trainer.failures.items():
        print(f"seed {seeds[k]} failed: {exc}")
    return {seed: _curve(seed, history) for seed, history in zip(seeds, histories)}


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
        last = curve.iloc[-1] if len(curve) else {}  # empty: the seed failed before its first evaluation
        row["final_accuracy"] = float(last.get("test_accuracy", float("nan")))
        row["fp32_final_accuracy"] = fp32_accuracy(fp32_results, seed)
        row["train_seconds"] = float(last.get("train_seconds", float("nan")))
        row["iterations"] = int(last.get("iteration", 0))
        rows.append(row)
    return pd.DataFrame(rows)


def spread(table: pd.DataFrame) -> dict[str, float]:
    """Final accuracy over the seeds (mean, sd with ddof 1, median, min, max) and the number of
    seeds whose curve reached each threshold."""
    final = table["final_accuracy"].dropna()
    row = {"seeds": len(table), "mean": final.mean(), "sd": final.std(), "median": final.median(),
           "min": final.min(), "max": final.max()}
    for threshold in THRESHOLDS:
        row[f"reached_{round(100 * threshold)}"] = int(table[f"seconds_to_{round(100 * threshold)}"].notna().sum())
    return row


def describe_spread(row: dict[str, float]) -> str:
    """One line of :func:`spread`."""
    reached = ", ".join(f"{row[f'reached_{round(100 * t)}']} reached {round(100 * t)}%" for t in THRESHOLDS)
    return (f"final accuracy over {row['seeds']} seeds: {row['mean']:.3f} ± {row['sd']:.3f} (median {row['median']:.3f}, "
            f"range {row['min']:.3f}-{row['max']:.3f}); {reached}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variant", default=None,
                        help="a bench perf variant (default: the device's default path, e.g. toolkit-bf16+fused)")
    parser.add_argument("--stack", action="store_true", help="train the seeds together in one process")
    parser.add_argument("--eval-every", type=int, default=250)
    parser.add_argument("--iterations", type=int, default=None, help="cut the recipe (for a quick check)")
    parser.add_argument("--out", default="results/bench_time_to_accuracy")
    parser.add_argument("--fp32-results", default="results/bench_mnist_paper")
    parser.add_argument("--lambda-cont", type=float, default=None,
                        help="weight of the continuous codes' MI term (default: the profile's 0.1; official code: 1)")
    parser.add_argument("--fixed-std", action="store_true", help="Q's Gaussians for continuous codes with std 1")
    parser.add_argument("--g-latent", choices=("fresh", "reuse"), default=None,
                        help="G step's latent batch: a new draw (official code) or the D step's (default: the profile's)")
    parser.add_argument("--leak", type=float, default=None, help="leaky-ReLU slope (paper: 0.1; official code: 0.01)")
    parser.add_argument("--bn-gamma-std", type=float, default=0.0,
                        help="draw batch-norm scales from N(1, std) (paper: 0, scales 1; official code: 0.02)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    variant = args.variant or default_variant(device)
    variant_settings(variant)
    recipe = Recipe(variant, args.iterations, args.lambda_cont, args.fixed_std, args.g_latent, args.leak,
                    args.bn_gamma_std)
    out = Path(args.out)
    suite = SUITES["mnist"]
    train = load_dataset(suite.dataset, suite.train_split, args.data_dir).to(device)
    test = load_dataset(suite.dataset, suite.test_split, args.data_dir).to(device)
    curves, to_train = {}, []
    for seed in (int(s) for s in args.seeds.split(",")):
        path = curve_path(out, seed)
        if path.is_file():
            curves[seed] = pd.read_csv(path)
        else:
            to_train.append(seed)
    if args.stack and to_train:
        trained = train_stacked(to_train, recipe, args.eval_every, train, test, device,
                                progress=not args.no_progress)
        for seed, curve in trained.items():
            curves[seed] = curve
            write_csv(curve, curve_path(out, seed))
    for seed in [] if args.stack else to_train:
        curves[seed] = train_seed(seed, recipe, args.eval_every, train, test, device,
                                  progress=not args.no_progress)
        write_csv(curves[seed], curve_path(out, seed))
    variant = recipe.describe() + (" stacked" if args.stack else "")  # seeds read back may come from other stacks
    table = summarise(curves, variant, Path(args.fp32_results) if args.fp32_results else None)
    write_csv(table, out / "time_to_accuracy.csv")
    print(f"device {device}, {torch.get_num_threads()} threads")
    print(table.round(3).to_string(index=False))
    print(describe_spread(spread(table)))


if __name__ == "__main__":
    main()
