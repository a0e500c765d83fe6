"""faces3d: grey 3D faces rendered from the Surrey Face Model over a full factorial grid of factors.

Factors, in this order: azimuth, elevation, light (all in degrees), width (a multiplier of the
face's x extent) and identity (a face shape: standard-normal PCA coefficients drawn with
``identity_seed``, clipped to +-``identity_clip``). Image ``k`` of the grid has the factor indices
``np.unravel_index(k, factor_sizes)`` (C order: identity varies fastest), so the images for given
factors are found by index arithmetic. See :mod:`datasets.render` for the pose and light conventions.

The images are rendered once, in parallel, and cached as HDF5 (gzip, with checksums) together
with the factors, every render setting and the sha256 of the model file. A cache made with
other settings or another model file is never reused, and a damaged one is rebuilt. Cache folder:
the explicit ``cache_dir``; otherwise ``<data dir>/faces3d`` when that folder (or the data dir) is
writable, else ``<user cache>/faces3d`` (see :func:`datasets.paths.default_cache_dir`); a folder
without write permission bits counts as read-only even for root. An existing valid cache in
``<data dir>/faces3d`` is read even when that folder is read-only.

As an :class:`ImageSplit`, both splits 'train' and 'test' are the whole grid (the disentanglement
metrics use the ground-truth factors, not a held-out set); the labels are the identity indices.
The face model is free for non-commercial use only (see :mod:`datasets.sfm`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import stat
import uuid
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from pathlib import Path

import h5py
import numpy as np
import torch
from tqdm.auto import tqdm

from datasets.base import DatasetError, ImageSplit
from datasets.paths import default_cache_dir, resolve_data_dir
from datasets.render import RenderSettings, render_lights
from datasets.sfm import ShapeModel, load_sfm

FACTOR_NAMES = ("azimuth", "elevation", "light", "width", "identity")
LIGHT = FACTOR_NAMES.index("light")  # the one factor that leaves the rasterisation as it is
SPLITS = ("train", "test")
CACHE_FORMAT = 1
CACHE_SUBFOLDER = "faces3d"
CHUNK = 32  # poses (each under every light) per chunk handed to a rendering process

log = logging.getLogger(__name__)


def _grid(low: float, high: float, count: int) -> tuple[float, ...]:
    return tuple(round(float(x), 6) for x in np.linspace(low, high, count))


@dataclass(frozen=True)
class Faces3DConfig:
    """Everything that decides the pixels and the factors of the grid (all of it keys the cache).

    The default grid: 9 azimuths x 5 elevations x 5 lights x 5 widths x 20 identities = 22,500 images.
    """

    image_size: int = 32                                   # 32 (the paper's) or 64
    azimuths: tuple[float, ...] = _grid(-60, 60, 9)       # degrees, positive: face turned to the image's right
    elevations: tuple[float, ...] = _grid(-20, 20, 5)     # degrees, positive: face turned up
    lights: tuple[float, ...] = _grid(-60, 60, 5)         # degrees, positive: lit from the image's right
    widths: tuple[float, ...] = _grid(0.8, 1.2, 5)        # multipliers of the face's x extent
    num_identities: int = 20                               # face shapes drawn from the model
    identity_seed: int = 0                                 # seed of the identities' coefficients
    identity_clip: float = 2.0                             # coefficients clipped to +- this (standard deviations)
    num_components: int = 63                               # leading PCA components varied per identity
    supersample: int | None = None                         # None: rasterise at 128 px or more, then average down
    ambient: float = 0.2                                   # ambient share of the light
    light_elevation: float = 20.0                          # degrees of the light above the horizontal plane
    view_mm: float = 230.0                                 # side of the field of view, millimetres
    pivot: tuple[float, float, float] = (0.0, 14.0, -60.0)  # rotation centre (mm), drawn at the image centre

    def __post_init__(self) -> None:
        for name in ("azimuths", "elevations", "lights", "widths"):
            values = tuple(float(x) for x in getattr(self, name))
            if not values or len(set(values)) != len(values):
                raise ValueError(f"{name} must be a non-empty list of distinct values")
            object.__setattr__(self, name, values)
        object.__setattr__(self, "pivot", tuple(float(x) for x in self.pivot))
        if self.image_size < 4:
            raise ValueError("image_size must be at least 4 (32 and 64 are the usual sizes)")
        if min(self.widths) <= 0:
            raise ValueError("widths must be positive")
        if self.num_identities < 1 or self.num_components < 0 or self.identity_clip <= 0:
            raise ValueError("num_identities must be >= 1, num_components >= 0, identity_clip > 0")
        self.render_settings()  # validates the rest

    @property
    def factor_sizes(self) -> tuple[int, ...]:
        return (len(self.azimuths), len(self.elevations), len(self.lights), len(self.widths), self.num_identities)

    @property
    def num_images(self) -> int:
        return int(np.prod(self.factor_sizes))

    def render_settings(self) -> RenderSettings:
        supersample = self.supersample or max(1, -(-128 // self.image_size))
        return RenderSettings(image_size=self.image_size, supersample=supersample, view_mm=self.view_mm,
                              pivot=self.pivot, ambient=self.ambient, light_elevation=self.light_elevation)

    def describe(self) -> dict:
        """A JSON-ready record of every setting (with the resolved renderer settings)."""
        record = asdict(self)
        record["render"] = asdict(self.render_settings())
        record["cache_format"] = CACHE_FORMAT
        return record


def identity_coefficients(config: Faces3DConfig, model: ShapeModel) -> np.ndarray:
    """Shape coefficients [I, P] (standard-normal units) of the grid's identities."""
    if config.num_components > model.num_components:
        raise DatasetError(
            f"faces3d asks for {config.num_components} shape components; the model has {model.num_components}")
    rng = np.random.default_rng(config.identity_seed)
    draws = rng.standard_normal((config.num_identities, config.num_components))
    return np.clip(draws, -config.identity_clip, config.identity_clip)


