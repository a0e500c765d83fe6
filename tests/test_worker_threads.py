"""Test processes share the cores: in a pytest-xdist worker, torch and the processes a test starts
run on the worker's share (two workers of two threads each on two cores made the tests 1.6 times
as slow)."""

import subprocess
import sys

import torch

from bench.launchers import LaunchOptions, threads_per_run, torch_threads


def test_workers_split_the_cores_between_them():
    """The share of ``threads_per_run``, which the test workers take as local workers do."""
    for threads, workers, share in ((2, 2, 1), (16, 2, 8), (1, 2, 1)):
        with torch_threads(threads):
            assert threads_per_run(LaunchOptions("local", jobs=workers)) == share


def test_a_started_process_runs_on_as_many_threads_as_the_test():
    done = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                          capture_output=True, text=True, timeout=120, check=True)
    assert int(done.stdout) == torch.get_num_threads()
