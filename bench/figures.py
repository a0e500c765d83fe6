"""Figures in one seaborn style: traversal grids (paper Fig. 2), L_I curves (paper Fig. 1),
per-seed metric strips, test accuracy during training, and the categorical code's confusion matrix.

Every function takes tables or tensors and a path, and writes one PNG atomically.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from bench.io import atomic_path  # noqa: E402

sns.set_theme(context="notebook", style="whitegrid", font_scale=0.85)

MODEL_ORDER = ["infogan", "gan"]
_PALETTE = sns.color_palette("deep")

# Units of the metrics, as (shell pattern, unit) in matching order, for axis labels.
METRIC_UNITS = [
    ("cluster_accuracy", "fraction of test images"),
    ("nmi", "0 to 1"),
    ("ari", "-1 to 1"),
    ("mi_lower_bound/*", "nats"),
    ("mi_heldout/*", "nats"),
    ("traversal/*/consistency", "fraction of samples"),
    ("traversal/*/classes_covered", "classes"),
    ("traversal/*/median_abs_rho", "|Spearman rho|"),
    ("traversal/*/sign_agreement", "fraction of noise vectors"),
    ("frechet_distance", "squared feature distance"),
]


def metric_unit(metric: str) -> str:
    """The unit shown on a metric's axis (``score`` for a metric without a known unit)."""
    return next((unit for pattern, unit in METRIC_UNITS if fnmatchcase(metric, pattern)), "score")


def model_order(models: list[str] | set[str]) -> list[str]:
    """InfoGAN first, then the GAN baseline, then any other model alphabetically."""
    known = [m for m in MODEL_ORDER if m in models]
    return known + sorted(set(models) - set(known))


def model_palette(models: list[str]) -> dict[str, tuple]:
    """One fixed colour per model, the same in every figure."""
    return {m: _PALETTE[i % len(_PALETTE)] for i, m in enumerate(model_order(set(models) | set(MODEL_ORDER)))}


