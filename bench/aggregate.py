"""All run records under an output folder -> pandas tables (CSV), suite figures and the report page.

    <out>/tables/runs.csv        one row per run (failed and unfinished runs included, with the reason)
    <out>/tables/comparison.csv  suite x metric x model: mean, std, best, n, n_failed, InfoGAN - GAN,
                                 min, max and Welch's t-test of InfoGAN against GAN over seeds
    <out>/tables/summary.csv     suite x model: the headline metrics as mean, std and "mean ± std (n)"
    <out>/figures/*.png          see bench.suite_figures
    <out>/report.html            see bench.report

Only the run records are read (config.json, metrics.json, history.csv, confusion.csv), so
records copied together from several machines combine into one set of tables.
"""

from __future__ import annotations

import math
import warnings
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from bench import io as bio
from bench.runner import CONFIG, HISTORY, METRICS
from bench.state import describe_unfinished
from metrics import METRICS as METRIC_REGISTRY

ID_COLUMNS = ["suite", "model", "seed", "profile"]
VERSION_COLUMNS = ["torch_version", "torchvision_version", "numpy_version", "python_version", "bench_version"]
RUN_COLUMNS = ID_COLUMNS + ["status", "reason", "iterations", "target_iterations", "wall_seconds", "eval_seconds",
                            "device", "device_name", "precision"] + VERSION_COLUMNS
COMPARISON_COLUMNS = ["suite", "metric", "model", "mean", "std", "best", "n", "n_failed", "infogan_minus_gan",
                      "min", "max", "test", "t_statistic", "p_value"]
TEST_NAME = "welch_t"
# The headline metric of each kind, as shell patterns in display order: what a summary row shows
# (everything else stays in comparison.csv and the figures).
HEADLINE = ["cluster_accuracy", "nmi", "mi_lower_bound/*", "mi_heldout/*", "traversal/*/consistency",
            "traversal/*/median_abs_rho", "frechet_distance", "mig", "dci/*", "sap", "modularity", "explicitness",
            "factor_vae*", "beta_vae*"]
# Text notes of a run worth a runs.csv column, e.g. which image attribute a continuous code moves.
NOTE_PATTERNS = ["traversal/*/attribute"]


def run_folders(out: Path) -> list[Path]:
    """Every run record folder under ``out/runs`` (those holding a config.json)."""
    return sorted(p.parent for p in (Path(out) / "runs").glob(f"*/*/seed*/{CONFIG}"))


def unfinished_status(folder: Path) -> dict:
    """The status of a run without metrics.json: running (or interrupted) at its last logged iteration."""
    target = bio.read_json(folder / CONFIG)["identity"]["train"]["iterations"]
    history = pd.read_csv(folder / HISTORY) if (folder / HISTORY).is_file() else pd.DataFrame()
    reached = int(history["iteration"].max()) if "iteration" in history and len(history) else 0
    wall = float(history["wall_seconds"].max()) if "wall_seconds" in history and len(history) else None
    state = describe_unfinished(folder)  # from state.json and the folder's lock, when the run has them
    return {"status": "running", "iteration": reached, "wall_seconds": wall,
            "reason": "no metrics.json yet: " + (state or f"still training or interrupted ({reached} of {target} "
                                                            f"iterations logged)")}


def collect_runs(out: Path) -> pd.DataFrame:
    """One row per run folder: identity, status (running / finished / failed) and its reason,
    timing, device, versions and every metric."""
    rows = []
    for folder in run_folders(out):
        config = bio.read_json(folder / CONFIG)
        identity, found = config["identity"], config.get("versions", {})
        status = bio.read_json(folder / METRICS) if (folder / METRICS).is_file() else unfinished_status(folder)
        rows.append({
            **{k: identity[k] for k in ID_COLUMNS},
            "status": status["status"], "reason": status.get("reason", ""),
            "iterations": status.get("iteration", identity["train"]["iterations"]),
            "target_iterations": identity["train"]["iterations"],
            "wall_seconds": status.get("wall_seconds"), "eval_seconds": status.get("eval_seconds"),
            "device": config["device"], "device_name": config.get("device_name", ""),
            "precision": identity["train"]["precision"],
            **{column: found.get(column.removesuffix("_version"), "") for column in VERSION_COLUMNS},
            **status.get("metrics", {}),
            **{k: v for k, v in status.get("notes", {}).items()
               if isinstance(v, str) and any(fnmatchcase(k, p) for p in NOTE_PATTERNS)},
        })
    runs = pd.DataFrame(rows, columns=None if rows else RUN_COLUMNS)
    if not rows:
        return runs
    return (runs.assign(_model=model_rank(runs["model"])).sort_values(["suite", "_model", "seed"])
            .drop(columns="_model").reset_index(drop=True))


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """The measured (numeric) columns; entropies are constants of the spec, not measurements."""
    return [c for c in runs.columns if c not in RUN_COLUMNS and not c.startswith("entropy/")
            and pd.api.types.is_numeric_dtype(runs[c])]


