"""Test processes share the cores: in a pytest-xdist worker, torch and the processes a test starts
run on the worker's share (two workers of two threads each on two cores made the tests 1.6 times
as slow)."""

import subprocess
import sys

import torch

from tests.conftest import worker_threads


def test_workers_split_the_cores_between_them():
    assert worker_threads(2, 2) == 1
    assert worker_threads(16, 2) == 8
    assert worker_threads(1, 2) == 1


def test_a_started_process_runs_on_as_many_threads_as_the_test():
    done = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                          capture_output=True, text=True, timeout=120, check=True)
    assert int(done.stdout) == torch.get_num_threads()
