"""All run records under an output folder -> pandas tables (CSV) and suite-level figures.

    <out>/tables/runs.csv        one row per run
    <out>/tables/comparison.csv  suite x metric x model: mean, std, best, n, n_failed, InfoGAN - GAN
    <out>/figures/<suite>_mi_curves.png
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from bench import io as bio
from bench.figures import mi_curves_figure
from bench.runner import CONFIG, HISTORY, METRICS
from metrics import METRICS as METRIC_REGISTRY

ID_COLUMNS = ["suite", "model", "seed", "profile"]
RUN_COLUMNS = ID_COLUMNS + ["status", "reason", "iterations", "wall_seconds", "eval_seconds", "device",
                            "device_name", "precision", "torch_version"]


def run_folders(out: Path) -> list[Path]:
    return sorted(p.parent for p in (Path(out) / "runs").glob(f"*/*/seed*/{CONFIG}"))


def collect_runs(out: Path) -> pd.DataFrame:
    """One row per run folder: identity, status (running / finished / failed), timing, every metric."""
    rows = []
    for folder in run_folders(out):
        config = bio.read_json(folder / CONFIG)
        identity = config["identity"]
        status = bio.read_json(folder / METRICS) if (folder / METRICS).is_file() else {"status": "running"}
        rows.append({
            **{k: identity[k] for k in ID_COLUMNS},
            "status": status["status"], "reason": status.get("reason", ""),
            "iterations": status.get("iteration", identity["train"]["iterations"]),
            "wall_seconds": status.get("wall_seconds"), "eval_seconds": status.get("eval_seconds"),
            "device": config["device"], "device_name": config.get("device_name", ""),
            "precision": identity["train"]["precision"], "torch_version": config["versions"]["torch"],
            **status.get("metrics", {}),
        })
    return pd.DataFrame(rows, columns=None if rows else RUN_COLUMNS)


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """The measured columns (entropies are constants of the spec, not measurements)."""
    return [c for c in runs.columns if c not in RUN_COLUMNS and not c.startswith("entropy/")]


def higher_is_better(metric: str) -> bool:
    info = METRIC_REGISTRY.get(metric.split("/")[0])
    return True if info is None else info.higher_is_better


def comparison_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per suite, metric and model over finished runs: mean, std (ddof 1), best, n, n_failed,
    and ``infogan_minus_gan`` = mean(InfoGAN) - mean(GAN) for that suite and metric."""
    columns = ["suite", "metric", "model", "mean", "std", "best", "n", "n_failed", "infogan_minus_gan"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    finished = runs[runs["status"] == "finished"]
    failed = runs[runs["status"] == "failed"].groupby(["suite", "model"]).size()
    long = finished.melt(id_vars=["suite", "model", "seed"], value_vars=metric_columns(runs),
                         var_name="metric", value_name="value").dropna(subset=["value"])
    table = long.groupby(["suite", "metric", "model"])["value"].agg(["mean", "std", "max", "min", "count"])
    table = table.reset_index()
    better_high = table["metric"].map(higher_is_better)
    table["best"] = table["max"].where(better_high, table["min"])
    table["n"] = table["count"].astype(int)
    table["n_failed"] = [int(failed.get((s, m), 0)) for s, m in zip(table["suite"], table["model"])]
    means = table.pivot_table(index=["suite", "metric"], columns="model", values="mean")
    if {"infogan", "gan"} <= set(means.columns):
        delta = (means["infogan"] - means["gan"]).rename("infogan_minus_gan").reset_index()
        table = table.merge(delta, on=["suite", "metric"], how="left")
    else:
        table["infogan_minus_gan"] = float("nan")
    return table[columns].sort_values(["suite", "metric", "model"]).reset_index(drop=True)


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    bio.write_text(path, buffer.getvalue())


def collect_histories(out: Path, suite: str) -> pd.DataFrame:
    frames = []
    for folder in run_folders(out):
        identity = bio.read_json(folder / CONFIG)["identity"]
        if identity["suite"] != suite or not (folder / HISTORY).is_file():
            continue
        history = pd.read_csv(folder / HISTORY)
        if history.empty:
            continue
        frames.append(history.assign(model=identity["model"], seed=identity["seed"]))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_report(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild every table and suite figure from the run records under ``out``."""
    from bench.suites import SUITES

    out = Path(out)
    runs = collect_runs(out)
    comparison = comparison_table(runs)
    write_csv(runs, out / "tables" / "runs.csv")
    write_csv(comparison, out / "tables" / "comparison.csv")
    for suite_name in sorted(set(runs["suite"])) if not runs.empty else []:
        history = collect_histories(out, suite_name)
        if history.empty or suite_name not in SUITES:
            continue
        latent = SUITES[suite_name].latent
        entropies = dict(zip(latent.code_names, latent.entropies()))
        mi_curves_figure(history, entropies, f"{suite_name}: L_I during training (mean ± sd over seeds)",
                         out / "figures" / f"{suite_name}_mi_curves.png")
    return runs, comparison
