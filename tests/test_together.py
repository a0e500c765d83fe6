"""``bench run --seeds-together``: seeds trained at once write the records of lone runs."""

import json

import pandas as pd
import pytest

from bench.cli import main
from tests.run_support import args, data, no_suite_figures, run_dir  # noqa: F401


def test_seeds_trained_together_end_as_lone_runs_do(data, tmp_path, capsys):  # noqa: F811
    """Seeds 0-2 with --seeds-together 2: seeds 0 and 1 train as one group, seed 2 alone; every
    run ends finished with its own checkpoint, history (test accuracy included), metrics and state."""
    out = tmp_path / "out"
    assert main(args(out, data, "0-2", 10, "--seeds-together", "2")) == 0
    printed = capsys.readouterr().out
    groups = [line for line in printed.splitlines() if line.startswith("training mnist/infogan")]
    assert groups == ["training mnist/infogan seeds 0,1 together"]  # seed 2, a group of one, trains alone
    for seed in (0, 1, 2):
        folder = run_dir(out, seed)
        metrics = json.loads((folder / "metrics.json").read_text())
        assert metrics["status"] == "finished" and metrics["iteration"] == 10
        assert 0 <= metrics["metrics"]["cluster_accuracy"] <= 1
        assert json.loads((folder / "state.json").read_text())["state"] == "finished"
        history = pd.read_csv(folder / "history.csv")
        assert list(history["iteration"]) == [5, 10] and history["test_accuracy"].notna().iloc[-1]
    # a second call finds every run ended and trains nothing
    assert main(args(out, data, "0-2", 10, "--seeds-together", "2")) == 0
    assert "training mnist/infogan" not in capsys.readouterr().out


def test_a_started_seed_resumes_alone_and_the_rest_train_together(data, tmp_path, capsys):  # noqa: F811
    """A seed with a checkpoint is resumed by itself; the group is made of the fresh seeds."""
    out = tmp_path / "out"
    assert main(args(out, data, "1", 5)) == 0  # seed 1 trained to 5 iterations...
    folder = run_dir(out, 1)
    (folder / "metrics.json").unlink()  # ...and left as if interrupted at its checkpoint
    capsys.readouterr()
    assert main(args(out, data, "0-2", 5, "--seeds-together", "3")) == 0
    printed = capsys.readouterr().out
    assert "seeds 0,2 together" in printed
    assert "trained to the end" in printed  # seed 1's checkpoint was at its last iteration already


def test_force_trains_the_group_again_from_scratch(data, tmp_path, capsys):  # noqa: F811
    out = tmp_path / "out"
    assert main(args(out, data, "0,1", 5, "--seeds-together", "2")) == 0
    first = pd.read_csv(run_dir(out, 1) / "history.csv")
    capsys.readouterr()
    assert main(args(out, data, "0,1", 5, "--seeds-together", "2", "--force")) == 0
    assert "training mnist/infogan seeds 0,1 together" in capsys.readouterr().out
    again = pd.read_csv(run_dir(out, 1) / "history.csv")
    assert list(again["iteration"]) == [5]
    assert again["loss_d"].iloc[0] == pytest.approx(first["loss_d"].iloc[0], abs=1e-6)  # same seed, same start


@pytest.mark.parametrize("extra, message", [
    (("--seeds-together", "2", "--jobs", "2"), "--seeds-together applies"),
    (("--cuda-graph",), "needs a CUDA device"),
])
def test_run_refuses_settings_it_cannot_honour(data, tmp_path, capsys, extra, message):  # noqa: F811
    assert main(args(tmp_path / "out", data, "0,1", 10, *extra)) == 2
    assert message in capsys.readouterr().err
