"""Sample quality: the Frechet distance between two feature sets (as in FID)."""

from __future__ import annotations

import warnings

import numpy as np
from scipy import linalg

from metrics.registry import register_metric


def _moments(features: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"{name} must be [N >= 2 samples, F features]")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} must be finite")
    return x.mean(axis=0), np.atleast_2d(np.cov(x, rowvar=False))


def _sqrtm(product: np.ndarray) -> tuple[np.ndarray, float]:
    """scipy's ``sqrtm`` of ``product`` and its relative Frobenius residual |R R - P| / |P|
    (infinite when the root is not finite)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(product)
    if not np.all(np.isfinite(root)):
        return root, float("inf")
    return root, float(np.linalg.norm(root @ root - product) / max(np.linalg.norm(product), 1e-300))


@register_metric(
    "frechet_distance", "Frechet distance between Gaussians fitted to two feature sets", higher_is_better=False
)
def frechet_distance(features_a: np.ndarray, features_b: np.ndarray, eps: float = 1e-6) -> float:
    """d^2 = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for the means and covariances
    (ddof 1) of ``features_a`` [N_a, F] and ``features_b`` [N_b, F].

    The matrix square root is scipy's ``sqrtm``, in float64. When it does not square back to
    S_a S_b (relative residual above 1e-5, as with singular covariances), it is computed again
    with ``eps`` I added to both covariances, and the more accurate of the two roots is kept.
    An imaginary part from round-off is dropped when it is small (max |imag| <= 1e-3 of the
    largest |real| entry, at least 1e-6); a larger one is an error. A result below 0 from
    round-off is clipped to 0.
    """
    mu_a, cov_a = _moments(features_a, "features_a")
    mu_b, cov_b = _moments(features_b, "features_b")
    if mu_a.shape != mu_b.shape:
        raise ValueError("both feature sets must have the same number of features")
    covmean, residual = _sqrtm(cov_a @ cov_b)
    if residual > 1e-5:
        offset = eps * np.eye(cov_a.shape[0])
        shifted, shifted_residual = _sqrtm((cov_a + offset) @ (cov_b + offset))
        if shifted_residual < residual:
            covmean, residual = shifted, shifted_residual
        if not np.isfinite(residual):
            raise ValueError("the covariance product has no finite square root (ill-conditioned features)")
    if np.iscomplexobj(covmean):
        tolerance = max(1e-6, 1e-3 * float(np.abs(covmean.real).max(initial=0.0)))
        if np.abs(covmean.imag).max() > tolerance:
            raise ValueError("the covariance product has no real square root (ill-conditioned features)")
        covmean = covmean.real
    diff = mu_a - mu_b
    distance = diff @ diff + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean)
    return float(max(distance, 0.0))
