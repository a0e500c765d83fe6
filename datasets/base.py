"""The container every loader returns, and the one error type loaders raise."""

from __future__ import annotations

from dataclasses import dataclass

import torch


class DatasetError(Exception):
    """A dataset could not be found, read or validated; the message is one line for the user."""


@dataclass(frozen=True)
class ImageSplit:
    """One split of a dataset: ``images`` uint8 [N, C, H, W], ``labels`` int64 [N]."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise ValueError("images must be a uint8 tensor [N, C, H, W]")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must be a tensor [N] matching the images")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def to(self, device: torch.device | str) -> "ImageSplit":
        return ImageSplit(self.name, self.split, self.images.to(device), self.labels.to(device))
