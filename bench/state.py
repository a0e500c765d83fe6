"""The state of a run folder, recorded in ``state.json`` beside the run's other files.

States and transitions (``metrics.json`` keeps its own content: it is the run's result)::

    (no state.json) --start--> running --finish--> finished
                                  |   \\--diverge--> failed
                                  |
                        killed / stopped: state.json still says running, but no live
                        process holds the folder's lock: the run is *interrupted*,
                        and the next ``bench run`` resumes it from its last checkpoint
                        (running again, ``attempt`` + 1)

    finished / failed --(--force only)--> records removed --> running

``running`` is written when a process has taken the folder's lock and starts or resumes
training, and again at every checkpoint (with the iteration reached). ``finished`` and
``failed`` are written *after* metrics.json, so a state.json never claims an end that
metrics.json does not hold; a process killed between the two leaves a metrics.json that
ends the run, and the next process brings state.json in line with it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

from bench import io as bio
from bench.locks import LOCK_NAME, read_owner

STATE = "state.json"
RUNNING, FINISHED, FAILED = "running", "finished", "failed"
ENDED = (FINISHED, FAILED)


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class RunState:
    """What state.json holds."""

    state: str                   # running | finished | failed
    reason: str = ""             # why it failed (or how it ended)
    iteration: int = 0           # last iteration checkpointed (running) or reached (ended)
    target_iterations: int = 0
    attempt: int = 1             # how many times a process has started or resumed the run
    pid: int = 0                 # the process that wrote this state
    host: str = ""
    started: str = ""            # when this attempt started
    updated: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def read_state(run_dir: Path) -> RunState | None:
    """The folder's state.json, or None when there is none (a run not yet started, or an old record)."""
    path = Path(run_dir) / STATE
    if not path.is_file():
        return None
    data = bio.read_record(path)
    known = {k: v for k, v in data.items() if k in RunState.__dataclass_fields__}
    if known.get("state") not in (RUNNING, *ENDED):
        raise bio.RecordError(f"{path} holds an unknown state {known.get('state')!r}; "
                              f"delete its run folder or rerun with --force")
    return RunState(**known)


def write_state(run_dir: Path, state: RunState) -> RunState:
    """Write ``state`` (stamped with the time) atomically; returns what was written."""
    state = replace(state, updated=now())
    bio.write_json(Path(run_dir) / STATE, state.to_dict())
    return state


def describe_unfinished(run_dir: Path) -> str | None:
    """For a run without metrics.json: 'running ...' when a live process holds its lock,
    'interrupted ...' when the state says running but no live process does; None without state."""
    try:
        state = read_state(run_dir)
    except bio.RecordError:
        return None
    if state is None or state.state != RUNNING:
        return None
    owner = read_owner(Path(run_dir) / LOCK_NAME)
    progress = f"{state.iteration} of {state.target_iterations} iterations checkpointed"
    if owner is not None and owner.alive():
        return f"running ({owner.describe()}; {progress})"
    return f"interrupted ({progress}); run the same command again to resume it"
