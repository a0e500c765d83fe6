"""The command line end to end: a smoke run on the real MNIST, and one-line errors."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from bench.cli import main

RUN_FILES = ["config.json", "history.csv", "metrics.json", "checkpoint.pt",
             "figures/traversal_cat.png", "figures/traversal_c1.png", "figures/traversal_c2.png"]


def run_cli(*args, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env,
                          cwd=os.path.dirname(os.path.dirname(__file__)), timeout=600)


def test_smoke_run_on_real_mnist_writes_records_and_tables(real_data_dir, tmp_path):
    out = tmp_path / "results"
    args = ["run", "--suite", "mnist", "--profile", "smoke", "--seeds", "0,1", "--out", str(out),
            "--data-dir", str(real_data_dir), "--no-progress"]
    done = run_cli(*args)
    assert done.returncode == 0, done.stderr
    assert "Plan: 4 run(s)" in done.stdout
    assert "ETA: about" in done.stdout and "over iterations 5-10)" in done.stdout  # the first interval left out
    for model in ("infogan", "gan"):
        for seed in (0, 1):
            folder = out / "runs" / "mnist" / model / f"seed{seed}"
            for name in RUN_FILES:
                assert (folder / name).is_file(), folder / name
            record = json.loads((folder / "metrics.json").read_text())
            assert record["status"] == "finished" and record["iteration"] == 20
            assert 0 <= record["metrics"]["cluster_accuracy"] <= 1
            assert set(record["metric_seconds"]) == {"clustering", "mi_lower_bound", "mi_heldout", "traversal",
                                                     "frechet"}
            assert record["notes"]["traversal/c1/attribute"] in {"slant", "width", "ink"}
            assert (folder / "confusion.csv").is_file()
            history = pd.read_csv(folder / "history.csv")
            assert list(history["iteration"]) == [5, 10, 15, 20]
            assert {"loss_d", "loss_g", "loss_q", "L_I/cat", "L_I/c1", "L_I/c2", "test_accuracy"} <= set(history)

    runs = pd.read_csv(out / "tables" / "runs.csv")
    assert len(runs) == 4
    assert {"suite", "model", "seed", "profile", "cluster_accuracy", "nmi", "ari", "mi_lower_bound/cat",
            "mi_lower_bound/c1", "mi_lower_bound/c2", "mi_heldout/cat", "mi_heldout/c1",
            "traversal/cat/consistency", "traversal/cat/classes_covered", "traversal/c1/median_abs_rho",
            "traversal/c2/sign_agreement", "frechet_distance", "iterations", "wall_seconds", "device",
            "torch_version"} <= set(runs.columns)
    comparison = pd.read_csv(out / "tables" / "comparison.csv")
    assert {"suite", "metric", "model", "mean", "std", "best", "n", "n_failed",
            "infogan_minus_gan"} <= set(comparison.columns)
    accuracy = comparison[comparison["metric"] == "cluster_accuracy"].set_index("model")
    expected = runs.groupby("model")["cluster_accuracy"].mean()
    assert accuracy.loc["infogan", "mean"] == pytest.approx(expected["infogan"])
    assert accuracy.loc["gan", "infogan_minus_gan"] == pytest.approx(expected["infogan"] - expected["gan"])
    assert (out / "figures" / "mnist_mi_curves.png").is_file()

    before = {p: p.stat().st_mtime_ns for p in out.glob("runs/**/metrics.json")}
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped") == 4
    assert before == {p: p.stat().st_mtime_ns for p in out.glob("runs/**/metrics.json")}


def test_interrupted_run_resumes_from_its_checkpoint(real_data_dir, tmp_path):
    """A run killed after its checkpoint at iteration 10 resumes there and finishes at 20."""
    from bench.runner import CHECKPOINT, RunOptions, Runner, RunSpec
    import torch

    spec = RunSpec("mnist", "infogan", 0, "smoke")
    options = RunOptions(out=tmp_path, device=torch.device("cpu"), data_dir=str(real_data_dir), progress=False)
    runner = Runner(options)
    original = runner._checkpoint

    def die_after_first(trainer, run_dir, identity):
        original(trainer, run_dir, identity)
        raise KeyboardInterrupt

    runner._checkpoint = die_after_first
    with pytest.raises(KeyboardInterrupt):
        runner.run_one(spec, 20)
    folder = spec.directory(tmp_path)
    assert not (folder / "metrics.json").exists()
    saved = torch.load(folder / CHECKPOINT, weights_only=True)
    assert saved["trainer"]["iteration"] == 10

    outcome = Runner(options).run_one(spec, 20)
    assert outcome.status == "finished"
    assert json.loads((folder / "metrics.json").read_text())["iteration"] == 20
    assert list(pd.read_csv(folder / "history.csv")["iteration"]) == [5, 10, 15, 20]


@pytest.mark.parametrize("args, needle", [
    (["run", "--suite", "mnst"], "unknown suite 'mnst' (did you mean 'mnist'?); valid suites: mnist"),
    (["run", "--suite", "mnist", "--models", "infogan,vae"], "unknown model 'vae'"),
    (["run", "--suite", "mnist", "--profile", "papr"], "unknown profile 'papr' (did you mean 'paper'?)"),
    (["run", "--suite", "mnist", "--seeds", "0,x"], "bad seed list '0,x'"),
    (["run", "--suite", "mnist", "--seeds", "1,1"], "a seed is repeated"),
    (["run", "--suite", "mnist", "--seeds", "-3"], "bad seed list"),
    (["run", "--suite", "mnist", "--device", "tpu"], "unknown device 'tpu'"),
    (["run", "--suite", "mnist", "--precision", "fp8"], "unknown precision 'fp8'"),
    (["run", "--suite", "mnist", "--updates", "simultaneous", "--g-latent", "fresh"], "cannot take --g-latent fresh"),
    (["run"], "the following arguments are required: --suite"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
])
def test_usage_errors_are_one_line_with_exit_2(args, needle, capsys, tmp_path):
    code = main(args + ["--out", str(tmp_path / "out")] if args[0] == "run" and len(args) > 1 else args)
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_output_folder_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["run", "--suite", "mnist", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"output folder {target} is a file" in err and err.count("\n") == 1


def test_output_folder_that_cannot_be_created(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", "--suite", "mnist", "--out", str(blocker / "results")]) == 2
    err = capsys.readouterr().err
    assert "cannot write to output folder" in err and err.count("\n") == 1


def test_missing_data_offline_is_one_line(tmp_path, capsys):
    code = main(["run", "--suite", "mnist", "--profile", "smoke", "--data-dir", str(tmp_path / "nowhere"),
                 "--out", str(tmp_path / "out"), "--no-progress"])
    out = capsys.readouterr()
    assert code == 1
    assert "MNIST not found in" in out.err and "--data-dir" in out.err and out.err.count("\n") == 1


def test_list_names_everything(capsys):
    assert main(["list"]) == 0
    text = capsys.readouterr().out
    for name in ("mnist", "paper", "quick", "smoke", "infogan", "gan", "cluster_accuracy", "mi_lower_bound"):
        assert name in text


def test_both_suites_in_one_command(real_data_dir, tmp_path):
    out = tmp_path / "results"
    done = run_cli("run", "--suite", "mnist,faces3d", "--models", "infogan", "--profile", "smoke",
                   "--out", str(out), "--data-dir", str(real_data_dir), "--no-progress")
    assert done.returncode == 0, done.stderr
    assert "Plan: 2 run(s)" in done.stdout
    folder = out / "runs" / "faces3d" / "infogan" / "seed0"
    record = json.loads((folder / "metrics.json").read_text())
    assert record["status"] == "finished"
    for key in ("mig", "sap", "modularity", "dci/disentanglement", "dci/completeness", "dci/informativeness_test",
                "explicitness/test", "factor_vae", "beta_vae", "mi_heldout/c1", "mi_lower_bound/c5",
                "traversal/c1/median_abs_rho"):
        assert key in record["metrics"], key
    assert record["notes"]["traversal/c1/attribute"] in {"azimuth", "elevation", "light", "width"}
    matrix = pd.read_csv(folder / "mi_matrix.csv", index_col="code")
    assert list(matrix.index) == ["c1", "c2", "c3", "c4", "c5"]
    assert list(matrix.columns) == ["azimuth", "elevation", "light", "width", "identity"]
    assert (matrix.to_numpy() >= 0).all()
    for code in ("c1", "c2", "c3", "c4", "c5"):
        assert (folder / "figures" / f"traversal_{code}.png").is_file()
    runs = pd.read_csv(out / "tables" / "runs.csv")
    assert sorted(runs["suite"]) == ["faces3d", "mnist"]
