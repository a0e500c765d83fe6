"""Dataset names to loaders; a new dataset is one module plus one line here."""

from __future__ import annotations

from typing import Callable

from datasets.base import ImageSplit
from datasets.mnist import load_mnist

DATASETS: dict[str, Callable[..., ImageSplit]] = {
    "mnist": load_mnist,
}


def load_dataset(name: str, split: str, data_dir: str | None = None, download: bool = True) -> ImageSplit:
    """Load split ``split`` of dataset ``name`` (see :data:`DATASETS`)."""
    return DATASETS[name](split=split, data_dir=data_dir, download=download)
