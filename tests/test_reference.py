"""The ground-truth reference: one ridge fit shared by the factors reads each factor as a fit of
its own would (same penalty, same held-out R^2, same predictions)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import train_test_split

from bench.reference import regressor_reference


@dataclass
class GroundTruth:
    """Three factors on a grid; 8x8 images whose pixels mix the factors, each with its own noise
    level, so that the factors' R^2 and chosen penalties differ."""

    n: int = 600
    seed: int = 0

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        self.factor_values = {"a": np.linspace(-1, 1, 5), "b": np.linspace(0, 30, 4), "c": np.array([0.0, 2.0, 5.0])}
        self.factor_names = tuple(self.factor_values)
        self.factors = np.stack([rng.integers(0, len(v), self.n) for v in self.factor_values.values()], axis=1)
        latent = np.stack([v[self.factors[:, i]] / np.ptp(v) for i, v in enumerate(self.factor_values.values())], 1)
        latent += rng.normal(size=latent.shape) * np.array([0.02, 0.2, 0.6])
        pixels = latent @ rng.normal(size=(3, 64))
        pixels = (pixels - pixels.min()) / np.ptp(pixels) * 255
        self.images = torch.from_numpy(pixels.round().astype(np.uint8)).reshape(self.n, 1, 8, 8)

    def __len__(self) -> int:
        return self.n


def test_shared_fit_reads_each_factor_as_its_own_fit_would():
    truth = GroundTruth()
    factors = ("c", "a", "b")  # not in the dataset's order
    reference = regressor_reference(truth, factors, seed=3)

    pixels = truth.images.reshape(truth.n, -1).float().numpy() / 255.0
    probe = np.random.default_rng(1).uniform(0, 1, size=(20, 1, 8, 8))
    read = reference.attributes(probe)
    for name in factors:
        target = truth.factor_values[name][truth.factors[:, truth.factor_names.index(name)]]
        x_fit, x_test, y_fit, y_test = train_test_split(pixels, target, test_size=0.2, random_state=3)
        own = RidgeCV(alphas=(0.1, 1.0, 10.0, 100.0)).fit(x_fit, y_fit)
        assert reference.attribute_r2[name] == pytest.approx(own.score(x_test, y_test), abs=1e-6), name
        np.testing.assert_allclose(read[name], own.predict(probe.reshape(20, -1)), rtol=1e-4, atol=1e-4 * np.ptp(target))
    assert list(read) == list(factors)
    # the factors are read with different precision, so the test compares more than one number
    assert reference.attribute_r2["a"] > 0.9 > reference.attribute_r2["c"]


def test_classifier_outputs_do_not_depend_on_the_batch_size():
    """The reference CNN holds no batch statistics: classifying in batches of 128 (the default),
    1,000 or 7 gives each image the same prediction and the same features."""
    from models.classifier import ReferenceClassifier, classify

    torch.manual_seed(0)
    model = ReferenceClassifier(10).eval()
    images = torch.randint(0, 256, (300, 1, 28, 28), dtype=torch.uint8)
    pred, features = classify(model, images)
    for batch_size in (1000, 7):
        other_pred, other_features = classify(model, images, batch_size=batch_size)
        assert torch.equal(other_pred, pred)
        torch.testing.assert_close(other_features, features, rtol=1e-5, atol=1e-6)


def test_classifier_batch_benchmark_times_every_size_and_compares_outputs():
    from bench.benchmarks.classifier_batch import batch_table
    from models.classifier import ReferenceClassifier

    torch.manual_seed(0)
    images = torch.randint(0, 256, (60, 1, 28, 28), dtype=torch.uint8)
    table = batch_table(ReferenceClassifier(10).eval(), images, [60, 20], repeats=2)
    assert list(table["batch_size"]) == [60, 20] and (table["seconds"] > 0).all()
    assert table["ratio_to_first"].iloc[0] == 1.0
    assert table["same_outputs"].dtype == bool
