"""Shared pieces of the reliability tests: synthetic MNIST with its reference classifier made
once, the `bench run` arguments of a short smoke run, and a few probes of run folders."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from bench.io import host_tag
from bench.locks import LockOwner, process_start_time
from bench.runner import Runner, RunOptions
from bench.suites import SUITES
from models.trainer import Trainer
from tests.conftest import make_fake_mnist, module_folder, with_reference

ROOT = Path(__file__).resolve().parents[1]
TRAINER_INIT, RUNNER_CHECKPOINT = Trainer.__init__, Runner._checkpoint


def make_data(folder: Path) -> Path:
    """Synthetic MNIST files in ``folder/mnist``, and beside them the reference classifier the smoke
    battery trains on them (made once and copied into each output folder, to keep tests short)."""
    data = make_fake_mnist(folder / "mnist", compress=False)
    options = RunOptions(out=folder, device=torch.device("cpu"), data_dir=str(data), progress=False)
    suite = SUITES["mnist"]
    Runner(options).reference(suite, suite.profiles["smoke"].battery)
    return data


def args(out: Path, data: Path, seeds: str = "0", iterations: int = 10, *extra: str) -> list[str]:
    """A smoke run of InfoGAN with batches of 8 (log every 5, checkpoint every 10 iterations)."""
    with_reference(out, data.parent)
    return ["run", "--suite", "mnist", "--profile", "smoke", "--models", "infogan", "--seeds", seeds,
            "--iterations", str(iterations), "--batch-size", "8", "--out", str(out), "--data-dir", str(data),
            "--no-progress", *extra]


def run_dir(out: Path, seed: int, model: str = "infogan") -> Path:
    return out / "runs" / "mnist" / model / f"seed{seed}"


def write_lock(folder: Path, pid: int) -> Path:
    """A lock file in ``folder`` as process ``pid`` of this host would have written it."""
    folder.mkdir(parents=True, exist_ok=True)
    owner = LockOwner(pid, host_tag(), "2026-01-01T00:00:00+00:00", process_start_time(pid), "t" * 16)
    path = folder / ".lock"
    path.write_text(json.dumps(owner.__dict__))
    return path


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def interrupt_after_checkpoint(monkeypatch) -> None:
    """The process is 'killed' (KeyboardInterrupt) right after the first checkpoint."""
    def die(self, trainer, run_dir, identity):
        RUNNER_CHECKPOINT(self, trainer, run_dir, identity)
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, "_checkpoint", die)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Iterator[Path]:
    with module_folder(tmp_path_factory, "data") as folder:
        yield make_data(folder)


@pytest.fixture(autouse=True)
def no_suite_figures(monkeypatch):
    """The suite figures (tested in test_report) are left out of the tables rebuild."""
    import bench.suite_figures

    monkeypatch.setattr(bench.suite_figures, "write_suite_figures", lambda out, runs, order: [])
