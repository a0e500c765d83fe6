"""Where the runs of a plan execute: in this process, in worker processes, or as Ray tasks.

    local, --jobs 1   Runner.run_all in this process (errors stop the plan, as always)
    local, --jobs N   N spawned worker processes on this machine (bench.pool)
    ray               one Ray task per run on a Ray cluster (bench.ray_launch)

With workers, the driver (this process) checks the plan, prepares the references that the
output folder caches, hands each run that still needs work to a worker and collects the
outcomes as they come. A run whose attempt raises or whose worker dies is tried again, up to
``retries`` more times; every attempt resumes from the last checkpoint it can reach (the
runner resumes whatever is in the run folder). After the last attempt the run is recorded as
failed, marked ``crashed`` (see :mod:`bench.runner`), and the plan goes on. A diverged run is
not an error of the attempt: the runner records it as failed and nothing is tried again.

Storage (:mod:`bench.worker`): ``shared``, the workers write the output folder themselves;
``driver``, they train in a scratch folder and send the run's files back, which the driver
writes while it holds the run folder's lock.
"""

from __future__ import annotations

import secrets
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Protocol

import torch
from tqdm.auto import tqdm

from bench import transfer
from bench.locks import FolderLock, LockHeld, remove_tagged_lock
from bench.runner import CHECKPOINT, Runner, RunOutcome, RunSpec, TooManyFailures
from bench.state import ENDED, FAILED
from bench.worker import DRIVER, SHARED, RunTask, TaskResult, run_task

LAUNCHERS = ("local", "ray")
DEFAULT_RETRIES = 2
SHOWN_METRICS = ("cluster_accuracy", "mi_lower_bound/cat")


