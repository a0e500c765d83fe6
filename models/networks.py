"""The InfoGAN paper's generator and discriminator-with-Q networks (appendix C).

MNIST: G = FC 1024, BN, ReLU; FC 7x7x128, BN, ReLU; 4x4 upconv 64 s2, BN, ReLU;
4x4 upconv 1 s2, sigmoid. D body = 4x4 conv 64 s2, lReLU(0.1); 4x4 conv 128 s2, BN,
lReLU; FC 1024, BN, lReLU. D head = FC 1. Q head = FC 128, BN, lReLU, FC (q_dim).
With ``q_hidden = 0`` Q shares every layer but the last with D (the 3D-faces network).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class NetworkSpec:
    image_channels: int = 1
    image_size: int = 28
    g_hidden: int = 1024
    g_channels: int = 128
    d_hidden: int = 1024
    q_hidden: int = 128
    leak: float = 0.1
    init_std: float = 0.02
    bn_gamma_std: float = 0.0  # batch-norm scales from N(1, std); the official code draws them with 0.02

    @property
    def base_size(self) -> int:
        if self.image_size % 4:
            raise ValueError("image_size must be divisible by 4 (two stride-2 layers)")
        return self.image_size // 4


class Generator(nn.Module):
    def __init__(self, input_dim: int, spec: NetworkSpec):
        super().__init__()
        s, ch = spec.base_size, spec.g_channels
        self.fc = nn.Sequential(
            nn.Linear(input_dim, spec.g_hidden), nn.BatchNorm1d(spec.g_hidden), nn.ReLU(),
            nn.Linear(spec.g_hidden, ch * s * s), nn.BatchNorm1d(ch * s * s), nn.ReLU(),
            nn.Unflatten(1, (ch, s, s)),
        )
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(ch, 64, 4, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, spec.image_channels, 4, stride=2, padding=1), nn.Sigmoid(),
        )

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], [n, C, H, W], from generator inputs [n, input_dim]."""
        return self.conv(self.fc(latent))


class Discriminator(nn.Module):
    """Shared body with two heads: the real/fake logit and Q's code parameters."""

    def __init__(self, q_dim: int, spec: NetworkSpec):
        super().__init__()
        s, leak = spec.base_size, spec.leak
        self.body = nn.Sequential(
            nn.Conv2d(spec.image_channels, 64, 4, stride=2, padding=1), nn.LeakyReLU(leak),
            nn.Conv2d(64, 128, 4, stride=2, padding=1), nn.BatchNorm2d(128), nn.LeakyReLU(leak),
            nn.Flatten(),
            nn.Linear(128 * s * s, spec.d_hidden), nn.BatchNorm1d(spec.d_hidden), nn.LeakyReLU(leak),
        )
        self.d_head = nn.Linear(spec.d_hidden, 1)
        if spec.q_hidden:
            self.q_head = nn.Sequential(
                nn.Linear(spec.d_hidden, spec.q_hidden), nn.BatchNorm1d(spec.q_hidden), nn.LeakyReLU(leak),
                nn.Linear(spec.q_hidden, q_dim),
            )
        else:
            self.q_head = nn.Linear(spec.d_hidden, q_dim)

    def forward(self, images: torch.Tensor, batches: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(real/fake logits [n], Q parameters [n, q_dim]) for images in [0, 1].

        ``batches`` > 1: the images are that many batches of equal size one after the other, and
        each batch-norm layer normalises (and updates its running statistics with) each batch on
        its own, in order, so the outputs are those of one call per batch, while the convolutions
        and products run once over all of them.
        """
        features = _sequential(self.body, images, batches)
        return self.d_head(features).squeeze(1), _sequential(self.q_head, features, batches)


def _sequential(layers: nn.Module, x: torch.Tensor, batches: int) -> torch.Tensor:
    """``layers(x)``, with every batch-norm layer applied to each of ``batches`` equal parts of x."""
    if batches == 1:
        return layers(x)
    for layer in layers if isinstance(layers, nn.Sequential) else (layers,):
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            x = torch.cat([layer(part) for part in x.chunk(batches)])
        else:
            x = layer(x)
    return x


def init_weights(module: nn.Module, std: float) -> None:
    """Every conv and linear weight from N(0, std), biases zero (paper: std 0.02)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            nn.init.zeros_(m.bias)


def init_batch_norm_scales(module: nn.Module, std: float) -> None:
    """Every batch-norm scale gamma from N(1, std), as the official InfoGAN code initialises them."""
    for m in module.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            nn.init.normal_(m.weight, 1.0, std)


def build_networks(latent_input_dim: int, q_dim: int, spec: NetworkSpec) -> tuple[Generator, Discriminator]:
    """A freshly initialised (G, D) pair; draws from torch's global RNG."""
    generator, discriminator = Generator(latent_input_dim, spec), Discriminator(q_dim, spec)
    for network in (generator, discriminator):
        init_weights(network, spec.init_std)
        if spec.bn_gamma_std:
            init_batch_norm_scales(network, spec.bn_gamma_std)
    return generator, discriminator
