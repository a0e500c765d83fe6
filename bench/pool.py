"""Worker processes on this machine, each running one task at a time (the ``local`` launcher's
``--jobs N``).

Each worker is a spawned process that keeps its datasets loaded between tasks and talks to the
driver over its own pipe, so when a worker dies (killed, out of memory) the driver knows which
run it was training; the other workers carry on, and a new worker replaces the dead one.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Callable

from bench.launchers import Ended
from bench.worker import RunTask, TaskResult

TaskFunction = Callable[[RunTask], TaskResult]
STOP_SECONDS = 30.0  # how long an interrupted worker gets to release its run's lock


def _serve(connection: Connection, task_fn: TaskFunction) -> None:
    """A worker's loop: receive a task, run it, send ('result', TaskResult) or ('error', text)."""
    try:
        while True:
            task = connection.recv()
            if task is None:
                return
            try:
                reply = ("result", task_fn(task))
            except Exception as exc:  # any failure of the run is the driver's to judge
                reply = ("error", f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:300])
            connection.send(reply)
    except (KeyboardInterrupt, EOFError):
        pass


def death_reason(exitcode: int | None) -> str:
    """A worker's exit code in words."""
    if exitcode is not None and exitcode < 0:
        try:
            return f"its worker process was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            pass
    return f"its worker process died (exit code {exitcode})"


@dataclass(eq=False)
class _Worker:
    process: multiprocessing.process.BaseProcess
    connection: Connection


class LocalPool:
    """Up to ``jobs`` worker processes (spawned), started as tasks arrive."""

    def __init__(self, jobs: int, task_fn: TaskFunction):
        self.slots = jobs
        self._task_fn = task_fn
        self._context = multiprocessing.get_context("spawn")
        self._idle: list[_Worker] = []
        self._busy: dict[_Worker, RunTask] = {}

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_serve, args=(theirs, self._task_fn), daemon=True)
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def submit(self, task: RunTask) -> None:
        worker = self._idle.pop() if self._idle else self._start()
        worker.connection.send(task)
        self._busy[worker] = task

    def wait(self) -> list[Ended]:
        """Block until at least one task has ended; the tasks that have."""
        busy = list(self._busy)
        wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
        ended = []
        for worker in busy:
            task = self._busy[worker]
            reply = None
            if worker.connection.poll():
                try:
                    reply = worker.connection.recv()
                except (EOFError, OSError):
                    reply = None
            elif worker.process.is_alive():
                continue
            del self._busy[worker]
            if reply is None:
                worker.process.join()
                worker.connection.close()
                ended.append(Ended(task, error=death_reason(worker.process.exitcode)))
                continue
            self._idle.append(worker)
            kind, value = reply
            ended.append(Ended(task, result=value) if kind == "result" else Ended(task, error=value))
        return ended

    def cancel(self) -> None:
        """Interrupt every task in flight (SIGINT: the run releases its lock and stays resumable)."""
        for worker in self._busy:
            if worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGINT)
        for worker in self._busy:
            _reap(worker.process)
        self._busy.clear()

    def close(self) -> None:
        """Stop the idle workers (and any still busy)."""
        self.cancel()
        for worker in self._idle:
            try:
                worker.connection.send(None)
            except OSError:
                pass
        for worker in self._idle:
            _reap(worker.process)
            worker.connection.close()
        self._idle.clear()


def _reap(process) -> None:
    """Wait up to STOP_SECONDS for ``process`` to end, then kill it."""
    process.join(STOP_SECONDS)
    if process.is_alive():
        process.kill()
        process.join()
