"""The training loop: batches by index from an on-device uint8 dataset, logging every N steps.

The loop never synchronises with the host between log points: step statistics are summed
on the device and read once per ``log_every`` iterations. Its whole state (networks,
optimisers, every RNG, the data order and the history) is one dict of tensors and plain
values, loadable with ``torch.load(weights_only=True)``, so a run resumes exactly.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from models.infogan import STEP_STATS, InfoGANStep, TrainConfig
from models.latent import LatentSpec
from models.networks import NetworkSpec, build_networks

STATE_FORMAT = 1


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite, or D collapsed; ``iteration`` is the log point where it was seen."""

    def __init__(self, iteration: int, reason: str):
        super().__init__(f"diverged at iteration {iteration}: {reason}")
        self.iteration, self.reason = iteration, reason


@dataclass(frozen=True)
class CollapseRule:
    """When a run counts as collapsed (and stops as diverged).

    The rule: the discriminator's loss ``loss_d`` (BCE on real images plus BCE on fakes,
    averaged over the iterations since the previous log point) is below ``threshold`` at
    ``patience`` consecutive log points. ``loss_d`` < 1e-3 means each BCE term is below 1e-3,
    i.e. D gives real and fake images the right label with probability above 0.999 (logits
    beyond about +-6.9) on average over a whole log interval: D has won outright, G's samples
    are nowhere near the data, and such a run does not recover. Healthy InfoGAN training on
    MNIST keeps ``loss_d`` around 0.5 to 1.4. Like the NaN check it is evaluated on the values
    read at log points only, so it adds no host synchronisation; the streak is counted on the
    history, which the checkpoint holds, so a resumed run applies it exactly as an
    uninterrupted one. ``patience`` = 0 switches the rule off.
    """

    threshold: float = 1e-3
    patience: int = 3

    def __post_init__(self) -> None:
        if self.threshold < 0 or self.patience < 0:
            raise ValueError("threshold and patience must be non-negative")

    def check(self, history: list[dict]) -> str | None:
        """The reason when the last ``patience`` rows of ``history`` show a collapse, else None."""
        if self.patience == 0 or len(history) < self.patience:
            return None
        recent = [row.get("loss_d", math.inf) for row in history[-self.patience:]]
        if all(value < self.threshold for value in recent):
            return (f"discriminator collapsed: loss_d below {self.threshold:g} at {self.patience} consecutive "
                    f"log points (last {recent[-1]:.3g})")
        return None


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _numpy_state() -> list:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return [name, keys.tolist(), pos, has_gauss, cached]


def _set_numpy_state(state: list) -> None:
    name, keys, pos, has_gauss, cached = state
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))


