"""Train and evaluate every (suite, model, seed) of a plan, writing one record folder per run.

    <out>/runs/<suite>/<model>/seed<k>/  config.json  history.csv  metrics.json
                                         checkpoint.pt  figures/*.png

A run whose metrics.json says finished (with the same settings) is skipped; a run with a
checkpoint resumes from it; a run that diverges is recorded as failed and the plan goes on.
"""

from __future__ import annotations

import io
import platform
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
from bench.evaluate import categorical_index, clustering_metrics
from bench.reference import Reference, classifier_reference, regressor_reference
from bench.figures import traversal_figure
from bench.suites import SUITES, Profile, Suite
from datasets import ImageSplit, load_dataset
from datasets.registry import GROUND_TRUTH, load_ground_truth
from models.sampling import traversal_inputs
from models.infogan import TrainConfig
from models.trainer import STATE_FORMAT, Trainer, TrainingDiverged

CONFIG, HISTORY, METRICS, CHECKPOINT = "config.json", "history.csv", "metrics.json", "checkpoint.pt"
CONFUSION = "confusion.csv"  # categorical code vs true labels, after matching
MI_MATRIX = "mi_matrix.csv"  # code x factor mutual information (ground-truth suites)


class RunConflict(Exception):
    """A run folder holds a run made with other settings; the message says how to proceed."""


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
    out: Path
    device: torch.device
    precision: str = "fp32"
    data_dir: str | None = None
    download: bool = True
    force: bool = False
    progress: bool = True


@dataclass
class RunOutcome:
    spec: RunSpec
    status: str                      # finished | failed | skipped
    reason: str = ""
    metrics: dict = field(default_factory=dict)


def plan_runs(suites: list[str], models: list[str], seeds: list[int], profile: str) -> list[RunSpec]:
    return [RunSpec(s, m, k, profile) for s in suites for m in models for k in seeds]


def run_identity(spec: RunSpec, options: RunOptions) -> dict:
    """Everything that decides a run's numbers; a stored run is reused only if this matches."""
    suite = SUITES[spec.suite]
    return {
        "suite": spec.suite, "model": spec.model, "seed": spec.seed, "profile": spec.profile,
        "train": asdict(suite.train_config(spec.profile, spec.model, options.precision)),
        "latent": suite.latent.describe(),
        "network": asdict(suite.network),
        "state_format": STATE_FORMAT,
    }