@dataclass(frozen=True)
class LaunchOptions:
    """How to spread a plan over processes. ``jobs`` None: local runs one at a time, Ray as many as
    the cluster takes; ``threads`` None: see :func:`threads_per_run`; ``device`` is the runs'
    device when it differs from the driver's (a Ray cluster's GPUs)."""

    launcher: str = "local"
    jobs: int | None = None
    retries: int = DEFAULT_RETRIES
    threads: int | None = None
    storage: str = SHARED
    ray_address: str | None = None
    device: torch.device | None = None

    @property
    def in_process(self) -> bool:
        return self.launcher == "local" and (self.jobs or 1) == 1


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Torch uses ``threads`` threads inside the block (None: leave it), its setting before after."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def threads_per_run(launch: LaunchOptions) -> int | None:
    """Torch threads for each run: ``threads`` when given; else, for N local workers, an equal
    share of this process's threads; for Ray tasks one (a task asks the cluster for that many
    CPUs); None (unchanged) in this process."""
    if launch.threads:
        return launch.threads
    if launch.launcher == "ray":
        return 1
    if launch.in_process:
        return None
    return max(1, torch.get_num_threads() // launch.jobs)


@dataclass
class Ended:
    """A task that has ended: its result, or why the attempt failed (one line)."""

    task: RunTask
    result: TaskResult | None = None
    error: str = ""


class Backend(Protocol):
    slots: int  # tasks in flight at most

    def submit(self, task: RunTask) -> None: ...
    def wait(self) -> list[Ended]: ...
    def cancel(self) -> None: ...
    def close(self) -> None: ...


def describe(outcome: RunOutcome) -> str:
    """The line that reports a run's outcome."""
    return (f"{outcome.spec.label}: {outcome.status}" + (f" ({outcome.ended_as})" if outcome.ended_as else "")
            + (f": {outcome.reason}" if outcome.reason else "")
            + "".join(f"  {k}={v:.3f}" for k, v in outcome.metrics.items() if k in SHOWN_METRICS))


class Driver:
    """Runs a plan on a backend: dispatch, collect, retry, record, report."""

    def __init__(self, runner: Runner, backend: Backend, launch: LaunchOptions, progress: bool = True):
        self.runner, self.backend, self.launch = runner, backend, launch
        self.progress = progress
        self.name = secrets.token_hex(4)  # this launch, in scratch folder names and lock tags
        self.threads = threads_per_run(launch)
        options = runner.options
        data_dir = str(Path(options.data_dir).resolve()) if options.data_dir else None
        # workers elsewhere start in other folders: they get absolute paths
        self.worker_options = replace(options, out=options.out.resolve(), data_dir=data_dir, progress=False,
                                      device=launch.device or options.device)
        self._held: dict[RunSpec, FolderLock] = {}

    def _task(self, spec: RunSpec, attempt: int) -> RunTask:
        options = self.runner.options
        iterations = options.train_config(spec).iterations
        task = RunTask(spec, self.worker_options, attempt, self.threads, self.launch.storage, self.name, iterations)
        if self.launch.storage == SHARED:
            return task
        files = {f"reference/{k}": v for k, v in transfer.pack_folder(options.out / "reference", None).items()}
        run_dir = spec.directory(options.out)
        if (run_dir / CHECKPOINT).is_file():  # an interrupted attempt: the worker resumes it
            prefix = run_dir.relative_to(options.out).as_posix()
            files.update({f"{prefix}/{k}": v for k, v in transfer.pack_folder(run_dir, None).items()})
        return replace(task, seed_files=files)

    def _hold(self, spec: RunSpec) -> RunOutcome | None:
        """Driver storage: take the run folder's lock for the whole attempt; an outcome when another process has it."""
        if self.launch.storage != DRIVER or spec in self._held:
            return None
        lock = FolderLock(spec.directory(self.runner.options.out))
        try:
            lock.acquire()
        except LockHeld as held:
            who = held.owner.describe() if held.owner else "another process"
            return RunOutcome(spec, "locked", f"being trained by {who}; left to it")
        self._held[spec] = lock
        return None

    def _release(self, spec: RunSpec) -> None:
        lock = self._held.pop(spec, None)
        if lock is not None:
            lock.release()

    def _record_crash(self, spec: RunSpec, reason: str) -> RunOutcome:
        run_dir = spec.directory(self.runner.options.out)
        config = self.runner.run_config(spec)
        config["device"] = str(self.worker_options.device)
        if spec in self._held:
            return self.runner.record_crash(spec, reason, config)
        lock = FolderLock(run_dir)
        try:
            lock.acquire()
        except LockHeld as held:
            return RunOutcome(spec, FAILED, f"{reason}; not recorded: {held}")
        try:
            return self.runner.record_crash(spec, reason, config)
        finally:
            lock.release()

    def _settle(self, ended: Ended) -> RunOutcome | None:
        """The outcome of an ended task, or None when the run is to be tried again."""
        task, spec = ended.task, ended.task.spec
        if ended.result is not None:
            outcome = ended.result.outcome
            if ended.result.files is not None and outcome.status in ENDED:
                transfer.unpack_run(spec.directory(self.runner.options.out), ended.result.files)
            self._release(spec)
            return outcome
        if self.launch.storage == SHARED:
            remove_tagged_lock(spec.directory(self.runner.options.out), task.tag)
        attempts = self.launch.retries + 1
        if task.attempt < attempts:
            tqdm.write(f"{spec.label}: attempt {task.attempt} of {attempts} failed ({ended.error}); trying again")
            return None
        reason = f"{attempts} attempt(s) failed, the last: {ended.error}"
        try:
            return self._record_crash(spec, reason)
        finally:
            self._release(spec)

    def run(self, plan: list[RunSpec]) -> list[RunOutcome]:
        """Every run of ``plan``; TooManyFailures as :meth:`Runner.run_all` raises it."""
        runner, backend = self.runner, self.backend
        todo = runner.preflight(plan)
        with torch_threads(self.threads):  # a reference's numbers depend on its thread count, as a run's do
            runner.prepare_references(todo)
        outcomes: dict[RunSpec, RunOutcome] = {}
        for spec in plan:
            if spec not in todo:
                outcomes[spec] = runner.run_one(spec, 0)  # ended before: skipped, its records tidied
                tqdm.write(describe(outcomes[spec]))
        queue = deque((spec, 1) for spec in todo)
        in_flight = 0
        bar = tqdm(total=len(todo), unit="run", desc="runs", disable=not self.progress)
        try:
            self._check_failures(plan, outcomes)
            while queue or in_flight:
                while queue and in_flight < backend.slots:
                    spec, attempt = queue.popleft()
                    locked = self._hold(spec)
                    if locked is not None:
                        outcomes[spec] = locked
                        tqdm.write(describe(locked))
                        bar.update()
                        continue
                    backend.submit(self._task(spec, attempt))
                    in_flight += 1
                if not in_flight:
                    continue
                for ended in backend.wait():
                    in_flight -= 1
                    outcome = self._settle(ended)
                    if outcome is None:
                        queue.appendleft((ended.task.spec, ended.task.attempt + 1))
                        continue
                    outcomes[outcome.spec] = outcome
                    host = f" [{ended.result.host}, attempt {ended.task.attempt}]" if ended.result else ""
                    tqdm.write(describe(outcome) + host)
                    bar.update()
                self._check_failures(plan, outcomes)
        except BaseException:
            backend.cancel()
            raise
        finally:
            for spec in list(self._held):
                self._release(spec)
            bar.close()
            backend.close()
        return [outcomes[spec] for spec in plan if spec in outcomes]

    def _check_failures(self, plan: list[RunSpec], outcomes: dict[RunSpec, RunOutcome]) -> None:
        limit = self.runner.options.max_failures
        failures = sum(o.failed for o in outcomes.values())
        if limit is not None and failures > limit and len(outcomes) < len(plan):
            done = [outcomes[spec] for spec in plan if spec in outcomes]
            raise TooManyFailures(
                f"stopped after {len(done)} of {len(plan)} runs: {failures} run(s) failed, more than "
                f"--max-failures {limit}; finished runs are kept, runs in flight were interrupted; fix the cause "
                f"and rerun with --force, or raise --max-failures", done)


TaskFunction = Callable[[RunTask], TaskResult]


def make_backend(launch: LaunchOptions, todo_count: int, task_fn: TaskFunction = run_task) -> Backend:
    """The pool of workers ``launch`` asks for."""
    if launch.launcher == "ray":
        from bench.ray_launch import RayBackend

        return RayBackend(launch, launch.jobs or max(1, todo_count), task_fn)
    from bench.pool import LocalPool

    return LocalPool(launch.jobs or 1, task_fn)


def run_plan(runner: Runner, plan: list[RunSpec], launch: LaunchOptions, progress: bool = True,
             task_fn: TaskFunction = run_task) -> list[RunOutcome]:
    """Every run of ``plan`` with the launcher ``launch`` names (see the module docstring)."""
    if launch.in_process:
        return runner.run_all(plan)
    backend = make_backend(launch, len(plan), task_fn)
    return Driver(runner, backend, launch, progress).run(plan)
