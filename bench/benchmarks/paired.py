"""Paired timings of settings: the order they run in, the images/s of in-process loops timed in
rounds, and the pair-by-pair ratios."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import torch
from scipy import stats

from bench.perf import time_block


def in_turn(settings: tuple[str, ...], pair: int) -> tuple[str, ...]:
    """The settings in the order pair ``pair`` runs them: as given in even pairs, reversed in odd
    ones, so that drift in the machine's speed hits every setting alike."""
    return settings if pair % 2 == 0 else settings[::-1]


def rates_in_rounds(loops: dict[str, Callable[[], object]], steps: int, rounds: int, images_per_step: int,
                    device: torch.device) -> pd.DataFrame:
    """One row per round (column ``round``): the images/s of one ``steps``-step block of each
    loop (a column per loop), the loops in turn (``in_turn``)."""
    names = tuple(loops)
    rows = []
    for round_ in range(rounds):
        row = {"round": round_}
        for name in in_turn(names, round_):
            row[name] = steps * images_per_step / time_block(loops[name], steps, device)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PairedRatios:
    """Pair-by-pair ratios of one setting's measurement to another's."""

    median: float
    low: float
    high: float
    below_1: int
    above_1: int
    wilcoxon_p: float  # two-sided signed-rank test of the paired values; NaN under 5 pairs


def paired_ratios(numerator: pd.Series, denominator: pd.Series) -> PairedRatios:
    """numerator / denominator pair by pair (the Series share their index of pairs), summarised."""
    ratios = numerator / denominator
    p_value = stats.wilcoxon(numerator, denominator).pvalue if len(ratios) >= 5 else float("nan")
    return PairedRatios(ratios.median(), ratios.min(), ratios.max(), int((ratios < 1).sum()),
                        int((ratios > 1).sum()), p_value)
