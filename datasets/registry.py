"""Dataset names to loaders; a new dataset is one module plus one line here."""

from __future__ import annotations

from typing import Callable

from datasets.base import ImageSplit
from datasets.faces3d import Faces3D, load_faces3d, load_faces3d_grid
from datasets.mnist import load_mnist

DATASETS: dict[str, Callable[..., ImageSplit]] = {
    "mnist": load_mnist,
    "faces3d": load_faces3d,
}


def load_dataset(name: str, split: str, data_dir: str | None = None, download: bool = True) -> ImageSplit:
    """Load split ``split`` of dataset ``name`` (see :data:`DATASETS`)."""
    return DATASETS[name](split=split, data_dir=data_dir, download=download)


# Datasets with ground-truth factors: name -> loader of the object that samples factor vectors
# and returns the images for them (``factor_names``, ``factor_sizes``, ``sample_factors``, ``images_for``).
GROUND_TRUTH: dict[str, Callable[..., Faces3D]] = {
    "faces3d": load_faces3d_grid,
}


def load_ground_truth(name: str, data_dir: str | None = None, download: bool = True):
    """The ground-truth object of dataset ``name`` (see :data:`GROUND_TRUTH`)."""
    return GROUND_TRUTH[name](data_dir=data_dir, download=download)
