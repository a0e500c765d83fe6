"""Does the evaluation's choice of batch-norm statistics move the categorical accuracy?

    python -m bench.benchmarks.bn_statistics [--results results/bench_mnist_paper]
        [--out results/bench_bn_statistics] [--data-dir ...]

The toolkit scores Q's categorical code on the real test set with D in eval mode, whose
batch-norm layers then use their running statistics. Training updates those with one real
and two fake batches per iteration, so they lean towards the fakes. This script re-scores every
finished MNIST InfoGAN run under ``--results`` three ways:

- ``running``: the stored running statistics (what the toolkit reports);
- ``test_batches``: each test batch of 1,000 normalised with its own statistics (train mode);
- ``real_running``: running statistics re-estimated from the real training images alone (a
  cumulative average over the training set in batches of 128; D's weights untouched).

Writes ``<out>/bn_statistics.csv``, one row per run.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from bench.aggregate import write_csv
from bench.evaluate import predict_categories
from bench.suites import SUITES
from bench.traversals import load_checkpoint
from datasets import ImageSplit, load_dataset
from metrics.clustering import cluster_accuracy
from models.latent import LatentSpec
from models.networks import build_networks


def categorical_accuracy(latent: LatentSpec, discriminator: nn.Module, split: ImageSplit,
                         batch_statistics: bool) -> float:
    """Cluster accuracy of Q's first categorical code on ``split``, batch norm with running
    statistics or with each batch of 1,000's own (``batch_statistics``; D's state is left as it was)."""
    predicted = predict_categories(latent, discriminator, split.images, batch_statistics=batch_statistics)
    return cluster_accuracy(predicted, split.labels.cpu().numpy())


@torch.no_grad()
def with_real_statistics(discriminator: nn.Module, images: torch.Tensor, batch_size: int = 128) -> nn.Module:
    """A copy of D whose batch-norm running statistics are the cumulative average over ``images``
    (uint8, in batches of ``batch_size``); its weights are D's."""
    network = copy.deepcopy(discriminator).train()
    for layer in network.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.reset_running_stats()
            layer.momentum = None  # cumulative moving average
    for i in range(0, len(images), batch_size):
        network(images[i:i + batch_size].float() / 255.0)
    return network.eval()


def score_discriminator(latent: LatentSpec, discriminator: nn.Module, test: ImageSplit,
                        train_images: torch.Tensor) -> dict[str, float]:
    """The categorical accuracy on ``test`` under the three choices of batch-norm statistics."""
    return {"running": categorical_accuracy(latent, discriminator, test, batch_statistics=False),
            "test_batches": categorical_accuracy(latent, discriminator, test, batch_statistics=True),
            "real_running": categorical_accuracy(latent, with_real_statistics(discriminator, train_images), test,
                                                 batch_statistics=False)}


def load_discriminator(run: Path) -> nn.Module:
    """D of a stored MNIST run, on the CPU."""
    suite = SUITES["mnist"]
    _, discriminator = build_networks(suite.latent.input_dim, suite.latent.q_dim, suite.network)
    discriminator.load_state_dict(load_checkpoint(run)["trainer"]["discriminator"])
    return discriminator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/bench_mnist_paper")
    parser.add_argument("--out", default="results/bench_bn_statistics")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    runs = sorted(Path(args.results, "runs", "mnist", "infogan").glob("seed*/checkpoint.pt"))
    if not runs:
        raise SystemExit(f"no MNIST InfoGAN checkpoints under {args.results}/runs/mnist/infogan")
    suite = SUITES["mnist"]
    train = load_dataset(suite.dataset, suite.train_split, args.data_dir)
    test = load_dataset(suite.dataset, suite.test_split, args.data_dir)
    rows = [{"run": str(path.parent), **score_discriminator(suite.latent, load_discriminator(path.parent), test,
                                                             train.images)} for path in runs]
    table = pd.DataFrame(rows)
    write_csv(table, Path(args.out) / "bn_statistics.csv")
    print(table.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
