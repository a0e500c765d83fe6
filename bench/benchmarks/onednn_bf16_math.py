"""fp32 training with oneDNN allowed to compute in bf16, against plain fp32 and bf16 autocast.

    python -m bench.benchmarks.onednn_bf16_math [--blocks 7] [--steps 20] [--batch-size 128]
        [--out results/bench_onednn_bf16_math]

PyTorch (2.9 on) lets oneDNN compute fp32 convolutions and matrix products with bf16 inside
(``torch.backends.mkldnn.conv.fp32_precision`` and ``...matmul.fp32_precision`` set to
``"bf16"``): the tensors stay fp32, so none of autocast's casts of the fp32 master weights would
be needed; it is the CPU's counterpart of TF32 on a GPU. oneDNN takes the setting as a
permission, not an order: it may still pick an fp32 kernel. So this first checks what the
setting does to the numbers: the relative difference (Frobenius norms) of one D convolution's
output and one product of G's second layer's shape, computed in fp32 with and without it; bf16
inside would move them by about 3e-3 (inputs rounded to bf16), an fp32 kernel by 0 or by
rounding.

It times the three products of D's fully connected layer on the D step's joint batch (forward,
weight gradient, input gradient; 30 calls each, the median) with and without the setting, in
turn, three rounds; written to ``<out>/onednn_bf16_math_products.csv``.

Then it times ``bench perf``'s loops in one process on random uint8 MNIST-shaped images: ``fp32``
(``toolkit-fp32+fused``), ``fp32, oneDNN bf16`` (the same loop with both settings ``"bf16"``
while it runs; they are process-wide and restored after each block) and, where bf16 is native,
``bf16 autocast`` (``toolkit-bf16+fused``, the default path there). Each loop runs 5 untimed
steps, then ``--blocks`` blocks of ``--steps`` steps go round the loops, the order reversed
every other block. Median images/s with the range, and each loop's ratio to ``fp32``; written
to ``<out>/onednn_bf16_math.csv``.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from bench.aggregate import write_csv
from bench.benchmarks.paired import in_turn
from bench.perf import PerfConfig, random_images, time_block, variant_loop, variant_settings
from models.host_heap import keep_freed_memory
from models.infogan import native_bf16

CPU = torch.device("cpu")
WARMUP = 5


@dataclass(frozen=True)
class Arm:
    """One loop to time: a ``bench perf`` variant and oneDNN's fp32 precision while it runs."""

    name: str
    variant: str
    onednn_fp32_precision: str


ARMS = (Arm("fp32", "toolkit-fp32+fused", "ieee"),
        Arm("fp32, oneDNN bf16", "toolkit-fp32+fused", "bf16"),
        Arm("bf16 autocast", "toolkit-bf16+fused", "ieee"))


@contextmanager
def onednn_fp32_precision(precision: str) -> Iterator[None]:
    """oneDNN's internal precision for fp32 convolutions and products set to ``precision``
    ("ieee" or "bf16"), and both settings put back as they were on leaving."""
    backends = (torch.backends.mkldnn.conv, torch.backends.mkldnn.matmul)
    before = [backend.fp32_precision for backend in backends]
    try:
        for backend in backends:
            backend.fp32_precision = precision
        yield
    finally:
        for backend, value in zip(backends, before):
            backend.fp32_precision = value


def relative_change(compute) -> float:
    """||with - without|| / ||without|| for ``compute()`` run in fp32 without and with oneDNN's
    bf16 setting."""
    with onednn_fp32_precision("ieee"):
        without = compute()
    with onednn_fp32_precision("bf16"):
        with_bf16 = compute()
    return float((with_bf16 - without).norm() / without.norm())


def setting_effects(batch_size: int) -> dict[str, float]:
    """What the setting does to fp32 numbers: D's second convolution (64 -> 128 channels, 4x4,
    stride 2, on 14x14 maps) and a product of G's second layer's shape ([batch x 1024] @ [1024 x 6272])."""
    generator = torch.Generator().manual_seed(0)
    maps = torch.randn(batch_size, 64, 14, 14, generator=generator)
    kernel = torch.randn(128, 64, 4, 4, generator=generator)
    codes = torch.randn(batch_size, 1024, generator=generator)
    weights = torch.randn(1024, 7 * 7 * 128, generator=generator)
    return {"conv_relative_change": relative_change(lambda: F.conv2d(maps, kernel, stride=2, padding=1)),
            "matmul_relative_change": relative_change(lambda: codes @ weights)}


