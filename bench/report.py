"""``<out>/report.html``: one self-contained page (inline CSS, images as base64 data URIs, no
scripts, nothing fetched) with the setup, the summary and comparison tables, the runs (failed
ones with their reasons) and every suite figure, each with a sentence on how to read it.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
from pathlib import Path

import pandas as pd

from bench import io as bio
from bench.aggregate import TEST_NAME, format_estimate, higher_is_better, note_columns
from bench.figures import model_order
from bench.suite_figures import FigureEntry

PAGE = "report.html"
RUN_TABLE_METRICS = 3  # headline metrics shown per run (runs.csv has them all)

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, "DejaVu Sans", Arial, sans-serif; color: #1d2430;
       max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; line-height: 1.45; background: #fff; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 20px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 2px solid #e3e7ee; }
h3 { font-size: 16px; margin: 24px 0 6px; }
p, li { font-size: 14px; }
.lead { color: #4a5566; margin-top: 0; }
nav { font-size: 14px; margin: 12px 0 0; }
nav a { margin-right: 14px; color: #2859a8; text-decoration: none; }
table.data { border-collapse: collapse; font-size: 13px; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
table.data th, table.data td { border: 1px solid #d5dbe5; padding: 4px 9px; text-align: left; vertical-align: top; }
table.data thead th { background: #eef2f7; }
table.data tbody tr:nth-child(even) { background: #f8fafc; }
table.data tbody th { background: #f3f5f9; font-weight: 600; }
.note { font-size: 13px; color: #4a5566; margin: 2px 0 10px; }
.status-failed { color: #b3261e; font-weight: 600; }
.status-running { color: #8a5a00; font-weight: 600; }
figure { margin: 18px 0 26px; }
figure .images { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure .panel { flex: 0 1 auto; max-width: 100%; }
figure .images.side-by-side .panel { flex: 1 1 0; max-width: calc(50% - 8px); }
.scroll { overflow-x: auto; max-width: 100%; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid #e3e7ee; }
figure .label { font-size: 13px; color: #4a5566; margin-top: 2px; }
figcaption { font-size: 14px; margin-top: 6px; max-width: 900px; }
"""


def fmt(value: object, spec: str = ".4f") -> str:
    """A number formatted with ``spec``; '–' for a missing one; text as it is."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def duration(seconds: float) -> str:
    """Seconds as '42 s', '12.3 min' or '1.50 h'."""
    if pd.isna(seconds):
        return "–"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def table_html(frame: pd.DataFrame, empty: str = "No finished run yet.") -> str:
    """A DataFrame as an HTML table in the page's style (values escaped by pandas), scrolling
    sideways when wider than the page; the sentence ``empty`` when it has no rows."""
    if frame.empty:
        return f'<p class="note">{html.escape(empty)}</p>'
    table = frame.to_html(index=False, classes="data", border=0, na_rep="–", escape=True)
    return f'<div class="scroll">{table}</div>'



def joined(values: pd.Series) -> str:
    return ", ".join(str(v) for v in dict.fromkeys(values.dropna()) if str(v)) or "–"


def setup_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Settings (rows) per suite (columns): profile, models and seeds, run counts, device,
    precision, iterations, wall time and software versions, as recorded by the runs."""
    columns = {}
    for suite, group in runs.groupby("suite"):
        seeds = "; ".join(f"{model}: {', '.join(str(s) for s in sorted(group.loc[group['model'] == model, 'seed']))}"
                          for model in model_order(set(group["model"])))
        counts = group["status"].value_counts()
        wall = group["wall_seconds"].astype(float)
        columns[suite] = {
            "profile": joined(group["profile"]),
            "models and seeds": seeds,
            "runs": f"{len(group)} ({counts.get('finished', 0)} finished, {counts.get('failed', 0)} failed, "
                    f"{len(group) - counts.get('finished', 0) - counts.get('failed', 0)} unfinished)",
            "iterations per run": joined(group["target_iterations"].astype("Int64").astype(str)),
            "device": joined(group["device_name"].where(group["device_name"] != "", group["device"])),
            "precision": joined(group["precision"]),
            "wall time": f"{duration(wall.sum())} in all; {duration(wall.mean())} per run on average",
            **{f"{name} version": joined(group[f"{name}_version"])
               for name in ("torch", "torchvision", "numpy", "python", "bench")},
        }
    return pd.DataFrame(columns).rename_axis("setting").reset_index()


