"""The D step's two discriminator passes as one call: the training step timed both ways, in one process.

    python -m bench.benchmarks.joint_discriminator_call [--precision fp32,bf16] [--steps 15] [--repeats 7]
        [--batch-size 128] [--out results/bench_joint_d]

The toolkit's D step sends the real and the fake batch through D in one call, with each
batch-norm layer still normalising each batch on its own (``Discriminator(x, batches=2)``),
so the convolutions and products run once on twice the rows. The other way is the same step
with D called once per batch, as the step did before. Both steps start from the same weights
and train on index-drawn batches of random uint8 images (the speed does not depend on the
pixels); the repeats alternate between the two, and the median images/s of each is printed
and written to ``<out>/joint_discriminator_call.csv`` with the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from bench.aggregate import write_csv
from bench.perf import random_images, seeded_networks
from models.infogan import InfoGANStep, TrainConfig


class OneCallPerBatch(nn.Module):
    """A discriminator called once per batch for ``batches`` > 1 (the outputs concatenated)."""

    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, images: torch.Tensor, batches: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        outputs = [self.discriminator(part) for part in images.chunk(batches)]
        return torch.cat([d for d, _ in outputs]), torch.cat([q for _, q in outputs])


def build_step(precision: str, batch_size: int, joint: bool) -> InfoGANStep:
    """The MNIST step with fused Adam on the CPU, D called once (``joint``) or once per batch."""
    device = torch.device("cpu")
    suite, G, D = seeded_networks("mnist", device)
    return InfoGANStep(suite.latent, G, D if joint else OneCallPerBatch(D),
                       TrainConfig(batch_size=batch_size, precision=precision, fused_optimizer=True), device)


def images_per_second(precision: str, steps: int, repeats: int, batch_size: int) -> dict[str, list[float]]:
    """images/s of each way, one value per repeat (after 5 warm-up steps each)."""
    data = random_images("mnist", 60000)
    ways = {"two calls": build_step(precision, batch_size, joint=False),
            "one call": build_step(precision, batch_size, joint=True)}
    index_rng, latent_rng = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)

    def run(step: InfoGANStep, n: int) -> None:
        for _ in range(n):
            step(data[torch.randint(len(data), (batch_size,), generator=index_rng)], latent_rng)

    for step in ways.values():
        run(step, 5)
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, step in ways.items():
            start = time.perf_counter()
            run(step, steps)
            rates[name].append(steps * batch_size / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="fp32,bf16")
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", default="results/bench_joint_d")
    args = parser.parse_args()
    rows = []
    for precision in args.precision.split(","):
        rates = images_per_second(precision, args.steps, args.repeats, args.batch_size)
        medians = {name: statistics.median(values) for name, values in rates.items()}
        rows.append({"precision": precision, "two_calls_images_per_s": medians["two calls"],
                     "one_call_images_per_s": medians["one call"],
                     "ratio": medians["one call"] / medians["two calls"],
                     "two_calls_range": f"{min(rates['two calls']):.0f}-{max(rates['two calls']):.0f}",
                     "one_call_range": f"{min(rates['one call']):.0f}-{max(rates['one call']):.0f}",
                     "threads": torch.get_num_threads(), "steps": args.steps, "repeats": args.repeats})
    table = pd.DataFrame(rows)
    write_csv(table, Path(args.out) / "joint_discriminator_call.csv")
    print(table.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