def product_times(batch_size: int, calls: int = 30, rounds: int = 3) -> pd.DataFrame:
    """Median milliseconds of the products of D's fully connected layer (6272 -> 1024) on the
    D step's joint batch (2 x ``batch_size`` rows) in fp32, with oneDNN's fp32 precision "ieee"
    and "bf16", the two taking turns."""
    generator = torch.Generator().manual_seed(0)
    rows_in = torch.randn(2 * batch_size, 7 * 7 * 128, generator=generator)
    weight = torch.randn(1024, 7 * 7 * 128, generator=generator)
    grad_out = torch.randn(2 * batch_size, 1024, generator=generator)
    products = {"forward": lambda: rows_in @ weight.t(), "weight gradient": lambda: grad_out.t() @ rows_in,
                "input gradient": lambda: grad_out @ weight}
    table = []
    for name, product in products.items():
        times: dict[str, list[float]] = {"ieee": [], "bf16": []}
        for round_ in range(rounds):
            for precision in in_turn(("ieee", "bf16"), round_):
                with onednn_fp32_precision(precision):
                    product()
                    times[precision].append(statistics.median(
                        time_block(product, 1, CPU) for _ in range(calls)) * 1000)
        flops = 2 * rows_in.shape[0] * weight.shape[0] * weight.shape[1]
        for precision, values in times.items():
            ms = statistics.median(values)
            table.append({"product": name, "onednn_fp32_precision": precision, "ms": ms, "gflops": flops / ms / 1e6})
    return pd.DataFrame(table)


def time_arms(arms: tuple[Arm, ...], blocks: int, steps: int, batch_size: int, images: int) -> dict[str, list[float]]:
    """images/s of each arm, one value per block."""
    config = PerfConfig(batch_size=batch_size)
    data = random_images(config.suite, images)
    loops = {}
    for arm in arms:
        with onednn_fp32_precision(arm.onednn_fp32_precision):
            loops[arm.name] = variant_loop(config, arm.variant, data, CPU)
            for _ in range(WARMUP):
                loops[arm.name]()
    rates: dict[str, list[float]] = {arm.name: [] for arm in arms}
    for block in range(blocks):
        for arm in in_turn(arms, block):
            with onednn_fp32_precision(arm.onednn_fp32_precision):
                seconds = time_block(loops[arm.name], steps, CPU)
            rates[arm.name].append(steps * batch_size / seconds)
    return rates


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20, help="steps per block (default 20)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--images", type=int, default=10_000, help="random images to draw batches from")
    parser.add_argument("--out", default="results/bench_onednn_bf16_math")
    args = parser.parse_args(argv)
    keep_freed_memory()  # as bench perf and training do on the CPU
    effects = setting_effects(args.batch_size)
    print(f"oneDNN bf16 setting, relative change of fp32 results: convolution {effects['conv_relative_change']:.2g}, "
          f"product {effects['matmul_relative_change']:.2g}")
    products = product_times(args.batch_size)
    for name, group in products.groupby("product", sort=False):
        ms = group.set_index("onednn_fp32_precision")["ms"]
        print(f"  D's fully connected layer, {name}: {ms['ieee']:.2f} ms, with the setting {ms['bf16']:.2f} ms")
    write_csv(products, Path(args.out) / "onednn_bf16_math_products.csv")
    arms = tuple(arm for arm in ARMS if native_bf16(CPU) or variant_settings(arm.variant)["precision"] != "bf16")
    if len(arms) < len(ARMS):
        print("bf16 is not native on this CPU: the autocast loop is left out")
    rates = time_arms(arms, args.blocks, args.steps, args.batch_size, args.images)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    rows = [{"arm": arm.name, "variant": arm.variant, "onednn_fp32_precision": arm.onednn_fp32_precision,
             "images_per_s": medians[arm.name], "min_images_per_s": min(rates[arm.name]),
             "max_images_per_s": max(rates[arm.name]), "ratio_to_fp32": medians[arm.name] / medians["fp32"], **effects,
             "threads": torch.get_num_threads(), "batch_size": args.batch_size, "blocks": args.blocks,
             "steps": args.steps} for arm in arms]
    table = pd.DataFrame(rows)
    for row in rows:
        print(f"  {row['arm']:18s} {row['images_per_s']:7.1f} images/s ({row['min_images_per_s']:.0f}-"
              f"{row['max_images_per_s']:.0f})  {row['ratio_to_fp32']:.2f}x fp32")
    path = Path(args.out) / "onednn_bf16_math.csv"
    write_csv(table, path)
    print(f"Table: {path}")
    return table


if __name__ == "__main__":
    main()
