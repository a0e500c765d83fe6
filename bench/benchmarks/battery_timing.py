"""Time the whole metric battery on trained runs, part by part.

    python -m bench.benchmarks.battery_timing RUN_DIR [RUN_DIR ...] [--data-dir DIR]

For each finished run folder (``<out>/runs/<suite>/<model>/seed<k>``) it restores the networks
from checkpoint.pt, builds the suite's reference once (timed separately: it is shared by every
run of a suite and cached), runs the battery of the run's profile, rewrites the run's
metrics.json with the results, and prints and writes ``<out>/tables/battery_timing.csv``:
seconds per part and in total, per run.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from bench import io as bio
from bench.aggregate import write_csv
from bench.runner import CONFIG, RunOptions, Runner, RunSpec
from bench.suites import SUITES


def time_run(run_dir: Path, data_dir: str | None) -> dict:
    identity = bio.read_json(run_dir / CONFIG)["identity"]
    out = run_dir.parents[3]
    spec = RunSpec(identity["suite"], identity["model"], identity["seed"], identity["profile"])
    runner = Runner(RunOptions(out=out, device=torch.device("cpu"), precision=identity["train"]["precision"],
                               data_dir=data_dir, progress=False))
    trainer = runner.load_finished(spec)
    suite = SUITES[spec.suite]
    profile = suite.profiles[spec.profile]
    started = time.perf_counter()
    runner.reference(suite, replace(profile.battery))
    reference_seconds = time.perf_counter() - started
    runner.evaluate(spec, trainer, run_dir)
    record = bio.read_json(run_dir / "metrics.json")
    row = {"run": spec.label, "threads": torch.get_num_threads(), "reference_seconds": round(reference_seconds, 2)}
    row.update({f"{part}_seconds": round(sec, 2) for part, sec in record["metric_seconds"].items()})
    row["battery_seconds"] = round(sum(record["metric_seconds"].values()), 2)
    return row, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    rows, outs = [], set()
    for run_dir in args.runs:
        row, out = time_run(run_dir, args.data_dir)
        rows.append(row)
        outs.add(out)
        print(row, flush=True)
    table = pd.DataFrame(rows)
    for out in outs:
        write_csv(table, out / "tables" / "battery_timing.csv")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
