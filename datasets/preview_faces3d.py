"""Save a picture of the faces3d grid: one row per factor, varied over its values, the others at their middle.

    python -m datasets.preview_faces3d --out faces3d_grid.png [--data-dir DIR] [--image-size 64]

A factor with more values than ``--columns`` shows evenly spaced ones. The images are rendered
with the same settings as the cached grid (no cache is built or read).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import torch

from datasets.base import DatasetError
from datasets.faces3d import FACTOR_NAMES, Faces3DConfig, render_images
from datasets.sfm import load_sfm


def preview_factors(sizes: tuple[int, ...], columns: int) -> list[np.ndarray]:
    """Per factor, the factor vectors [n <= columns, K] of its row: that factor varied, the others at size // 2."""
    rows = []
    middle = np.asarray([size // 2 for size in sizes], dtype=np.int64)
    for k, size in enumerate(sizes):
        values = np.unique(np.round(np.linspace(0, size - 1, min(size, columns))).astype(np.int64))
        row = np.tile(middle, (len(values), 1))
        row[:, k] = values
        rows.append(row)
    return rows


def save_preview(out: Path, config: Faces3DConfig, data_dir: str | None = None, download: bool = True,
                 columns: int = 9) -> None:
    """Render the preview rows and save them as one labelled PNG at ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    model = load_sfm(data_dir, download)
    rows = preview_factors(config.factor_sizes, columns)
    width = max(len(r) for r in rows)
    size = config.image_size
    tiles = []
    for row in rows:
        images = torch.from_numpy(render_images(config, model, row))
        blank = torch.zeros((width - len(row), 1, size, size), dtype=torch.uint8)
        tiles.append(torch.cat([images, blank]))
    pad = 2
    grid = make_grid(torch.cat(tiles).float() / 255.0, nrow=width, padding=pad, pad_value=0.35)
    values = {"azimuth": config.azimuths, "elevation": config.elevations, "light": config.lights,
              "width": config.widths, "identity": range(config.num_identities)}
    labels = []
    for name, row in zip(FACTOR_NAMES, rows):
        shown = [values[name][i] for i in row[:, FACTOR_NAMES.index(name)]]
        labels.append(f"{name}\n{shown[0]:g} .. {shown[-1]:g}")

    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * width, 0.9 * len(rows)), dpi=100)
    ax.imshow(grid[0].numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    step = size + pad
    ax.set_yticks([pad + step * i + size / 2 for i in range(len(rows))], labels, fontsize=8)
    ax.set_xticks([])
    ax.set_title(f"faces3d: {config.num_images} images of {size}x{size}, sizes {config.factor_sizes}", fontsize=9)
    out.parent.mkdir(parents=True, exist_ok=True)
    temp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:  # written beside the target, then renamed: a killed process leaves no half image
        fig.savefig(temp, bbox_inches="tight", format=out.suffix.lstrip(".") or "png")
        os.replace(temp, out)
    finally:
        plt.close(fig)
        temp.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("faces3d_grid.png"))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--columns", type=int, default=9)
    parser.add_argument("--no-download", action="store_true")
    args = parser.parse_args(argv)
    try:
        save_preview(args.out, Faces3DConfig(image_size=args.image_size), args.data_dir, not args.no_download,
                     args.columns)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
