"""faces3d: the Surrey Face Model reader, the renderer's conventions, the grid and its HDF5 cache.

Tests that need the real model file read it from $BENCH_DATA_DIR/sfm/; they are skipped when
BENCH_DATA_DIR is unset and fail when it is set but the file is missing.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from datasets import DATASETS, DatasetError, ImageSplit
from datasets import faces3d as f3
from datasets import sfm
from datasets.render import RenderSettings, light_vector, pose, render_face, render_lights, rotation_matrix, to_pixels

TINY = f3.Faces3DConfig(azimuths=(-40, 0, 40), elevations=(-15, 15), lights=(-45, 45), widths=(0.9, 1.1),
                        num_identities=2)


@pytest.fixture(scope="module")
def data_dir() -> Path:
    env = os.environ.get("BENCH_DATA_DIR")
    if not env:
        pytest.skip("BENCH_DATA_DIR is not set: the Surrey Face Model file is not available")
    path = Path(env) / sfm.SUBFOLDER / sfm.FILE_NAME
    if not path.is_file():
        pytest.fail(f"BENCH_DATA_DIR={env} is set but {path} is missing")
    return Path(env)


@pytest.fixture(scope="module")
def model(data_dir: Path) -> sfm.ShapeModel:
    return sfm.load_sfm(data_dir, download=False)


@pytest.fixture(scope="module")
def tiny(data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> f3.Faces3D:
    return f3.load_faces3d_grid(TINY, data_dir, download=False, cache_dir=tmp_path_factory.mktemp("cache"),
                                workers=1, progress=False)


class RenderCounter:
    """Wraps :func:`render_grid` to count the grids rendered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch):
        self.calls = 0
        self._render = f3.render_grid
        monkeypatch.setattr(f3, "render_grid", self)

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self._render(*args, **kwargs)


def load(config: f3.Faces3DConfig, data_dir: Path, cache: Path) -> f3.Faces3D:
    return f3.load_faces3d_grid(config, data_dir, download=False, cache_dir=cache, workers=1, progress=False)


# -- the model file ---------------------------------------------------------------------------

def test_model_reads_with_documented_sizes(model: sfm.ShapeModel):
    assert model.num_vertices == 3448 and model.num_components == 63
    assert model.triangles.shape == (6736, 3)
    assert model.sha256 == sfm.SHA256
    assert model.eigenvalues[0] == pytest.approx(56502, rel=1e-3)
    shape = model.shape(np.ones(5))
    assert shape.shape == (3448, 3) and np.isfinite(shape).all()
    assert not np.allclose(shape, model.shape())


@pytest.mark.parametrize("keep", [0, 3, 2000, 2_700_000, -1])
def test_truncated_model_file_is_a_clear_error(data_dir: Path, tmp_path: Path, keep: int):
    raw = (data_dir / sfm.SUBFOLDER / sfm.FILE_NAME).read_bytes()
    broken = tmp_path / "sfm_shape_3448.bin"
    broken.write_bytes(raw[:keep])
    with pytest.raises(DatasetError, match="truncated") as info:
        sfm.read_shape_model(broken)
    assert str(broken) in str(info.value) and "\n" not in str(info.value)


def test_corrupted_model_file_is_a_clear_error(data_dir: Path, tmp_path: Path):
    raw = bytearray((data_dir / sfm.SUBFOLDER / sfm.FILE_NAME).read_bytes())
    bad = tmp_path / "bad.bin"
    bad.write_bytes(bytes([7, 0, 0, 0]) + raw[4:])
    with pytest.raises(DatasetError, match="version"):
        sfm.read_shape_model(bad)
    bad.write_bytes(bytes(raw) + b"extra")
    with pytest.raises(DatasetError, match="unexpected bytes"):
        sfm.read_shape_model(bad)
    raw[4:8] = (10343).to_bytes(4, "little")  # the mean's row count no longer fits the file
    bad.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match=str(bad).replace("\\", "\\\\")):
        sfm.read_shape_model(bad)


@pytest.mark.parametrize("how", ["offline", "no_download"])
def test_missing_model_offline_says_where_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str):
    if how == "offline":
        monkeypatch.setenv("BENCH_OFFLINE", "1")
    with pytest.raises(DatasetError) as info:
        sfm.locate_sfm(tmp_path, download=how != "offline")
    message = str(info.value)
    assert sfm.URL in message and str(tmp_path / "sfm") in message and "\n" not in message


