"""Atomic file writes: a temporary file in the same folder, flushed, fsynced, then renamed.

A reader therefore sees either the old file or the new one, never a half-written one, even
when the writer is killed. The temporary file is named ``.<name>.<pid>@<host>.<random>.tmp``
so that :func:`remove_stale_temps` can tell the leftovers of a dead writer (its pid is gone
on this host) from the file a live process is writing right now.
"""

from __future__ import annotations

import errno
import json
import os
import re
import socket
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)@(?P<host>[A-Za-z0-9-]*)\.[^.]+\.tmp$")


class WriteError(OSError):
    """A file could not be written; the message names the file and says what to do (one line)."""


class RecordError(Exception):
    """A record file (JSON) cannot be read or parsed; the message names the file (one line)."""


def host_tag() -> str:
    """This machine's name reduced to letters, digits and dashes (it is part of temporary names)."""
    return re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40]


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    return True


def os_error_hint(exc: OSError) -> str:
    """What to do about a failed write."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free some space and run the same command again (finished runs are kept)"
    return "check the folder's permissions or choose another --out"


def _write_error(path: Path, exc: OSError) -> WriteError:
    reason = exc.strerror or str(exc)
    return WriteError(exc.errno or 0, f"cannot write {path}: {reason}; {os_error_hint(exc)}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename.

    Any OSError (a full disk, a read-only folder) becomes a :class:`WriteError` naming ``path``;
    the old ``path``, if any, is then left untouched and the temporary file removed.
    """
    path = Path(path)
    tmp_path: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}@{host_tag()}.", suffix=TEMP_SUFFIX,
                                   dir=path.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are ordinary files
        yield tmp_path
        with open(tmp_path, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp_path, path)
        _fsync_folder(path.parent)
    except WriteError:
        raise
    except OSError as exc:
        raise _write_error(path, exc) from exc
    finally:
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def read_record(path: str | os.PathLike) -> dict:
    """A JSON object from ``path``; :class:`RecordError` (naming the file) when it is unreadable,
    not JSON or not an object."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise RecordError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path} is damaged (not valid JSON: {exc}); delete its run folder or rerun with --force"
                          ) from exc
    if not isinstance(data, dict):
        raise RecordError(f"{path} is damaged (not a JSON object); delete its run folder or rerun with --force")
    return data


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


def probe_writable(folder: str | os.PathLike) -> None:
    """Create and remove a temporary file in ``folder``; OSError when that is not possible."""
    fd, tmp = tempfile.mkstemp(prefix=f".write-test.{os.getpid()}@{host_tag()}.", suffix=TEMP_SUFFIX, dir=folder)
    os.close(fd)
    os.unlink(tmp)


def torch_save(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def temp_owner(path: Path) -> tuple[int, str] | None:
    """(pid, host) of the writer of temporary file ``path``, or None for another kind of name."""
    match = _TEMP_NAME.match(path.name)
    return (int(match["pid"]), match["host"]) if match else None


def is_stale_temp(path: Path, any_dot_tmp: bool = False) -> bool:
    """Whether ``path`` is a temporary file left by a writer that no longer runs on this host.

    A name that carries its writer's pid and host is stale when that host is this one and the
    pid is gone. With ``any_dot_tmp`` (used where the caller holds the folder's lock) a
    ``.*.tmp`` file whose name carries no owner counts as stale too.
    """
    if not (path.name.startswith(".") and path.name.endswith(TEMP_SUFFIX)):
        return False
    owner = temp_owner(path)
    if owner is None:
        return any_dot_tmp
    pid, host = owner
    return host == host_tag() and pid != os.getpid() and not pid_alive(pid)


def remove_stale_temps(folder: str | os.PathLike, recursive: bool = False, any_dot_tmp: bool = False) -> list[Path]:
    """Delete the stale temporary files (see :func:`is_stale_temp`) in ``folder``; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    candidates = folder.rglob(f".*{TEMP_SUFFIX}") if recursive else folder.glob(f".*{TEMP_SUFFIX}")
    removed = []
    for path in candidates:
        if path.is_file() and is_stale_temp(path, any_dot_tmp):
            try:
                path.unlink()
                removed.append(path)
            except FileNotFoundError:
                pass
    return removed
