"""Training several seeds of one recipe in one process, as stacked copies (models.stacked).

Seed k starts exactly where a lone ``Trainer`` with that seed starts (the same initial weights,
data order and latent draws, from generators seeded the same way), and each copy's arithmetic
is its own, so its run is the lone run up to floating-point rounding. Each seed keeps its own
history, and its state comes out in the lone Trainer's checkpoint format, so a seed trained
here can be resumed, evaluated or reported by everything that reads a lone run.
"""

from __future__ import annotations

import random
from typing import Callable

import torch

from models.infogan import InfoGANStep, TrainConfig
from models.latent import LatentSpec
from models.networks import NetworkSpec, build_networks
from models.stacked import StackedModules, optimizer_state_slice
from models.trainer import (STATE_FORMAT, CollapseRule, TrainingDiverged, _numpy_state, log_row, seed_everything,
                            training_loop)


class StackedTrainer:
    """Trains one InfoGAN or GAN per seed in ``seeds`` at once on ``images`` (uint8 [N, C, H, W],
    on ``device``).

    A seed whose loss turns non-finite or whose D collapses (``collapse``) is marked failed in
    ``failures`` (index -> the TrainingDiverged) and its history stops there; the others train on (nothing mixes across copies).
    """

    def __init__(self, latent: LatentSpec, network: NetworkSpec, config: TrainConfig, images: torch.Tensor,
                 device: torch.device, seeds: list[int], collapse: CollapseRule = CollapseRule()):
        if len(set(seeds)) != len(seeds) or not seeds:
            raise ValueError(f"seeds must be distinct and at least one: {seeds}")
        self.latent, self.network, self.config, self.collapse = latent, network, config, collapse
        self.images, self.device, self.seeds = images, device, list(seeds)
        generators, discriminators = [], []
        self.data_rngs, self.latent_rngs, permutations = [], [], []
        for seed in seeds:  # the same draws, in the same order, as Trainer(seed)
            seed_everything(seed)
            generator, discriminator = build_networks(latent.input_dim, latent.q_dim, network)
            generators.append(generator.to(device))
            discriminators.append(discriminator.to(device))
            self.data_rngs.append(torch.Generator(device=device).manual_seed(seed + 1))
            self.latent_rngs.append(torch.Generator(device=device).manual_seed(seed + 2))
            permutations.append(torch.randperm(len(images), device=device, generator=self.data_rngs[-1]))
        self.permutations = torch.stack(permutations)
        self.generator, self.discriminator = StackedModules(generators), StackedModules(discriminators)
        self.step = InfoGANStep(latent, self.generator, self.discriminator, config, device)
        self.position = 0
        self.iteration = 0
        self.wall_seconds = 0.0
        self.histories: list[list[dict]] = [[] for _ in seeds]
        self.failures: dict[int, TrainingDiverged] = {}

    def next_batch(self) -> torch.Tensor:
        """Each seed's next batch of its own epoch permutation, stacked: [K, batch, C, H, W]."""
        b = self.config.batch_size
        if self.position + b > self.permutations.shape[1]:
            self.permutations = torch.stack([torch.randperm(len(self.images), device=self.device, generator=g)
                                             for g in self.data_rngs])
            self.position = 0
        index = self.permutations[:, self.position:self.position + b]
        self.position += b
        return self.images[index]

    def state_dict(self, k: int, optimisers: bool = True) -> dict:
        """Seed ``self.seeds[k]``'s state in the lone Trainer's checkpoint format (``optimisers``
        as there)."""
        count = len(self.seeds)
        return {
            "format": STATE_FORMAT,
            "iteration": self.iteration,
            "wall_seconds": self.wall_seconds,
            "generator": self.generator.state_dict(k),
            "discriminator": self.discriminator.state_dict(k),
            "opt_g": optimizer_state_slice(self.step.opt_g.state_dict(), k, count) if optimisers else None,
            "opt_d": optimizer_state_slice(self.step.opt_d.state_dict(), k, count) if optimisers else None,
            "rng_torch": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "rng_numpy": _numpy_state(),
            "rng_python": list(random.getstate()[1]),
            "rng_data": self.data_rngs[k].get_state(),
            "rng_latent": self.latent_rngs[k].get_state(),
            "permutation": self.permutations[k].clone(),
            "position": self.position,
            "history": list(self.histories[k]),
        }

    def _log(self, sums: torch.Tensor, count: int,
             on_log: Callable[["StackedTrainer", int, dict], dict | None] | None) -> None:
        means = (sums / count).tolist()
        for k, seed_means in enumerate(means):
            if k in self.failures:
                continue
            try:
                row = log_row(self.latent, self.iteration, self.wall_seconds, seed_means)
            except TrainingDiverged as exc:
                self.failures[k] = exc
                continue
            collapsed = self.collapse.check(self.histories[k] + [row])
            if collapsed:
                self.histories[k].append(row)
                self.failures[k] = TrainingDiverged(self.iteration, collapsed)
                continue
            if on_log is not None:
                row.update(on_log(self, k, row) or {})
            self.histories[k].append(row)

    def train(self, on_log: Callable[["StackedTrainer", int, dict], dict | None] | None = None,
              on_checkpoint: Callable[["StackedTrainer"], None] | None = None,
              progress: bool = True, description: str = "train") -> list[list[dict]]:
        """Train every seed up to ``config.iterations``; returns the histories, one per seed.

        ``on_log(trainer, k, row)`` runs for each live seed at every log point and may return
        extra columns; ``on_checkpoint(trainer)`` every ``checkpoint_every`` iterations and at
        the end. Training stops early only when every seed has failed.
        """
        training_loop(self, lambda: self.step(self.next_batch(), self.latent_rngs),
                      lambda sums, count: self._log(sums, count, on_log), on_checkpoint, progress, description,
                      keep_going=lambda: len(self.failures) < len(self.seeds))
        return self.histories
