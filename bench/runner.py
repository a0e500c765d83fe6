"""Train and evaluate every (suite, model, seed) of a plan, writing one record folder per run.

    <out>/runs/<suite>/<model>/seed<k>/  config.json  history.csv  metrics.json  state.json
                                         checkpoint.pt  figures/*.png  (.lock while a process works on it)

Before anything is written the whole plan is checked (:meth:`Runner.preflight`): every run
folder's records must belong to the run the plan asks for, and the data must load. Then each
run is taken under its folder's lock (:mod:`bench.locks`): a run finished or failed with the
same settings is skipped, one locked by a live process is left to it, an interrupted one
resumes from its last checkpoint with every RNG state, and a diverged one is recorded as
failed while the plan goes on (up to ``max_failures``). The checkpoint at a run's last
iteration keeps its weights and drops Adam's moments, which nothing needs once it is trained.
Every file is written atomically (:mod:`bench.io`); state.json says where the run stands
(:mod:`bench.state`).

A run whose process kept crashing (see :mod:`bench.launchers`) is recorded as failed too, but
with ``"crashed": true`` in metrics.json: unlike a divergence that is not a property of the run,
so the next ``bench run`` tries it again from its last checkpoint instead of skipping it.
"""

from __future__ import annotations

import io
import platform
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torchvision
from tqdm.auto import tqdm

import bench
from bench import io as bio
from bench.battery import BatteryConfig, run_battery
from bench.eta import TrainingRate
from bench.evaluate import categorical_index, clustering_metrics
from bench.figures import traversal_figure
from bench.locks import FolderLock, LockHeld, LockOwner
from bench.reference import Reference, classifier_reference, regressor_reference
from bench.state import ENDED, FAILED, FINISHED, RUNNING, STATE, RunState, now, read_state, write_state
from bench.suites import SUITES, Profile, Suite
from datasets import ImageSplit, load_dataset
from datasets.registry import GROUND_TRUTH, load_ground_truth
from models.infogan import TrainConfig, default_cuda_graph, default_precision
from models.sampling import traversal_inputs
from models.trainer import STATE_FORMAT, CollapseRule, Trainer, TrainingDiverged

CONFIG, HISTORY, METRICS, CHECKPOINT = "config.json", "history.csv", "metrics.json", "checkpoint.pt"
CONFUSION = "confusion.csv"  # categorical code vs true labels, after matching
MI_MATRIX = "mi_matrix.csv"  # code x factor mutual information (ground-truth suites)
FIGURES = "figures"
RECORDS = (CONFIG, HISTORY, METRICS, STATE, CHECKPOINT, CONFUSION, MI_MATRIX)


class RunConflict(Exception):
    """A run folder holds a run made with other settings, or damaged records; one-line message."""


class PlanError(Exception):
    """The plan cannot run as asked (e.g. a batch larger than the data); one-line message."""


class TooManyFailures(Exception):
    """More runs failed than ``--max-failures`` allows; ``outcomes`` are the runs done so far."""

    def __init__(self, message: str, outcomes: list["RunOutcome"]):
        super().__init__(message)
        self.outcomes = outcomes


@dataclass(frozen=True)
class RunSpec:
    suite: str
    model: str
    seed: int
    profile: str

    def directory(self, out: Path) -> Path:
        return out / "runs" / self.suite / self.model / f"seed{self.seed}"

    @property
    def label(self) -> str:
        return f"{self.suite}/{self.model}/seed{self.seed}"


