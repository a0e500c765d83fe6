"""Folder locks: one lock file per folder, created exclusively, naming its owner.

The lock file (``<folder>/.lock``) holds a JSON object: the owner's pid, the start time of
that process (so a recycled pid is not mistaken for the owner), the host name, the time the
lock was taken and a random token. Taking it is one exclusive create, which exactly one
process wins: the content is written to a temporary file that is then hard-linked to the
lock's name (``link`` fails when the name exists, as ``open(O_CREAT | O_EXCL)`` does, also
on NFS), so no process ever sees a lock file without its owner.

A lock is *stale* when its owner ran on this host and is gone (no such pid, or a pid whose
process started at another time): a killed ``bench run`` leaves such a lock behind and the
next process takes it over. Breaking a stale lock happens under ``flock`` on the folder
itself, so two processes that both find the same stale lock cannot both take it: the second
one re-reads the file under the flock and sees the first one's fresh lock. A lock held on
another host is never broken automatically (its owner cannot be checked from here); the
message names it so that a person can delete it. The one exception: a process may tag the locks
it takes (:func:`set_owner_tag`), and a launcher that knows the attempt with that tag is dead
(its worker died on another machine) removes the lock with :func:`remove_tagged_lock`.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from bench.io import host_tag, pid_alive

LOCK_NAME = ".lock"
_owner_tag = ""  # written into every lock this process takes (see set_owner_tag)


def set_owner_tag(tag: str) -> None:
    """Tag the locks this process takes from now on (a launcher's name for one attempt at a run)."""
    global _owner_tag
    _owner_tag = tag


def process_start_time(pid: int) -> int | None:
    """The start time of process ``pid`` in clock ticks since boot (Linux), or None if unknown."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    try:
        return int(fields[19])  # field 22 of stat; fields[0] is field 3
    except (IndexError, ValueError):
        return None


@dataclass(frozen=True)
class LockOwner:
    """Who holds a lock."""

    pid: int
    host: str
    started: str                 # ISO time the lock was taken
    pid_start: int | None = None
    token: str = ""
    tag: str = ""

    @classmethod
    def me(cls) -> "LockOwner":
        pid = os.getpid()
        return cls(pid, host_tag(), datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   process_start_time(pid), secrets.token_hex(8), _owner_tag)

    def alive(self) -> bool:
        """False only when the owner certainly no longer runs (same host, pid gone or recycled)."""
        if self.host != host_tag():
            return True
        if not pid_alive(self.pid):
            return False
        if self.pid_start is not None:
            now = process_start_time(self.pid)
            if now is not None and now != self.pid_start:
                return False
        return True

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.started}"


class LockHeld(Exception):
    """The folder is locked by a live process; ``owner`` says which."""

    def __init__(self, folder: Path, owner: LockOwner | None):
        self.folder, self.owner = folder, owner
        who = owner.describe() if owner else "another process"
        super().__init__(f"{folder} is locked by {who}")


def read_owner(path: Path) -> LockOwner | None:
    """The owner recorded in lock file ``path``; None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text())
        return LockOwner(int(data["pid"]), str(data["host"]), str(data["started"]),
                         data.get("pid_start"), str(data.get("token", "")), str(data.get("tag", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def _folder_flock(folder: Path) -> Iterator[None]:
    """An exclusive flock on the folder itself, held while a stale lock is examined and broken."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def remove_tagged_lock(folder: str | os.PathLike, tag: str) -> bool:
    """Remove ``folder``'s lock when it carries ``tag`` (the caller knows that attempt is dead);
    whether it did."""
    folder, path = Path(folder), Path(folder) / LOCK_NAME
    if not tag or not path.is_file():
        return False
    with _folder_flock(folder):
        owner = read_owner(path)
        if owner is None or owner.tag != tag:
            return False
        path.unlink(missing_ok=True)
        return True


class FolderLock:
    """The lock of one folder. ``acquire()`` returns the previous owner when it took over a stale
    lock (or None), and raises :class:`LockHeld` when a live process holds it."""

    def __init__(self, folder: str | os.PathLike, name: str = LOCK_NAME):
        self.folder = Path(folder)
        self.path = self.folder / name
        self.owner: LockOwner | None = None

    def _create(self) -> bool:
        """Create the lock file with its content in one step: the owner is written to a temporary
        file which is then hard-linked to the lock's name (link fails when the name exists, like
        O_EXCL, also on NFS), so a lock file is never seen empty or half written."""
        owner = LockOwner.me()
        fd, temp = tempfile.mkstemp(prefix=f".{self.path.name}.{owner.pid}@{owner.host}.", suffix=".tmp",
                                    dir=self.folder)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(asdict(owner), handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temp, self.path)
        except FileExistsError:
            return False
        finally:
            os.unlink(temp)
        self.owner = owner
        return True

    def acquire(self) -> LockOwner | None:
        """Take the lock; returns the stale owner it replaced (None if the lock was free)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._create():
            return None
        with _folder_flock(self.folder):
            if self._create():
                return None
            owner = read_owner(self.path)
            if owner is None:
                # Unreadable: an owner killed between creating and filling it, or one writing it
                # right now. A fresh file gets a moment; an old one is a leftover.
                try:
                    age = time.time() - self.path.stat().st_mtime
                except FileNotFoundError:
                    age = 0.0
                if age < 5.0:
                    raise LockHeld(self.folder, None)
            elif owner.alive():
                raise LockHeld(self.folder, owner)
            self.path.unlink(missing_ok=True)
            if not self._create():
                raise LockHeld(self.folder, read_owner(self.path))
            return owner or LockOwner(0, "?", "?")

    def wait(self, timeout: float, poll: float = 0.2) -> LockOwner | None:
        """Like :meth:`acquire`, but waits up to ``timeout`` seconds for a live owner to finish."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.acquire()
            except LockHeld:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(poll)

    def release(self) -> None:
        """Remove the lock file if it is still ours."""
        if self.owner is None:
            return
        current = read_owner(self.path)
        if current is not None and current.token == self.owner.token:
            self.path.unlink(missing_ok=True)
        self.owner = None

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
