"""Paired timings of two settings, as the child-process benchmarks measure them."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats


def in_turn(settings: tuple[str, ...], pair: int) -> tuple[str, ...]:
    """The settings in the order pair ``pair`` runs them: as given in even pairs, reversed in odd
    ones, so that drift in the machine's speed hits every setting alike."""
    return settings if pair % 2 == 0 else settings[::-1]


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