def difference_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per suite and metric: InfoGAN and GAN as 'mean ± std (n)', their difference and the p-value."""
    rows = []
    for (suite, metric), group in comparison.groupby(["suite", "metric"], sort=False):
        by_model = group.set_index("model")
        row = {"suite": suite, "metric": metric, "better": "higher" if higher_is_better(metric) else "lower"}
        for model, label in (("infogan", "InfoGAN"), ("gan", "GAN")):
            if model in by_model.index:
                stats = by_model.loc[model]
                row[label] = format_estimate(stats["mean"], stats["std"], int(stats["n"]), 4)
            else:
                row[label] = "no run"
        first = group.iloc[0]
        row["InfoGAN − GAN"] = fmt(first["infogan_minus_gan"], "+.4f")
        row[f"p ({TEST_NAME})"] = fmt(first["p_value"], ".3g")
        rows.append(row)
    return pd.DataFrame(rows, columns=["suite", "metric", "better", "InfoGAN", "GAN", "InfoGAN − GAN",
                                       f"p ({TEST_NAME})"])


def comparison_display(comparison: pd.DataFrame) -> pd.DataFrame:
    """comparison.csv with its numbers rounded for reading."""
    shown = comparison.copy()
    for column in ("mean", "std", "best", "min", "max"):
        shown[column] = shown[column].map(fmt)
    shown["infogan_minus_gan"] = shown["infogan_minus_gan"].map(lambda v: fmt(v, "+.4f"))
    shown["t_statistic"] = shown["t_statistic"].map(lambda v: fmt(v, ".3f"))
    shown["p_value"] = shown["p_value"].map(lambda v: fmt(v, ".3g"))
    return shown


def runs_display(runs: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per run: identity, status and reason, iterations, wall time and headline metrics."""
    shown = runs[["suite", "model", "seed", "profile", "status", "reason", "iterations"]].copy()
    shown["wall time"] = runs["wall_seconds"].astype(float).map(duration)
    for metric in metrics:
        if metric in runs.columns:
            shown[metric] = runs[metric].map(fmt)
    for note in note_columns(runs):
        shown[note] = runs[note].fillna("")
    return shown


def summary_display(summary: pd.DataFrame) -> pd.DataFrame:
    """summary.csv turned for reading: one row per headline metric (and note), one column per
    suite and model, cells as 'mean ± std (n=N)'; the numeric columns are for machines."""
    counts = ["n_runs", "n_finished", "n_failed"]
    text = [c for c in summary.columns if c not in ["suite", "model", *counts] and not c.endswith((" mean", " std"))]
    several = summary["suite"].nunique() > 1
    labels = [f"{s}: {m}" if several else m for s, m in zip(summary["suite"], summary["model"])]
    runs = [f"{r.n_runs} ({r.n_finished} finished, {r.n_failed} failed)" for r in summary.itertuples()]
    shown = summary[text].assign(runs=runs).set_axis(labels)[["runs", *text]].T
    return shown.rename_axis("metric").reset_index()


def problems_html(runs: pd.DataFrame) -> str:
    """A list of the runs that did not finish, with their reasons."""
    bad = runs[runs["status"] != "finished"]
    if bad.empty:
        return f"<p>All {len(runs)} run(s) finished.</p>"
    items = "".join(
        f'<li><span class="status-{html.escape(run.status)}">{html.escape(run.status)}</span> '
        f"{html.escape(f'{run.suite}/{run.model}/seed{run.seed}')} at iteration {html.escape(fmt(run.iterations, 'd'))}"
        f": {html.escape(str(run.reason) or 'no reason recorded')}</li>"
        for run in bad.itertuples())
    return (f"<p>{len(bad)} of {len(runs)} run(s) did not finish. Failed runs are counted in n_failed, "
            f"running or interrupted ones only in n_runs; neither enters a mean:</p><ul>{items}</ul>")


