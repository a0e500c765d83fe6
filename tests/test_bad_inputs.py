"""Every kind of bad input: one line on stderr naming the problem, a non-zero exit, no traceback,
and not one file of an existing results folder touched.

The results folder is made once per module: a finished smoke run (2 iterations) of InfoGAN
seed 0 on synthetic MNIST files. Each case runs ``bench.cli.main`` in-process against it and
compares a snapshot (size, mtime, inode and, for small files, the sha256 of every file) taken
before and after.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
import torch

import bench.cli as cli
import bench.io as bio
from bench.cli import main
from datasets.idx import write_idx
from models.infogan import default_precision
from tests.conftest import make_fake_mnist, module_folder

RUN = "runs/mnist/infogan/seed0"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Iterator[Path]:
    with module_folder(tmp_path_factory, "data") as folder:
        yield make_fake_mnist(folder, compress=False)


DEFAULT_PRECISION = default_precision(torch.device("cpu"))  # what the runs below train with
OTHER_PRECISION = "fp32" if DEFAULT_PRECISION == "bf16" else "bf16"


def base_args(out: Path, data: Path) -> list[str]:
    return ["run", "--suite", "mnist", "--profile", "smoke", "--models", "infogan", "--seeds", "0",
            "--iterations", "2", "--out", str(out), "--data-dir", str(data), "--no-progress"]


@pytest.fixture(scope="module")
def results(tmp_path_factory, data) -> Iterator[Path]:
    with module_folder(tmp_path_factory, "prepopulated") as folder:
        out = folder / "results"
        assert main(base_args(out, data)) == 0
        assert json.loads((out / RUN / "metrics.json").read_text())["status"] == "finished"
        yield out


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every file under ``folder``: size, mtime, inode and (below 1 MB) its sha256."""
    files = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest() if st.st_size < 1 << 20 else ""
            files[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns, st.st_ino, digest)
    return files


def linked_copy(source: Path, target: Path) -> Path:
    """A copy of a results folder whose files are hard links (replace, never edit, them)."""
    shutil.copytree(source, target, copy_function=os.link)
    return target


