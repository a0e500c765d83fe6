"""Suite-level figures from the run records, written to ``<out>/figures/``:

    <suite>_mi_curves.png           L_I per code over training, InfoGAN vs GAN (paper Fig. 1)
    <suite>_test_accuracy.png       categorical-code accuracy on real test images over training
    <suite>_metrics.png             every metric, one point per seed, models side by side
    <suite>_confusion.png           categorical code vs true labels, lowest finished seed per model
    <suite>_traversal_<code>_<model>.png   copies of the lowest seed's traversal grids

Each figure is returned with a title and a one-sentence reading guide for the report page.
A figure whose inputs are absent (older runs without confusion.csv, no test accuracy logged)
is skipped.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from bench.aggregate import collect_histories, failed_counts, metric_values
from bench.figures import (accuracy_curve_figure, confusion_figure, metric_strips_figure, mi_curves_figure,
                           mi_matrix_figure, model_order)
from bench.io import atomic_path
from bench.runner import CONFUSION, MI_MATRIX


@dataclass
class FigureEntry:
    """One figure of the report: its images (label, path; several are shown side by side)."""

    suite: str
    title: str
    caption: str
    images: list[tuple[str, Path]] = field(default_factory=list)


def run_dir(out: Path, suite: str, model: str, seed: int) -> Path:
    return Path(out) / "runs" / suite / model / f"seed{seed}"


def code_entropies(suite: str, runs: pd.DataFrame) -> dict[str, float]:
    """H(c) per code, in the suite's code order (from the records' entropy/<code> columns when
    the suite is not registered here)."""
    from bench.suites import SUITES

    if suite in SUITES:
        latent = SUITES[suite].latent
        return dict(zip(latent.code_names, latent.entropies()))
    columns = [c for c in runs.columns if c.startswith("entropy/")]
    rows = runs[runs["suite"] == suite]
    return {c.removeprefix("entropy/"): float(rows[c].dropna().iloc[0]) for c in columns if rows[c].notna().any()}


def lowest_seeds(runs: pd.DataFrame, suite: str, has: Callable[[str, int], bool]) -> dict[str, int]:
    """Per model, the lowest seed whose run passes ``has(model, seed)``, finished runs first."""
    rows = runs[runs["suite"] == suite].assign(_unfinished=lambda r: r["status"] != "finished")
    chosen = {}
    for _, run in rows.sort_values(["_unfinished", "seed"]).iterrows():
        if run["model"] not in chosen and has(run["model"], int(run["seed"])):
            chosen[run["model"]] = int(run["seed"])
    return chosen


def training_figures(out: Path, suite: str, runs: pd.DataFrame) -> list[FigureEntry]:
    """L_I curves and the test-accuracy curve from every run's history.csv."""
    history = collect_histories(out, suite)
    if history.empty:
        return []
    entries = []
    entropies = code_entropies(suite, runs)
    if any(f"L_I/{c}" in history.columns for c in entropies):
        path = Path(out) / "figures" / f"{suite}_mi_curves.png"
        mi_curves_figure(history, entropies, f"{suite}: L_I during training (mean ± sd over seeds)", path)
        entries.append(FigureEntry(suite, "L_I per code during training (paper Fig. 1)",
                                   "Each panel is one code: the line is the mean of the bound L_I over seeds and "
                                   "the band one standard deviation, in nats; the dashed line is H(c), the most a "
                                   "discrete code's bound can reach, and InfoGAN's curve should sit above the GAN "
                                   "baseline's.", [("", path)]))
    if "test_accuracy" in history.columns and history["test_accuracy"].notna().any():
        path = Path(out) / "figures" / f"{suite}_test_accuracy.png"
        accuracy_curve_figure(history, f"{suite}: categorical-code accuracy on real test images", path)
        entries.append(FigureEntry(suite, "Test accuracy of the categorical code during training",
                                   "Each point is an evaluation during training: the share of real test images whose "
                                   "category (Q's argmax, matched one-to-one to the labels) is the true label, as the "
                                   "mean over seeds with a band of one standard deviation.", [("", path)]))
    return entries


def metric_figure(out: Path, suite: str, runs: pd.DataFrame, metrics: list[str]) -> list[FigureEntry]:
    """Strip plots of every final metric, one point per finished seed."""
    values = metric_values(runs[runs["suite"] == suite])
    values = values[values["metric"].isin(metrics)]
    failed = {m: int(n) for (s, m), n in failed_counts(runs).items() if s == suite}
    if values.empty:
        return []
    order = {m: i for i, m in enumerate(metrics)}
    values = values.sort_values("metric", key=lambda c: c.map(order), kind="stable")
    entropies = code_entropies(suite, runs)
    reference = {f"{bound}/{c}": h for c, h in entropies.items() for bound in ("mi_lower_bound", "mi_heldout")}
    path = Path(out) / "figures" / f"{suite}_metrics.png"
    metric_strips_figure(values, failed, reference, f"{suite}: final metrics, one point per seed", path)
    return [FigureEntry(suite, "Final metrics, every seed",
                        "Each dot is one finished seed and the black bar the mean with one standard deviation; the "
                        "labels under each model count its finished seeds and failed runs, and the dashed line in "
                        "the mutual-information panels marks H(c).", [("", path)])]