def image_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def figure_html(entry: FigureEntry) -> str:
    panels = "".join(
        f'<div class="panel"><img src="{image_uri(path)}" '
        f'alt="{html.escape(entry.title + (", " + label if label else ""))}">'
        + (f'<div class="label">{html.escape(label)}</div>' if label else "") + "</div>"
        for label, path in entry.images)
    layout = "images side-by-side" if len(entry.images) > 1 else "images"
    return (f'<figure><div class="{layout}">{panels}</div><figcaption><b>{html.escape(entry.title)}.</b> '
            f"{html.escape(entry.caption)}</figcaption></figure>")


def build_page(out: Path, runs: pd.DataFrame, comparison: pd.DataFrame, summary: pd.DataFrame,
               figures: list[FigureEntry]) -> str:
    """The report page's HTML text."""
    suites = sorted(set(runs["suite"])) if not runs.empty else []
    stamp = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>InfoGAN vs GAN: benchmark report</title>", f"<style>{CSS}</style></head><body>",
        "<h1>InfoGAN vs GAN: benchmark report</h1>",
        f'<p class="lead">Built on {html.escape(stamp)} from {len(runs)} run record(s) under '
        f"<code>{html.escape(str(Path(out).resolve()))}</code> by <code>python -m bench report</code>; "
        "the same numbers are in <code>tables/*.csv</code>.</p>",
        '<nav><a href="#setup">Setup</a><a href="#summary">Summary</a><a href="#difference">InfoGAN − GAN</a>'
        '<a href="#runs">Runs</a>' + "".join(f'<a href="#figures-{html.escape(s)}">Figures: {html.escape(s)}</a>'
                                            for s in suites) + '<a href="#comparison">All statistics</a></nav>',
    ]
    if runs.empty:
        parts.append("<p>No run records found: run <code>python -m bench run</code> first.</p></body></html>")
        return "\n".join(parts)
    metrics = [c for c in summary.columns if c not in ("suite", "model", "n_runs", "n_finished", "n_failed")
               and not c.endswith((" mean", " std")) and c not in note_columns(runs)][:RUN_TABLE_METRICS]
    parts += [
        '<h2 id="setup">Setup</h2>', table_html(setup_table(runs)),
        '<h2 id="summary">Summary</h2>',
        '<p class="note">The headline metric of each kind per model, over finished seeds: mean ± standard '
        "deviation (ddof 1) and the number of seeds; failed runs are counted and left out of the means. "
        "An attribute row names the image property a continuous code moves most, in how many seeds.</p>",
        table_html(summary_display(summary)),
        '<h2 id="difference">InfoGAN − GAN</h2>',
        '<p class="note">The difference of the means over seeds and the two-sided p-value of Welch\'s t-test '
        "(unequal variances) across seeds; – where either model has fewer than two finished seeds.</p>",
        table_html(difference_table(comparison)),
        '<h2 id="runs">Runs</h2>', problems_html(runs),
        '<p class="note">Every run record' + (f" with its first {len(metrics)} headline metric(s)" if metrics else "")
        + "; <code>tables/runs.csv</code> has every metric of every run.</p>",
        table_html(runs_display(runs, metrics)),
    ]
    for suite in suites:
        parts.append(f'<h2 id="figures-{html.escape(suite)}">Figures: {html.escape(suite)}</h2>')
        entries = [e for e in figures if e.suite == suite]
        parts += [figure_html(e) for e in entries] or ["<p>No figures: no run of this suite has records yet.</p>"]
    parts += [
        '<h2 id="comparison">All statistics</h2>',
        '<p class="note">comparison.csv: per suite, metric and model the mean, std, best (by the metric\'s '
        "direction), n finished, n_failed, min, max, and InfoGAN − GAN with Welch's t statistic and p-value.</p>",
        table_html(comparison_display(comparison)), "</body></html>",
    ]
    return "\n".join(parts)


def write_page(out: Path, runs: pd.DataFrame, comparison: pd.DataFrame, summary: pd.DataFrame,
               figures: list[FigureEntry]) -> Path:
    """Write ``<out>/report.html`` atomically and return its path."""
    path = Path(out) / PAGE
    with bio.atomic_path(path) as tmp:
        tmp.write_text(build_page(out, runs, comparison, summary, figures), encoding="utf-8")
    return path
