"""Fault injection: kill ``bench run`` with SIGKILL at random moments, rerun the same command
until it completes, and check that nothing was lost and nothing is wrong.

    python -m bench.benchmarks.fault_injection --trials 20 --out /tmp/fi [--seed 0] [--kills 2]
                                               [--models infogan,gan] [--seeds 0,1] [--data-dir DIR]

First one uninterrupted reference run of the command (MNIST, the smoke profile) gives the
expected tables and the expected duration T. Then each trial starts the same command in a
fresh folder, kills it after a delay drawn uniformly from [0, T] (seeded: trial t uses
``random.Random(seed * 1000 + t)``), reruns it and kills it again, ``--kills`` times in all,
then reruns it until it exits 0. A kill that comes after the command has ended counts as no
kill. After every kill the folder is scanned for temporary files (``.*.tmp``): one present
means the kill landed in the middle of an atomic write.

Checks per trial, after the last rerun:
* every run's metrics.json and state.json say finished;
* every JSON and CSV file under the folder parses;
* no temporary file (``.*.tmp``) and no lock file (``.lock``) is left;
* the tables equal the reference's: runs.csv (every column but the timings wall_seconds and
  eval_seconds), comparison.csv and summary.csv, and each run's metrics and history (every
  column but wall_seconds).

Tolerance: none. Equality is exact, float for float, as written to the CSV and JSON files:
on the CPU with the same thread count a resumed run repeats the uninterrupted computation
bit for bit (same weights, optimiser moments, RNG streams and data order from the checkpoint).

Prints a summary (trials, kills, kills that landed mid-write, reruns, mismatches) and exits 1
when any check failed. Trial folders that pass are deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

TIMING_COLUMNS = ["wall_seconds", "eval_seconds"]
TABLES = ["runs.csv", "comparison.csv", "summary.csv"]


@dataclass(frozen=True)
class FaultConfig:
    """What to run and how to torment it."""

    out: Path
    trials: int = 20
    seed: int = 0
    kills: int = 2                       # kills per trial (each at a fresh uniform delay)
    suite: str = "mnist"
    models: str = "infogan,gan"
    seeds: str = "0,1"
    profile: str = "smoke"
    extra: tuple[str, ...] = ()          # further `bench run` options, e.g. ("--iterations", "10")
    data_dir: str | None = None
    timeout: float = 600.0               # seconds one command may take
    max_reruns: int = 20
    keep: bool = False

    def command(self, folder: Path) -> list[str]:
        cmd = [sys.executable, "-m", "bench", "run", "--suite", self.suite, "--models", self.models,
               "--seeds", self.seeds, "--profile", self.profile, "--out", str(folder), "--no-progress", *self.extra]
        return cmd + (["--data-dir", self.data_dir] if self.data_dir else [])


@dataclass
class TrialResult:
    trial: int
    kills: int = 0
    mid_write: int = 0
    reruns: int = 0
    mismatches: list[str] = field(default_factory=list)
    delays: list[float] = field(default_factory=list)


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def start(cfg: FaultConfig, folder: Path) -> subprocess.Popen:
    return subprocess.Popen(cfg.command(folder), cwd=project_root(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, preexec_fn=os.setpgrp)


def kill(process: subprocess.Popen) -> None:
    """SIGKILL the command and everything it started."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def run_to_end(cfg: FaultConfig, folder: Path) -> tuple[int, float, str]:
    """(exit status, seconds, stderr) of one uninterrupted command."""
    begin = time.monotonic()
    process = start(cfg, folder)
    try:
        _, err = process.communicate(timeout=cfg.timeout)
    except subprocess.TimeoutExpired:
        kill(process)
        return 124, time.monotonic() - begin, "timed out"
    return process.returncode, time.monotonic() - begin, err


def last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*.tmp") if p.is_file()]


def lock_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".lock") if p.is_file()]


def run_folders(folder: Path) -> list[Path]:
    return sorted(p.parent for p in (folder / "runs").glob("*/*/seed*/config.json"))


def read_table(path: Path, drop: list[str]) -> pd.DataFrame:
    table = pd.read_csv(path)
    return table.drop(columns=[c for c in drop if c in table.columns])


def compare_tables(reference: Path, folder: Path) -> list[str]:
    """Differences between two result folders' tables and run records (empty when equal)."""
    problems = []
    for name in TABLES:
        try:
            pd.testing.assert_frame_equal(read_table(reference / "tables" / name, TIMING_COLUMNS),
                                          read_table(folder / "tables" / name, TIMING_COLUMNS), check_exact=True)
        except (AssertionError, FileNotFoundError) as exc:
            problems.append(f"tables/{name} differs: {' '.join(str(exc).split())[:200]}")
    for run in run_folders(reference):
        relative = run.relative_to(reference)
        other = folder / relative
        try:
            expected = json.loads((run / "metrics.json").read_text())["metrics"]
            got = json.loads((other / "metrics.json").read_text())["metrics"]
            if expected != got:
                keys = [k for k in expected if expected.get(k) != got.get(k)]
                problems.append(f"{relative}/metrics.json differs in {keys[:3]}")
            pd.testing.assert_frame_equal(read_table(run / "history.csv", ["wall_seconds"]),
                                          read_table(other / "history.csv", ["wall_seconds"]), check_exact=True)
        except (AssertionError, OSError, KeyError, ValueError) as exc:
            problems.append(f"{relative}: {' '.join(str(exc).split())[:200]}")
    return problems


