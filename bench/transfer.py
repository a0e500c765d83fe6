"""A run folder as a dict of files, for launchers whose workers cannot write the output folder.

A worker that trains a run in a scratch folder packs the folder (:func:`pack_folder`) and
returns it; the driver writes it into the output folder (:func:`unpack_run`), each file
atomically, metrics.json and state.json last, so the folder never claims an end before the
files of that end are in place. Lock and temporary files never travel. The checkpoint travels
only up to :data:`CHECKPOINT_LIMIT` bytes; a larger one stays behind and an older one in the
output folder is removed (it would belong to another iteration than the records beside it).
"""

from __future__ import annotations

from pathlib import Path

from bench import io as bio
from bench.locks import LOCK_NAME
from bench.state import STATE

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_LIMIT = 512 * 2**20
LAST = ("metrics.json", STATE)  # written after every other file, in this order


def travels(path: Path) -> bool:
    """Whether a file of a run folder is part of the run's records (not a lock or a temporary file)."""
    return not (path.name == LOCK_NAME or path.name.startswith(f"{LOCK_NAME}.")
                or (path.name.startswith(".") and path.name.endswith(bio.TEMP_SUFFIX)))


def pack_folder(folder: Path, checkpoint_limit: int | None = CHECKPOINT_LIMIT) -> dict[str, bytes]:
    """Every record file under ``folder`` by its relative path ('figures/x.png'); the checkpoint
    only when it is at most ``checkpoint_limit`` bytes (None: always)."""
    files: dict[str, bytes] = {}
    if not folder.is_dir():
        return files
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or not travels(path):
            continue
        relative = path.relative_to(folder).as_posix()
        if relative == CHECKPOINT_NAME and checkpoint_limit is not None and path.stat().st_size > checkpoint_limit:
            continue
        files[relative] = path.read_bytes()
    return files


def write_files(folder: Path, files: dict[str, bytes], overwrite: bool = True) -> None:
    """Write ``files`` under ``folder`` atomically; with ``overwrite`` False an existing file is kept."""
    for relative, data in files.items():
        target = folder / relative
        if overwrite or not target.exists():
            with bio.atomic_path(target) as tmp:
                tmp.write_bytes(data)


def unpack_run(folder: Path, files: dict[str, bytes]) -> None:
    """Make run folder ``folder`` hold exactly the records in ``files``: record files it has and
    ``files`` lacks are removed (the checkpoint and figures of an earlier attempt), then ``files``
    are written, metrics.json and state.json last. The caller holds the folder's lock."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted(folder.rglob("*"), reverse=True):
        relative = path.relative_to(folder).as_posix()
        if path.is_file() and travels(path) and relative not in files:
            path.unlink()
    write_files(folder, {k: v for k, v in files.items() if k not in LAST})
    write_files(folder, {k: files[k] for k in LAST if k in files})