def log_row(latent: LatentSpec, iteration: int, wall_seconds: float, means: list[float]) -> dict:
    """A history row from the step statistics averaged over a log interval (STEP_STATS, then
    mean log Q per code, turned into L_I = E[log Q] + H(c)); TrainingDiverged if any is not finite."""
    row = {"iteration": iteration, "wall_seconds": round(wall_seconds, 3)}
    row.update(zip(STEP_STATS, means[: len(STEP_STATS)]))
    for code, mean_loglik, entropy in zip(latent.codes, means[len(STEP_STATS):], latent.entropies()):
        row[f"L_I/{code.name}"] = mean_loglik + entropy
    bad = [k for k, v in row.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise TrainingDiverged(iteration, f"non-finite {', '.join(bad)}")
    return row


class Trainer:
    """Trains one InfoGAN or GAN on ``images`` (uint8 [N, C, H, W], already on ``device``)."""

    def __init__(self, latent: LatentSpec, network: NetworkSpec, config: TrainConfig,
                 images: torch.Tensor, device: torch.device, seed: int, collapse: CollapseRule = CollapseRule()):
        self.latent, self.network, self.config, self.collapse = latent, network, config, collapse
        self.images, self.device, self.seed = images, device, seed
        seed_everything(seed)
        self.generator, self.discriminator = build_networks(latent.input_dim, latent.q_dim, network)
        self.generator.to(device)
        self.discriminator.to(device)
        self.step = InfoGANStep(latent, self.generator, self.discriminator, config, device)
        self.data_rng = torch.Generator(device=device).manual_seed(seed + 1)
        self.latent_rng = torch.Generator(device=device).manual_seed(seed + 2)
        self.permutation = torch.randperm(len(images), device=device, generator=self.data_rng)
        self.position = 0
        self.iteration = 0
        self.history: list[dict] = []
        self.wall_seconds = 0.0

    # -- data ----------------------------------------------------------------------------
    def next_batch(self) -> torch.Tensor:
        """The next batch of the current epoch's permutation (a new permutation per epoch)."""
        b = self.config.batch_size
        if self.position + b > len(self.permutation):
            self.permutation = torch.randperm(len(self.images), device=self.device, generator=self.data_rng)
            self.position = 0
        index = self.permutation[self.position:self.position + b]
        self.position += b
        return self.images[index]

    # -- state ---------------------------------------------------------------------------
    def state_dict(self, optimisers: bool = True) -> dict:
        """The whole training state; ``optimisers=False`` leaves out Adam's moments (two thirds of
        the size), for a run trained to its last iteration, which nothing trains on again."""
        return {
            "format": STATE_FORMAT,
            "iteration": self.iteration,
            "wall_seconds": self.wall_seconds,
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "opt_g": self.step.opt_g.state_dict() if optimisers else None,
            "opt_d": self.step.opt_d.state_dict() if optimisers else None,
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "rng_numpy": _numpy_state(),
            "rng_python": list(random.getstate()[1]),
            "rng_data": self.data_rng.get_state(),
            "rng_latent": self.latent_rng.get_state(),
            "permutation": self.permutation,
            "position": self.position,
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"checkpoint format {state.get('format')} is not {STATE_FORMAT}")
        without_optimisers = state["opt_g"] is None or state["opt_d"] is None
        if without_optimisers and state["iteration"] < self.config.iterations:
            raise ValueError(f"the state holds no optimiser moments, and {self.config.iterations - state['iteration']} "
                             f"iterations are left to train")
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        if not without_optimisers:
            self.step.opt_g.load_state_dict(state["opt_g"])
            self.step.opt_d.load_state_dict(state["opt_d"])
        # RNG states are CPU byte tensors, wherever a checkpoint's tensors were loaded to.
        torch.set_rng_state(state["rng_torch"].cpu())
        if state["rng_cuda"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all([s.cpu() for s in state["rng_cuda"]])
        _set_numpy_state(state["rng_numpy"])
        random.setstate((3, tuple(state["rng_python"]), None))
        self.data_rng.set_state(state["rng_data"].cpu())
        self.latent_rng.set_state(state["rng_latent"].cpu())
        self.permutation = state["permutation"].to(self.device)
        self.position = state["position"]
        self.iteration = state["iteration"]
        self.wall_seconds = state["wall_seconds"]
        self.history = list(state["history"])

    # -- loop ----------------------------------------------------------------------------
    def _log_row(self, sums: torch.Tensor, count: int) -> dict:
        return log_row(self.latent, self.iteration, self.wall_seconds, (sums / count).tolist())

    def train(self, on_log: Callable[["Trainer", dict], dict | None] | None = None,
              on_checkpoint: Callable[["Trainer"], None] | None = None,
              progress: bool = True, description: str = "train") -> list[dict]:
        """Train up to ``config.iterations``, from wherever the state says; returns the history.

        ``on_log(trainer, row)`` runs at every log point and may return extra columns for the
        row (an evaluation, say); ``on_checkpoint(trainer)`` runs every ``checkpoint_every``
        iterations and at the end. Raises :class:`TrainingDiverged` on a non-finite loss (the
        row is not kept) or a collapse by ``self.collapse`` (the row is kept in the history).
        """
        def log_point(sums: torch.Tensor, count: int) -> dict:
            row = self._log_row(sums, count)
            collapsed = self.collapse.check(self.history + [row])
            if collapsed:
                self.history.append(row)
                raise TrainingDiverged(self.iteration, collapsed)
            if on_log is not None:
                row.update(on_log(self, row) or {})
            self.history.append(row)
            return row

        training_loop(self, lambda: self.step(self.next_batch(), self.latent_rng), log_point,
                      on_checkpoint, progress, description)
        return self.history


def training_loop(trainer, step: Callable[[], torch.Tensor], log_point: Callable[[torch.Tensor, int], dict | None],
                  on_checkpoint: Callable | None, progress: bool, description: str,
                  keep_going: Callable[[], bool] = lambda: True) -> None:
    """The loop of Trainer and StackedTrainer: ``step()`` until ``trainer.config.iterations``
    (or until ``keep_going()`` is False), the step statistics summed on the device and handed
    to ``log_point(sums, count)`` every ``log_every`` iterations and at the end (the one host
    synchronisation; the row it returns is shown on the progress bar), then
    ``on_checkpoint(trainer)`` every ``checkpoint_every`` iterations and at the end.
    ``trainer.iteration`` and ``trainer.wall_seconds`` are kept up to date, the latter
    continuing from a resumed state's value; the networks are in training mode at every step.
    """
    cfg = trainer.config
    trainer.generator.train()
    trainer.discriminator.train()
    sums, count = None, 0
    bar = tqdm(total=cfg.iterations, initial=trainer.iteration, desc=description, unit="it",
               disable=not progress, dynamic_ncols=True, leave=False)
    start = time.perf_counter() - trainer.wall_seconds
    try:
        while trainer.iteration < cfg.iterations and keep_going():
            stats = step()
            sums = stats if sums is None else sums + stats
            count += 1
            trainer.iteration += 1
            bar.update(1)
            if trainer.iteration % cfg.log_every == 0 or trainer.iteration == cfg.iterations:
                trainer.wall_seconds = time.perf_counter() - start
                row = log_point(sums, count)
                sums, count = None, 0
                trainer.generator.train()  # an evaluation at the log point may have switched them
                trainer.discriminator.train()
                if row:
                    bar.set_postfix({k: f"{v:.3f}" for k, v in row.items() if k.startswith(("loss_d", "L_I"))})
            if trainer.iteration % cfg.checkpoint_every == 0 or trainer.iteration == cfg.iterations:
                trainer.wall_seconds = time.perf_counter() - start
                if on_checkpoint is not None:
                    on_checkpoint(trainer)
    finally:
        bar.close()