def versions() -> dict:
    return {"bench": bench.__version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def read_status(run_dir: Path) -> dict | None:
    """The run's metrics.json, or None when it has not ended."""
    path = run_dir / METRICS
    return bio.read_json(path) if path.is_file() else None


class Runner:
    """Executes a plan; holds each dataset split once, on the training device."""

    def __init__(self, options: RunOptions):
        self.options = options
        self._splits: dict[tuple[str, str], ImageSplit] = {}
        self._rate: float | None = None
        self._references: dict[tuple, Reference] = {}
        self._ground_truth: dict[str, object] = {}

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
                self._references[key] = classifier_reference(train, test, battery.reference_steps,
                                                             self.options.out / "reference")
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

    # -- one run ---------------------------------------------------------------------------
    def _check_folder(self, spec: RunSpec, run_dir: Path, identity: dict) -> bool:
        """True when the run is already finished with these settings; raises on a conflict."""
        config_path = run_dir / CONFIG
        if not config_path.is_file():
            return False
        stored = bio.read_json(config_path).get("identity")
        if stored != identity:
            raise RunConflict(
                f"{run_dir} holds a run made with other settings; use another --out, or --force to replace it")
        status = read_status(run_dir)
        return status is not None and status.get("status") in {"finished", "failed"}

    def _checkpoint(self, trainer: Trainer, run_dir: Path, identity: dict) -> None:
        bio.torch_save(run_dir / CHECKPOINT, {"identity": identity, "trainer": trainer.state_dict()})
        self._write_history(trainer, run_dir)

    @staticmethod
    def _write_history(trainer: Trainer, run_dir: Path) -> None:
        buffer = io.StringIO()
        pd.DataFrame(trainer.history).to_csv(buffer, index=False)
        bio.write_text(run_dir / HISTORY, buffer.getvalue())

    def _resume(self, trainer: Trainer, run_dir: Path, identity: dict) -> None:
        path = run_dir / CHECKPOINT
        if not path.is_file():
            return
        saved = torch.load(path, map_location=self.options.device, weights_only=True)
        if saved.get("identity") != identity:
            raise RunConflict(f"{path} was made with other settings; use --force to start the run again")
        trainer.load_state_dict(saved["trainer"])

    def run_one(self, spec: RunSpec, remaining_iterations: int) -> RunOutcome:
        options, suite = self.options, SUITES[spec.suite]
        profile = suite.profiles[spec.profile]
        run_dir = spec.directory(options.out)
        identity = run_identity(spec, options)
        if options.force and run_dir.exists():
            for name in (CONFIG, HISTORY, METRICS, CHECKPOINT, CONFUSION, MI_MATRIX):
                (run_dir / name).unlink(missing_ok=True)
        if self._check_folder(spec, run_dir, identity):
            stored = read_status(run_dir) or {}
            return RunOutcome(spec, "skipped", stored.get("reason", ""), stored.get("metrics", {}))

        train = self.split(suite.dataset, suite.train_split)
        test = self.test_split(suite, profile)
        test_images, test_labels = test.images, test.labels
        config = suite.train_config(spec.profile, spec.model, options.precision)
        trainer = Trainer(suite.latent, suite.network, config, train.images, options.device, spec.seed)
        self._resume(trainer, run_dir, identity)
        bio.write_json(run_dir / CONFIG, {
            "identity": identity, "device": str(options.device), "device_name": device_name(options.device),
            "versions": versions(), "dataset": {"name": suite.dataset, "train": len(train), "test": len(test_labels)},
            "metric_settings": {"parts": list(suite.metrics), "battery": asdict(profile.battery),
                                "seed": spec.seed + profile.battery.seed_offset, "eval_every": profile.eval_every,
                                "clustering_split": suite.test_split, "clustering_images": len(test_labels)},
        })
        has_categorical = categorical_index(suite.latent) is not None
        start_iteration, start_wall = trainer.iteration, trainer.wall_seconds

        def on_log(t: Trainer, row: dict) -> dict:
            if self._rate is None and t.iteration > start_iteration:
                self._rate = (row["wall_seconds"] - start_wall) / (t.iteration - start_iteration)
                eta = self._rate * (remaining_iterations - (t.iteration - start_iteration))
                tqdm.write(f"ETA: about {eta / 60:.1f} min for the plan "
                           f"({1 / self._rate:.1f} it/s measured over the first {t.iteration - start_iteration} iterations)")
            due = profile.eval_every and (t.iteration % profile.eval_every == 0 or t.iteration == config.iterations)
            if due and has_categorical:
                scores, _ = clustering_metrics(suite.latent, t.discriminator, test_images, test_labels)
                return {"test_accuracy": scores["cluster_accuracy"]}
            return {}

        try:
            trainer.train(on_log=on_log, on_checkpoint=lambda t: self._checkpoint(t, run_dir, identity),
                          progress=options.progress, description=spec.label)
        except TrainingDiverged as exc:
            self._write_history(trainer, run_dir)
            record = {"status": "failed", "reason": str(exc), "iteration": exc.iteration,
                      "wall_seconds": trainer.wall_seconds, "metrics": {}}
            bio.write_json(run_dir / METRICS, record)
            return RunOutcome(spec, "failed", str(exc))

        metrics = self.evaluate(spec, trainer, run_dir)
        return RunOutcome(spec, "finished", metrics=metrics)

    def test_split(self, suite: Suite, profile: Profile) -> ImageSplit:
        """The suite's test split, cut to the profile's ``eval_limit``."""
        test = self.split(suite.dataset, suite.test_split)
        limit = profile.eval_limit
        return ImageSplit(test.name, test.split, test.images[:limit], test.labels[:limit])

    def evaluate(self, spec: RunSpec, trainer: Trainer, run_dir: Path) -> dict[str, float]:
        """Run the suite's metric battery on a trained run; write metrics.json, confusion.csv, figures."""
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
        self.write_traversals(trainer, suite, spec, run_dir / "figures", profile.traversal_rows)
        bio.write_json(run_dir / METRICS, {
            "status": "finished", "reason": "", "iteration": trainer.iteration,
            "wall_seconds": trainer.wall_seconds, "eval_seconds": sum(result.seconds.values()),
            "metric_seconds": result.seconds, "metrics": result.metrics, "notes": result.notes,
        })
        return result.metrics

    def load_finished(self, spec: RunSpec) -> Trainer:
        """The trainer of a finished run, restored from its checkpoint."""
        suite, run_dir = SUITES[spec.suite], spec.directory(self.options.out)
        if (read_status(run_dir) or {}).get("status") != "finished":
            raise RunConflict(f"{run_dir} holds no finished run")
        identity = bio.read_json(run_dir / CONFIG)["identity"]
        config = TrainConfig(**identity["train"])
        train = self.split(suite.dataset, suite.train_split)
        trainer = Trainer(suite.latent, suite.network, config, train.images, self.options.device, spec.seed)
        saved = torch.load(run_dir / CHECKPOINT, map_location=self.options.device, weights_only=True)
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

    # -- the plan --------------------------------------------------------------------------
    def run_all(self, plan: list[RunSpec]) -> list[RunOutcome]:
        outcomes = []
        remaining = sum(SUITES[s.suite].profiles[s.profile].train.iterations for s in plan
                        if (read_status(s.directory(self.options.out)) or {}).get("status") != "finished")
        for spec in plan:
            tqdm.write(f"run {spec.label} ({spec.profile})")
            outcome = self.run_one(spec, remaining)
            if outcome.status != "skipped":
                remaining -= SUITES[spec.suite].profiles[spec.profile].train.iterations
            outcomes.append(outcome)
            tqdm.write(f"  {outcome.status}" + (f": {outcome.reason}" if outcome.reason else "")
                       + "".join(f"  {k}={v:.3f}" for k, v in outcome.metrics.items()
                                 if k in ("cluster_accuracy", "mi_lower_bound/cat")))
        return outcomes
