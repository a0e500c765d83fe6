"""Run-folder locks: a run held by a live process is left to it, a dead owner's lock is taken
over (and its run resumed), the lock file's rules, and two real processes on one folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pandas as pd
import pytest

from bench.cli import main
from bench.locks import FolderLock, LockHeld
from bench.runner import Runner
from bench.state import read_state
from tests.run_support import (ROOT, RUNNER_CHECKPOINT, args, data, dead_pid, interrupt_after_checkpoint,  # noqa: F401
                               no_suite_figures, run_dir, write_lock)


def test_locked_run_is_skipped_and_a_dead_owner_is_taken_over(data, tmp_path, capsys):
    out = tmp_path / "results"
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        lock = write_lock(run_dir(out, 0), sleeper.pid)
        assert main(args(out, data, "0,1", 2)) == 3
        captured = capsys.readouterr()
        assert f"being trained by pid {sleeper.pid}" in captured.out
        assert captured.err.count("\n") == 1 and "left to another process" in captured.err
        assert not (run_dir(out, 0) / "config.json").exists() and lock.is_file()  # untouched
        assert json.loads((run_dir(out, 1) / "metrics.json").read_text())["status"] == "finished"
        runs = pd.read_csv(out / "tables" / "runs.csv")
        assert list(runs["seed"]) == [1]
    finally:
        sleeper.kill()
        sleeper.wait()
    assert main(args(out, data, "0,1", 2)) == 0  # its owner is gone: the lock is stale and taken over
    assert json.loads((run_dir(out, 0) / "metrics.json").read_text())["status"] == "finished"
    assert not list(out.rglob(".lock"))


def test_lock_of_a_dead_process_with_a_checkpoint_resumes(data, tmp_path, monkeypatch, capsys):
    out = tmp_path / "results"
    interrupt_after_checkpoint(monkeypatch)
    assert main(args(out, data, "0", 15)) == 130
    monkeypatch.setattr(Runner, "_checkpoint", RUNNER_CHECKPOINT)
    write_lock(run_dir(out, 0), dead_pid())
    capsys.readouterr()
    assert main(args(out, data, "0", 15)) == 0
    assert "resuming at iteration 10 of 15" in capsys.readouterr().out
    state = read_state(run_dir(out, 0))
    assert state.state == "finished" and state.attempt == 2


def test_folder_lock_rules(tmp_path):
    first, second = FolderLock(tmp_path), FolderLock(tmp_path)
    assert first.acquire() is None
    with pytest.raises(LockHeld, match=f"pid {os.getpid()}"):
        second.acquire()
    first.release()
    assert not (tmp_path / ".lock").exists()
    # a recycled pid: alive, but a process that started at another time
    path = write_lock(tmp_path, os.getpid())
    data = json.loads(path.read_text())
    data["pid_start"] = (data["pid_start"] or 0) + 1
    path.write_text(json.dumps(data))
    assert second.acquire().pid == os.getpid()
    second.release()
    # another host's lock is never broken
    path = write_lock(tmp_path, dead_pid())
    data = json.loads(path.read_text())
    data["host"] = "elsewhere"
    path.write_text(json.dumps(data))
    with pytest.raises(LockHeld, match="on elsewhere"):
        first.acquire()
    path.unlink()
    # an empty lock file (owner killed between creating and filling it) is stale once old
    path.write_text("")
    with pytest.raises(LockHeld):
        first.acquire()
    os.utime(path, (time.time() - 60, time.time() - 60))
    first.acquire()
    first.release()


def test_two_processes_on_one_folder_train_each_run_once(data, tmp_path):
    """Two `bench run` started together on one folder: every run trained by exactly one of them."""
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "bench", *args(out, data, "0,1", 2)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "BENCH_OFFLINE": "1"}
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    codes = [p.returncode for p in procs]
    assert set(codes) <= {0, 3}, results
    trained = sum(out_.count("  finished") for out_, _ in results)
    assert trained == 2, results
    for seed in (0, 1):
        assert read_state(run_dir(out, seed)).attempt == 1
        assert json.loads((run_dir(out, seed) / "metrics.json").read_text())["status"] == "finished"
    runs = pd.read_csv(out / "tables" / "runs.csv")  # the last rebuild saw both runs ended
    assert sorted(runs["seed"]) == [0, 1] and set(runs["status"]) == {"finished"}
    assert not list(out.rglob(".lock")) and not list(out.rglob(".*.tmp"))