def replace_file(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def expect_one_line(capsys, code: int, expected_code: int, *needles: str) -> str:
    err = capsys.readouterr().err
    assert code == expected_code, err
    assert err.startswith("bench: error: ") and err.endswith("\n"), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


@contextmanager
def unchanged(folder: Path):
    before = snapshot(folder)
    yield
    assert snapshot(folder) == before


# -- usage errors: exit 2 ----------------------------------------------------------------------------

USAGE = [
    (["--suite", "mnst"], "unknown suite 'mnst' (did you mean 'mnist'?)"),
    (["--suite", "cifar10"], "unknown suite 'cifar10'"),
    (["--suite", "mnist,mnist"], "a suite is repeated"),
    (["--suite", ","], "no suite given"),
    (["--models", "infogn"], "unknown model 'infogn' (did you mean 'infogan'?)"),
    (["--models", "infogan,vae"], "unknown model 'vae'"),
    (["--profile", "smok"], "unknown profile 'smok' (did you mean 'smoke'?)"),
    (["--device", "cdua"], "unknown device 'cdua' (did you mean 'cuda'?)"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--precision", "fp8"], "unknown precision 'fp8'"),
    (["--seeds", "0,x"], "bad seed list '0,x'"),
    (["--seeds", "1.5"], "bad seed list '1.5'"),
    (["--seeds", "1,1"], "a seed is repeated"),
    (["--seeds", "0-2,2"], "a seed is repeated"),
    (["--seeds", "3-1"], "bad seed list '3-1'"),
    (["--seeds=-1"], "bad seed list '-1': seeds must be non-negative"),
    (["--seeds", ""], "bad seed list ''"),
    (["--iterations", "0"], "argument --iterations: must be a positive integer, not '0'"),
    (["--iterations=-5"], "argument --iterations: must be a positive integer, not '-5'"),
    (["--iterations", "ten"], "argument --iterations: must be a positive integer, not 'ten'"),
    (["--batch-size", "0"], "argument --batch-size: must be a positive integer, not '0'"),
    (["--batch-size", "3.5"], "argument --batch-size: must be a positive integer, not '3.5'"),
    (["--max-failures=-1"], "argument --max-failures: must be a non-negative integer, not '-1'"),
    (["--frobnicate"], "unrecognized arguments: --frobnicate"),
]


@pytest.mark.parametrize("extra, needle", USAGE, ids=[" ".join(a) or "empty" for a, _ in USAGE])
def test_usage_errors(results, data, capsys, extra, needle):
    with unchanged(results):
        expect_one_line(capsys, main(base_args(results, data) + extra), 2, needle)


def test_cuda_asked_for_without_cuda(results, data, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with unchanged(results):
        expect_one_line(capsys, main(base_args(results, data) + ["--device", "cuda"]), 2,
                        "--device cuda was asked for but no CUDA device is available")


def test_missing_suite_option_and_unknown_command(results, capsys):
    with unchanged(results):
        expect_one_line(capsys, main(["run", "--out", str(results)]), 2, "the following arguments are required: --suite")
        expect_one_line(capsys, main(["frobnicate"]), 2, "invalid choice: 'frobnicate'")


def test_batch_larger_than_the_data(results, data, capsys):
    args = base_args(results, data) + ["--seeds", "1", "--batch-size", "70000"]
    with unchanged(results):
        expect_one_line(capsys, main(args), 2, "batch size 70000 is larger than the 60000 training images")


# -- the output folder ----------------------------------------------------------------------------

def test_output_folder_is_a_file(results, data, capsys):
    target = results / "tables" / "runs.csv"
    with unchanged(results):
        expect_one_line(capsys, main(base_args(target, data)), 2, f"output folder {target} is a file")


def test_output_folder_under_a_file(results, data, capsys):
    target = results / "tables" / "runs.csv" / "out"
    with unchanged(results):
        expect_one_line(capsys, main(base_args(target, data)), 2, "cannot write to output folder",
                        "runs.csv is a file")


def test_output_folder_read_only(results, data, capsys, monkeypatch):
    monkeypatch.setattr(cli.os, "access", lambda path, mode: False)
    with unchanged(results):
        expect_one_line(capsys, main(base_args(results, data)), 2, "is read-only", "choose another with --out")


def test_output_folder_refuses_files(results, data, capsys, monkeypatch):
    def refuse(folder):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(bio, "probe_writable", refuse)
    with unchanged(results):
        expect_one_line(capsys, main(base_args(results, data)), 2, "cannot write to output folder",
                        "Permission denied")


def test_full_disk_while_writing(results, data, capsys, monkeypatch):
    @contextmanager
    def full(path):
        raise OSError(errno.ENOSPC, "No space left on device")
        yield  # pragma: no cover

    monkeypatch.setattr(bio, "atomic_path", full)
    with unchanged(results):
        expect_one_line(capsys, main(base_args(results, data)), 1, "No space left on device",
                        "free some space and run the same command again")


def test_full_disk_inside_the_atomic_writer(results, data, capsys, monkeypatch):
    real_replace = os.replace

    def full(src, dst, *args, **kwargs):
        if str(dst).endswith(".csv"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(bio.os, "replace", full)
    with unchanged(results):
        expect_one_line(capsys, main(base_args(results, data)), 1, "cannot write", "runs.csv",
                        "No space left on device", "free some space")
    assert not list(results.rglob(".*.tmp"))


def test_report_without_runs(tmp_path, capsys):
    expect_one_line(capsys, main(["report", "--out", str(tmp_path)]), 2, "no run records under")


# -- the data ---------------------------------------------------------------------------------------

def broken_data(data: Path, folder: Path, name: str, payload: bytes | None) -> Path:
    """A data folder like ``data`` (hard links) with file ``name`` replaced (or removed for None)."""
    folder.mkdir()
    for path in data.iterdir():
        os.link(path, folder / path.name)
    (folder / name).unlink()
    if payload is not None:
        (folder / name).write_bytes(payload)
    return folder


def idx_bytes(array: np.ndarray, path: Path) -> bytes:
    write_idx(path, array, compress=False)
    raw = path.read_bytes()
    path.unlink()
    return raw


TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"


def data_cases(data: Path, scratch: Path) -> dict[str, tuple[str, bytes | None, str]]:
    images = (data / TEST_IMAGES).read_bytes()
    labels = (data / TEST_LABELS).read_bytes()
    bad_labels = np.frombuffer(labels[8:], dtype=np.uint8).copy()
    bad_labels[17] = 12
    return {
        "wrong magic": (TEST_IMAGES, b"\x00\x00\x0b\x03" + images[4:], "is not an IDX file of unsigned bytes"),
        "wrong dimensions": (TEST_IMAGES, idx_bytes(np.zeros((10_000, 28, 27), np.uint8), scratch / "x"),
                             "has size 27 along axis 2, expected 28"),
        "wrong rank": (TEST_LABELS, idx_bytes(np.zeros((10_000, 1), np.uint8), scratch / "y"),
                       "has 2 dimensions, expected 1"),
        "truncated payload": (TEST_IMAGES, images[:-1000], "is truncated"),
        "header only": (TEST_LABELS, labels[:6], "is truncated inside its header"),
        "empty file": (TEST_LABELS, b"", "too short for an IDX header"),
        "labels out of range": (TEST_LABELS, labels[:8] + bad_labels.tobytes(), "holds labels outside 0..9"),
        "missing file": (TEST_LABELS, None, "missing t10k-labels-idx1-ubyte"),
    }


@pytest.mark.parametrize("case", ["wrong magic", "wrong dimensions", "wrong rank", "truncated payload",
                                  "header only", "empty file", "labels out of range", "missing file"])
def test_damaged_data(results, data, tmp_path, capsys, case):
    name, payload, needle = data_cases(data, tmp_path)[case]
    folder = broken_data(data, tmp_path / "data", name, payload)
    args = base_args(results, folder) + ["--seeds", "1"]  # seed 1 needs the data
    with unchanged(results):
        expect_one_line(capsys, main(args), 1, needle, name)


def test_damaged_gzip(results, data, tmp_path, capsys):
    raw = (data / TEST_LABELS).read_bytes()
    folder = broken_data(data, tmp_path / "data", TEST_LABELS, None)
    (folder / (TEST_LABELS + ".gz")).write_bytes(gzip.compress(raw)[:-30])
    with unchanged(results):
        expect_one_line(capsys, main(base_args(results, folder) + ["--seeds", "1"]), 1,
                        "is a damaged or truncated gzip file")


@pytest.mark.parametrize("how", ["missing", "empty", "a file"])
def test_data_folder_missing_or_empty(results, tmp_path, capsys, how):
    folder = tmp_path / "nowhere"
    if how == "empty":
        folder.mkdir()
    elif how == "a file":
        folder.write_text("not a folder")
    with unchanged(results):
        expect_one_line(capsys, main(base_args(results, folder) + ["--seeds", "1"]), 1,
                        f"MNIST not found in {folder}", "--data-dir")


# -- run folders that hold something else ----------------------------------------------------------------

@pytest.mark.parametrize("extra, needle", [
    (["--profile", "quick"], "profile: 'smoke' there, 'quick' asked"),
    (["--iterations", "3"], "train.iterations: 2 there, 3 asked"),
    (["--batch-size", "16"], "train.batch_size: 32 there, 16 asked"),
    (["--precision", OTHER_PRECISION], f"train.precision: '{DEFAULT_PRECISION}' there, '{OTHER_PRECISION}' asked"),
    (["--no-fused-adam"], "train.fused_optimizer: True there, False asked"),
    (["--g-latent", "fresh"], "train.fresh_g_latent: False there, True asked"),
    (["--updates", "simultaneous"], "train.simultaneous: False there, True asked"),
])
def test_run_folder_with_other_settings(results, data, capsys, extra, needle):
    with unchanged(results):
        expect_one_line(capsys, main(base_args(results, data) + extra), 1,
                        f"{results / RUN} holds a run made with other settings", needle, "--force")


def unfinished_copy(results: Path, target: Path, seed_folder: str = "seed0") -> Path:
    """A copy of the results in which the run has no metrics.json (an interrupted run)."""
    out = linked_copy(results, target)
    source = out / RUN
    if seed_folder != "seed0":
        source = source.rename(source.parent / seed_folder)
    (source / "metrics.json").unlink()
    (source / "state.json").unlink()
    return out


def test_checkpoint_of_another_seed(results, data, tmp_path, capsys):
    out = unfinished_copy(results, tmp_path / "results", "seed1")
    (out / "runs/mnist/infogan/seed1/config.json").unlink()
    with unchanged(out):
        expect_one_line(capsys, main(base_args(out, data) + ["--seeds", "1"]), 1,
                        "checkpoint.pt was made with other settings", "seed: 0 there, 1 asked")


def test_checkpoint_of_another_code_version(results, data, tmp_path, capsys):
    out = unfinished_copy(results, tmp_path / "results")
    path = out / RUN / "checkpoint.pt"
    saved = torch.load(path, weights_only=True)
    saved["identity"]["state_format"] = 0
    path.unlink()
    torch.save(saved, path)
    (out / RUN / "config.json").unlink()
    with unchanged(out):
        expect_one_line(capsys, main(base_args(out, data)), 1, "checkpoint.pt was made with other settings",
                        "state_format: 0 there, 1 asked")


def test_truncated_checkpoint(results, data, tmp_path, capsys):
    out = unfinished_copy(results, tmp_path / "results")
    path = out / RUN / "checkpoint.pt"
    replace_file(path, path.read_bytes()[:4096])
    with unchanged(out):
        expect_one_line(capsys, main(base_args(out, data)), 1, "checkpoint.pt cannot be loaded", "--force")


@pytest.mark.parametrize("name", ["config.json", "metrics.json"])
def test_damaged_record(results, data, tmp_path, capsys, name):
    out = linked_copy(results, tmp_path / "results")
    replace_file(out / RUN / name, b'{"status": "fini')
    with unchanged(out):
        expect_one_line(capsys, main(base_args(out, data)), 1, f"{name} is damaged (not valid JSON")
        expect_one_line(capsys, main(["report", "--out", str(out)]), 1, f"{name} is damaged")


# -- caches ------------------------------------------------------------------------------------------

def test_unreadable_reference_cache_is_rebuilt_with_one_warning(results, data, tmp_path, capsys):
    out = linked_copy(results, tmp_path / "results")
    (cache,) = (out / "reference").glob("*.pt")
    replace_file(cache, b"not a torch file")
    assert main(base_args(out, data) + ["--seeds", "1"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "reference classifier cache" in line]
    assert len(warnings) == 1 and "training it again" in warnings[0] and "Traceback" not in err
    torch.load(cache, weights_only=True)  # rebuilt


def test_unreadable_faces3d_cache_is_rebuilt_with_one_warning(tmp_path, caplog):
    from datasets import faces3d as f3
    from datasets import sfm

    env = os.environ.get("BENCH_DATA_DIR")
    if not env or not (Path(env) / sfm.SUBFOLDER / sfm.FILE_NAME).is_file():
        pytest.skip("the Surrey Face Model file is not available")
    config = f3.Faces3DConfig(azimuths=(-40, 40), elevations=(0,), lights=(0,), widths=(1.0,), num_identities=1)
    model = sfm.load_sfm(env, download=False)
    path = tmp_path / f3.cache_name(config, model.sha256)
    for damage in (b"garbage, not HDF5", b"\x89HDF\r\n\x1a\n" + b"\0" * 100):
        path.write_bytes(damage)
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            grid = f3.load_faces3d_grid(config, env, download=False, cache_dir=tmp_path, workers=1, progress=False)
        records = [r for r in caplog.records if "faces3d cache" in r.getMessage()]
        assert len(records) == 1 and "\n" not in records[0].getMessage()
        assert "rendering it again" in records[0].getMessage()
        assert len(grid) == 2 and f3.read_cache(path, config, model.sha256).shape == (2, 1, 32, 32)
    assert not list(tmp_path.glob("*.tmp"))