def test_download_checks_the_sha256(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BENCH_OFFLINE", raising=False)
    payload = {"bytes": b"not the model"}
    monkeypatch.setattr(sfm.urllib.request, "urlopen", lambda url, timeout: io.BytesIO(payload["bytes"]))
    with pytest.raises(DatasetError, match="sha256"):
        sfm.locate_sfm(tmp_path / "wrong", download=True)
    assert not any((tmp_path / "wrong" / "sfm").iterdir())  # no partial file left behind
    payload["bytes"] = (data_dir / sfm.SUBFOLDER / sfm.FILE_NAME).read_bytes()
    path = sfm.locate_sfm(tmp_path / "right", download=True)
    assert path == tmp_path / "right" / "sfm" / sfm.FILE_NAME and sfm.file_sha256(path) == sfm.SHA256


# -- the renderer's conventions -------------------------------------------------------------

def _render(model: sfm.ShapeModel, **kwargs) -> np.ndarray:
    return render_face(model.shape(), model.triangles, **kwargs).astype(np.float64)


def test_rotation_and_light_conventions():
    nose = np.array([0.0, 0.0, 1.0])
    assert (rotation_matrix(30, 0) @ nose)[0] > 0  # positive azimuth: the nose moves right
    assert (rotation_matrix(0, 20) @ nose)[1] > 0  # positive elevation: the nose moves up
    assert light_vector(45, 0)[0] > 0 and light_vector(0, 0) == pytest.approx([0, 0, 1])


def test_frontal_mean_face_is_symmetric(model: sfm.ShapeModel):
    image = _render(model)
    assert image.max() > 200 and (image > 0).mean() > 0.3
    assert image[0, 0] == 0  # black background
    assert np.abs(image - image[:, ::-1]).mean() < 2.0


def test_opposite_azimuths_are_mirror_images(model: sfm.ShapeModel):
    for angle in (20, 45):
        right, left = _render(model, azimuth=angle), _render(model, azimuth=-angle)
        assert np.abs(right - left[:, ::-1]).mean() < 2.5
        assert np.abs(right - left).mean() > 10  # and they do differ
    settings = RenderSettings()
    tip = int(np.argmax(model.shape()[:, 2]))  # the nose tip: the vertex nearest the viewer
    for angle in (-45, 45):
        u, v = to_pixels(pose(model.shape(), angle, 0, 1.0, settings), 32, settings)
        assert np.sign(u[tip] - 16) == np.sign(angle)  # positive azimuth: the nose is right of centre
        assert _render(model, azimuth=angle)[int(v[tip]), int(u[tip])] > 0  # and drawn there


def test_positive_elevation_turns_the_face_up(model: sfm.ShapeModel):
    settings = RenderSettings()
    tip = int(np.argmax(model.shape()[:, 2]))
    for angle in (-20, 20):
        u, v = to_pixels(pose(model.shape(), 0, angle, 1.0, settings), 32, settings)
        assert np.sign(16 - v[tip]) == np.sign(angle)  # positive elevation: the nose is above centre
        assert _render(model, elevation=angle)[int(v[tip]), int(u[tip])] > 0
    rows = np.arange(32)[:, None]
    centre = lambda img: ((img > 0) * rows).sum() / (img > 0).sum()
    assert centre(_render(model, elevation=20)) < centre(_render(model, elevation=-20))


def test_lit_side_is_brighter(model: sfm.ShapeModel):
    from_right, from_left = _render(model, light=60), _render(model, light=-60)
    assert from_right[:, 16:].mean() > from_right[:, :16].mean() + 20
    assert from_left[:, :16].mean() > from_left[:, 16:].mean() + 20


def test_width_widens_the_face(model: sfm.ShapeModel):
    assert (_render(model, width=1.2) > 0).sum() > (_render(model, width=0.8) > 0).sum() * 1.2


def test_64px_option(model: sfm.ShapeModel):
    config = f3.Faces3DConfig(image_size=64)
    image = render_face(model.shape(), model.triangles, settings=config.render_settings())
    assert image.shape == (64, 64) and image.dtype == np.uint8 and image.max() > 200


def test_render_is_fast(model: sfm.ShapeModel):
    settings = RenderSettings()
    start = time.perf_counter()
    for angle in range(-60, 61, 12):
        render_face(model.shape(), model.triangles, angle, 10, 30, 1.0, settings)
    assert (time.perf_counter() - start) / 11 < 0.1  # a few ms here; generous for a busy machine


def test_one_rasterisation_serves_every_light(model: sfm.ShapeModel):
    lights = [-60.0, -15.0, 0.0, 60.0]
    for azimuth, elevation, width in ((0, 0, 1.0), (-45, 15, 0.8), (30, -20, 1.2)):
        shared = render_lights(model.shape(), model.triangles, azimuth, elevation, lights, width)
        assert shared.shape == (4, 32, 32) and shared.dtype == np.uint8
        for image, light in zip(shared, lights):
            assert np.array_equal(image, render_face(model.shape(), model.triangles, azimuth, elevation, light, width))
        assert len({image.tobytes() for image in shared}) == 4  # the light does change the pixels


# -- the grid -----------------------------------------------------------------------------------

def test_tiny_grid_renders_in_seconds(model: sfm.ShapeModel):
    start = time.perf_counter()
    images = f3.render_grid(TINY, model, workers=1, progress=False)
    assert time.perf_counter() - start < 10
    assert images.shape == (48, 1, 32, 32) and images.dtype == np.uint8


def test_tiny_grid(tiny: f3.Faces3D):
    assert tiny.factor_names == ("azimuth", "elevation", "light", "width", "identity")
    assert tiny.factor_sizes == (3, 2, 2, 2, 2)
    assert tiny.images.shape == (48, 1, 32, 32) and tiny.images.dtype == torch.uint8
    assert tiny.factors.shape == (48, 5) and tiny.factors.dtype == np.int64
    assert len(np.unique(tiny.factors, axis=0)) == 48
    assert (tiny.images.flatten(1).float().mean(1) > 10).all()  # every image shows a face
    assert len(torch.unique(tiny.images.flatten(1), dim=0)) == 48  # and no two are the same


def test_images_for_returns_the_images_with_those_factors(tiny: f3.Faces3D, model: sfm.ShapeModel):
    wanted = tiny.sample_factors(40, np.random.default_rng(0))
    assert wanted.shape == (40, 5) and (wanted < np.asarray(tiny.factor_sizes)).all() and (wanted >= 0).all()
    got = tiny.images_for(wanted)
    for row, image in zip(wanted, got):
        (match,) = np.flatnonzero((tiny.factors == row).all(axis=1))
        assert torch.equal(image, tiny.images[match])
    assert np.array_equal(got.numpy(), f3.render_images(TINY, model, wanted))
    with pytest.raises(ValueError):
        tiny.images_for(np.array([[3, 0, 0, 0, 0]]))


def test_loader_split_and_registry(tiny: f3.Faces3D, data_dir: Path):
    assert "faces3d" in DATASETS
    cache = tiny.path.parent
    split = f3.load_faces3d("test", data_dir, download=False, config=TINY, cache_dir=cache, progress=False)
    assert isinstance(split, ImageSplit) and split.name == "faces3d" and split.image_shape == (1, 32, 32)
    assert torch.equal(split.images, tiny.images)
    assert torch.equal(split.labels, torch.from_numpy(tiny.factors[:, 4]))
    with pytest.raises(DatasetError, match="split"):
        f3.load_faces3d("validation", data_dir, config=TINY, cache_dir=cache)


def test_parallel_rendering_matches_serial(tiny: f3.Faces3D, model: sfm.ShapeModel, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(f3, "CHUNK", 12)
    images = f3.render_grid(TINY, model, workers=2, progress=False)
    assert np.array_equal(images, tiny.images.numpy())


def test_pose_chunks_hold_each_pose_with_all_its_lights():
    sizes = TINY.factor_sizes
    chunks = f3.pose_chunks(sizes, 5)
    assert [c.size for c in chunks] == [10, 10, 10, 10, 8]  # 24 poses x 2 lights, 5 poses a chunk
    assert np.array_equal(np.sort(np.concatenate(chunks)), np.arange(48))
    for chunk in chunks:
        factors = np.stack(np.unravel_index(chunk, sizes), axis=1)
        poses, counts = np.unique(np.delete(factors, 2, axis=1), axis=0, return_counts=True)
        assert (counts == 2).all() and len(poses) == chunk.size // 2


def test_render_benchmark_smoke(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from bench.benchmarks import faces3d_render
    monkeypatch.setattr("sys.argv", ["faces3d_render", "--poses", "1", "--repeats", "1", "--data-dir",
                                     str(data_dir), "--out", str(tmp_path)])
    faces3d_render.main()
    table = pd.read_csv(tmp_path / "faces3d_render.csv")
    assert list(table["way"]) == ["per image", "per pose"] and (table["images"] == 5).all()
    assert table["identical_bytes"].all() and (table["ms_per_image"] > 0).all()


# -- the cache ---------------------------------------------------------------------------------

def test_cache_is_reused_and_keyed_by_settings(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    counter = RenderCounter(monkeypatch)
    first = load(TINY, data_dir, tmp_path)
    assert counter.calls == 1 and first.path.parent == tmp_path
    again = load(TINY, data_dir, tmp_path)
    assert counter.calls == 1 and torch.equal(again.images, first.images)

    brighter = replace(TINY, ambient=0.4)
    other = load(brighter, data_dir, tmp_path)
    assert counter.calls == 2 and other.path != first.path
    assert other.images.float().mean() > first.images.float().mean()


def test_stale_cache_under_the_expected_name_is_rebuilt(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture):
    counter = RenderCounter(monkeypatch)
    first = load(TINY, data_dir, tmp_path)
    moved = replace(TINY, light_elevation=0.0)
    expected = tmp_path / f3.cache_name(moved, sfm.SHA256)
    shutil.copy(first.path, expected)  # a file of other settings where the new one belongs
    with caplog.at_level(logging.WARNING):
        rebuilt = load(moved, data_dir, tmp_path)
    assert counter.calls == 2 and "other render settings" in caplog.text
    assert not torch.equal(rebuilt.images, first.images)
    assert load(moved, data_dir, tmp_path).path == expected and counter.calls == 2


def test_cache_of_another_model_file_is_rebuilt(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture):
    counter = RenderCounter(monkeypatch)
    first = load(TINY, data_dir, tmp_path)
    with f3.h5py.File(first.path, "r+") as cache:
        cache.attrs["model_sha256"] = "0" * 64
    with caplog.at_level(logging.WARNING):
        load(TINY, data_dir, tmp_path)
    assert counter.calls == 2 and "another face model" in caplog.text


def test_truncated_cache_is_reported_and_rebuilt(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 caplog: pytest.LogCaptureFixture):
    counter = RenderCounter(monkeypatch)
    first = load(TINY, data_dir, tmp_path)
    original = first.images.clone()
    size = first.path.stat().st_size
    with open(first.path, "r+b") as handle:
        handle.truncate(size // 2)
    with caplog.at_level(logging.WARNING):
        rebuilt = load(TINY, data_dir, tmp_path)
    assert counter.calls == 2 and "damaged or truncated" in caplog.text and str(first.path) in caplog.text
    assert torch.equal(rebuilt.images, original) and first.path.stat().st_size == size
    assert not list(tmp_path.glob("*.tmp"))  # the atomic write left no temporary file


def test_corrupted_cache_bytes_are_detected(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            caplog: pytest.LogCaptureFixture):
    counter = RenderCounter(monkeypatch)
    first = load(TINY, data_dir, tmp_path)
    with f3.h5py.File(first.path, "r") as cache:
        offset = cache["images"].id.get_chunk_info(0).byte_offset
    with open(first.path, "r+b") as handle:
        handle.seek(offset + 40)
        handle.write(b"\xff" * 64)
    with caplog.at_level(logging.WARNING):
        load(TINY, data_dir, tmp_path)
    assert counter.calls == 2 and "damaged" in caplog.text


def test_cache_folder_logic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user"))
    writable = tmp_path / "data"
    writable.mkdir()
    search, target = f3.cache_folders(writable)
    user = tmp_path / "user" / "infogan-bench" / "faces3d"
    assert target == writable / "faces3d" and search == [writable / "faces3d", user]
    readonly = tmp_path / "readonly"
    readonly.mkdir()
    readonly.chmod(0o555)
    try:  # no write bits: read-only, even for root
        assert f3.cache_folders(readonly)[1] == user
    finally:
        readonly.chmod(0o755)
    assert f3.cache_folders(writable, tmp_path / "mine") == ([tmp_path / "mine"], tmp_path / "mine")
