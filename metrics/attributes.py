"""Attributes read off images by intensity moments, for the traversal-consistency metric.

For an image I(x, y) >= 0 with ink mass m = sum I, centroid (x0, y0) and central moments
mu_pq = sum (x - x0)^p (y - y0)^q I / m:
* ``slant`` = -mu_11 / mu_02: the shear of x along y, positive when the top leans right (the
  minus sign because image rows, y, grow downwards);
* ``width`` = sqrt(mu_20): the horizontal spread of the ink, in pixels;
* ``ink`` = m / (H W): the mean intensity, which grows with stroke thickness.
"""

from __future__ import annotations

import numpy as np

ATTRIBUTES = ("slant", "width", "ink")


def moment_attributes(images: np.ndarray) -> dict[str, np.ndarray]:
    """``slant``, ``width`` and ``ink`` for grey images [N, H, W] (or [N, 1, H, W]) in [0, 1]."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise ValueError("images must be [N, H, W] or [N, 1, H, W]")
    n, h, w = images.shape
    mass = images.sum(axis=(1, 2))
    safe = np.maximum(mass, 1e-8)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    x0 = (images * xs).sum(axis=(1, 2)) / safe
    y0 = (images * ys).sum(axis=(1, 2)) / safe
    dx = xs[None] - x0[:, None, None]
    dy = ys[None] - y0[:, None, None]
    mu20 = (images * dx**2).sum(axis=(1, 2)) / safe
    mu02 = (images * dy**2).sum(axis=(1, 2)) / safe
    mu11 = (images * dx * dy).sum(axis=(1, 2)) / safe
    slant = -mu11 / np.maximum(mu02, 1e-8)
    return {"slant": slant, "width": np.sqrt(mu20), "ink": mass / (h * w)}
