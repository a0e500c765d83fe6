"""Reliability of ``bench run``: diverged and collapsed runs, --max-failures, resuming bit for
bit, and the clean-up of temporary files, on synthetic MNIST files (seconds per test)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.io import host_tag
from bench.runner import CHECKPOINT, RunOptions, Runner, RunSpec
from bench.state import read_state
from models.trainer import CollapseRule, Trainer
from tests.run_support import (RUNNER_CHECKPOINT, TRAINER_INIT, args, data, dead_pid,  # noqa: F401
                               interrupt_after_checkpoint, no_suite_figures, run_dir)


def poison_seeds(monkeypatch, seeds: set[int]) -> None:
    """Make D's output NaN from the start for runs of these seeds."""
    original = Trainer.__init__

    def init(self, *a, **k):
        original(self, *a, **k)
        if self.seed in seeds:
            with torch.no_grad():
                self.discriminator.d_head.weight.fill_(float("nan"))

    monkeypatch.setattr(Trainer, "__init__", init)


def files_state(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_ino)
            for p in sorted(folder.rglob("*")) if p.is_file()}


# -- divergence ----------------------------------------------------------------------------------

def test_nan_run_is_recorded_failed_and_the_suite_goes_on(data, tmp_path, monkeypatch, capsys):
    poison_seeds(monkeypatch, {1})
    out = tmp_path / "results"
    assert main(args(out, data, "0,1,2", 5)) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 run(s) failed: mnist/infogan/seed1: diverged at iteration 5" in err

    record = json.loads((run_dir(out, 1) / "metrics.json").read_text())
    assert record["status"] == "failed" and record["iteration"] == 5 and "non-finite" in record["reason"]
    state = read_state(run_dir(out, 1))
    assert state.state == "failed" and state.iteration == 5 and "non-finite" in state.reason
    runs = pd.read_csv(out / "tables" / "runs.csv").set_index("seed")
    assert runs.loc[1, "status"] == "failed" and "non-finite" in runs.loc[1, "reason"]
    assert runs.loc[1, "iterations"] == 5 and pd.isna(runs.loc[1, "cluster_accuracy"])
    for seed in (0, 2):
        assert runs.loc[seed, "status"] == "finished" and runs.loc[seed, "iterations"] == 5
        assert json.loads((run_dir(out, seed) / "metrics.json").read_text())["status"] == "finished"
        assert read_state(run_dir(out, seed)).state == "finished"
    comparison = pd.read_csv(out / "tables" / "comparison.csv")
    assert set(comparison["n"]) == {2} and set(comparison["n_failed"]) == {1}

    before = files_state(out / "runs")  # a rerun leaves the failed and the finished runs alone
    monkeypatch.setattr(Trainer, "__init__", TRAINER_INIT)
    assert main(args(out, data, "0,1,2", 5)) == 1
    assert files_state(out / "runs") == before


def test_max_failures_stops_the_suite(data, tmp_path, monkeypatch, capsys):
    poison_seeds(monkeypatch, {1, 2})
    out = tmp_path / "results"
    assert main(args(out, data, "0-3", 5, "--max-failures", "1")) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "stopped after 3 of 4 runs: 2 run(s) failed, more than --max-failures 1; finished runs are kept" in err
    assert not run_dir(out, 3).exists()
    runs = pd.read_csv(out / "tables" / "runs.csv").set_index("seed")
    assert list(runs.index) == [0, 1, 2] and list(runs["status"]) == ["finished", "failed", "failed"]
    assert json.loads((run_dir(out, 0) / "metrics.json").read_text())["metrics"]["cluster_accuracy"] >= 0

    capsys.readouterr()  # the same command stops again at the same place: the failures are recorded
    assert main(args(out, data, "0-3", 5, "--max-failures", "1")) == 1
    assert "more than --max-failures 1" in capsys.readouterr().err and not run_dir(out, 3).exists()
    assert main(args(out, data, "0-3", 5, "--max-failures", "2")) == 1  # 2 failed, not more than 2: goes on
    assert json.loads((run_dir(out, 3) / "metrics.json").read_text())["status"] == "finished"


def test_collapsed_discriminator_is_recorded_failed(data, tmp_path):
    """A rule any loss meets (threshold 1e9) stops the run at its second log point."""
    options = RunOptions(out=tmp_path, device=torch.device("cpu"), data_dir=str(data), progress=False,
                         iterations=20, collapse=CollapseRule(threshold=1e9, patience=2))
    outcome = Runner(options).run_one(RunSpec("mnist", "gan", 0, "smoke"), 20)
    assert outcome.status == "failed" and "discriminator collapsed" in outcome.reason
    record = json.loads((run_dir(tmp_path, 0, "gan") / "metrics.json").read_text())
    assert record["iteration"] == 10 and "loss_d below 1e+09 at 2 consecutive log points" in record["reason"]
    history = pd.read_csv(run_dir(tmp_path, 0, "gan") / "history.csv")
    assert list(history["iteration"]) == [5, 10]


# -- resuming -----------------------------------------------------------------------------------------

