"""The heap setting of CPU training: applied by the training step, switchable off, and what it saves.

Each check runs in a fresh interpreter, as the setting is the process's and cannot be undone.
"""

import json
import subprocess
import sys

import pandas as pd
import pytest

from bench.benchmarks.heap_settings import main

THREE_STEPS = """
import json
import torch
from models import host_heap
from models.infogan import InfoGANStep, TrainConfig
from bench.perf import seeded_networks
suite, G, D = seeded_networks("mnist", torch.device("cpu"))
assert not host_heap.freed_memory_kept()
step = InfoGANStep(suite.latent, G, D, TrainConfig(batch_size=32, fused_optimizer=True), torch.device("cpu"))
print(host_heap.freed_memory_kept())
data = torch.randint(0, 256, (32, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
rng = torch.Generator().manual_seed(0)
for _ in range(3):
    stats = step(data, rng)
print(json.dumps(stats.tolist()))
"""


def three_steps(switch: str, monkeypatch) -> list[str]:
    """(whether freed memory was kept, the third step's statistics) from a fresh interpreter."""
    monkeypatch.setenv("BENCH_KEEP_FREED_MEMORY", switch)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the same reductions in both
    done = subprocess.run([sys.executable, "-c", THREE_STEPS], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split("\n")[:2]


def test_the_cpu_training_step_keeps_freed_memory_unless_switched_off_and_computes_the_same(monkeypatch):
    """Where the heap puts a buffer changes no number: the losses match bit for bit."""
    kept, kept_stats = three_steps("1", monkeypatch)
    default, default_stats = three_steps("0", monkeypatch)
    assert (kept, default) == ("True", "False")
    assert json.loads(kept_stats) == json.loads(default_stats)


def test_the_benchmark_finds_no_page_faults_in_a_step_with_freed_memory_kept(tmp_path):
    """One pair of small steps. Kept, a step after the warm-up reuses its heap and maps no new
    page. (glibc's defaults fault from 0 to thousands of times a step at batch 32, depending on
    how its thresholds have adapted, so the default child is not held to a count.)"""
    table = main(["--pairs", "1", "--steps", "4", "--batch-size", "32", "--images", "64", "--out", str(tmp_path)])
    written = pd.read_csv(tmp_path / "heap_settings.csv")
    assert len(written) == len(table) == 2
    assert sorted(written["setting"]) == ["default", "kept"]
    kept = written.set_index("setting").loc["kept"]
    assert kept["median_page_faults_per_step"] < 10
    assert (written["ms_per_step"] > 0).all()
    assert written["pairs_below_1"].iloc[0] in (0, 1) and written["wilcoxon_p"].isna().all()  # one pair: no test
