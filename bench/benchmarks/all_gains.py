"""Every CPU step gain measured and not adopted, at once, against the default step: paired blocks.

    python -m bench.benchmarks.all_gains [--rounds 10] [--steps 20] [--check-steps 10]
        [--batch-size 128] [--eager-update] [--out results/bench_all_gains]

Three ways to speed up the default CPU step (bf16 autocast, fused Adam) were each measured on
their own and left out of the toolkit (docs/speed.md, Measured and not adopted): bf16 weight
copies written by the optimiser instead of autocast's casts (``bench.benchmarks.bf16_weight_copies``),
channels-last tensors (``bench perf``'s ``+cl``) and the one-channel passes as a matrix product
(``bench.benchmarks.thin_layers``). This benchmark builds ``bench perf``'s toolkit loop with each
combination in turn (the default; channels-last; the copies; the copies with channels-last; all
three) from the same seeded weights, batches and latent draws, and

* runs ``--check-steps`` steps of each, which also warm it up, and records the largest difference
  of its losses and mean log Q from the default step's, step by step (the ways compute the same
  training up to rounding);
* times ``--rounds`` rounds of one ``--steps``-step block of each, the order reversed every other
  round, and gives each way's median images/s and its round-by-round ratio to the default step
  (median, range, rounds above 1, Wilcoxon signed-rank p).

Writes ``<out>/all_gains.csv`` (a row per way) and ``<out>/all_gains_rounds.csv`` (each round's rates).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pandas as pd
import torch

from bench.aggregate import write_csv
from bench.benchmarks.bf16_weight_copies import use_bf16_copies
from bench.benchmarks.paired import paired_ratios, rates_in_rounds
from bench.benchmarks.thin_layers import use_thin_layers
from bench.perf import PerfConfig, random_images, toolkit_loop

CPU = torch.device("cpu")


@dataclass(frozen=True)
class Gains:
    """Which of the measured gains a step takes, on top of the default bf16 step with fused Adam."""

    channels_last: bool = False
    bf16_copies: bool = False
    thin_layers: bool = False

    @property
    def name(self) -> str:
        parts = [label for label, on in (("bf16 copies", self.bf16_copies), ("channels-last", self.channels_last),
                                         ("thin layers", self.thin_layers)) if on]
        return " + ".join(parts) or "default"


WAYS = (Gains(), Gains(channels_last=True), Gains(bf16_copies=True), Gains(channels_last=True, bf16_copies=True),
        Gains(channels_last=True, bf16_copies=True, thin_layers=True))


def gains_loop(gains: Gains, config: PerfConfig, images: torch.Tensor, compile: bool = True):
    """``bench perf``'s toolkit loop (bf16, fused Adam) with ``gains`` applied: ``+cl`` for
    channels-last, the thin layers swapped into the seeded networks, and the step's optimisers
    replaced by Bf16CopyAdam (its update compiled unless ``compile`` is False)."""
    variant = "toolkit-bf16" + ("+cl" if gains.channels_last else "") + "+fused"
    return toolkit_loop(config, variant, images, CPU,
                        adapt_networks=use_thin_layers if gains.thin_layers else None,
                        adapt_step=partial(use_bf16_copies, compile=compile) if gains.bf16_copies else None)


def build_loops(ways: tuple[Gains, ...], batch_size: int, images: torch.Tensor, compile: bool = True) -> dict:
    return {gains.name: gains_loop(gains, PerfConfig(batch_size=batch_size), images, compile) for gains in ways}


def check_steps(loops: dict, steps: int) -> pd.DataFrame:
    """Run ``steps`` steps of each loop; one row per way: the largest absolute difference of its
    step outputs (losses, mean log Q per code) from the default loop's, over all steps and at the
    first. The loops start from the same weights and draw the same batches and latents."""
    outputs = {name: torch.stack([loop().float() for _ in range(steps)]) for name, loop in loops.items()}
    default = outputs["default"]
    return pd.DataFrame([{"way": name, "max_output_difference": (out - default).abs().max().item(),
                          "max_output_difference_first_step": (out[0] - default[0]).abs().max().item()}
                         for name, out in outputs.items()])


def summarise(rounds: pd.DataFrame, checks: pd.DataFrame) -> pd.DataFrame:
    """A row per way: median images/s and range, the paired ratio to the default step, and the
    output differences of the check."""
    rows = []
    for name in rounds.columns.drop("round"):
        row = {"way": name, "images_per_s": rounds[name].median(), "min_images_per_s": rounds[name].min(),
               "max_images_per_s": rounds[name].max()}
        if name == "default":
            row.update(ratio_to_default=1.0, ratio_min=1.0, ratio_max=1.0, rounds_above_1=0, wilcoxon_p=float("nan"))
        else:
            ratios = paired_ratios(rounds[name], rounds["default"])
            row.update(ratio_to_default=ratios.median, ratio_min=ratios.low, ratio_max=ratios.high,
                       rounds_above_1=ratios.above_1, wilcoxon_p=ratios.wilcoxon_p)
        rows.append(row)
    table = pd.DataFrame(rows).merge(checks, on="way")
    table["rounds"], table["threads"] = len(rounds), torch.get_num_threads()
    return table


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds of one block of each way")
    parser.add_argument("--steps", type=int, default=20, help="training steps per block")
    parser.add_argument("--check-steps", type=int, default=10, help="steps compared with the default (also the warm-up)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--eager-update", action="store_true",
                        help="run the copies' Adam update op by op, not compiled (no compiler start-up; slower)")
    parser.add_argument("--out", default="results/bench_all_gains")
    args = parser.parse_args(argv)
    if args.check_steps < 1 or args.rounds < 1 or args.steps < 1:
        parser.error("--rounds, --steps and --check-steps must be at least 1")
    loops = build_loops(WAYS, args.batch_size, random_images("mnist", 60000), compile=not args.eager_update)
    checks = check_steps(loops, args.check_steps)
    rounds = rates_in_rounds(loops, args.steps, args.rounds, args.batch_size, CPU)
    table = summarise(rounds, checks)
    update = "op by op" if args.eager_update else "compiled"
    table["copies_update"] = update
    write_csv(rounds, Path(args.out) / "all_gains_rounds.csv")
    write_csv(table, Path(args.out) / "all_gains.csv")
    print(f"{torch.get_num_threads()} threads; bf16, fused Adam; {args.rounds} rounds of {args.steps} steps; "
          f"outputs compared over {args.check_steps} steps; the copies' update {update}")
    print(table.drop(columns=["rounds", "threads", "copies_update"]).round(4).to_string(index=False))
    return table


if __name__ == "__main__":
    main()
