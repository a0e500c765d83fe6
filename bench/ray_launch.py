"""The ``ray`` launcher: one Ray task per run, on an existing cluster or a local one.

Ray is an optional dependency (``pip install -e '.[ray]'``) and is imported only here. Each
task asks for what its run needs: one GPU (and its CPU threads) for a CUDA run, its threads'
CPUs otherwise, so Ray places as many runs on a machine as it has room for. Ray's own retries
are off: the driver (:mod:`bench.launchers`) retries, resuming from the run's checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from bench.launchers import Ended, LaunchOptions
from bench.worker import RunTask, TaskResult

INSTALL_HINT = "pip install -e '.[ray]'"
STOP_SECONDS = 30.0  # how long cancelled tasks get to release their runs' locks


class RayUnavailable(Exception):
    """Ray is not installed, or the cluster cannot be reached; one-line message."""


def import_ray():
    """The ray module; RayUnavailable (saying how to install it) when it is missing."""
    try:
        import ray
    except ImportError:
        raise RayUnavailable(f"--launcher ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


@dataclass(frozen=True)
class Cluster:
    """What the driver is connected to."""

    address: str
    cpus: float
    gpus: float
    started_here: bool   # a local cluster this process started (and shuts down at the end)


def connect(address: str | None) -> Cluster:
    """Connect to the cluster at ``address`` ('auto': the one ``ray start`` made on this machine
    or $RAY_ADDRESS), or start a local one when ``address`` is None. A process already connected
    (a test's ray.init) stays on its cluster."""
    ray = import_ray()
    started = False
    if not ray.is_initialized():
        try:
            if address:
                ray.init(address=address, logging_level="warning")
            else:
                ray.init(address="local", include_dashboard=False, logging_level="warning")
                started = True
        except (ConnectionError, ValueError, RuntimeError, TimeoutError) as exc:
            where = f"at {address}" if address else "locally"
            reason = " ".join(str(exc).split())[:200]
            raise RayUnavailable(f"cannot reach a Ray cluster {where} ({reason}); start one with 'ray start --head' "
                                 f"or check --ray-address") from None
    resources = ray.cluster_resources()
    context = ray.get_runtime_context()
    return Cluster(getattr(context, "gcs_address", "") or (address or "local"), resources.get("CPU", 0.0),
                   resources.get("GPU", 0.0), started)


def disconnect(cluster: Cluster) -> None:
    """Shut down the local cluster this process started; leave any other alone."""
    if cluster.started_here:
        import_ray().shutdown()


def cluster_device(name: str, cluster: Cluster) -> torch.device:
    """The runs' device on the cluster: 'auto' is CUDA when the cluster has a GPU."""
    if name == "auto":
        return torch.device("cuda" if cluster.gpus >= 1 else "cpu")
    if name == "cuda" and cluster.gpus < 1:
        raise RayUnavailable("--device cuda was asked for but the Ray cluster has no GPU; use --device cpu or auto")
    return torch.device(name)


def resources(task: RunTask) -> dict[str, float]:
    """What one run asks the cluster for."""
    cpus = float(task.threads or 1)
    return {"num_gpus": 1.0, "num_cpus": cpus} if task.options.device.type == "cuda" else {"num_cpus": cpus}


def _call(task_fn: Callable[[RunTask], TaskResult], task: RunTask) -> TaskResult:
    return task_fn(task)


def attempt_error(exc: BaseException) -> str:
    """Why a task failed, in one line: the run's own exception, or what happened to its worker."""
    ray = import_ray()
    if isinstance(exc, ray.exceptions.RayTaskError) and exc.cause is not None:
        cause = exc.cause
        text = f"{type(cause).__name__}: {' '.join(str(cause).split())}"
    elif isinstance(exc, ray.exceptions.TaskCancelledError):
        text = "cancelled"
    else:
        text = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return text[:300]


class RayBackend:
    """Tasks on the connected Ray cluster, at most ``slots`` in flight."""

    def __init__(self, launch: LaunchOptions, slots: int, task_fn: Callable[[RunTask], TaskResult]):
        self.ray = import_ray()
        self.slots = slots
        self._task_fn = task_fn
        self._remote = self.ray.remote(_call)
        self._refs: dict = {}

    def submit(self, task: RunTask) -> None:
        ref = self._remote.options(**resources(task), max_retries=0, retry_exceptions=False,
                                   name=f"bench {task.spec.label} attempt {task.attempt}").remote(self._task_fn, task)
        self._refs[ref] = task

    def wait(self) -> list[Ended]:
        ray = self.ray
        ready, _ = ray.wait(list(self._refs), num_returns=1)
        ended = []
        for ref in ready:
            task = self._refs.pop(ref)
            try:
                ended.append(Ended(task, result=ray.get(ref)))
            except ray.exceptions.RayError as exc:
                ended.append(Ended(task, error=attempt_error(exc)))
        return ended

    def cancel(self) -> None:
        """Cancel every task in flight (a KeyboardInterrupt in the task: its run releases its lock)."""
        refs = list(self._refs)
        for ref in refs:
            self.ray.cancel(ref)
        if refs:
            self.ray.wait(refs, num_returns=len(refs), timeout=STOP_SECONDS)
        self._refs.clear()

    def close(self) -> None:
        self.cancel()
