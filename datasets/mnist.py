"""MNIST from its four IDX files (gz or raw), downloaded with torchvision when missing.

Files are looked for in ``<data dir>``, ``<data dir>/mnist`` and ``<data dir>/MNIST/raw``
(torchvision's layout), where the data dir comes from :func:`datasets.paths.resolve_data_dir`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from datasets.base import DatasetError, ImageSplit
from datasets.idx import read_idx
from datasets.paths import DATA_DIR_ENV, downloads_allowed, resolve_data_dir

FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}
ALL_FILES = [name for images, labels, _ in FILES.values() for name in (images, labels)]
NUM_CLASSES = 10


def _candidate_dirs(root: Path) -> list[Path]:
    return [root, root / "mnist", root / "MNIST" / "raw"]


def find_file(root: Path, stem: str) -> Path | None:
    """The first of ``stem`` / ``stem.gz`` found in the candidate folders under ``root``."""
    for folder in _candidate_dirs(root):
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _missing_message(root: Path, missing: list[str], reason: str) -> str:
    return (
        f"MNIST not found in {root} (missing {', '.join(missing)}; {reason}). "
        f"Put the four files {', '.join(f + '.gz' for f in ALL_FILES)} (gz or raw) in that folder, "
        f"or point the toolkit at them with --data-dir DIR or {DATA_DIR_ENV}=DIR"
    )


def _download(root: Path) -> None:
    try:
        from torchvision.datasets import MNIST

        MNIST(root=str(root), train=True, download=True)
        MNIST(root=str(root), train=False, download=True)
    except Exception as exc:  # torchvision raises several kinds of network errors
        raise DatasetError(f"download failed ({type(exc).__name__})") from exc


def locate_mnist(data_dir: str | None = None, download: bool = True) -> dict[str, Path]:
    """Paths of the four MNIST files, downloading them into the data dir when missing and allowed."""
    root = resolve_data_dir(data_dir)
    found = {stem: find_file(root, stem) for stem in ALL_FILES}
    missing = [stem for stem, path in found.items() if path is None]
    if missing:
        if not (download and downloads_allowed()):
            raise DatasetError(_missing_message(root, missing, "downloads are switched off"))
        try:
            root.mkdir(parents=True, exist_ok=True)
            _download(root)
        except (DatasetError, OSError) as exc:
            raise DatasetError(_missing_message(root, missing, f"{exc}; are you offline?")) from exc
        found = {stem: find_file(root, stem) for stem in ALL_FILES}
        missing = [stem for stem, path in found.items() if path is None]
        if missing:
            raise DatasetError(_missing_message(root, missing, "the download did not produce them"))
    return found  # type: ignore[return-value]


def load_mnist(split: str = "train", data_dir: str | None = None, download: bool = True) -> ImageSplit:
    """The whole MNIST ``split`` ('train' or 'test'): uint8 images [N, 1, 28, 28] and labels [N]."""
    if split not in FILES:
        raise DatasetError(f"unknown MNIST split {split!r}; choose one of {', '.join(FILES)}")
    paths = locate_mnist(data_dir, download)
    images_stem, labels_stem, count = FILES[split]
    images = read_idx(paths[images_stem], (count, 28, 28))
    labels = read_idx(paths[labels_stem], (count,))
    if labels.max(initial=0) >= NUM_CLASSES:
        raise DatasetError(f"{paths[labels_stem]} holds labels outside 0..{NUM_CLASSES - 1}")
    return ImageSplit(
        name="mnist",
        split=split,
        images=torch.from_numpy(images.copy()).unsqueeze(1),
        labels=torch.from_numpy(labels.astype(np.int64)),
    )