@dataclass(frozen=True)
class RunOptions:
    """How to run a plan. ``iterations`` and ``batch_size`` replace the profile's values, and
    ``precision``, ``fused_optimizer``, ``compile`` and ``cuda_graph`` set the training step's
    speed settings, ``g_latent`` ("fresh" or "reuse") replaces the profile's G step latent and
    ``updates`` ("alternating" or "simultaneous") its order of updates (all part of every run's
    identity); ``max_failures`` None means no limit. Left out, the speed settings are the
    toolkit's defaults (those of ``bench run``): the device's precision, fused Adam, and CUDA
    graph replay on a CUDA device unless the step is compiled.
    ``seeds_together`` > 1 trains that many fresh seeds of one suite, model and profile at once
    in this process (:mod:`bench.together`); it is not part of the identity, since a seed trained
    so is the same run up to floating-point rounding."""

    out: Path
    device: torch.device
    precision: str = "auto"
    fused_optimizer: bool = True
    compile: bool = False
    cuda_graph: bool | None = None
    seeds_together: int = 1
    data_dir: str | None = None
    download: bool = True
    force: bool = False
    progress: bool = True
    iterations: int | None = None
    batch_size: int | None = None
    g_latent: str | None = None
    updates: str | None = None
    max_failures: int | None = None
    collapse: CollapseRule = CollapseRule()

    def __post_init__(self) -> None:
        if self.precision == "auto":
            object.__setattr__(self, "precision", default_precision(self.device))
        if self.cuda_graph is None:
            object.__setattr__(self, "cuda_graph", default_cuda_graph(self.device, self.compile))

    def train_config(self, spec: RunSpec) -> TrainConfig:
        """The profile's recipe for ``spec``'s model, with the overrides applied."""
        config = SUITES[spec.suite].train_config(spec.profile, spec.model, self.precision)
        changes = {k: v for k, v in (("iterations", self.iterations), ("batch_size", self.batch_size)) if v}
        if self.g_latent is not None:
            changes["fresh_g_latent"] = self.g_latent == "fresh"
        if self.updates is not None:
            changes["simultaneous"] = self.updates == "simultaneous"
        return replace(config, fused_optimizer=self.fused_optimizer, compile=self.compile, cuda_graph=self.cuda_graph,
                       **changes)


@dataclass
class RunOutcome:
    spec: RunSpec
    status: str                      # finished | failed | skipped (ended before) | locked (another process has it)
    reason: str = ""
    metrics: dict = field(default_factory=dict)
    ended_as: str = ""               # for skipped runs: finished or failed

    @property
    def failed(self) -> bool:
        return self.status == FAILED or (self.status == "skipped" and self.ended_as == FAILED)


def plan_runs(suites: list[str], models: list[str], seeds: list[int], profile: str) -> list[RunSpec]:
    return [RunSpec(s, m, k, profile) for s in suites for m in models for k in seeds]


def run_identity(spec: RunSpec, options: RunOptions) -> dict:
    """Everything that decides a run's numbers; a stored run is reused only if this matches."""
    suite = SUITES[spec.suite]
    return {
        "suite": spec.suite, "model": spec.model, "seed": spec.seed, "profile": spec.profile,
        "train": asdict(options.train_config(spec)),
        "collapse": asdict(options.collapse),
        "latent": suite.latent.describe(),
        "network": asdict(suite.network),
        "state_format": STATE_FORMAT,
    }


def normalise_identity(stored: dict) -> dict:
    """A stored identity with the settings added since it was written filled in at the values
    the code used before they existed (their defaults), so older records stay comparable."""
    out = dict(stored)
    if isinstance(out.get("train"), dict):
        defaults = asdict(TrainConfig())
        out["train"] = {**{k: v for k, v in defaults.items() if k not in out["train"]}, **out["train"]}
    out.setdefault("collapse", asdict(CollapseRule()))
    return out


