"""Shared fixtures: synthetic IDX folders, and the real data at $BENCH_DATA_DIR.

Tests that need the real data skip only when BENCH_DATA_DIR is unset; when it is set but
the files are missing they fail, so CI cannot pass by silently skipping them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.launchers import LaunchOptions, threads_per_run
from datasets import sfm
from datasets.idx import write_idx
from datasets.mnist import ALL_FILES, find_file


def pytest_configure(config: pytest.Config) -> None:
    """In a pytest-xdist worker, torch and the processes the tests start use the worker's share
    of the cores (the share `bench run --jobs N` gives each local worker), unless OMP_NUM_THREADS
    says otherwise. Two workers of two threads each on two cores made the tests 1.6 times as slow
    as one thread each (982 s against 618 s)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1 and "OMP_NUM_THREADS" not in os.environ:
        threads = threads_per_run(LaunchOptions("local", jobs=workers))
        torch.set_num_threads(threads)
        os.environ["OMP_NUM_THREADS"] = str(threads)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("BENCH_OFFLINE", "1")


def real_data_root(face_model: bool = False) -> Path:
    """$BENCH_DATA_DIR with the MNIST files (and the face model when asked): skips when it is
    unset, fails when it is set but files are missing."""
    value = os.environ.get("BENCH_DATA_DIR")
    if not value:
        pytest.skip("BENCH_DATA_DIR is not set")
    root = Path(value)
    missing = [stem for stem in ALL_FILES if find_file(root, stem) is None]
    if face_model and not (root / sfm.SUBFOLDER / sfm.FILE_NAME).is_file():
        missing.append(f"{sfm.SUBFOLDER}/{sfm.FILE_NAME}")
    if missing:
        pytest.fail(f"BENCH_DATA_DIR={root} is set but files are missing: {missing}")
    return root.resolve()


@pytest.fixture
def real_data_dir() -> Path:
    return real_data_root()


@contextmanager
def module_folder(factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A fresh folder for a module-scoped fixture, removed once the module's tests are done (a
    test's own ``tmp_path`` goes when it passes, by the retention policy in pyproject.toml)."""
    folder = factory.mktemp(name)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def with_reference(out: Path, source: Path) -> Path:
    """``out`` holding a copy of ``source``'s cached reference classifier (``source/reference``),
    so that the runs written to ``out`` load it instead of training it again."""
    if not (out / "reference").exists():
        shutil.copytree(source / "reference", out / "reference")
    return out


def make_fake_mnist(folder: Path, train: int = 60_000, test: int = 10_000, compress: bool = True) -> Path:
    """A valid MNIST-shaped IDX set with random pixels and labels 0..9."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    for prefix, n in (("train", train), ("t10k", test)):
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n, dtype=np.uint8))
    return folder


@pytest.fixture
def fake_mnist(tmp_path) -> Path:
    return make_fake_mnist(tmp_path / "data")
