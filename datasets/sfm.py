"""The Surrey Face Model (shape only, 3448 vertices): locate, download, verify and read it.

The model file ``sfm_shape_3448.bin`` is a cereal binary archive (little-endian) of eos's
``MorphableModel``:

    u32 version (= 1)
    shape PCA model:  mean, basis, eigenvalues   each as i32 rows, i32 cols, rows*cols float32
                                                 in column-major order
                      triangles                  u64 count, count * 3 i32 vertex indices
    colour PCA model: the same four fields (empty in this file)
    texture coordinates                          u64 count, count * 2 float64

A face shape is ``mean + basis @ (coefficients * sqrt(eigenvalues))``, in millimetres, the face
looking along +z with y up. Every defect (short file, bad version, inconsistent sizes, indices out of
range, trailing bytes) raises :class:`DatasetError` naming the file.

Licence: the Surrey Face Model is free for non-commercial (research and education) use only; see
https://www.cvssp.org/facemodel and the readme of https://github.com/patrikhuber/eos, from whose
``share/`` folder the file is downloaded. It is not bundled with this toolkit. Reference:
P. Huber et al., "A Multiresolution 3D Morphable Face Model and Fitting Framework", VISAPP 2016.
"""

from __future__ import annotations

import hashlib
import os
import struct
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets.base import DatasetError
from datasets.paths import DATA_DIR_ENV, downloads_allowed, resolve_data_dir

FILE_NAME = "sfm_shape_3448.bin"
SUBFOLDER = "sfm"
URL = "https://raw.githubusercontent.com/patrikhuber/eos/master/share/sfm_shape_3448.bin"
SHA256 = "43750338ae533e7fb981e924b6f67ebde3d292f15ec4fc886ae5af14308ad980"
SUPPORTED_VERSION = 1


@dataclass(frozen=True, eq=False)
class ShapeModel:
    """A PCA shape model: ``mean`` [3V], ``basis`` [3V, P], ``eigenvalues`` [P], ``triangles`` [T, 3].

    Vertex coordinates are interleaved (x0, y0, z0, x1, ...), as in the file.
    """

    mean: np.ndarray
    basis: np.ndarray
    eigenvalues: np.ndarray
    triangles: np.ndarray
    sha256: str = ""

    @property
    def num_vertices(self) -> int:
        return self.mean.shape[0] // 3

    @property
    def num_components(self) -> int:
        return self.basis.shape[1]

    def shape(self, coefficients: np.ndarray | None = None) -> np.ndarray:
        """Vertices [V, 3] of ``mean + basis @ (coefficients * sqrt(eigenvalues))``.

        ``coefficients`` (standard-normal units) may be shorter than the number of components;
        the missing ones are zero. ``None`` gives the mean shape.
        """
        flat = self.mean.astype(np.float64)
        if coefficients is not None:
            coefficients = np.asarray(coefficients, dtype=np.float64).ravel()
            if coefficients.shape[0] > self.num_components:
                raise ValueError(f"at most {self.num_components} coefficients, got {coefficients.shape[0]}")
            k = coefficients.shape[0]
            flat = flat + self.basis[:, :k].astype(np.float64) @ (coefficients * np.sqrt(self.eigenvalues[:k]))
        return flat.reshape(-1, 3)


