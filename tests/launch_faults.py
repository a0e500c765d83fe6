"""Faults injected into launcher workers by the launcher tests: task functions that wrap
:func:`bench.worker.run_task` (they must live in an importable module, since worker processes and
Ray tasks import them by name)."""

from __future__ import annotations

import os
from pathlib import Path

from bench.runner import Runner
from bench.worker import RunTask, TaskResult, run_task


def die_after_first_checkpoint(label: str, marker: str, task: RunTask) -> TaskResult:
    """The first attempt at run ``label`` kills its worker process (os._exit) right after its first
    checkpoint; ``marker`` (a file) remembers that it has happened, so later attempts run normally."""
    if task.spec.label != label or Path(marker).exists():
        return run_task(task)
    original = Runner._checkpoint

    def die(self, trainer, run_dir, identity):
        original(self, trainer, run_dir, identity)
        Path(marker).write_text(f"killed at iteration {trainer.iteration}\n")
        os._exit(9)

    Runner._checkpoint = die
    try:
        return run_task(task)
    finally:
        Runner._checkpoint = original


def always_raise(label: str, task: RunTask) -> TaskResult:
    """Every attempt at run ``label`` raises before it starts; the others run normally."""
    if task.spec.label == label:
        raise RuntimeError("injected failure")
    return run_task(task)
