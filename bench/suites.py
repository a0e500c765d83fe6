"""Suites are data: dataset, latent spec, networks, training profiles and metrics.

A new suite is one :class:`Suite` entry in :data:`SUITES`; a new model variant one line in
:data:`MODELS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from bench.battery import BatteryConfig
from metrics.heldout import RecogniserConfig
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
    battery: BatteryConfig = BatteryConfig()
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
    metrics: tuple[str, ...] = ("mi_lower_bound",)   # parts of bench.battery to run
    attribute_factors: tuple[str, ...] = ()           # ground-truth factors read off generated images
    description: str = ""

    def train_config(self, profile: str, model: str, precision: str) -> TrainConfig:
        return replace(self.profiles[profile].train, mutual_info=MODELS[model], precision=precision)


MNIST_LATENT = LatentSpec(
    noise_dim=62,
    codes=(CategoricalCode(10, name="cat"), UniformCode("c1"), UniformCode("c2")),
)

SMOKE_BATTERY = BatteryConfig(
    mi_samples=256, heldout=RecogniserConfig(num_train=500, num_eval=200, steps=50, eval_every=25),
    traversal_noise=8, traversal_steps=5, fd_samples=500, reference_steps=30,
    disentanglement_train=500, disentanglement_test=300, vae_score_train=300, vae_score_eval=200,
)

MNIST_PROFILES = {
    "paper": Profile(
        "paper", TrainConfig(iterations=5000, batch_size=128, log_every=50, checkpoint_every=500),
        eval_every=250,
        description="the official recipe: 5,000 iterations of batch 128, Adam(0.5), lr G 1e-3 / D 2e-4",
    ),
    "quick": Profile(
        "quick", TrainConfig(iterations=1500, batch_size=128, log_every=50, checkpoint_every=250),
        eval_every=250,
        description="the paper recipe cut to 1,500 iterations (about 6 minutes a run on two CPU cores)",
    ),
    "smoke": Profile(
        "smoke", TrainConfig(iterations=20, batch_size=32, log_every=5, checkpoint_every=10),
        eval_every=20, traversal_rows=4, eval_limit=2000, battery=SMOKE_BATTERY,
        description="20 iterations of batch 32: seconds, for tests",
    ),
}

SUITES: dict[str, Suite] = {
    "mnist": Suite(
        name="mnist", dataset="mnist", train_split="train", test_split="test",
        latent=MNIST_LATENT, network=NetworkSpec(image_channels=1, image_size=28, q_hidden=128),
        profiles=MNIST_PROFILES,
        metrics=("clustering", "mi_lower_bound", "mi_heldout", "traversal", "frechet"),
        description="MNIST, 62 noise dims, Cat(10) + 2 x Unif(-1,1) codes (paper Sec. 7.1)",
    ),
}

FACES3D_LATENT = LatentSpec(noise_dim=128, codes=tuple(UniformCode(f"c{i}") for i in range(1, 6)))

SUITES["faces3d"] = Suite(
    name="faces3d", dataset="faces3d", train_split="train", test_split="test",
    latent=FACES3D_LATENT, network=NetworkSpec(image_channels=1, image_size=32, q_hidden=0),
    profiles={name: replace(profile, eval_every=0) for name, profile in MNIST_PROFILES.items()},
    metrics=("mi_lower_bound", "mi_heldout", "traversal", "disentanglement"),
    attribute_factors=("azimuth", "elevation", "light", "width"),
    description="3D faces rendered from the Surrey Face Model, 32x32; 128 noise dims, 5 x Unif(-1,1) codes",
)

PROFILES = sorted({name for suite in SUITES.values() for name in suite.profiles})