def grid_factors(sizes: tuple[int, ...]) -> np.ndarray:
    """Integer factors [prod(sizes), K] of a full factorial grid in C order (last factor fastest)."""
    return np.indices(sizes).reshape(len(sizes), -1).T.astype(np.int64)


# -- rendering ---------------------------------------------------------------------------------

_STATE: dict = {}


def _set_state(settings: RenderSettings, values: list[np.ndarray], shapes: np.ndarray, triangles: np.ndarray,
               sizes: tuple[int, ...]) -> None:
    _STATE.update(settings=settings, values=values, shapes=shapes, triangles=triangles, sizes=sizes)


def _render_factors(factors: np.ndarray) -> np.ndarray:
    """Images [n, S, S] for factor vectors [n, K], from the state set by :func:`_set_state`.
    Rows that differ only in the light share one rasterisation of their pose."""
    s = _STATE
    azimuths, elevations, lights, widths = s["values"]
    size = s["settings"].image_size
    out = np.empty((len(factors), size, size), dtype=np.uint8)
    poses, which = np.unique(np.delete(factors, LIGHT, axis=1), axis=0, return_inverse=True)
    which = which.reshape(-1)
    groups = np.split(np.argsort(which, kind="stable"), np.cumsum(np.bincount(which, minlength=len(poses)))[:-1])
    for (azimuth, elevation, width, identity), rows in zip(poses, groups):
        out[rows] = render_lights(s["shapes"][identity], s["triangles"], azimuths[azimuth], elevations[elevation],
                                  lights[factors[rows, LIGHT]], widths[width], s["settings"])
    return out


def _render_positions(positions: np.ndarray) -> np.ndarray:
    """Images [n, S, S] of the grid positions ``positions`` [n]."""
    return _render_factors(np.stack(np.unravel_index(positions, _STATE["sizes"]), axis=1))


def pose_chunks(sizes: tuple[int, ...], poses_per_chunk: int) -> list[np.ndarray]:
    """The grid positions cut into chunks of ``poses_per_chunk`` poses, each pose with all its
    lights (so that a chunk rasterises each of its poses once)."""
    positions = np.moveaxis(np.arange(int(np.prod(sizes))).reshape(sizes), LIGHT, -1).reshape(-1)
    step = poses_per_chunk * sizes[LIGHT]
    return [positions[start:start + step] for start in range(0, positions.size, step)]


def render_state(config: Faces3DConfig, model: ShapeModel) -> tuple:
    """What the rendering processes share: (render settings, the values of azimuth, elevation,
    light and width, the identities' vertices [I, V, 3], the triangles, the factor sizes)."""
    shapes = np.stack([model.shape(c) for c in identity_coefficients(config, model)])
    values = [np.asarray(v) for v in (config.azimuths, config.elevations, config.lights, config.widths)]
    return config.render_settings(), values, shapes, model.triangles, config.factor_sizes


def render_images(config: Faces3DConfig, model: ShapeModel, factors: np.ndarray) -> np.ndarray:
    """Render the images [n, 1, S, S] of factor vectors [n, K] in this process (no cache)."""
    factors = np.asarray(factors, dtype=np.int64).reshape(-1, len(FACTOR_NAMES))
    _set_state(*render_state(config, model))
    return _render_factors(factors)[:, None]