def save_figure(fig: plt.Figure, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def traversal_figure(images: torch.Tensor, rows: int, column_values: torch.Tensor, code_name: str,
                     code_kind: str, title: str, path: str | Path) -> None:
    """A grid of generated images: one row per fixed noise, one column per value of the code."""
    columns = len(column_values)
    pad = 2
    grid = make_grid(images.float().cpu().clamp(0, 1), nrow=columns, padding=pad, pad_value=1.0)
    cell = images.shape[-1] + pad
    fig, ax = plt.subplots(figsize=(0.6 * columns + 1, 0.6 * rows + 0.8))
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray", vmin=0, vmax=1)
    ax.set_xticks([pad + cell * j + images.shape[-1] / 2 for j in range(columns)])
    labels = [f"{int(v)}" if code_kind == "categorical" else f"{float(v):.1f}" for v in column_values]
    ax.set_xticklabels(labels)
    ax.set_yticks([])
    ax.set_xlabel(f"code {code_name} ({'category' if code_kind == 'categorical' else 'value'})")
    ax.set_ylabel("fixed noise, one per row")
    ax.grid(False)
    ax.set_title(title)
    save_figure(fig, path)


def mi_curves_figure(history: pd.DataFrame, entropies: dict[str, float], title: str, path: str | Path) -> None:
    """L_I per code over iterations, one line per model with a band of one std over seeds.

    ``history`` has columns iteration, model, seed and ``L_I/<code>``; a dashed line marks H(c),
    the bound's maximum for a discrete code. Codes without a column are left out.
    """
    codes = [c for c in entropies if f"L_I/{c}" in history.columns]
    long = history.melt(id_vars=["iteration", "model", "seed"], value_vars=[f"L_I/{c}" for c in codes],
                        var_name="code", value_name="L_I")
    long["code"] = long["code"].str.removeprefix("L_I/")
    models = model_order(set(long["model"]))
    fig, axes = plt.subplots(1, len(codes), figsize=(4 * len(codes), 3.2), squeeze=False)
    for ax, code in zip(axes[0], codes):
        sns.lineplot(data=long[long["code"] == code], x="iteration", y="L_I", hue="model", hue_order=models,
                     palette=model_palette(models), errorbar="sd", ax=ax)
        ax.axhline(entropies[code], color="grey", linestyle="--", linewidth=1, label=f"H({code})")
        ax.set_title(f"code {code}")
        ax.set_xlabel("training iteration")
        ax.set_ylabel("L_I (nats)")
        ax.legend(loc="best", fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def accuracy_curve_figure(history: pd.DataFrame, title: str, path: str | Path) -> None:
    """Categorical-code accuracy on real test images over iterations, one line per model with a
    band of one std over seeds; ``history`` has columns iteration, model, seed, test_accuracy."""
    points = history.dropna(subset=["test_accuracy"])
    models = model_order(set(points["model"]))
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    sns.lineplot(data=points, x="iteration", y="test_accuracy", hue="model", hue_order=models,
                 palette=model_palette(models), errorbar="sd", marker="o", ax=ax)
    ax.set_xlabel("training iteration")
    ax.set_ylabel("test accuracy (fraction correct)")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="lower right", title="model")
    fig.tight_layout()
    save_figure(fig, path)


def metric_strips_figure(values: pd.DataFrame, failed: dict[str, int], reference: dict[str, float],
                         title: str, path: str | Path, columns: int = 4) -> None:
    """One panel per metric: every finished seed as a point, models side by side, with the mean
    and one std over seeds in black.

    ``values`` has columns model, seed, metric, value; ``failed`` counts failed runs per model
    (shown under the model's name); ``reference`` gives a dashed line per metric (e.g. H(c)).
    """
    metrics = list(dict.fromkeys(values["metric"]))
    models = model_order(set(values["model"]) | set(failed))
    palette = model_palette(models)
    columns = min(columns, len(metrics))
    rows = -(-len(metrics) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.2 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics):
        data = values[values["metric"] == metric]
        sns.stripplot(data=data, x="model", y="value", hue="model", order=models, hue_order=models,
                      palette=palette, size=7, jitter=0.12, legend=False, ax=ax)
        sns.pointplot(data=data, x="model", y="value", order=models, errorbar="sd", color="black",
                      markers="_", markersize=16, linestyle="none", capsize=0.12, err_kws={"linewidth": 1.2},
                      ax=ax)
        if metric in reference:
            ax.axhline(reference[metric], color="grey", linestyle="--", linewidth=1)
        counts = data.groupby("model")["value"].count()
        ax.set_xticks(range(len(models)))
        ax.set_xticklabels([f"{m}\n{int(counts.get(m, 0))} seeds"
                            + (f", {failed[m]} failed" if failed.get(m) else "") for m in models])
        ax.set_xlabel("")
        ax.set_ylabel(metric_unit(metric))
        ax.set_title(metric)
    for ax in list(axes.flat)[len(metrics):]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def confusion_figure(matrices: dict[str, pd.DataFrame], titles: dict[str, str], title: str,
                     path: str | Path) -> None:
    """One heatmap per model of the categorical code against the true labels, each row as the
    percentage of that label's test images given to each (matched) category."""
    models = model_order(set(matrices))
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 4.6), squeeze=False)
    for ax, model in zip(axes[0], models):
        counts = matrices[model]
        totals = counts.sum(axis=1).replace(0, np.nan)
        percent = counts.div(totals, axis=0) * 100
        sns.heatmap(percent, annot=True, fmt=".0f", cmap="Blues", vmin=0, vmax=100, square=True,
                    cbar_kws={"label": "% of the label's test images", "shrink": 0.8},
                    annot_kws={"fontsize": 7}, ax=ax)
        ax.set_xlabel("category of the code (matched to a label)")
        ax.set_ylabel("true label")
        ax.set_title(titles.get(model, model))
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)


def mi_matrix_figure(matrices: dict[str, pd.DataFrame], titles: dict[str, str], title: str,
                     path: str | Path) -> None:
    """One heatmap per model of the mutual information (nats) between each code (rows) and each
    ground-truth factor (columns); a disentangled code has one bright cell in its row."""
    models = model_order(set(matrices))
    vmax = max(float(m.to_numpy().max()) for m in matrices.values())
    fig, axes = plt.subplots(1, len(models), figsize=(5.2 * len(models), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        sns.heatmap(matrices[model], annot=True, fmt=".2f", cmap="viridis", vmin=0, vmax=vmax,
                    cbar_kws={"label": "mutual information (nats)", "shrink": 0.8}, annot_kws={"fontsize": 8}, ax=ax)
        ax.set_xlabel("ground-truth factor")
        ax.set_ylabel("code (Q's mean)")
        ax.set_title(titles.get(model, model))
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
