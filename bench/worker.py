"""What a worker process (a local pool's or a Ray task's) does with one run of the plan.

Storage ``shared``: the worker sees the output folder and trains the run there, exactly as
``bench run`` would. Storage ``driver``: the output folder lives with the driver only; the
worker trains in a scratch folder of its own machine (under the temporary folder, named after
the launch, so that a retry on the same machine resumes from the checkpoint an earlier attempt
left there), seeded with the files the driver sent (the references cached in the output
folder, and the run folder when it holds an interrupted attempt), and returns the run's files.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from bench import transfer
from bench.io import host_tag
from bench.locks import set_owner_tag
from bench.runner import RunOptions, RunOutcome, Runner, RunSpec
from bench.state import ENDED

SHARED, DRIVER = "shared", "driver"
STORAGES = (SHARED, DRIVER)


@dataclass(frozen=True)
class RunTask:
    """One attempt at one run. ``seed_files`` (driver storage) are paths relative to the output
    folder; ``threads`` None keeps the process's torch thread count."""

    spec: RunSpec
    options: RunOptions
    attempt: int = 1
    threads: int | None = None
    storage: str = SHARED
    launch: str = ""                         # names the scratch folders of this launch
    remaining_iterations: int = 0
    seed_files: dict[str, bytes] = field(default_factory=dict)

    @property
    def tag(self) -> str:
        """This attempt's name, written into the locks it takes."""
        return f"{self.launch}/{self.spec.label}/{self.attempt}"


@dataclass
class TaskResult:
    """A finished attempt: the runner's outcome, where it ran, and (driver storage) the run folder's files."""

    outcome: RunOutcome
    host: str
    pid: int
    files: dict[str, bytes] | None = None


_RUNNERS: dict[RunOptions, Runner] = {}  # per process, by options but the output folder: data stays loaded


def scratch_folder(task: RunTask) -> Path:
    """The output folder a driver-storage attempt uses on this machine."""
    spec = task.spec
    return Path(tempfile.gettempdir()) / f"bench-{task.launch}" / f"{spec.suite}-{spec.model}-seed{spec.seed}"


def runner_for(options: RunOptions) -> Runner:
    """This process's runner for ``options`` (made on first use)."""
    key = replace(options, out=Path())
    if key not in _RUNNERS:
        _RUNNERS[key] = Runner(options, eta=False)
    runner = _RUNNERS[key]
    return runner if runner.options == options else runner.for_output(options.out)


def run_task(task: RunTask) -> TaskResult:
    """Train and evaluate ``task``'s run; exceptions propagate (the launcher counts them as a failed attempt)."""
    if task.threads:
        torch.set_num_threads(task.threads)
    set_owner_tag(task.tag)
    if task.storage == SHARED:
        outcome = runner_for(task.options).run_one(task.spec, task.remaining_iterations)
        return TaskResult(outcome, host_tag(), os.getpid())

    scratch = scratch_folder(task)
    transfer.write_files(scratch, task.seed_files, overwrite=False)  # an earlier attempt's files here are newer
    options = replace(task.options, out=scratch)
    outcome = runner_for(options).run_one(task.spec, task.remaining_iterations)
    files = None
    if outcome.status in ENDED:
        files = transfer.pack_folder(task.spec.directory(scratch))
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            scratch.parent.rmdir()  # the launch's folder, once its last run here has gone
        except OSError:
            pass
    return TaskResult(outcome, host_tag(), os.getpid(), files)
