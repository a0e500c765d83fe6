"""The benchmark of runs side by side against one run on every core."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import torch

from bench.benchmarks.core_split import collect, main, steps_in_window
from models.infogan import default_precision


def test_only_steps_run_wholly_while_every_child_was_timing_count():
    early = {"spans": [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0)]}
    late = {"spans": [(1.5, 2.5), (2.5, 3.5), (3.5, 4.5)]}
    # the window runs from 1.5 (the late child's first start) to 4.0 (the early child's last end):
    # the early child's second step began before it
    assert steps_in_window([early, late]) == [[1.0, 1.0], [1.0, 1.0]]


def test_one_pair_times_both_arms_and_sums_the_side_by_side_rates(tmp_path):
    threads = torch.get_num_threads()
    table = main(["--pairs", "1", "--steps", "8", "--batch-size", "8", "--images", "64", "--threads", "2",
                  "--peak-size", "256", "--out", str(tmp_path)])
    assert torch.get_num_threads() == threads  # the peak's threads are not left behind
    written = pd.read_csv(tmp_path / "core_split.csv")
    assert len(written) == len(table) == 3
    assert written.groupby("arm")["threads"].apply(list).to_dict() == {"split": [1, 1], "whole": [2]}
    assert (written["steps_counted"] >= 3).all() and (written["images_per_s"] > 0).all()
    assert written.loc[written["arm"] == "whole", "steps_counted"].item() == 8
    rates = written.groupby("arm")["images_per_s"].sum()
    assert written["median_ratio_split_over_whole"].iloc[0] == pytest.approx(rates["split"] / rates["whole"])
    assert written["wilcoxon_p"].isna().all()  # one pair: no test
    first = written.iloc[0]
    assert first["floor_precision"] == default_precision(torch.device("cpu"))  # bench perf's floor
    assert first["peak_gflops_min"] <= first["peak_gflops"] <= first["peak_gflops_max"]
    for arm in ("whole", "split"):
        assert first[f"share_of_floor_{arm}"] == pytest.approx(rates[arm] / first["floor_images_per_s"])


def test_the_threads_must_share_out_evenly():
    with pytest.raises(SystemExit):
        main(["--threads", "3", "--side-by-side", "2"])


def test_a_child_that_fails_before_timing_stops_the_others_with_its_error():
    def child(code: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    waiting = child("import sys; print('ready', flush=True); sys.stdin.readline(); print('{}')")
    failing = child("raise SystemExit('no such variant')")
    with pytest.raises(RuntimeError, match="a timing child failed:\nno such variant"):
        collect([waiting, failing])
    assert waiting.wait(timeout=10) != 0  # killed, not told to go
