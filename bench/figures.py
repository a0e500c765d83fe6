"""Figures as in the paper: L_I curves of InfoGAN vs GAN (Fig. 1) and traversal grids (Fig. 2)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402
import torch  # noqa: E402
from torchvision.utils import make_grid  # noqa: E402

from bench.io import atomic_path  # noqa: E402

sns.set_theme(context="paper", style="whitegrid")


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
    the bound's maximum for a discrete code.
    """
    codes = list(entropies)
    long = history.melt(id_vars=["iteration", "model", "seed"], value_vars=[f"L_I/{c}" for c in codes],
                        var_name="code", value_name="L_I")
    long["code"] = long["code"].str.removeprefix("L_I/")
    fig, axes = plt.subplots(1, len(codes), figsize=(4 * len(codes), 3.2), squeeze=False)
    for ax, code in zip(axes[0], codes):
        sns.lineplot(data=long[long["code"] == code], x="iteration", y="L_I", hue="model",
                     errorbar="sd", ax=ax, hue_order=sorted(long["model"].unique(), reverse=True))
        ax.axhline(entropies[code], color="grey", linestyle="--", linewidth=1, label=f"H({code})")
        ax.set_title(f"code {code}")
        ax.set_xlabel("iteration")
        ax.set_ylabel("L_I (nats)")
        ax.legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, path)