def default_workers() -> int:
    """The number of CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _start_method() -> str:
    """'fork' where there is one: workers start at once, run only numpy, and need no main-module guard."""
    return "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"


def render_grid(
    config: Faces3DConfig, model: ShapeModel, workers: int | None = None, progress: bool = True
) -> np.ndarray:
    """Render the whole grid: uint8 images [N, 1, S, S], in chunks, over ``workers`` processes."""
    state = render_state(config, model)
    total, size = config.num_images, config.image_size
    chunks = pose_chunks(config.factor_sizes, CHUNK)
    workers = min(workers or default_workers(), len(chunks))
    images = np.empty((total, 1, size, size), dtype=np.uint8)
    bar = tqdm(total=total, desc=f"rendering faces3d ({total} images)", unit="img", disable=not progress)
    with bar:
        if workers <= 1:
            _set_state(*state)
            for positions in chunks:
                images[positions, 0] = _render_positions(positions)
                bar.update(positions.size)
        else:
            context = multiprocessing.get_context(_start_method())
            try:
                with ProcessPoolExecutor(workers, mp_context=context, initializer=_set_state, initargs=state) as pool:
                    for positions, block in zip(chunks, pool.map(_render_positions, chunks)):
                        images[positions, 0] = block
                        bar.update(positions.size)
            except BrokenProcessPool as exc:
                raise DatasetError(f"a faces3d rendering process died ({exc}); try again with workers=1") from exc
    return images


# -- cache ---------------------------------------------------------------------------------------

def _writable(folder: Path) -> bool:
    """Whether ``folder`` (or its nearest existing parent, for a folder yet to be made) may be written.

    A folder without any write permission bit counts as read-only even for root, who could write it.
    """
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    if not probe.is_dir():
        return False
    write_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    return bool(probe.stat().st_mode & write_bits) and os.access(probe, os.W_OK | os.X_OK)


def cache_folders(
    data_dir: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None
) -> tuple[list[Path], Path]:
    """The folders searched for a cache, and the folder a new cache is written to."""
    if cache_dir:
        folder = Path(cache_dir).expanduser()
        return [folder], folder
    preferred = resolve_data_dir(data_dir) / CACHE_SUBFOLDER
    fallback = default_cache_dir() / CACHE_SUBFOLDER
    search = [preferred] if preferred == fallback else [preferred, fallback]
    return search, preferred if _writable(preferred) else fallback


def cache_key(config: Faces3DConfig, model_sha256: str) -> str:
    """A digest of the settings and the model file: different inputs, different cache file."""
    text = json.dumps({"settings": config.describe(), "model_sha256": model_sha256}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def cache_name(config: Faces3DConfig, model_sha256: str) -> str:
    return f"faces3d_{config.image_size}px_{cache_key(config, model_sha256)[:16]}.h5"


def _settings_json(config: Faces3DConfig) -> str:
    return json.dumps(config.describe(), sort_keys=True)


def write_cache(
    path: Path, config: Faces3DConfig, model: ShapeModel, images: np.ndarray, coefficients: np.ndarray
) -> None:
    """Write the images, factors and settings to ``path`` atomically (a temporary file, then a rename)."""
    temp = path.with_name(f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot write the faces3d cache in {path.parent} ({exc.strerror or exc}); "
                           f"pass another cache folder (cache_dir) or make it writable") from exc
    remove_stale_cache_temps(path)
    try:
        size = config.image_size
        with h5py.File(temp, "w") as out:
            out.create_dataset("images", data=images, chunks=(min(len(images), 1024), 1, size, size),
                               compression="gzip", compression_opts=4, shuffle=True, fletcher32=True)
            out.create_dataset("factors", data=grid_factors(config.factor_sizes), compression="gzip", fletcher32=True)
            out.create_dataset("identity_coefficients", data=coefficients, fletcher32=True)
            out.attrs["settings"] = _settings_json(config)
            out.attrs["model_sha256"] = model.sha256
            out.attrs["factor_names"] = json.dumps(FACTOR_NAMES)
            out.attrs["factor_sizes"] = json.dumps(config.factor_sizes)
        with open(temp, "rb+") as handle:  # on disk before the rename makes it the cache
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        raise DatasetError(f"cannot write the faces3d cache {path} ({exc.strerror or exc})") from exc
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def remove_stale_cache_temps(path: Path) -> None:
    """Delete the temporary files ``<cache name>.<pid>.<random>.tmp`` beside ``path`` whose writing
    process is gone (left by a process killed while writing the cache)."""
    for temp in path.parent.glob(f"{path.name}.*.tmp"):
        pid = temp.name[len(path.name) + 1:].split(".")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            temp.unlink(missing_ok=True)
        except OSError:
            pass


def read_cache(path: Path, config: Faces3DConfig, model_sha256: str) -> np.ndarray:
    """The cached images [N, 1, S, S]; DatasetError when the file is damaged or made with other inputs."""
    try:
        with h5py.File(path, "r") as cache:
            if cache.attrs.get("settings") != _settings_json(config):
                raise DatasetError(f"{path} was made with other render settings")
            if cache.attrs.get("model_sha256") != model_sha256:
                raise DatasetError(f"{path} was made from another face model file")
            images = cache["images"][()]
            factors = cache["factors"][()]
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path} is damaged or truncated ({exc})") from exc
    size = config.image_size
    if images.dtype != np.uint8 or images.shape != (config.num_images, 1, size, size):
        expected = (config.num_images, 1, size, size)
        raise DatasetError(f"{path} holds images of shape {images.shape}, expected {expected}")
    if not np.array_equal(factors, grid_factors(config.factor_sizes)):
        raise DatasetError(f"{path} holds factors that do not match the grid")
    return images


# -- the ground-truth dataset ------------------------------------------------------------------

class Faces3D:
    """The rendered grid with its ground-truth factors.

    ``images``: uint8 tensor [N, 1, S, S]; ``factors``: int64 array [N, K] (indices into each
    factor's values, ``factor_values``); ``factor_names`` and ``factor_sizes`` describe the K factors.
    """

    def __init__(self, config: Faces3DConfig, images: np.ndarray, path: Path | None = None):
        self.config = config
        self.path = path
        self.factor_names: tuple[str, ...] = FACTOR_NAMES
        self.factor_sizes: tuple[int, ...] = config.factor_sizes
        self.factors: np.ndarray = grid_factors(config.factor_sizes)
        self.images: torch.Tensor = torch.from_numpy(images)
        self.factor_values: dict[str, np.ndarray] = {
            "azimuth": np.asarray(config.azimuths), "elevation": np.asarray(config.elevations),
            "light": np.asarray(config.lights), "width": np.asarray(config.widths),
            "identity": np.arange(config.num_identities, dtype=np.float64),
        }

    def __len__(self) -> int:
        return self.images.shape[0]

    def sample_factors(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """``n`` factor vectors [n, K], each factor drawn uniformly from its values."""
        rng = np.random.default_rng(rng)
        return np.stack([rng.integers(0, size, n) for size in self.factor_sizes], axis=1).astype(np.int64)

    def index_of(self, factors: np.ndarray) -> np.ndarray:
        """The grid positions [n] of factor vectors [n, K] (a ValueError for vectors outside the grid)."""
        factors = np.asarray(factors)
        if factors.ndim != 2 or factors.shape[1] != len(self.factor_sizes):
            raise ValueError(f"factors must be an integer array [n, {len(self.factor_sizes)}]")
        if not np.issubdtype(factors.dtype, np.integer):
            raise ValueError("factors must be integers")
        if (factors < 0).any() or (factors >= np.asarray(self.factor_sizes)).any():
            raise ValueError(f"factors outside the grid of sizes {self.factor_sizes}")
        return np.ravel_multi_index(tuple(factors.T), self.factor_sizes)

    def images_for(self, factors: np.ndarray) -> torch.Tensor:
        """The images [n, 1, S, S] (uint8) whose factors are the rows of ``factors``."""
        return self.images[torch.from_numpy(self.index_of(factors))]

    def as_split(self, split: str = "train") -> ImageSplit:
        """The grid as an :class:`ImageSplit`; labels are the identity indices."""
        if split not in SPLITS:
            raise DatasetError(f"unknown faces3d split {split!r}; choose one of {', '.join(SPLITS)}")
        labels = torch.from_numpy(self.factors[:, FACTOR_NAMES.index("identity")].copy())
        return ImageSplit(name="faces3d", split=split, images=self.images, labels=labels)


def load_faces3d_grid(
    config: Faces3DConfig | None = None,
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> Faces3D:
    """The faces3d grid from its cache, rendering and caching it first when there is no valid cache."""
    config = config or Faces3DConfig()
    model = load_sfm(data_dir, download)
    name = cache_name(config, model.sha256)
    search, target = cache_folders(data_dir, cache_dir)
    for folder in search:
        path = folder / name
        if not path.is_file():
            continue
        try:
            return Faces3D(config, read_cache(path, config, model.sha256), path)
        except Exception as exc:  # whatever an unreadable cache raises, it is rebuilt, never fatal
            log.warning("faces3d cache: %s; rendering it again", " ".join(str(exc).split()) or type(exc).__name__)
    images = render_grid(config, model, workers, progress)
    path = target / name
    write_cache(path, config, model, images, identity_coefficients(config, model))
    return Faces3D(config, images, path)


def load_faces3d(
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = True,
    config: Faces3DConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> ImageSplit:
    """Split ``split`` ('train' or 'test': both are the whole grid) as uint8 images and identity labels."""
    if split not in SPLITS:
        raise DatasetError(f"unknown faces3d split {split!r}; choose one of {', '.join(SPLITS)}")
    return load_faces3d_grid(config, data_dir, download, cache_dir, workers, progress).as_split(split)
