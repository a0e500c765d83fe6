"""Suites are data: dataset, latent spec, networks, training profiles and metrics.

A new suite is one :class:`Suite` entry in :data:`SUITES`; a new model variant one line in
:data:`MODELS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from models.infogan import TrainConfig
from models.latent import CategoricalCode, LatentSpec, UniformCode
from models.networks import NetworkSpec

# Model name -> does the generator get the mutual-information gradient?
MODELS: dict[str, bool] = {"infogan": True, "gan": False}


@dataclass(frozen=True)
class Profile:
    """How long and how thoroughly to train and evaluate one run."""

    name: str
    train: TrainConfig
    eval_every: int          # iterations between test-accuracy evaluations during training (0: never)
    mi_samples: int          # generated samples for the final L_I estimate
    traversal_rows: int = 10
    eval_limit: int | None = None  # evaluate on the first N test images only (smoke tests)
    description: str = ""


@dataclass(frozen=True)
class Suite:
    name: str
    dataset: str
    train_split: str
    test_split: str
    latent: LatentSpec
    network: NetworkSpec
    profiles: dict[str, Profile] = field(default_factory=dict)
    description: str = ""

    def train_config(self, profile: str, model: str, precision: str) -> TrainConfig:
        return replace(self.profiles[profile].train, mutual_info=MODELS[model], precision=precision)


MNIST_LATENT = LatentSpec(
    noise_dim=62,
    codes=(CategoricalCode(10, name="cat"), UniformCode("c1"), UniformCode("c2")),
)

MNIST_PROFILES = {
    "paper": Profile(
        "paper", TrainConfig(iterations=5000, batch_size=128, log_every=50, checkpoint_every=500),
        eval_every=250, mi_samples=10_000,
        description="the official recipe: 5,000 iterations of batch 128, Adam(0.5), lr G 1e-3 / D 2e-4",
    ),
    "quick": Profile(
        "quick", TrainConfig(iterations=1500, batch_size=128, log_every=50, checkpoint_every=250),
        eval_every=250, mi_samples=5_000,
        description="the paper recipe cut to 1,500 iterations (about 9 minutes a run on two CPU cores)",
    ),
    "smoke": Profile(
        "smoke", TrainConfig(iterations=20, batch_size=32, log_every=5, checkpoint_every=10),
        eval_every=20, mi_samples=256, traversal_rows=4, eval_limit=2000,
        description="20 iterations of batch 32: seconds, for tests",
    ),
}

SUITES: dict[str, Suite] = {
    "mnist": Suite(
        name="mnist", dataset="mnist", train_split="train", test_split="test",
        latent=MNIST_LATENT, network=NetworkSpec(image_channels=1, image_size=28, q_hidden=128),
        profiles=MNIST_PROFILES,
        description="MNIST, 62 noise dims, Cat(10) + 2 x Unif(-1,1) codes (paper Sec. 7.1)",
    ),
}

PROFILES = sorted({name for suite in SUITES.values() for name in suite.profiles})