def check_folder(folder: Path, expected_runs: int) -> list[str]:
    """Every run finished, every file parses, nothing temporary or locked is left."""
    problems = []
    runs = run_folders(folder)
    if len(runs) != expected_runs:
        problems.append(f"{len(runs)} run folders, expected {expected_runs}")
    for run in runs:
        try:
            metrics = json.loads((run / "metrics.json").read_text())
            state = json.loads((run / "state.json").read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"{run.relative_to(folder)}: {exc}")
            continue
        if metrics.get("status") != "finished" or state.get("state") != "finished":
            problems.append(f"{run.relative_to(folder)} is {metrics.get('status')}/{state.get('state')}, not finished")
    for path in folder.rglob("*.json"):
        try:
            json.loads(path.read_text())
        except ValueError as exc:
            problems.append(f"{path.relative_to(folder)} does not parse: {exc}")
    for path in folder.rglob("*.csv"):
        try:
            pd.read_csv(path)
        except (ValueError, OSError) as exc:
            problems.append(f"{path.relative_to(folder)} does not parse: {exc}")
    problems += [f"temporary file left: {p.relative_to(folder)}" for p in temp_files(folder)]
    problems += [f"lock file left: {p.relative_to(folder)}" for p in lock_files(folder)]
    return problems


def run_trial(cfg: FaultConfig, index: int, duration: float, reference: Path, expected_runs: int) -> TrialResult:
    """Kill the command ``cfg.kills`` times at uniform random moments, rerun it to completion, check."""
    rng = random.Random(cfg.seed * 1000 + index)
    folder = cfg.out / f"trial{index:02d}"
    shutil.rmtree(folder, ignore_errors=True)
    result = TrialResult(index)
    attempts, done = 0, False
    for _ in range(cfg.kills):
        delay = rng.uniform(0.0, duration)
        result.delays.append(round(delay, 2))
        process = start(cfg, folder)
        attempts += 1
        try:
            _, err = process.communicate(timeout=delay)
        except subprocess.TimeoutExpired:
            kill(process)
            result.kills += 1
            if temp_files(folder):
                result.mid_write += 1
            continue
        if process.returncode != 0:
            result.mismatches.append(f"attempt {attempts} exited {process.returncode}: {last_line(err)}")
        done = True  # it ended before its kill
        break
    while not done and attempts <= cfg.kills + cfg.max_reruns:
        code, _, err = run_to_end(cfg, folder)
        attempts += 1
        done = code == 0
        if code != 0:
            result.mismatches.append(f"rerun {attempts - 1} exited {code}: {last_line(err)}")
            break
    result.reruns = attempts - 1
    result.mismatches += check_folder(folder, expected_runs)
    if not any("exited" in m for m in result.mismatches):
        result.mismatches += compare_tables(reference, folder)
    if not result.mismatches and not cfg.keep:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def run_injection(cfg: FaultConfig) -> tuple[list[TrialResult], float]:
    """The reference run, then every trial; returns the trials and the reference's duration."""
    cfg.out.mkdir(parents=True, exist_ok=True)
    reference = cfg.out / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    code, duration, err = run_to_end(cfg, reference)
    if code != 0:
        raise SystemExit(f"fault_injection: the reference run failed (exit {code}): {err.strip()[-500:]}")
    expected_runs = len(run_folders(reference))
    problems = check_folder(reference, expected_runs)
    if problems:
        raise SystemExit(f"fault_injection: the reference run is not clean: {problems[:3]}")
    print(f"reference: {expected_runs} runs in {duration:.1f} s; command: {' '.join(cfg.command(reference))}",
          flush=True)
    trials = []
    for index in range(cfg.trials):
        trial = run_trial(cfg, index, duration, reference, expected_runs)
        trials.append(trial)
        print(f"trial {index:2d}: kills {trial.kills} at {trial.delays} s, mid-write {trial.mid_write}, "
              f"reruns {trial.reruns}, " + (f"MISMATCH: {trial.mismatches}" if trial.mismatches else "ok"),
              flush=True)
    if not cfg.keep:
        shutil.rmtree(reference, ignore_errors=True)
    return trials, duration


def summary(trials: list[TrialResult]) -> str:
    failed = [t for t in trials if t.mismatches]
    return (f"summary: trials {len(trials)}, kills {sum(t.kills for t in trials)}, "
            f"kills mid-write {sum(t.mid_write for t in trials)}, reruns {sum(t.reruns for t in trials)}, "
            f"mismatches {sum(len(t.mismatches) for t in trials)} (in {len(failed)} trial(s)); "
            f"tolerance: exact equality")


def parse_args(argv: list[str] | None = None) -> FaultConfig:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("/tmp/fi"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kills", type=int, default=2, help="kills per trial (default 2)")
    parser.add_argument("--models", default="infogan,gan")
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--keep", action="store_true", help="keep the folders of trials that passed")
    parser.add_argument("extra", nargs="*", help="further `bench run` options, after --")
    args = parser.parse_args(argv)
    return FaultConfig(out=args.out, trials=args.trials, seed=args.seed, kills=args.kills, models=args.models,
                       seeds=args.seeds, data_dir=args.data_dir, timeout=args.timeout, keep=args.keep,
                       extra=tuple(args.extra))


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    trials, _ = run_injection(cfg)
    print(summary(trials), flush=True)
    return 1 if any(t.mismatches for t in trials) else 0


if __name__ == "__main__":
    sys.exit(main())
