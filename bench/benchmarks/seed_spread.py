"""Seed spread of time-to-accuracy results, and two settings compared seed by seed.

    python -m bench.benchmarks.seed_spread NAME=FOLDER[,FOLDER...] [NAME=FOLDER...] [--out FILE.csv]

Each group reads the per-seed curves (``curve_seed<k>.csv``) of its folders, so folders filled
by several invocations count every seed trained there; a seed found in two folders of a group
is an error. A group gets one row: the number of seeds, the final accuracy's
mean, standard deviation (ddof 1), median, minimum and maximum, and how many seeds reached
90% and 95% at some evaluation. With two groups, the seeds they share are compared pair by
pair: the mean and standard deviation of the difference (second minus first) and the
two-sided Wilcoxon signed-rank p-value (scipy.stats.wilcoxon); and the two groups as wholes
by the two-sided Mann-Whitney U p-value (scipy.stats.mannwhitneyu).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from scipy import stats

from bench.aggregate import write_csv
from bench.benchmarks.time_to_accuracy import CURVE_PREFIX, spread, summarise


def read_group(name: str, folders: list[Path]) -> pd.DataFrame:
    """One row per seed (:func:`summarise`) from the ``curve_seed<k>.csv`` files of ``folders``;
    ValueError when a folder holds no curve or a seed's curve is in two folders."""
    curves: dict[int, pd.DataFrame] = {}
    for folder in folders:
        paths = sorted(Path(folder).glob(f"{CURVE_PREFIX}*.csv"))
        if not paths:
            raise ValueError(f"{folder} holds no {CURVE_PREFIX}<k>.csv: run bench.benchmarks.time_to_accuracy "
                             f"with --out {folder}")
        for path in paths:
            seed = int(path.stem[len(CURVE_PREFIX):])
            if seed in curves:
                raise ValueError(f"seed {seed} of group {name} has a curve in more than one folder")
            curves[seed] = pd.read_csv(path)
    return summarise(curves, name, None).set_index("seed")


@dataclass(frozen=True)
class Comparison:
    """Second group against the first on their shared seeds, and as wholes."""

    shared_seeds: int
    mean_difference: float
    sd_difference: float
    wilcoxon_p: float
    mann_whitney_p: float


def compare(first: pd.DataFrame, second: pd.DataFrame) -> Comparison:
    """Paired (Wilcoxon signed-rank) and unpaired (Mann-Whitney U) tests of the final accuracies."""
    shared = first.index.intersection(second.index)
    a, b = first.loc[shared, "final_accuracy"], second.loc[shared, "final_accuracy"]
    difference = b - a
    paired = stats.wilcoxon(b, a).pvalue if len(shared) > 1 and (difference != 0).any() else float("nan")
    whole = stats.mannwhitneyu(second["final_accuracy"].dropna(), first["final_accuracy"].dropna()).pvalue
    return Comparison(len(shared), float(difference.mean()), float(difference.std()), float(paired), float(whole))


def parse_group(text: str) -> tuple[str, list[Path]]:
    """``NAME=FOLDER[,FOLDER...]`` as (name, folders)."""
    name, sep, folders = text.partition("=")
    if not sep or not name or not folders:
        raise argparse.ArgumentTypeError(f"expected NAME=FOLDER[,FOLDER...], got {text!r}")
    return name, [Path(f) for f in folders.split(",")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("groups", nargs="+", type=parse_group, metavar="NAME=FOLDER[,FOLDER...]")
    parser.add_argument("--out", default=None, help="write the groups' rows to this CSV file")
    args = parser.parse_args(argv)
    try:
        tables = {name: read_group(name, folders) for name, folders in args.groups}
    except ValueError as exc:
        parser.error(str(exc))
    summary = pd.DataFrame([{"group": name, **spread(table)} for name, table in tables.items()])
    print(summary.round(3).to_string(index=False))
    if args.out:
        write_csv(summary, Path(args.out))
    if len(tables) == 2:
        (first, a), (second, b) = tables.items()
        result = compare(a, b)
        print(f"{second} - {first} on {result.shared_seeds} shared seeds: {result.mean_difference:+.3f} "
              f"(sd {result.sd_difference:.3f}), Wilcoxon signed-rank p = {result.wilcoxon_p:.2f}; "
              f"Mann-Whitney U p = {result.mann_whitney_p:.2f}")


if __name__ == "__main__":
    main()
