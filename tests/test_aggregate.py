"""Tables from hand-made run records: known means, stds, bests, differences and Welch p-values;
failed and unfinished runs listed with their reasons, counted, and kept out of the means."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from bench.aggregate import collect_runs, comparison_table, metric_order, summary_table
from fake_runs import write_failed, write_finished, write_running

INFOGAN = {
    0: {"cluster_accuracy": 0.90, "nmi": 0.80, "mi_lower_bound/cat": 2.20, "frechet_distance": 5.0},
    1: {"cluster_accuracy": 0.94, "nmi": 0.85, "mi_lower_bound/cat": 2.25, "frechet_distance": 4.0},
    2: {"cluster_accuracy": 0.95, "nmi": 0.86, "mi_lower_bound/cat": 2.28, "frechet_distance": 6.5},
}
GAN = {
    0: {"cluster_accuracy": 0.60, "nmi": 0.50, "mi_lower_bound/cat": 1.20, "frechet_distance": 5.5},
    1: {"cluster_accuracy": 0.70, "nmi": 0.55, "mi_lower_bound/cat": 1.40, "frechet_distance": 7.0},
}
REASON = "training diverged at iteration 37: loss_d is nan"
LEAD_COLUMNS = ["suite", "metric", "model", "mean", "std", "best", "n", "n_failed", "infogan_minus_gan"]


@pytest.fixture
def records(tmp_path):
    for seed, metrics in INFOGAN.items():
        write_finished(tmp_path, "infogan", seed, metrics, confusion=False, figures=False)
    for seed, metrics in GAN.items():
        write_finished(tmp_path, "gan", seed, metrics, confusion=False, figures=False)
    # A failed run whose partial metric must not reach any mean, and a run still training.
    write_failed(tmp_path, "gan", 2, REASON, {"cluster_accuracy": 0.0})
    write_running(tmp_path, "infogan", 3)
    return tmp_path


def values(runs: dict, metric: str) -> np.ndarray:
    return np.array([m[metric] for m in runs.values()])


def test_runs_table_lists_every_run_with_its_status_and_reason(records):
    runs = collect_runs(records).set_index(["model", "seed"])
    assert len(runs) == 7
    assert runs.loc[("gan", 2), "status"] == "failed" and runs.loc[("gan", 2), "reason"] == REASON
    assert runs.loc[("gan", 2), "iterations"] == 37
    assert runs.loc[("infogan", 3), "status"] == "running"
    assert "no metrics.json" in runs.loc[("infogan", 3), "reason"]
    assert runs.loc[("infogan", 1), "cluster_accuracy"] == 0.94
    assert runs.loc[("infogan", 1), "torch_version"] == "2.0.0"
    assert runs.loc[("infogan", 1), "device_name"] == "cpu (test machine)"


def test_comparison_matches_numpy_and_scipy_on_the_same_numbers(records):
    table = comparison_table(collect_runs(records))
    assert list(table.columns[:len(LEAD_COLUMNS)]) == LEAD_COLUMNS
    assert {"min", "max", "test", "t_statistic", "p_value"} <= set(table.columns)
    table = table.set_index(["metric", "model"])
    assert len(table) == 2 * 4
    for metric in ("cluster_accuracy", "nmi", "mi_lower_bound/cat", "frechet_distance"):
        a, b = values(INFOGAN, metric), values(GAN, metric)
        welch = stats.ttest_ind(a, b, equal_var=False)
        for model, seeds, n_failed in (("infogan", a, 0), ("gan", b, 1)):
            row = table.loc[(metric, model)]
            assert row["mean"] == pytest.approx(seeds.mean())
            assert row["std"] == pytest.approx(seeds.std(ddof=1))
            assert row["min"] == pytest.approx(seeds.min()) and row["max"] == pytest.approx(seeds.max())
            best = seeds.min() if metric == "frechet_distance" else seeds.max()
            assert row["best"] == pytest.approx(best)
            assert row["n"] == len(seeds) and row["n_failed"] == n_failed
            assert row["infogan_minus_gan"] == pytest.approx(a.mean() - b.mean())
            assert row["test"] == "welch_t"
            assert row["t_statistic"] == pytest.approx(welch.statistic)
            assert row["p_value"] == pytest.approx(welch.pvalue)
    # The failed run's 0.0 is in runs.csv but in no mean or minimum.
    assert table.loc[("cluster_accuracy", "gan"), "min"] == pytest.approx(0.60)


def test_p_value_is_nan_with_fewer_than_two_finished_seeds(tmp_path):
    for seed, metrics in INFOGAN.items():
        write_finished(tmp_path, "infogan", seed, metrics, confusion=False, figures=False)
    write_finished(tmp_path, "gan", 0, GAN[0], confusion=False, figures=False)
    write_failed(tmp_path, "gan", 1, REASON)
    table = comparison_table(collect_runs(tmp_path)).set_index(["metric", "model"])
    row = table.loc[("cluster_accuracy", "gan")]
    assert row["n"] == 1 and row["n_failed"] == 1 and math.isnan(row["std"])
    assert row["infogan_minus_gan"] == pytest.approx(values(INFOGAN, "cluster_accuracy").mean() - 0.60)
    assert math.isnan(row["p_value"]) and math.isnan(row["t_statistic"]) and row["test"] == "welch_t"


def test_a_model_whose_runs_all_failed_keeps_its_rows(tmp_path):
    for seed, metrics in INFOGAN.items():
        write_finished(tmp_path, "infogan", seed, metrics, confusion=False, figures=False)
    write_failed(tmp_path, "gan", 0, REASON)
    write_failed(tmp_path, "gan", 1, REASON)
    runs = collect_runs(tmp_path)
    table = comparison_table(runs).set_index(["metric", "model"])
    row = table.loc[("nmi", "gan")]
    assert row["n"] == 0 and row["n_failed"] == 2 and math.isnan(row["mean"]) and math.isnan(row["p_value"])
    summary = summary_table(runs, comparison_table(runs), metric_order(runs)).set_index("model")
    assert summary.loc["gan", "n_failed"] == 2 and summary.loc["gan", "cluster_accuracy"] == "no finished run"


def test_summary_reads_like_a_paper_table(records):
    runs = collect_runs(records)
    order = metric_order(runs)
    assert order["mnist"][:3] == ["cluster_accuracy", "nmi", "mi_lower_bound/cat"]
    summary = summary_table(runs, comparison_table(runs), order)
    assert list(summary["model"]) == ["infogan", "gan"]
    assert list(summary.columns[:5]) == ["suite", "model", "n_runs", "n_finished", "n_failed"]
    row = summary.set_index("model").loc["infogan"]
    a = values(INFOGAN, "cluster_accuracy")
    assert row["cluster_accuracy"] == f"{a.mean():.3f} ± {a.std(ddof=1):.3f} (n=3)"
    assert row["cluster_accuracy mean"] == pytest.approx(a.mean())
    assert row["cluster_accuracy std"] == pytest.approx(a.std(ddof=1))
    assert (row["n_runs"], row["n_finished"], row["n_failed"]) == (4, 3, 0)
    gan = summary.set_index("model").loc["gan"]
    assert (gan["n_runs"], gan["n_finished"], gan["n_failed"]) == (3, 2, 1)
    assert isinstance(pd.to_numeric(summary["nmi mean"]).iloc[0], float)