class _Cursor:
    """Sequential little-endian reads from a byte buffer; running short raises DatasetError."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.offset = data, path, 0

    def take(self, size: int, what: str) -> memoryview:
        end = self.offset + size
        if size < 0 or end > len(self.data):
            raise DatasetError(
                f"{self.path} is truncated or corrupted: {what} needs {size} bytes at offset {self.offset}, "
                f"the file has {len(self.data)}; delete it and fetch it again")
        view = memoryview(self.data)[self.offset:end]
        self.offset = end
        return view

    def scalar(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def matrix(self, what: str) -> np.ndarray:
        rows, cols = self.scalar("i", what + " rows"), self.scalar("i", what + " cols")
        if rows < 0 or cols < 0:
            raise DatasetError(f"{self.path} is corrupted: {what} has size {rows} x {cols}")
        raw = self.take(4 * rows * cols, what)
        return np.frombuffer(raw, dtype="<f4").reshape((rows, cols), order="F").astype(np.float32)

    def triangles(self, what: str) -> np.ndarray:
        count = self.scalar("Q", what + " count")
        raw = self.take(12 * count, what)
        return np.frombuffer(raw, dtype="<i4").reshape(count, 3).astype(np.int64)


def _read_pca(cursor: _Cursor, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    mean = cursor.matrix(f"{name} mean")
    basis = cursor.matrix(f"{name} basis")
    eigenvalues = cursor.matrix(f"{name} eigenvalues")
    triangles = cursor.triangles(f"{name} triangles")
    return mean, basis, eigenvalues, triangles


def read_shape_model(path: str | Path) -> ShapeModel:
    """Read and validate the shape model of an eos/Surrey ``.bin`` file (the colour model is skipped)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read {path}: {exc.strerror or exc}") from exc
    cursor = _Cursor(data, path)
    version = cursor.scalar("I", "the version")
    if version != SUPPORTED_VERSION:
        raise DatasetError(
            f"{path} is not a Surrey Face Model file of version {SUPPORTED_VERSION} (version field {version})")
    mean, basis, eigenvalues, triangles = _read_pca(cursor, "shape")
    _read_pca(cursor, "colour")
    texcoords = cursor.scalar("Q", "texture coordinate count")
    cursor.take(16 * texcoords, "texture coordinates")
    if cursor.offset != len(data):
        raise DatasetError(f"{path} is corrupted: {len(data) - cursor.offset} unexpected bytes after the model")

    rows = mean.shape[0]
    if mean.shape[1] != 1 or rows == 0 or rows % 3:
        raise DatasetError(f"{path} is corrupted: the shape mean is {mean.shape[0]} x {mean.shape[1]}, not 3V x 1")
    if basis.shape[0] != rows or basis.shape[1] == 0:
        raise DatasetError(
            f"{path} is corrupted: the shape basis is {basis.shape[0]} x {basis.shape[1]}, expected {rows} x P")
    if eigenvalues.shape != (basis.shape[1], 1):
        raise DatasetError(f"{path} is corrupted: {eigenvalues.shape[0]} eigenvalues for {basis.shape[1]} components")
    if len(triangles) == 0 or triangles.min() < 0 or triangles.max() >= rows // 3:
        raise DatasetError(f"{path} is corrupted: triangle vertex indices outside 0..{rows // 3 - 1}")
    arrays = (mean, basis, eigenvalues)
    if not all(np.isfinite(a).all() for a in arrays) or (eigenvalues < 0).any():
        raise DatasetError(f"{path} is corrupted: non-finite values or negative eigenvalues")
    return ShapeModel(mean[:, 0], basis, eigenvalues[:, 0], triangles, sha256=hashlib.sha256(data).hexdigest())


def file_sha256(path: str | Path) -> str:
    """The sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _candidates(root: Path) -> list[Path]:
    return [root / SUBFOLDER / FILE_NAME, root / FILE_NAME]


def _missing_message(root: Path, reason: str) -> str:
    return (
        f"the Surrey Face Model {FILE_NAME} is not in {root / SUBFOLDER} ({reason}). "
        f"Download it from {URL} (free for non-commercial use) into {root / SUBFOLDER}/, "
        f"or point the toolkit at a folder holding sfm/{FILE_NAME} with --data-dir DIR or {DATA_DIR_ENV}=DIR"
    )


def _download(target: Path) -> None:
    """Fetch the model to ``target`` through a temporary file, checking its sha256 before the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f"{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.part")
    try:
        with open(temp, "wb") as out, urllib.request.urlopen(URL, timeout=60) as response:
            while block := response.read(1 << 16):
                out.write(block)
        got = file_sha256(temp)
        if got != SHA256:
            raise DatasetError(f"the downloaded file has sha256 {got}, expected {SHA256}")
        os.replace(temp, target)
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def locate_sfm(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The model file in ``<data dir>/sfm/`` (or the data dir itself), downloaded there when missing and allowed."""
    root = resolve_data_dir(data_dir)
    for path in _candidates(root):
        if path.is_file():
            return path
    if not (download and downloads_allowed()):
        raise DatasetError(_missing_message(root, "downloads are switched off"))
    target = _candidates(root)[0]
    try:
        _download(target)
    except (DatasetError, OSError) as exc:
        raise DatasetError(_missing_message(root, f"download failed: {exc}; are you offline?")) from exc
    return target


def load_sfm(data_dir: str | os.PathLike | None = None, download: bool = True) -> ShapeModel:
    """Locate (downloading if allowed) and read the Surrey Face Model shape model."""
    return read_shape_model(locate_sfm(data_dir, download))
