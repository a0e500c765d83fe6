"""A tiny in-memory ground-truth dataset, so the sampling scores can be checked cheaply."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass
class ToyGroundTruthData:
    """Factors v_k uniform over 0..factor_sizes[k]-1, independent; the "image" of a factor
    vector is the vector itself as floats [n, K], or, with ``image_dim`` set, a fixed random
    linear map of it, images = factors @ W with W [K, image_dim] drawn from ``seed``.

    :meth:`factors_of` inverts the map (least squares), which gives a perfect representation.
    """

    factor_sizes: Sequence[int]
    image_dim: int | None = None
    seed: int = 0
    mixing: np.ndarray | None = field(init=False, default=None, repr=False)

    def __post_init__(self) -> None:
        self.factor_sizes = [int(s) for s in self.factor_sizes]
        if not self.factor_sizes or min(self.factor_sizes) < 1:
            raise ValueError("factor_sizes must be a non-empty list of positive sizes")
        if self.image_dim is not None:
            if self.image_dim < len(self.factor_sizes):
                raise ValueError("image_dim must be at least the number of factors")
            self.mixing = np.random.default_rng(self.seed).normal(size=(len(self.factor_sizes), self.image_dim))

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(size, size=n) for size in self.factor_sizes], axis=1).astype(np.int64)

    def images_for(self, factors: np.ndarray) -> np.ndarray:
        values = np.asarray(factors, dtype=np.float64)
        return values if self.mixing is None else values @ self.mixing

    def factors_of(self, images: np.ndarray) -> np.ndarray:
        """The factor values (as floats) that produced ``images``."""
        images = np.asarray(images, dtype=np.float64)
        if self.mixing is None:
            return images
        return np.linalg.lstsq(self.mixing.T, images.T, rcond=None)[0].T
