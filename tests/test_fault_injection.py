"""The fault-injection benchmark in its small CI form: 2 trials of SIGKILL at random moments
and reruns, on synthetic MNIST files; every trial must end with the reference's exact tables."""

from __future__ import annotations

from pathlib import Path

from bench.benchmarks.fault_injection import FaultConfig, run_injection, summary
from tests.conftest import make_fake_mnist


def test_two_trials_of_kills_and_reruns_lose_nothing(tmp_path: Path):
    data = make_fake_mnist(tmp_path / "data", compress=False)
    cfg = FaultConfig(out=tmp_path / "fi", trials=2, seed=0, kills=1, models="infogan", seeds="0",
                      extra=("--iterations", "10", "--batch-size", "8"), data_dir=str(data), timeout=300)
    trials, duration = run_injection(cfg)
    text = summary(trials)
    assert [t.mismatches for t in trials] == [[], []], text
    assert sum(t.kills for t in trials) >= 1 and sum(t.reruns for t in trials) >= 1, text
    assert duration > 0 and not list((tmp_path / "fi").glob("trial*"))  # passing trials are cleaned up