def note_columns(runs: pd.DataFrame) -> list[str]:
    """The text notes copied from the runs' records (see :data:`NOTE_PATTERNS`)."""
    return [c for c in runs.columns if any(fnmatchcase(c, p) for p in NOTE_PATTERNS)]


def higher_is_better(metric: str) -> bool:
    info = METRIC_REGISTRY.get(metric.split("/")[0])
    return True if info is None else info.higher_is_better


def metric_values(runs: pd.DataFrame) -> pd.DataFrame:
    """Long table of finished runs: suite, model, seed, metric, value (missing values dropped)."""
    finished = runs[runs["status"] == "finished"]
    return finished.melt(id_vars=["suite", "model", "seed"], value_vars=metric_columns(runs),
                         var_name="metric", value_name="value").dropna(subset=["value"])


def failed_counts(runs: pd.DataFrame) -> pd.Series:
    """Number of failed runs per (suite, model)."""
    return runs[runs["status"] == "failed"].groupby(["suite", "model"]).size()


def welch_test(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Welch's t statistic and two-sided p-value of mean(a) != mean(b); NaN when either side has
    fewer than two values (or both have no spread)."""
    if len(a) < 2 or len(b) < 2:
        return math.nan, math.nan
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        result = stats.ttest_ind(a, b, equal_var=False)
    return float(result.statistic), float(result.pvalue)


def model_difference(long: pd.DataFrame) -> pd.DataFrame:
    """Per suite and metric: mean(InfoGAN) - mean(GAN) and Welch's test of the two seed samples."""
    rows = []
    for (suite, metric), group in long.groupby(["suite", "metric"]):
        a = group.loc[group["model"] == "infogan", "value"].to_numpy(float)
        b = group.loc[group["model"] == "gan", "value"].to_numpy(float)
        delta = a.mean() - b.mean() if len(a) and len(b) else math.nan
        statistic, p_value = welch_test(a, b)
        rows.append({"suite": suite, "metric": metric, "infogan_minus_gan": delta, "test": TEST_NAME,
                     "t_statistic": statistic, "p_value": p_value})
    return pd.DataFrame(rows, columns=["suite", "metric", "infogan_minus_gan", "test", "t_statistic", "p_value"])


def comparison_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Per suite, metric and model over finished runs: mean, std (ddof 1), best (max or min by the
    metric's direction), n finished, n_failed, ``infogan_minus_gan`` = mean(InfoGAN) - mean(GAN),
    min, max, and Welch's t-test (``test`` names it) of InfoGAN's seeds against GAN's.

    Every model that has a run in the suite gets a row per metric, even when none of its runs
    finished (n = 0, the mean NaN, n_failed counting the failures)."""
    if runs.empty:
        return pd.DataFrame(columns=COMPARISON_COLUMNS)
    long = metric_values(runs)
    grid = long[["suite", "metric"]].drop_duplicates().merge(runs[["suite", "model"]].drop_duplicates(), on="suite")
    summary = long.groupby(["suite", "metric", "model"])["value"].agg(
        mean="mean", std="std", min="min", max="max", n="count").reset_index()
    table = grid.merge(summary, on=["suite", "metric", "model"], how="left")
    table["n"] = table["n"].fillna(0).astype(int)
    table["best"] = table["max"].where(table["metric"].map(higher_is_better), table["min"])
    failed = failed_counts(runs)
    table["n_failed"] = [int(failed.get((s, m), 0)) for s, m in zip(table["suite"], table["model"])]
    table = table.merge(model_difference(long), on=["suite", "metric"], how="left")
    table["test"] = table["test"].fillna(TEST_NAME)
    return table[COMPARISON_COLUMNS].sort_values(["suite", "metric", "model"]).reset_index(drop=True)


def headline_rank(metric: str) -> int:
    """Position of the first :data:`HEADLINE` pattern ``metric`` matches (len(HEADLINE) if none)."""
    return next((i for i, pattern in enumerate(HEADLINE) if fnmatchcase(metric, pattern)), len(HEADLINE))


def headline_metrics(metrics: list[str]) -> list[str]:
    """The metrics a summary shows: those matching :data:`HEADLINE`, in its order (all of them
    when none does); ties keep the order of ``metrics``."""
    chosen = sorted((m for m in metrics if headline_rank(m) < len(HEADLINE)), key=headline_rank)
    return chosen or list(metrics)


def format_estimate(mean: float, std: float, n: int, digits: int = 3) -> str:
    """'mean ± std (n=N)'; without the std for a single run; 'no finished run' for none."""
    if n == 0 or pd.isna(mean):
        return "no finished run"
    if n == 1 or pd.isna(std):
        return f"{mean:.{digits}f} (n=1)"
    return f"{mean:.{digits}f} ± {std:.{digits}f} (n={n})"


def summary_table(runs: pd.DataFrame, comparison: pd.DataFrame,
                  order: dict[str, list[str]] | None = None) -> pd.DataFrame:
    """A paper-style table: one row per suite and model with the run counts; per headline metric
    a text column ``<metric>`` ("mean ± std (n=N)"); per text note (e.g. the attribute a code
    moves) its most frequent value over finished seeds ("width (2 of 3)"); then the numeric
    ``<metric> mean`` and ``<metric> std`` columns. ``order`` optionally lists each suite's
    metrics in display order."""
    if runs.empty:
        return pd.DataFrame(columns=["suite", "model", "n_runs", "n_finished", "n_failed"])
    metrics = list(dict.fromkeys(m for suite in sorted(set(runs["suite"]))
                                 for m in (order or {}).get(suite, sorted(set(comparison["metric"])))))
    metrics = headline_metrics([m for m in metrics if m in set(comparison["metric"])])
    notes = note_columns(runs)
    rows = []
    for (suite, model), group in runs.groupby(["suite", "model"]):
        row = {"suite": suite, "model": model, "n_runs": len(group),
               "n_finished": int((group["status"] == "finished").sum()),
               "n_failed": int((group["status"] == "failed").sum())}
        stats_of = comparison[(comparison["suite"] == suite) & (comparison["model"] == model)].set_index("metric")
        for metric in metrics:
            if metric in stats_of.index:
                mean, std, n = stats_of.loc[metric, ["mean", "std", "n"]]
                row[metric] = format_estimate(mean, std, int(n))
                row[f"{metric} mean"], row[f"{metric} std"] = mean, std
            else:
                row[metric], row[f"{metric} mean"], row[f"{metric} std"] = "", math.nan, math.nan
        finished = group[group["status"] == "finished"]
        for note in notes:
            counts = finished[note].dropna().value_counts()
            row[note] = f"{counts.index[0]} ({counts.iloc[0]} of {len(finished)})" if len(counts) else ""
        rows.append(row)
    columns = (["suite", "model", "n_runs", "n_finished", "n_failed"] + metrics + notes
               + [f"{m} {s}" for m in metrics for s in ("mean", "std")])
    table = pd.DataFrame(rows)[columns]
    return (table.assign(_model=model_rank(table["model"])).sort_values(["suite", "_model"])
            .drop(columns="_model").reset_index(drop=True))


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame`` as a UTF-8 CSV without its index, written atomically."""
    with bio.atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, encoding="utf-8")


def collect_histories(out: Path, suite: str) -> pd.DataFrame:
    """history.csv of every run of ``suite``, stacked, with model and seed columns."""
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


def metric_order(runs: pd.DataFrame) -> dict[str, list[str]]:
    """Each suite's measured metrics in display order: by :data:`HEADLINE` pattern (then the
    other families alphabetically), codes in the suite's order within a pattern."""
    from bench.suites import SUITES

    order = {}
    for suite, group in runs.groupby("suite"):
        codes = SUITES[suite].latent.code_names if suite in SUITES else []
        measured = [m for m in metric_columns(runs) if group[m].notna().any()]

        def key(metric: str) -> tuple:
            family, _, rest = metric.partition("/")
            code = rest.split("/")[0]
            return (headline_rank(metric), family, codes.index(code) if code in codes else len(codes), rest)

        order[suite] = sorted(measured, key=key)
    return order


def model_rank(models: pd.Series) -> pd.Series:
    """Sort key that puts InfoGAN first, then the GAN baseline, then other models."""
    return models.map({"infogan": "0", "gan": "1"}).fillna("2" + models)


def sort_comparison(comparison: pd.DataFrame, order: dict[str, list[str]]) -> pd.DataFrame:
    """Rows by suite, then metric in display order, then model (InfoGAN, GAN, others)."""
    rank = {(s, m): i for s, metrics in order.items() for i, m in enumerate(metrics)}
    keyed = comparison.assign(
        _metric=[rank.get((s, m), len(rank)) for s, m in zip(comparison["suite"], comparison["metric"])],
        _model=model_rank(comparison["model"]))
    return keyed.sort_values(["suite", "_metric", "metric", "_model"]).drop(columns=["_metric", "_model"]
                                                                           ).reset_index(drop=True)


def write_report(out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rebuild every table, suite figure and the report page from the run records under ``out``;
    returns (runs, comparison)."""
    from bench.report import write_page
    from bench.suite_figures import write_suite_figures

    out = Path(out)
    runs = collect_runs(out)
    comparison = comparison_table(runs)
    order = metric_order(runs) if not runs.empty else {}
    comparison = sort_comparison(comparison, order)
    summary = summary_table(runs, comparison, order)
    write_csv(runs, out / "tables" / "runs.csv")
    write_csv(comparison, out / "tables" / "comparison.csv")
    write_csv(summary, out / "tables" / "summary.csv")
    figures = write_suite_figures(out, runs, order)
    write_page(out, runs, comparison, summary, figures)
    return runs, comparison