def lowest_seed_matrices(out: Path, suite: str, runs: pd.DataFrame, filename: str, score: str,
                         label: str) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """Per model, the matrix ``filename`` of its lowest seed that has one, and a panel title naming
    the seed and the run's ``score`` (shown as ``label``)."""
    seeds = lowest_seeds(runs, suite, lambda m, k: (run_dir(out, suite, m, k) / filename).is_file())
    matrices, titles = {}, {}
    for model, seed in seeds.items():
        matrices[model] = pd.read_csv(run_dir(out, suite, model, seed) / filename, index_col=0)
        row = runs[(runs["suite"] == suite) & (runs["model"] == model) & (runs["seed"] == seed)].iloc[0]
        value = row.get(score, math.nan)
        titles[model] = f"{model}, seed {seed}" + ("" if pd.isna(value) else f": {label} {value:.3f}")
    return matrices, titles


def confusion_entry(out: Path, suite: str, runs: pd.DataFrame) -> list[FigureEntry]:
    """The categorical code against the true labels, from the lowest seed of each model."""
    matrices, titles = lowest_seed_matrices(out, suite, runs, CONFUSION, "cluster_accuracy", "accuracy")
    if not matrices:
        return []
    path = Path(out) / "figures" / f"{suite}_confusion.png"
    confusion_figure(matrices, titles, f"{suite}: categorical code vs true label (real test images)", path)
    return [FigureEntry(suite, "Categorical code against the true labels",
                        "Row i shows where the test images of label i go: the percentage given to each category of "
                        "the code after matching categories to labels, so a strong diagonal means the code has "
                        "found the classes without ever seeing a label.", [("", path)])]


def mi_matrix_entry(out: Path, suite: str, runs: pd.DataFrame) -> list[FigureEntry]:
    """The code x factor mutual information of ground-truth suites, lowest seed of each model."""
    matrices, titles = lowest_seed_matrices(out, suite, runs, MI_MATRIX, "mig", "MIG")
    if not matrices:
        return []
    path = Path(out) / "figures" / f"{suite}_mi_matrix.png"
    mi_matrix_figure(matrices, titles, f"{suite}: mutual information between codes and true factors", path)
    return [FigureEntry(suite, "Codes against the ground-truth factors",
                        "Each cell is the mutual information in nats between one code (Q's mean on rendered images, "
                        "20-bin histogram) and one true factor; a disentangled code has a single bright cell in its "
                        "row, and MIG is the gap between the two brightest cells of each column over its entropy.",
                        [("", path)])]


def copy_file(source: Path, target: Path) -> None:
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def traversal_entries(out: Path, suite: str, runs: pd.DataFrame) -> list[FigureEntry]:
    """The lowest seed's traversal grid of each code and model, copied into ``<out>/figures``."""
    codes = list(code_entropies(suite, runs))

    def figures(model: str, seed: int) -> Path:
        return run_dir(out, suite, model, seed) / "figures"

    seeds = lowest_seeds(runs, suite, lambda m, k: any(figures(m, k).glob("traversal_*.png")))
    found = {p.stem.removeprefix("traversal_") for m, k in seeds.items() for p in figures(m, k).glob("traversal_*.png")}
    entries = []
    for code in [c for c in codes if c in found] + sorted(found - set(codes)):
        images = []
        for model in model_order(set(seeds)):
            source = figures(model, seeds[model]) / f"traversal_{code}.png"
            if source.is_file():
                target = Path(out) / "figures" / f"{suite}_traversal_{code}_{model}.png"
                copy_file(source, target)
                images.append((f"{model}, seed {seeds[model]}", target))
        entries.append(FigureEntry(suite, f"Traversal of code {code} (paper Fig. 2)",
                                   f"Each row keeps one noise vector fixed and each column sets code {code} to the "
                                   f"value under it, everything else fixed; a disentangled code changes one property "
                                   f"of the image along every row in the same way.", images))
    return entries


def write_suite_figures(out: Path, runs: pd.DataFrame, order: dict[str, list[str]]) -> list[FigureEntry]:
    """Every suite figure from the records under ``out``; returns them in report order."""
    entries: list[FigureEntry] = []
    for suite in sorted(set(runs["suite"])) if not runs.empty else []:
        entries += training_figures(out, suite, runs)
        entries += metric_figure(out, suite, runs, order.get(suite, []))
        entries += confusion_entry(out, suite, runs)
        entries += mi_matrix_entry(out, suite, runs)
        entries += traversal_entries(out, suite, runs)
    return entries
