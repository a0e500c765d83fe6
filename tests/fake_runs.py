"""Hand-made run records, laid out and shaped as bench/runner.py writes them, for testing the
tables, figures and report page without training anything."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

CODES = ("cat", "c1", "c2")
ENTROPIES = {"entropy/cat": math.log(10), "entropy/c1": math.log(2), "entropy/c2": math.log(2)}
VERSIONS = {"bench": "0.1.0", "torch": "2.0.0", "torchvision": "0.15.0", "numpy": "1.26.0", "python": "3.11.0"}


def run_folder(out: Path, model: str, seed: int, suite: str = "mnist") -> Path:
    return Path(out) / "runs" / suite / model / f"seed{seed}"


def write_config(folder: Path, model: str, seed: int, suite: str = "mnist", iterations: int = 100) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    identity = {"suite": suite, "model": model, "seed": seed, "profile": "smoke",
                "train": {"iterations": iterations, "batch_size": 32, "precision": "fp32",
                          "mutual_info": model == "infogan"},
                "latent": {"noise_dim": 62, "codes": []}, "network": {}, "state_format": 1}
    (folder / "config.json").write_text(json.dumps({
        "identity": identity, "device": "cpu", "device_name": "cpu (test machine)", "versions": VERSIONS,
        "dataset": {"name": suite, "train": 60000, "test": 2000}, "metric_settings": {}}))


def write_history(folder: Path, seed: int, iterations: int = 100, eval_every: int = 50) -> None:
    rng = np.random.default_rng(seed)
    steps = np.arange(10, iterations + 1, 10)
    history = pd.DataFrame({"iteration": steps, "wall_seconds": steps * 0.1,
                            "loss_d": 1.3 + 0.01 * rng.standard_normal(len(steps)),
                            "loss_g": 0.8 + 0.01 * rng.standard_normal(len(steps)),
                            "loss_q": 1.0 - steps / (2 * iterations)})
    for code, top in zip(CODES, (math.log(10), 0.5, 0.5)):
        history[f"L_I/{code}"] = top * (1 - np.exp(-steps / 30)) + 0.02 * rng.standard_normal(len(steps))
    history["test_accuracy"] = np.where(steps % eval_every == 0, 0.5 + 0.4 * steps / iterations, np.nan)
    history.to_csv(folder / "history.csv", index=False)


def write_confusion(folder: Path, accuracy: float) -> None:
    """A 10 x 10 confusion matrix with ``accuracy`` of each label's 100 images on the diagonal."""
    counts = np.full((10, 10), 0)
    for label in range(10):
        counts[label, label] = round(100 * accuracy)
        counts[label, (label + 1) % 10] = 100 - round(100 * accuracy)
    frame = pd.DataFrame(counts, index=range(10), columns=range(10))
    frame.index.name = "label"
    frame.to_csv(folder / "confusion.csv")


def write_traversals(folder: Path, seed: int) -> None:
    import matplotlib.image

    (folder / "figures").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for code in CODES:
        matplotlib.image.imsave(folder / "figures" / f"traversal_{code}.png", rng.random((40, 100)), cmap="gray")


def write_finished(out: Path, model: str, seed: int, metrics: dict[str, float], suite: str = "mnist",
                   confusion: bool = True, figures: bool = True) -> Path:
    """A finished run: config, history, metrics (with H(c) beside L_I), confusion and traversals."""
    folder = run_folder(out, model, seed, suite)
    write_config(folder, model, seed, suite)
    write_history(folder, seed)
    (folder / "metrics.json").write_text(json.dumps({
        "status": "finished", "reason": "", "iteration": 100, "wall_seconds": 60.0 + seed,
        "eval_seconds": 2.0, "metrics": {**metrics, **ENTROPIES}}))
    if confusion:
        write_confusion(folder, metrics.get("cluster_accuracy", 0.5))
    if figures:
        write_traversals(folder, seed)
    return folder


def write_failed(out: Path, model: str, seed: int, reason: str, metrics: dict[str, float] | None = None,
                 suite: str = "mnist") -> Path:
    """A diverged run: config, the history up to the failure and a failed metrics.json."""
    folder = run_folder(out, model, seed, suite)
    write_config(folder, model, seed, suite)
    write_history(folder, seed, iterations=40)
    (folder / "metrics.json").write_text(json.dumps({
        "status": "failed", "reason": reason, "iteration": 37, "wall_seconds": 20.0, "metrics": metrics or {}}))
    return folder


def write_running(out: Path, model: str, seed: int, suite: str = "mnist") -> Path:
    """A run still training (or interrupted): config and history, no metrics.json."""
    folder = run_folder(out, model, seed, suite)
    write_config(folder, model, seed, suite)
    write_history(folder, seed, iterations=30)
    return folder
