"""Dataset loaders: each returns a whole split as one uint8 tensor plus labels."""

from datasets.base import DatasetError, ImageSplit
from datasets.registry import DATASETS, load_dataset

__all__ = ["DATASETS", "DatasetError", "ImageSplit", "load_dataset"]
