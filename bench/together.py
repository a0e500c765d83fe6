"""Several seeds of a plan trained at once in this process, as stacked copies (models.stacked).

``bench run --seeds-together K`` groups the plan's fresh runs (no checkpoint yet) that share a
suite, model and profile, K at a time, and trains each group with one StackedTrainer. Every
seed writes the same records, at the same points, as a run trained alone: config.json, its
checkpoint in the lone Trainer's format at every checkpoint interval, history.csv (with the
test accuracy where the profile evaluates it) and state.json. After training the runner takes
each run as usual: it finds the checkpoint at the last iteration, trains nothing and
evaluates. A group interrupted part-way therefore resumes seed by seed, alone, from its last
checkpoint, and a seed that diverges is recorded as failed while the others train on.

On a GPU this fills a device that one small GAN leaves mostly idle; on a CPU the batched
kernels are slower than the plain ones, so there it costs time (README, Speed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from bench import io as bio
from bench.evaluate import categorical_index, clustering_metrics
from bench.locks import FolderLock, LockHeld, LockOwner
from bench.runner import CHECKPOINT, CONFIG, RunOutcome, Runner, RunSpec, record_diverged, run_identity, write_history
from bench.state import FAILED, RUNNING, RunState, now, write_state
from bench.suites import SUITES
from models.stacked_trainer import StackedTrainer


@dataclass
class _Member:
    """One seed of a group: its run, folder, identity, lock and state.json."""

    spec: RunSpec
    run_dir: Path
    identity: dict
    lock: FolderLock
    state: RunState | None = None


def groups(specs: list[RunSpec], size: int) -> list[list[RunSpec]]:
    """``specs`` cut into groups of at most ``size`` runs sharing suite, model and profile, in plan order."""
    by_kind: dict[tuple[str, str, str], list[RunSpec]] = {}
    for spec in specs:
        by_kind.setdefault((spec.suite, spec.model, spec.profile), []).append(spec)
    return [runs[i:i + size] for runs in by_kind.values() for i in range(0, len(runs), size)]


def train_together(runner: Runner, specs: list[RunSpec]) -> dict[RunSpec, RunOutcome | None]:
    """Train the fresh runs of ``specs`` in groups of ``runner.options.seeds_together``.

    Returns, for each run trained here, None (trained to the end: evaluate it) or its failed
    outcome (diverged). Runs left out (a checkpoint to resume, a folder locked by another
    process, a group of one) are not in the result and go the usual way.
    """
    done: dict[RunSpec, RunOutcome | None] = {}
    for group in groups(specs, runner.options.seeds_together):
        members = _take(runner, group)
        try:
            if len(members) > 1:
                done.update(_train_group(runner, members))
        finally:
            for member in members:
                member.lock.release()
    return done


def _take(runner: Runner, group: list[RunSpec]) -> list[_Member]:
    """Lock the group's runs that start from scratch (cleared first with --force)."""
    members = []
    for spec in group:
        run_dir = spec.directory(runner.options.out)
        identity = run_identity(spec, runner.options)
        lock = FolderLock(run_dir)
        try:
            lock.acquire()
        except LockHeld:
            continue
        if runner.options.force:
            runner._clear(run_dir)
        if (run_dir / CHECKPOINT).is_file() or runner._ended(run_dir, identity) is not None:
            lock.release()  # resumed (or ended meanwhile): the usual path takes it
            continue
        members.append(_Member(spec, run_dir, identity, lock))
    return members


def _train_group(runner: Runner, members: list[_Member]) -> dict[RunSpec, RunOutcome | None]:
    options, first = runner.options, members[0].spec
    suite = SUITES[first.suite]
    profile = suite.profiles[first.profile]
    config = options.train_config(first)
    train = runner.split(suite.dataset, suite.train_split)
    test = runner.test_split(suite, profile)
    seeds = [m.spec.seed for m in members]
    tqdm.write(f"training {first.suite}/{first.model} seeds {','.join(map(str, seeds))} together")
    trainer = StackedTrainer(suite.latent, suite.network, config, train.images, options.device, seeds,
                             options.collapse)
    me = LockOwner.me()
    for member in members:
        bio.write_json(member.run_dir / CONFIG, runner.run_config(member.spec))
        member.state = write_state(member.run_dir, RunState(RUNNING, target_iterations=config.iterations,
                                                            pid=me.pid, host=me.host, started=now()))
    has_categorical = categorical_index(suite.latent) is not None

    def on_log(t: StackedTrainer, k: int, row: dict) -> dict:
        due = profile.eval_every and (t.iteration % profile.eval_every == 0 or t.iteration == config.iterations)
        if due and has_categorical:
            scores, _ = clustering_metrics(suite.latent, t.discriminator.module(k), test.images, test.labels)
            return {"test_accuracy": scores["cluster_accuracy"]}
        return {}

    def on_checkpoint(t: StackedTrainer) -> None:
        for k, member in enumerate(members):
            if k in t.failures:
                continue
            state = t.state_dict(k, optimisers=t.iteration < config.iterations)  # as Runner._checkpoint
            bio.torch_save(member.run_dir / CHECKPOINT, {"identity": member.identity, "trainer": state})
            write_history(member.run_dir, t.histories[k])
            member.state = write_state(member.run_dir, RunState(
                RUNNING, iteration=t.iteration, target_iterations=config.iterations, attempt=member.state.attempt,
                pid=me.pid, host=me.host, started=member.state.started))

    trainer.train(on_log=on_log, on_checkpoint=on_checkpoint, progress=options.progress,
                  description=f"{first.suite}/{first.model} x{len(members)}")
    outcomes: dict[RunSpec, RunOutcome | None] = {}
    for k, member in enumerate(members):
        if k in trainer.failures:
            exc, history = trainer.failures[k], trainer.histories[k]
            wall = history[-1]["wall_seconds"] if history else 0.0
            record_diverged(member.run_dir, history, wall, exc, member.state)
            outcomes[member.spec] = RunOutcome(member.spec, FAILED, str(exc))
        else:
            outcomes[member.spec] = None
    return outcomes
