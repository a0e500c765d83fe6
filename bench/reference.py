"""References trained on real data, shared by all runs of a suite and cached in the output folder.

MNIST: a small CNN on the real training labels; it classifies generated digits (categorical
traversal consistency), gives 128-d features (Frechet distance), and image moments give the
attributes of continuous traversals (slant, width, ink).

Ground-truth suites (faces3d): one ridge regression per factor from pixels to the factor's value,
fitted on rendered images; it reads the attributes (azimuth, elevation, ...) of generated images.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from sklearn.linear_model import RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split

from bench import io as bio
from datasets import ImageSplit
from metrics.attributes import moment_attributes
from models.classifier import ReferenceClassifier, classify, train_classifier

log = logging.getLogger(__name__)


@dataclass
class Reference:
    """What the battery reads generated images with; any part may be absent for a suite."""

    classifier: ReferenceClassifier | None = None
    classifier_test_accuracy: float | None = None
    attributes: Callable[[np.ndarray], dict[str, np.ndarray]] | None = None
    attribute_r2: dict[str, float] | None = None

    def classify(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.classifier is None:
            raise ValueError("this suite has no reference classifier")
        return classify(self.classifier, images)


def _key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]


def _fingerprint(*splits: ImageSplit) -> str:
    """A digest of the images and labels, so a cache made from other data is never reused."""
    digest = hashlib.sha256()
    for split in splits:
        digest.update(split.images.cpu().numpy().tobytes())
        digest.update(split.labels.cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def _load_cached(path: Path, device: torch.device) -> dict | None:
    """The cached classifier at ``path``, or None when there is none or it cannot be used (then
    it is trained again: one warning line names the file)."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
        if not isinstance(saved, dict) or not {"model", "test_accuracy"} <= set(saved):
            raise ValueError("missing entries")
        return saved
    except Exception as exc:  # a damaged file raises pickle, zip or runtime errors alike
        reason = " ".join(str(exc).split())[:200]
        log.warning("reference classifier cache %s is unreadable (%s: %s); training it again",
                    path, type(exc).__name__, reason)
        return None


def classifier_reference(train: ImageSplit, test: ImageSplit, steps: int, cache_dir: Path) -> Reference:
    """Train (or load from ``cache_dir``) the reference CNN on ``train``; record its test accuracy."""
    num_classes = int(train.labels.max()) + 1
    settings = {"dataset": train.name, "n": len(train), "steps": steps, "classes": num_classes,
                "shape": list(train.image_shape), "format": 1, "data": _fingerprint(train, test)}
    path = cache_dir / f"{train.name}_classifier_{_key(settings)}.pt"
    model = ReferenceClassifier(num_classes, train.image_shape[0], train.image_shape[-1]).to(train.images.device)
    saved = _load_cached(path, train.images.device)
    if saved is not None:
        model.load_state_dict(saved["model"])
        model.eval()
        accuracy = saved["test_accuracy"]
    else:
        model = train_classifier(train.images, train.labels, num_classes, steps)
        pred, _ = classify(model, test.images)
        accuracy = float((pred == test.labels).float().mean())
        bio.torch_save(path, {"model": model.state_dict(), "test_accuracy": accuracy, "settings": settings})
    return Reference(classifier=model, classifier_test_accuracy=accuracy, attributes=moment_attributes)


def regressor_reference(ground_truth, factors: tuple[str, ...], seed: int = 0) -> Reference:
    """Per factor, a ridge regression (penalty chosen per factor by generalised cross-validation)
    from pixels in [0, 1] to the factor's value, fitted on 80% of the ground-truth images; its R^2 on
    the other 20% is recorded. The factors share one fit: the penalty path and the leave-one-out
    diagonal depend on the pixels only, so one eigendecomposition serves them all."""
    if not factors:
        raise ValueError("a ground-truth reference needs at least one factor to read")
    pixels = ground_truth.images.reshape(len(ground_truth), -1).float().numpy() / 255.0
    names = list(ground_truth.factor_names)
    targets = np.stack([ground_truth.factor_values[name][ground_truth.factors[:, names.index(name)]]
                        for name in factors], axis=1)
    x_fit, x_test, y_fit, y_test = train_test_split(pixels, targets, test_size=0.2, random_state=seed)
    model = RidgeCV(alphas=(0.1, 1.0, 10.0, 100.0), alpha_per_target=True).fit(x_fit, y_fit)
    scores = r2_score(y_test, model.predict(x_test), multioutput="raw_values")
    r2 = {name: float(score) for name, score in zip(factors, scores)}

    def attributes(images: np.ndarray) -> dict[str, np.ndarray]:
        flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
        predicted = model.predict(flat)
        return {name: predicted[:, i] for i, name in enumerate(factors)}

    return Reference(attributes=attributes, attribute_r2=r2)
