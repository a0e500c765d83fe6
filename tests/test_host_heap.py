"""The heap setting of CPU training: applied by the training step, switchable off, and what it saves.

Each check runs in a fresh interpreter, as the setting is the process's and cannot be undone.
"""

import subprocess
import sys

import pandas as pd
import pytest

from bench.benchmarks.heap_settings import main

BUILD_A_STEP = """
import torch
from models import host_heap
from models.infogan import InfoGANStep, TrainConfig
from bench.perf import seeded_networks
suite, G, D = seeded_networks("mnist", torch.device("cpu"))
assert not host_heap.freed_memory_kept()
InfoGANStep(suite.latent, G, D, TrainConfig(), torch.device("cpu"))
print(host_heap.freed_memory_kept())
"""


@pytest.mark.parametrize("switch, kept", [("1", "True"), ("0", "False")])
def test_the_cpu_training_step_keeps_freed_memory_unless_switched_off(switch, kept, monkeypatch):
    monkeypatch.setenv("BENCH_KEEP_FREED_MEMORY", switch)
    done = subprocess.run([sys.executable, "-c", BUILD_A_STEP], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == kept


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