def identity_difference(stored: dict, current: dict) -> str:
    """The first few settings that differ, as 'key: stored -> asked' text."""
    def flat(d: dict, prefix: str = "") -> dict:
        items = {}
        for k, v in d.items():
            if isinstance(v, dict):
                items.update(flat(v, f"{prefix}{k}."))
            else:
                items[f"{prefix}{k}"] = v
        return items

    a, b = flat(normalise_identity(stored)), flat(current)
    keys = [k for k in dict.fromkeys([*b, *a]) if a.get(k) != b.get(k)]
    shown = ", ".join(f"{k}: {a.get(k)!r} there, {b.get(k)!r} asked" for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def versions() -> dict:
    return {"bench": bench.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def read_status(run_dir: Path) -> dict | None:
    """The run's metrics.json, or None when it has not ended; RecordError when it is damaged."""
    path = run_dir / METRICS
    return bio.read_record(path) if path.is_file() else None


def load_checkpoint(path: Path, device: torch.device) -> dict:
    """A checkpoint dict loaded weights-only; RunConflict (one line) when it cannot be read."""
    try:
        saved = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # truncated zip, foreign pickle, unknown types: all refused alike
        reason = " ".join(str(exc).split())[:160]
        raise RunConflict(f"{path} cannot be loaded ({type(exc).__name__}: {reason}); "
                          f"delete it to start the run again, or rerun with --force") from None
    if not isinstance(saved, dict) or "identity" not in saved or "trainer" not in saved:
        raise RunConflict(f"{path} is not a checkpoint of this toolkit; delete it or rerun with --force")
    return saved


def is_crash_record(record: dict) -> bool:
    """Whether a metrics.json record is a crash failure (tried again by the next run) rather than an end."""
    return record.get("status") == FAILED and bool(record.get("crashed"))


def write_history(run_dir: Path, history: list[dict]) -> None:
    """history.csv: one row per log point (a header even before the first row)."""
    buffer = io.StringIO()
    columns = None if history else ["iteration", "wall_seconds"]
    pd.DataFrame(history, columns=columns).to_csv(buffer, index=False)
    bio.write_text(run_dir / HISTORY, buffer.getvalue())


def record_diverged(run_dir: Path, history: list[dict], wall_seconds: float, exc: TrainingDiverged,
                    state: RunState) -> RunState:
    """Record a diverged run as failed: its history, metrics.json with the reason, state.json."""
    write_history(run_dir, history)
    bio.write_json(run_dir / METRICS, {"status": FAILED, "reason": str(exc), "iteration": exc.iteration,
                                       "wall_seconds": wall_seconds, "metrics": {}})
    return write_state(run_dir, replace(state, state=FAILED, reason=str(exc), iteration=exc.iteration))


class Runner:
    """Executes a plan; holds each dataset split once, on the training device. ``eta`` False
    leaves out the plan's ETA line (a worker that trains a share of the plan cannot tell it)."""

    def __init__(self, options: RunOptions, eta: bool = True):
        self.options = options
        self.eta = eta
        self._splits: dict[tuple[str, str], ImageSplit] = {}
        self._rate = TrainingRate()
        self._references: dict[tuple, Reference] = {}
        self._ground_truth: dict[str, object] = {}
        self._state: RunState | None = None  # the state.json of the run being trained

    def for_output(self, out: Path) -> "Runner":
        """A runner like this one writing to ``out``, sharing the data and references loaded so far."""
        return self.with_options(out=out)

    def with_options(self, **changes) -> "Runner":
        """A runner with some options changed, sharing the data and references loaded so far."""
        other = Runner(replace(self.options, **changes), self.eta)
        other._splits, other._references, other._ground_truth = self._splits, self._references, self._ground_truth
        return other

    def reference(self, suite: Suite, battery: BatteryConfig) -> Reference | None:
        """The suite's reference (trained once; the classifier is cached under <out>/reference), or None."""
        if not {"traversal", "frechet"} & set(suite.metrics):
            return None
        key = (suite.name, battery.reference_steps)
        if key not in self._references:
            if suite.dataset in GROUND_TRUTH:
                self._references[key] = regressor_reference(self.ground_truth(suite.dataset), suite.attribute_factors)
            else:
                train = self.split(suite.dataset, suite.train_split)
                test = self.split(suite.dataset, suite.test_split)
                cache = self.options.out / "reference"
                bio.remove_stale_temps(cache)
                self._references[key] = classifier_reference(train, test, battery.reference_steps, cache)
        return self._references[key]

    def ground_truth(self, dataset: str):
        """The dataset's ground-truth object (factors, images for factors), loaded once."""
        if dataset not in self._ground_truth:
            self._ground_truth[dataset] = load_ground_truth(dataset, self.options.data_dir, self.options.download)
        return self._ground_truth[dataset]

    def split(self, dataset: str, split: str) -> ImageSplit:
        key = (dataset, split)
        if key not in self._splits:
            if dataset in GROUND_TRUTH:
                data = self.ground_truth(dataset).as_split(split)
            else:
                data = load_dataset(dataset, split, self.options.data_dir, self.options.download)
            self._splits[key] = data.to(self.options.device)
        return self._splits[key]

    # -- checks before anything is written ---------------------------------------------------
    def _ended(self, run_dir: Path, identity: dict) -> dict | None:
        """The metrics.json record when the folder holds this run, ended (finished or failed);
        None when it holds nothing of it yet or an unfinished attempt. RunConflict when the folder
        holds another run or its records cannot be read."""
        config_path = run_dir / CONFIG
        if not config_path.is_file():
            return None
        try:
            stored = bio.read_record(config_path).get("identity")
            if not isinstance(stored, dict):
                raise RunConflict(f"{config_path} has no run identity; delete its run folder or rerun with --force")
            if normalise_identity(stored) != identity:
                raise RunConflict(f"{run_dir} holds a run made with other settings ({identity_difference(stored, identity)}); "
                                  f"use another --out, or --force to replace it")
            record = read_status(run_dir)
        except bio.RecordError as exc:
            raise RunConflict(str(exc)) from None
        if record is not None and record.get("status") in ENDED and not is_crash_record(record):
            return record
        return None

    def _check_checkpoint(self, run_dir: Path, identity: dict) -> dict | None:
        """The folder's checkpoint when it belongs to this run; RunConflict when it does not."""
        path = run_dir / CHECKPOINT
        if not path.is_file():
            return None
        saved = load_checkpoint(path, self.options.device)
        stored = saved["identity"]
        if not isinstance(stored, dict) or normalise_identity(stored) != identity:
            difference = identity_difference(stored, identity) if isinstance(stored, dict) else "no identity"
            raise RunConflict(f"{path} was made with other settings ({difference}); "
                              f"delete it, use another --out, or --force to start the run again")
        if saved["trainer"].get("format") != STATE_FORMAT:
            raise RunConflict(f"{path} has state format {saved['trainer'].get('format')}, this code reads "
                              f"{STATE_FORMAT}; delete it, use another --out, or --force to start the run again")
        return saved

    def preflight(self, plan: list[RunSpec]) -> list[RunSpec]:
        """Check the whole plan before writing anything; returns the runs that still need work.

        Raises RunConflict (a folder holds another run or damaged records), DatasetError (the
        data cannot be loaded) or PlanError (the batch does not fit the data)."""
        todo = []
        for spec in plan:
            run_dir = spec.directory(self.options.out)
            identity = run_identity(spec, self.options)
            if not self.options.force:
                if self._ended(run_dir, identity) is not None:
                    continue
                self._check_checkpoint(run_dir, identity)
            todo.append(spec)
        for spec in todo:
            suite = SUITES[spec.suite]
            train = self.split(suite.dataset, suite.train_split)
            self.split(suite.dataset, suite.test_split)
            batch = self.options.train_config(spec).batch_size
            if batch > len(train):
                raise PlanError(f"batch size {batch} is larger than the {len(train)} training images of "
                                f"{suite.dataset}; give a smaller --batch-size")
        return todo

    def prepare_references(self, plan: list[RunSpec]) -> None:
        """Train (or load) the references the runs of ``plan`` cache under the output folder, so that
        worker processes started afterwards find them there instead of each training its own."""
        for spec in plan:
            suite = SUITES[spec.suite]
            if suite.dataset not in GROUND_TRUTH:
                self.reference(suite, suite.profiles[spec.profile].battery)

    def run_config(self, spec: RunSpec) -> dict:
        """What config.json holds for ``spec``: its identity, device, versions, data and metric settings."""
        options, suite = self.options, SUITES[spec.suite]
        profile = suite.profiles[spec.profile]
        train = self.split(suite.dataset, suite.train_split)
        test_labels = self.test_split(suite, profile).labels
        return {
            "identity": run_identity(spec, options), "device": str(options.device),
            "device_name": device_name(options.device), "versions": versions(),
            "dataset": {"name": suite.dataset, "train": len(train), "test": len(test_labels)},
            "metric_settings": {"parts": list(suite.metrics), "battery": asdict(profile.battery),
                                "seed": spec.seed + profile.battery.seed_offset, "eval_every": profile.eval_every,
                                "clustering_split": suite.test_split, "clustering_images": len(test_labels)},
        }

    def record_crash(self, spec: RunSpec, reason: str, config: dict | None = None) -> RunOutcome:
        """Record ``spec`` as failed because its process kept crashing: metrics.json (marked
        ``crashed``, so a later ``bench run`` tries it again) and state.json, plus config.json
        (``config``, else this runner's) when the run never got as far as writing it. The caller
        holds the folder's lock or knows no process works on the folder."""
        run_dir = spec.directory(self.options.out)
        if not (run_dir / CONFIG).is_file():
            bio.write_json(run_dir / CONFIG, config or self.run_config(spec))
        try:
            state = read_state(run_dir)
        except bio.RecordError:
            state = None
        iteration = state.iteration if state else 0
        bio.write_json(run_dir / METRICS, {"status": FAILED, "reason": reason, "crashed": True,
                                           "iteration": iteration, "metrics": {}})
        base = state or RunState(FAILED, target_iterations=self.options.train_config(spec).iterations)
        write_state(run_dir, replace(base, state=FAILED, reason=reason, iteration=iteration))
        return RunOutcome(spec, FAILED, reason)

    # -- one run -----------------------------------------------------------------------------
    def _checkpoint(self, trainer: Trainer, run_dir: Path, identity: dict) -> None:
        # The last iteration's checkpoint is kept once the run has finished; nothing trains on
        # from it, so it leaves out Adam's moments.
        state = trainer.state_dict(optimisers=trainer.iteration < trainer.config.iterations)
        bio.torch_save(run_dir / CHECKPOINT, {"identity": identity, "trainer": state})
        self._write_history(trainer, run_dir)
        self._mark(run_dir, RUNNING, trainer)

    @staticmethod
    def _write_history(trainer: Trainer, run_dir: Path) -> None:
        write_history(run_dir, trainer.history)

    def _mark(self, run_dir: Path, state: str, trainer: Trainer | None = None, reason: str = "",
              iteration: int | None = None) -> None:
        """Write state.json: this attempt's state, keeping its start time and attempt number."""
        current = self._state
        self._state = write_state(run_dir, replace(
            current, state=state, reason=reason,
            iteration=iteration if iteration is not None else (trainer.iteration if trainer else current.iteration)))

    def _resume(self, trainer: Trainer, run_dir: Path, identity: dict) -> bool:
        """Load the folder's checkpoint into ``trainer``; False when there is none."""
        saved = self._check_checkpoint(run_dir, identity)
        if saved is None:
            return False
        try:
            trainer.load_state_dict(saved["trainer"])
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            reason = " ".join(str(exc).split())[:160]
            raise RunConflict(f"{run_dir / CHECKPOINT} does not fit this run ({reason}); "
                              f"delete it or rerun with --force") from None
        return True

    def _clear(self, run_dir: Path) -> None:
        """Remove every record of the run (for --force); the lock stays."""
        for name in RECORDS:
            (run_dir / name).unlink(missing_ok=True)
        shutil.rmtree(run_dir / FIGURES, ignore_errors=True)

    def run_one(self, spec: RunSpec, remaining_iterations: int) -> RunOutcome:
        """Train and evaluate one run under its folder's lock (see the module docstring)."""
        options = self.options
        run_dir = spec.directory(options.out)
        identity = run_identity(spec, options)
        if not options.force:
            record = self._ended(run_dir, identity)
            if record is not None:
                self._tidy_ended(run_dir, record)
                return self._skipped(spec, record)
        lock = FolderLock(run_dir)
        try:
            previous = lock.acquire()
        except LockHeld as held:
            who = held.owner.describe() if held.owner else "another process"
            return RunOutcome(spec, "locked", f"being trained by {who}; left to it")
        try:
            return self._run_locked(spec, run_dir, identity, previous, remaining_iterations)
        finally:
            lock.release()

    def _tidy_ended(self, run_dir: Path, record: dict) -> None:
        """For an ended run: remove temporary files left by a process killed while it ended the
        run, and bring state.json in line with metrics.json (skipped when a live process holds
        the folder)."""
        lock = FolderLock(run_dir)
        try:
            lock.acquire()
        except LockHeld:
            return
        try:
            bio.remove_stale_temps(run_dir, recursive=True, any_dot_tmp=True)
            self._align_state(run_dir, record)
        finally:
            lock.release()

    def _skipped(self, spec: RunSpec, record: dict) -> RunOutcome:
        status = record.get("status", "")
        return RunOutcome(spec, "skipped", record.get("reason", ""), record.get("metrics", {}), ended_as=status)

    def _run_locked(self, spec: RunSpec, run_dir: Path, identity: dict, previous: LockOwner | None,
                    remaining_iterations: int) -> RunOutcome:
        options, suite = self.options, SUITES[spec.suite]
        profile = suite.profiles[spec.profile]
        bio.remove_stale_temps(run_dir, recursive=True, any_dot_tmp=True)
        if options.force:
            self._clear(run_dir)
        else:
            record = self._ended(run_dir, identity)  # another process may have ended it meanwhile
            if record is not None:
                self._align_state(run_dir, record)
                return self._skipped(spec, record)
            crashed = read_status(run_dir)
            if crashed is not None and is_crash_record(crashed):
                (run_dir / METRICS).unlink()  # tried again: until it ends it is running, not failed

        train = self.split(suite.dataset, suite.train_split)
        test = self.test_split(suite, profile)
        test_images, test_labels = test.images, test.labels
        config = options.train_config(spec)
        trainer = Trainer(suite.latent, suite.network, config, train.images, options.device, spec.seed,
                          options.collapse)
        try:
            before = read_state(run_dir)
        except bio.RecordError:
            before = None  # state.json only describes the attempt; a damaged one is rewritten
        resumed = self._resume(trainer, run_dir, identity)
        if resumed:
            was = f" (interrupted: {previous.describe()})" if previous and previous.pid else ""
            tqdm.write("  trained to the end (checkpoint at the last iteration); evaluating"
                       if trainer.iteration >= config.iterations else
                       f"  resuming at iteration {trainer.iteration} of {config.iterations}{was}")
            self._write_history(trainer, run_dir)  # the history that goes with the checkpoint
        bio.write_json(run_dir / CONFIG, self.run_config(spec))
        me = LockOwner.me()
        self._state = write_state(run_dir, RunState(
            RUNNING, iteration=trainer.iteration, target_iterations=config.iterations,
            attempt=(before.attempt + 1) if before and before.state == RUNNING else 1, pid=me.pid, host=me.host, started=now()))
        has_categorical = categorical_index(suite.latent) is not None
        start_iteration = trainer.iteration

        self._rate.start_run()

        def on_log(t: Trainer, row: dict) -> dict:
            if self.eta and self._rate.observe(t.iteration, row["wall_seconds"]):
                tqdm.write(self._rate.describe(remaining_iterations - (t.iteration - start_iteration)))
            due = profile.eval_every and (t.iteration % profile.eval_every == 0 or t.iteration == config.iterations)
            if due and has_categorical:
                scores, _ = clustering_metrics(suite.latent, t.discriminator, test_images, test_labels)
                return {"test_accuracy": scores["cluster_accuracy"]}
            return {}

        try:
            trainer.train(on_log=on_log, on_checkpoint=lambda t: self._checkpoint(t, run_dir, identity),
                          progress=options.progress, description=spec.label)
        except TrainingDiverged as exc:
            self._state = record_diverged(run_dir, trainer.history, trainer.wall_seconds, exc, self._state)
            return RunOutcome(spec, FAILED, str(exc))

        metrics = self.evaluate(spec, trainer, run_dir)
        self._mark(run_dir, FINISHED, trainer)
        return RunOutcome(spec, FINISHED, metrics=metrics)

    @staticmethod
    def _align_state(run_dir: Path, record: dict) -> None:
        """Bring state.json in line with an ended metrics.json (after a kill between the two writes)."""
        try:
            state = read_state(run_dir)
        except bio.RecordError:
            state = None
        if state is None or state.state != record.get("status"):
            base = state or RunState(record.get("status", FINISHED))
            write_state(run_dir, replace(base, state=record.get("status", FINISHED), reason=record.get("reason", ""),
                                         iteration=int(record.get("iteration") or base.iteration)))

    def test_split(self, suite: Suite, profile: Profile) -> ImageSplit:
        """The suite's test split, cut to the profile's ``eval_limit``."""
        test = self.split(suite.dataset, suite.test_split)
        limit = profile.eval_limit
        return ImageSplit(test.name, test.split, test.images[:limit], test.labels[:limit])

    def evaluate(self, spec: RunSpec, trainer: Trainer, run_dir: Path) -> dict[str, float]:
        """Run the suite's metric battery on a trained run; write confusion.csv, figures, then metrics.json."""
        suite = SUITES[spec.suite]
        profile = suite.profiles[spec.profile]
        battery = replace(profile.battery, heldout=replace(profile.battery.heldout, device=str(self.options.device)))
        reference = self.reference(suite, battery)
        ground_truth = self.ground_truth(suite.dataset) if suite.dataset in GROUND_TRUTH else None
        result = run_battery(suite.metrics, suite.latent, trainer.generator, trainer.discriminator,
                             self.test_split(suite, profile), reference, self.options.device, battery,
                             spec.seed, ground_truth)
        if reference is not None:
            result.notes["reference"] = {"classifier_test_accuracy": reference.classifier_test_accuracy,
                                         "attribute_r2": reference.attribute_r2}
        if result.confusion is not None:
            bio.write_text(run_dir / CONFUSION, result.confusion.to_csv())
        if "mi_matrix" in result.notes:
            matrix = result.notes["mi_matrix"]
            frame = pd.DataFrame(matrix["values"], index=matrix["codes"], columns=matrix["factors"] or None)
            frame.index.name = "code"
            bio.write_text(run_dir / MI_MATRIX, frame.to_csv())
        self.write_traversals(trainer, suite, spec, run_dir / FIGURES, profile.traversal_rows)
        bio.write_json(run_dir / METRICS, {
            "status": FINISHED, "reason": "", "iteration": trainer.iteration,
            "wall_seconds": trainer.wall_seconds, "eval_seconds": sum(result.seconds.values()),
            "metric_seconds": result.seconds, "metrics": result.metrics, "notes": result.notes,
        })
        return result.metrics

    def load_finished(self, spec: RunSpec) -> Trainer:
        """The trainer of a finished run, restored from its checkpoint."""
        suite, run_dir = SUITES[spec.suite], spec.directory(self.options.out)
        if (read_status(run_dir) or {}).get("status") != FINISHED:
            raise RunConflict(f"{run_dir} holds no finished run")
        identity = bio.read_record(run_dir / CONFIG)["identity"]
        # Nothing is trained here, so the speed settings of the device it was trained on do not apply.
        config = replace(TrainConfig(**identity["train"]), cuda_graph=False, compile=False)
        train = self.split(suite.dataset, suite.train_split)
        trainer = Trainer(suite.latent, suite.network, config, train.images, self.options.device, spec.seed)
        saved = load_checkpoint(run_dir / CHECKPOINT, self.options.device)
        trainer.load_state_dict(saved["trainer"])
        return trainer

    @staticmethod
    @torch.no_grad()
    def write_traversals(trainer: Trainer, suite: Suite, spec: RunSpec, folder: Path, rows: int) -> None:
        """One grid per code: rows of fixed noise, columns the code's values (paper Fig. 2)."""
        generator = trainer.generator
        was_training = generator.training
        generator.eval()
        for index, code in enumerate(suite.latent.codes):
            inputs, values = traversal_inputs(suite.latent, index, rows, seed=spec.seed)
            images = generator(inputs.to(trainer.device)).float()
            title = f"{spec.suite} {spec.model} seed {spec.seed}: varying {code.name}"
            traversal_figure(images, rows, values, code.name, code.kind, title, folder / f"traversal_{code.name}.png")
        generator.train(was_training)

    # -- the plan ----------------------------------------------------------------------------
    def run_all(self, plan: list[RunSpec]) -> list[RunOutcome]:
        """Every run of ``plan`` in order. Raises TooManyFailures when more runs than
        ``max_failures`` have failed (those recorded failed earlier count too), after the run
        that crossed the limit has been recorded."""
        todo = set(self.preflight(plan))
        if self.options.seeds_together > 1:
            from bench.together import train_together

            together = train_together(self, [spec for spec in plan if spec in todo])
        else:
            together = {}
        resume_only = self.with_options(force=False)  # what was trained together is not to be cleared again
        remaining = sum(self.options.train_config(s).iterations for s in plan if s in todo and s not in together)
        outcomes: list[RunOutcome] = []
        limit = self.options.max_failures
        for spec in plan:
            tqdm.write(f"run {spec.label} ({spec.profile})")
            outcome = together.get(spec) or (resume_only if spec in together else self).run_one(spec, remaining)
            if outcome.status in (FINISHED, FAILED) and spec not in together:
                remaining -= self.options.train_config(spec).iterations
            outcomes.append(outcome)
            tqdm.write(f"  {outcome.status}" + (f" ({outcome.ended_as})" if outcome.ended_as else "")
                       + (f": {outcome.reason}" if outcome.reason else "")
                       + "".join(f"  {k}={v:.3f}" for k, v in outcome.metrics.items()
                                 if k in ("cluster_accuracy", "mi_lower_bound/cat")))
            failures = sum(o.failed for o in outcomes)
            if limit is not None and failures > limit and len(outcomes) < len(plan):
                raise TooManyFailures(
                    f"stopped after {len(outcomes)} of {len(plan)} runs: {failures} run(s) failed, more than "
                    f"--max-failures {limit}; finished runs are kept; fix the cause and rerun with --force, "
                    f"or raise --max-failures", outcomes)
        return outcomes
