"""Traversal figures again, from a run's checkpoint: the generator rebuilt from the suite spec,
its weights loaded, and one grid per code written with the chosen rows, steps and range."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from bench.figures import traversal_figure
from bench.runner import CHECKPOINT
from bench.suites import SUITES, Suite
from models.networks import build_networks
from models.sampling import traversal_inputs


class TraversalError(Exception):
    """The run folder, its checkpoint or the requested codes cannot be used; one-line message."""


@dataclass(frozen=True)
class TraversalSettings:
    codes: list[str] | None = None     # None: every code of the suite
    low: float = -2.0                  # range of a continuous code
    high: float = 2.0
    rows: int = 10                     # fixed noise vectors, one per row
    steps: int = 10                    # values of a continuous code (a categorical one shows all K)

    def check(self) -> None:
        if self.rows < 1:
            raise TraversalError(f"--rows must be at least 1, not {self.rows}")
        if self.steps < 2:
            raise TraversalError(f"--steps must be at least 2, not {self.steps}")
        if not self.low < self.high:
            raise TraversalError(f"--range needs LOW < HIGH, not {self.low:g} {self.high:g}")


def load_checkpoint(run: Path) -> dict:
    """The run's checkpoint dict ({"identity", "trainer"}), loaded on the CPU, weights only."""
    if not run.is_dir():
        raise TraversalError(f"no run folder {run}")
    path = run / CHECKPOINT
    if not path.is_file():
        raise TraversalError(f"no {CHECKPOINT} in {run}: the run has not saved a checkpoint")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a damaged or foreign file: name it, in one line
        raise TraversalError(f"cannot read {path} ({type(exc).__name__}); is the file complete?") from None
    if not (isinstance(saved, dict) and "suite" in saved.get("identity", {})
            and "generator" in saved.get("trainer", {})):
        raise TraversalError(f"{path} is not a run checkpoint (no identity or generator weights)")
    return saved


def load_generator(saved: dict) -> tuple[Suite, torch.nn.Module]:
    """The suite of a checkpoint and its generator, in eval mode on the CPU."""
    name = saved["identity"]["suite"]
    if name not in SUITES:
        raise TraversalError(f"the checkpoint's suite {name!r} is not one of: {', '.join(SUITES)}")
    suite = SUITES[name]
    generator, _ = build_networks(suite.latent.input_dim, suite.latent.q_dim, suite.network)
    try:
        generator.load_state_dict(saved["trainer"]["generator"])
    except RuntimeError:
        raise TraversalError(f"the checkpoint's generator does not fit the {name!r} suite's networks "
                             "(made with other settings)") from None
    return suite, generator.eval()


def chosen_codes(suite: Suite, codes: list[str] | None) -> list[int]:
    """Indices of the requested codes in the suite's latent spec (all codes when None)."""
    names = suite.latent.code_names
    if codes is None:
        return list(range(len(names)))
    unknown = [c for c in codes if c not in names]
    if unknown:
        raise TraversalError(f"unknown code {unknown[0]!r}; this run's codes: {', '.join(names)}")
    return [names.index(c) for c in codes]


@torch.no_grad()
def write_traversals(run: Path, settings: TraversalSettings, folder: Path | None = None) -> list[Path]:
    """Regenerate ``traversal_<code>.png`` for the chosen codes of the run at ``run`` into
    ``folder`` (default ``<run>/figures``); returns the written paths."""
    settings.check()
    run = Path(run)
    saved = load_checkpoint(run)
    suite, generator = load_generator(saved)
    indices = chosen_codes(suite, settings.codes)
    identity = saved["identity"]
    folder = Path(folder) if folder is not None else run / "figures"
    written = []
    for index in indices:
        code = suite.latent.codes[index]
        inputs, values = traversal_inputs(suite.latent, index, settings.rows, steps=settings.steps,
                                          low=settings.low, high=settings.high, seed=int(identity["seed"]))
        images = generator(inputs).float()
        title = f"{identity['suite']} {identity['model']} seed {identity['seed']}: varying {code.name}"
        path = folder / f"traversal_{code.name}.png"
        traversal_figure(images, settings.rows, values, code.name, code.kind, title, path)
        written.append(path)
    return written
