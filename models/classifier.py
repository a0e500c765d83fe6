"""A small CNN trained on real labelled images: the reference the traversal and quality
metrics read generated images with (it never sees generated images while training)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReferenceClassifier(nn.Module):
    """conv 3x3 32 - ReLU - maxpool 2 - conv 3x3 64 - ReLU - maxpool 2 - FC 128 (features) - FC classes."""

    def __init__(self, num_classes: int, image_channels: int = 1, image_size: int = 28, feature_dim: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(image_channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (image_size // 4) ** 2, feature_dim), nn.ReLU(),
        )
        self.head = nn.Linear(feature_dim, num_classes)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.body(images)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(images))


def train_classifier(images: torch.Tensor, labels: torch.Tensor, num_classes: int, steps: int,
                     batch_size: int = 128, lr: float = 1e-3, seed: int = 0) -> ReferenceClassifier:
    """Adam on cross-entropy for ``steps`` random minibatches of uint8 ``images`` (scaled to [0, 1])."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ReferenceClassifier(num_classes, images.shape[1], images.shape[-1]).to(images.device)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        rng = torch.Generator(device=images.device).manual_seed(seed)
        for _ in range(steps):
            index = torch.randint(len(images), (batch_size,), device=images.device, generator=rng)
            loss = F.cross_entropy(model(images[index].float() / 255.0), labels[index])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return model.eval()


@torch.no_grad()
def classify(model: ReferenceClassifier, images: torch.Tensor,
             batch_size: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """(predicted classes [N], features [N, feature_dim]) for images in [0, 1] (float) or uint8.

    Each image's outputs are its own (no batch statistics), so ``batch_size`` sets only the
    speed. Batches of 128 keep the first layer's activations at 13 MB (32 maps of 28x28 in
    fp32); on two CPU cores batches of 256-1,000 took up to 2.2 times as long, depending on the
    run (bench.benchmarks.classifier_batch)."""
    preds, feats = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        batch = batch.float() / 255.0 if batch.dtype == torch.uint8 else batch.float()
        features = model.features(batch)
        preds.append(model.head(features).argmax(1))
        feats.append(features)
    return torch.cat(preds), torch.cat(feats)
