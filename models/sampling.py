"""Latent inputs for looking at a trained generator: traversals and fresh samples."""

from __future__ import annotations

import torch

from models.latent import LatentSpec


def traversal_inputs(latent: LatentSpec, code_index: int, rows: int, steps: int = 10,
                     low: float = -2.0, high: float = 2.0, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Generator inputs for the paper's Fig. 2 layout, and the code values of the columns.

    Row r holds one fixed noise vector and one fixed draw of the other codes (continuous
    codes other than the varied one at 0); column j sets code ``code_index`` to its j-th value:
    categories 0..K-1 for a categorical code, ``steps`` values over [low, high] otherwise.
    Returns (inputs [rows * columns, input_dim] in row-major order, column values).
    """
    rng = torch.Generator().manual_seed(seed)
    varied = latent.codes[code_index]
    values = varied.traversal(steps, low, high)
    columns = values.shape[0]
    noise = latent.sample_noise(rows, torch.device("cpu"), rng)
    fixed = []
    for i, code in enumerate(latent.codes):
        if code.kind == "categorical":
            fixed.append(code.sample(rows, torch.device("cpu"), rng))
        else:
            fixed.append(torch.zeros(rows, code.input_dim))
    blocks = []
    for i, block in enumerate(fixed):
        block = block.repeat_interleave(columns, dim=0)
        if i == code_index:
            block = values.repeat(rows, 1)
        blocks.append(block)
    inputs = latent.generator_input(noise.repeat_interleave(columns, dim=0), blocks)
    column_values = values.argmax(1).float() if varied.kind == "categorical" else values[:, 0]
    return inputs, column_values
