"""Launchers: the MNIST smoke grid (infogan, gan x seed 1) run in this process, in two
local worker processes and as Ray tasks gives the same records and tables; a worker killed mid-run
is retried from its checkpoint; a run that always raises is recorded as failed while the others
finish; and --launcher ray without Ray installed is one line. On the real data, one thread per run
(a run's numbers depend on its thread count)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.launchers import LaunchOptions, run_plan
from bench.runner import RunOptions, Runner, RunSpec, plan_runs
from bench.state import read_state
from bench.tables import write_tables
from models.infogan import default_precision
from tests.conftest import module_folder, real_data_root, with_reference
from tests.launch_faults import always_raise, die_after_first_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TIMING = ["wall_seconds", "eval_seconds", "metric_seconds"]
TABLES = ["runs.csv", "comparison.csv", "summary.csv"]


@pytest.fixture(scope="module")
def data_dir() -> Path:
    """The real MNIST."""
    return real_data_root()


def bench_run(out: Path, data: Path, *extra: str) -> subprocess.CompletedProcess:
    """`bench run` of the smoke grid in a fresh process, one thread per run. Seed 1, not the default
    0, so that a launcher that lost a run's seed would give other records; two runs, one per model,
    so that two workers each take one."""
    command = [sys.executable, "-m", "bench", "run", "--suite", "mnist", "--models", "infogan,gan",
               "--seeds", "1", "--profile", "smoke", "--threads", "1", "--out", str(out),
               "--data-dir", str(data), "--no-progress", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BENCH_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path).drop(columns=TIMING, errors="ignore")


def run_record(folder: Path) -> dict:
    """What must not depend on where a run ran: config, metrics, history and the end state."""
    metrics = json.loads((folder / "metrics.json").read_text())
    state = read_state(folder)
    return {
        "config": json.loads((folder / "config.json").read_text()),
        "metrics": {k: v for k, v in metrics.items() if k not in TIMING},
        "history": pd.read_csv(folder / "history.csv").drop(columns="wall_seconds").to_csv(index=False),
        "state": (state.state, state.iteration, state.target_iterations),
        "files": sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()),
    }


def assert_same_results(expected: Path, actual: Path) -> None:
    folders = sorted(p.relative_to(expected) for p in (expected / "runs").glob("*/*/seed*"))
    assert len(folders) == 2
    assert folders == sorted(p.relative_to(actual) for p in (actual / "runs").glob("*/*/seed*"))
    for folder in folders:
        assert run_record(expected / folder) == run_record(actual / folder), folder
    for name in TABLES:
        pd.testing.assert_frame_equal(table(expected / "tables" / name), table(actual / "tables" / name),
                                      check_exact=True)


@pytest.fixture(scope="module")
def in_process(data_dir, tmp_path_factory) -> Iterator[Path]:
    """The grid as `bench run` has always run it: one run after another in one process."""
    with module_folder(tmp_path_factory, "local") as folder:
        bench_run(folder / "results", data_dir)
        yield folder / "results"


# -- the same results, wherever the runs ran ---------------------------------------------------------

def test_two_local_workers_give_the_same_results(in_process, data_dir, tmp_path):
    out = with_reference(tmp_path / "results", in_process)  # the launchers do not touch the reference
    done = bench_run(out, data_dir, "--jobs", "2")
    assert "2 local worker processes" in done.stdout and done.stdout.count("finished") == 2
    assert_same_results(in_process, out)


def test_ray_tasks_give_the_same_results(in_process, data_dir, tmp_path):
    out = with_reference(tmp_path / "results", in_process)
    done = bench_run(out, data_dir, "--launcher", "ray")
    assert "Ray tasks (shared storage)" in done.stdout and done.stdout.count("finished") == 2
    assert_same_results(in_process, out)
    assert main(["report", "--out", str(out)]) == 0  # the report reads them as any others


# -- failures ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray instance of two CPUs, shared by the tests that call the launcher directly."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="warning")
    yield ray
    ray.shutdown()


def options(out: Path, data: Path) -> RunOptions:
    """The options `bench run` trains with by default, so the records compare with ``in_process``'s."""
    cpu = torch.device("cpu")
    return RunOptions(out=out, device=cpu, precision=default_precision(cpu), fused_optimizer=True,
                      data_dir=str(data), progress=False)


@pytest.mark.parametrize("launcher, storage", [("local", "shared"), ("ray", "driver")])
def test_killed_worker_is_retried_and_resumes(launcher, storage, in_process, data_dir, tmp_path, capsys, request):
    if launcher == "ray":
        request.getfixturevalue("ray_cluster")
    out, marker = with_reference(tmp_path / "results", in_process), tmp_path / "killed"
    spec = RunSpec("mnist", "gan", 1, "smoke")
    launch = LaunchOptions(launcher, jobs=2, threads=1, storage=storage)
    task_fn = partial(die_after_first_checkpoint, spec.label, str(marker))
    [outcome] = run_plan(Runner(options(out, data_dir)), [spec], launch, progress=False, task_fn=task_fn)

    assert marker.read_text() == "killed at iteration 10\n"
    assert outcome.status == "finished"
    assert f"{spec.label}: attempt 1 of 3 failed" in capsys.readouterr().out
    folder = spec.directory(out)
    assert read_state(folder).attempt == 2  # the second attempt resumed the first one's checkpoint
    assert run_record(folder) == run_record(spec.directory(in_process))
    assert not (folder / ".lock").exists()


def test_run_that_always_raises_is_recorded_failed(ray_cluster, in_process, data_dir, tmp_path, capsys):
    out = with_reference(tmp_path / "results", in_process)
    plan = plan_runs(["mnist"], ["infogan", "gan"], [0], "smoke")
    runner = Runner(options(out, data_dir))
    launch = LaunchOptions("ray", threads=1, retries=1)
    outcomes = run_plan(runner, plan, launch, progress=False, task_fn=partial(always_raise, "mnist/infogan/seed0"))
    assert [o.status for o in outcomes] == ["failed", "finished"]
    assert outcomes[0].reason == "2 attempt(s) failed, the last: RuntimeError: injected failure"
    assert capsys.readouterr().out.count("failed (RuntimeError: injected failure); trying again") == 1

    folder = plan[0].directory(out)
    state = read_state(folder)
    assert state.state == "failed" and "injected failure" in state.reason
    record = json.loads((folder / "metrics.json").read_text())
    assert record["status"] == "failed" and record["crashed"] is True
    write_tables(out)
    runs = pd.read_csv(out / "tables" / "runs.csv").set_index("model")
    assert runs.loc["infogan", "status"] == "failed" and "injected failure" in runs.loc["infogan", "reason"]
    assert runs.loc["gan", "status"] == "finished"
    # unlike a divergence, a crash is not the run's own result: the next `bench run` tries it again
    assert Runner(options(out, data_dir)).preflight(plan) == [plan[0]]


# -- usage ---------------------------------------------------------------------------------------------

def test_ray_launcher_without_ray_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = main(["run", "--suite", "mnist", "--launcher", "ray", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("bench: error: --launcher ray needs Ray") and "pip install -e '.[ray]'" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, needle", [
    (["--launcher", "slurm"], "unknown launcher 'slurm'; valid launchers: local, ray"),
    (["--ray-address", "auto"], "--ray-address applies to --launcher ray only"),
    (["--jobs", "0"], "must be a positive integer"),
    (["--retries", "-1"], "must be a non-negative integer"),
])
def test_launcher_usage_errors(args, needle, tmp_path, capsys):
    assert main(["run", "--suite", "mnist", "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
