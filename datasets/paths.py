"""Where datasets live: ``--data-dir``, else ``$BENCH_DATA_DIR``, else a per-user cache folder."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "BENCH_DATA_DIR"
OFFLINE_ENV = "BENCH_OFFLINE"


def default_cache_dir() -> Path:
    """The per-user cache folder: ``$XDG_CACHE_HOME/infogan-bench`` (``~/.cache/infogan-bench``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "infogan-bench"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data folder in order of precedence: the explicit argument, ``$BENCH_DATA_DIR``, the cache."""
    if data_dir:
        return Path(data_dir).expanduser()
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return default_cache_dir()


def downloads_allowed() -> bool:
    """False when ``$BENCH_OFFLINE`` is set to a true value (tests, air-gapped machines)."""
    return os.environ.get(OFFLINE_ENV, "").lower() not in {"1", "true", "yes"}
