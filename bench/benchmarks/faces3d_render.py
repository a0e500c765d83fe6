"""Rendering the faces3d grid: one rasterisation per image against one per pose.

    python -m bench.benchmarks.faces3d_render [--poses 30] [--repeats 5] [--grid]
        [--data-dir DIR] [--out results/bench_faces3d_render]

What a pixel shows (which triangle, at which barycentric weights) depends on the pose (azimuth,
elevation, width, identity), not on the light, so :func:`datasets.render.render_lights`
rasterises a pose once and redoes only the shading for each of the grid's lights. This script
draws ``--poses`` poses of the default grid (seeded) and renders each under every light both
ways in this process: per image (:func:`datasets.render.render_face` once per light, a
rasterisation each) and per pose. A repeat times both ways, in alternating order; the table
gives each way's median milliseconds per image and the median of the per-repeat ratios (per
image over per pose), and the script checks that both ways give the same bytes.

``--grid`` also times the whole grid as ``load_faces3d`` renders it (every core, no cache).
Writes ``<out>/faces3d_render.csv``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.aggregate import write_csv
from datasets.faces3d import FACTOR_NAMES, Faces3DConfig, default_workers, render_grid, render_state
from datasets.render import render_face, render_lights
from datasets.sfm import load_sfm


def per_image(state: tuple, poses: np.ndarray) -> np.ndarray:
    """Images [P, L, S, S]: each pose under each light, one rasterisation per image."""
    settings, values, shapes, triangles, _ = state
    return np.stack([np.stack([render_face(shapes[i], triangles, values[0][a], values[1][e], light, values[3][w],
                                           settings) for light in values[2]]) for a, e, w, i in poses])


def per_pose(state: tuple, poses: np.ndarray) -> np.ndarray:
    """Images [P, L, S, S]: each pose rasterised once and shaded under each light."""
    settings, values, shapes, triangles, _ = state
    return np.stack([render_lights(shapes[i], triangles, values[0][a], values[1][e], values[2], values[3][w], settings)
                     for a, e, w, i in poses])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poses", type=int, default=30, help="poses drawn from the grid (default 30)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--grid", action="store_true", help="also time rendering the whole grid")
    parser.add_argument("--data-dir", default=None, help="folder with the face model (default $BENCH_DATA_DIR)")
    parser.add_argument("--out", default="results/bench_faces3d_render")
    args = parser.parse_args()

    config = Faces3DConfig()
    model = load_sfm(args.data_dir, download=False)
    state = render_state(config, model)
    pose_sizes = [size for name, size in zip(FACTOR_NAMES, config.factor_sizes) if name != "light"]
    rng = np.random.default_rng(0)
    poses = np.stack([rng.integers(0, size, args.poses) for size in pose_sizes], axis=1)
    images = args.poses * len(config.lights)

    ways = {"per image": per_image, "per pose": per_pose}
    ms: dict[str, list[float]] = {way: [] for way in ways}
    outputs: dict[str, np.ndarray] = {}
    for repeat in range(args.repeats):
        for way in (list(ways) if repeat % 2 == 0 else list(ways)[::-1]):
            start = time.perf_counter()
            outputs[way] = ways[way](state, poses)
            ms[way].append(1000 * (time.perf_counter() - start) / images)
    identical = bool(np.array_equal(outputs["per image"], outputs["per pose"]))
    ratios = [a / b for a, b in zip(ms["per image"], ms["per pose"])]
    rows = [{"way": way, "images": images, "ms_per_image": statistics.median(values),
             "ms_per_image_min": min(values), "ms_per_image_max": max(values)} for way, values in ms.items()]
    table = pd.DataFrame(rows)
    table["median_ratio_per_image_over_per_pose"] = statistics.median(ratios)
    table["identical_bytes"] = identical
    print(f"{args.poses} poses x {len(config.lights)} lights, {args.repeats} repeats, one process:")
    for row in rows:
        print(f"  {row['way']:9s} {row['ms_per_image']:6.2f} ms per image "
              f"({row['ms_per_image_min']:.2f}-{row['ms_per_image_max']:.2f})")
    print(f"  per image / per pose: {statistics.median(ratios):.2f}x (median of the repeats); "
          f"identical bytes: {identical}")

    if args.grid:
        workers = default_workers()
        start = time.perf_counter()
        render_grid(config, model, workers, progress=True)
        seconds = time.perf_counter() - start
        print(f"whole grid: {config.num_images:,} images in {seconds:.1f} s with {workers} processes")
        table["grid_seconds"] = seconds
        table["grid_workers"] = workers
    write_csv(table, Path(args.out) / "faces3d_render.csv")
    if not identical:
        raise SystemExit("the two ways gave different images")


if __name__ == "__main__":
    main()