def assert_same_state(a, b, where: str = "") -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            if key != "wall_seconds":
                assert_same_state(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


def test_resumed_run_equals_an_uninterrupted_one_bit_for_bit(data, tmp_path, monkeypatch, capsys):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(args(straight, data, "0", 15)) == 0

    interrupt_after_checkpoint(monkeypatch)
    assert main(args(resumed, data, "0", 15)) == 130
    assert "interrupted; run the same command again to resume" in capsys.readouterr().err
    folder = run_dir(resumed, 0)
    state = read_state(folder)
    assert state.state == "running" and state.iteration == 10 and not (folder / "metrics.json").exists()
    assert not (folder / ".lock").exists()  # released on the way out
    assert main(["report", "--out", str(resumed)]) == 0
    row = pd.read_csv(resumed / "tables" / "runs.csv").iloc[0]
    assert row["status"] == "running" and "interrupted (10 of 15 iterations checkpointed)" in row["reason"]
    monkeypatch.setattr(Runner, "_checkpoint", RUNNER_CHECKPOINT)
    assert main(args(resumed, data, "0", 15)) == 0

    a = torch.load(run_dir(straight, 0) / CHECKPOINT, weights_only=True)["trainer"]
    b = torch.load(folder / CHECKPOINT, weights_only=True)["trainer"]
    history_a, history_b = a.pop("history"), b.pop("history")
    # weights, every RNG state, data order: identical (a finished checkpoint keeps no optimiser
    # moments, but the weights trained after the resume went through them)
    assert_same_state(a, b)
    assert [{k: v for k, v in r.items() if k != "wall_seconds"} for r in history_a] == \
           [{k: v for k, v in r.items() if k != "wall_seconds"} for r in history_b]
    metrics_a = json.loads((run_dir(straight, 0) / "metrics.json").read_text())["metrics"]
    metrics_b = json.loads((folder / "metrics.json").read_text())["metrics"]
    assert metrics_a == metrics_b
    assert read_state(folder).attempt == 2


def test_a_finished_run_keeps_its_weights_without_adam_moments(data, tmp_path, monkeypatch, capsys):
    """The checkpoint of a finished run drops the optimisers' state (its size falls to well under
    half); with metrics.json gone the run is evaluated again from it, while such a state cannot
    be trained on."""
    out = tmp_path / "out"
    interrupt_after_checkpoint(monkeypatch)
    assert main(args(out, data, "0", 15)) == 130
    folder = run_dir(out, 0)
    mid_run = torch.load(folder / CHECKPOINT, weights_only=True)["trainer"]
    mid_run_size = (folder / CHECKPOINT).stat().st_size
    assert mid_run["opt_g"]["state"] and mid_run["opt_d"]["state"]
    monkeypatch.setattr(Runner, "_checkpoint", RUNNER_CHECKPOINT)
    assert main(args(out, data, "0", 15)) == 0
    finished = torch.load(folder / CHECKPOINT, weights_only=True)["trainer"]
    assert finished["iteration"] == 15 and finished["opt_g"] is None and finished["opt_d"] is None
    assert (folder / CHECKPOINT).stat().st_size < 0.45 * mid_run_size
    metrics = json.loads((folder / "metrics.json").read_text())["metrics"]

    (folder / "metrics.json").unlink()
    capsys.readouterr()
    assert main(args(out, data, "0", 15)) == 0
    assert "trained to the end" in capsys.readouterr().out
    assert json.loads((folder / "metrics.json").read_text())["metrics"] == metrics

    options = RunOptions(out=out, device=torch.device("cpu"), data_dir=str(data), progress=False,
                         iterations=15, batch_size=8)
    trainer = Runner(options).load_finished(RunSpec("mnist", "infogan", 0, "smoke"))
    for name, weight in trainer.generator.state_dict().items():
        assert torch.equal(weight, finished["generator"][name]), name
    longer = Trainer(trainer.latent, trainer.network, replace(trainer.config, iterations=20), trainer.images,
                     torch.device("cpu"), 0)
    with pytest.raises(ValueError, match="no optimiser moments, and 5 iterations are left"):
        longer.load_state_dict(finished)


def test_stale_temporary_files_are_removed_on_restart(data, tmp_path):
    out = tmp_path / "results"
    folder = run_dir(out, 0)
    (folder / "figures").mkdir(parents=True)
    dead = dead_pid()
    leftovers = [folder / f".checkpoint.pt.{dead}@{host_tag()}.abc123.tmp", folder / ".config.json.x1y2.tmp",
                 folder / "figures" / f".traversal_cat.png.{dead}@{host_tag()}.q.tmp",
                 out / "tables" / f".runs.csv.{dead}@{host_tag()}.r.tmp"]
    alive = out / "tables" / f".runs.csv.{os.getppid()}@{host_tag()}.s.tmp"  # a live writer's file
    for path in leftovers + [alive]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    assert main(args(out, data, "0", 2)) == 0
    assert not [p for p in leftovers if p.exists()] and alive.exists()
