"""The reference classifier's inference batch: seconds per batch size, and the same outputs.

    python -m bench.benchmarks.classifier_batch [--batch-sizes 1000,500,256,128,64] [--repeats 5]
        [--steps 200] [--data-dir DIR] [--out results/bench_classifier_batch]

The battery runs the reference CNN over tens of thousands of images (the test split for its
accuracy, generated and real images for the Fréchet distance and the traversals). The network
holds no batch statistics, so the batch size changes only how fast that goes. This script
trains the CNN for ``--steps`` steps on MNIST's training split, then classifies the 10,000 test
images at every batch size, going round the sizes ``--repeats`` times so that drift in the
machine's speed hits all alike. It reports the median seconds of each size, its ratio to the
first size's, and whether the predictions and features equal the first size's bit for bit.
Table: ``<out>/classifier_batch.csv``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
import torch

from bench.aggregate import write_csv
from datasets.registry import load_dataset
from models.classifier import ReferenceClassifier, classify, train_classifier


def batch_table(model: ReferenceClassifier, images: torch.Tensor, batch_sizes: list[int],
                repeats: int) -> pd.DataFrame:
    """One row per batch size: median, min and max seconds to classify ``images``, the ratio of
    its median to the first size's, and whether its outputs equal the first size's exactly."""
    seconds: dict[int, list[float]] = {size: [] for size in batch_sizes}
    outputs = {}
    for _ in range(repeats):
        for size in batch_sizes:
            start = time.perf_counter()
            outputs[size] = classify(model, images, batch_size=size)
            seconds[size].append(time.perf_counter() - start)
    first_pred, first_features = outputs[batch_sizes[0]]
    first = statistics.median(seconds[batch_sizes[0]])
    rows = [{"batch_size": size, "seconds": statistics.median(times), "seconds_min": min(times),
             "seconds_max": max(times), "ratio_to_first": statistics.median(times) / first,
             "same_outputs": bool(torch.equal(outputs[size][0], first_pred)
                                  and torch.equal(outputs[size][1], first_features))}
            for size, times in seconds.items()]
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", default="1000,500,256,128,64")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", default="results/bench_classifier_batch")
    args = parser.parse_args()
    train = load_dataset("mnist", "train", args.data_dir, download=False)
    test = load_dataset("mnist", "test", args.data_dir, download=False)
    model = train_classifier(train.images, train.labels, int(train.labels.max()) + 1, args.steps)
    table = batch_table(model, test.images, [int(s) for s in args.batch_sizes.split(",")], args.repeats)
    table["images"], table["threads"], table["repeats"] = len(test.images), torch.get_num_threads(), args.repeats
    write_csv(table, Path(args.out) / "classifier_batch.csv")
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
