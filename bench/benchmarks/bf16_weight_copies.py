"""bf16 weight copies written by the optimiser instead of autocast's casts: the step timed both ways.

    python -m bench.benchmarks.bf16_weight_copies [--steps 15] [--repeats 15] [--check-steps 20]
        [--batch-size 128] [--out results/bench_bf16_weight_copies]

Under bf16 autocast each convolution and linear layer casts its fp32 weight and bias to bf16 at
every call (D's twice an iteration, since D changes between its step and G's), and the backward
pass casts each bf16 weight gradient back to fp32 for Adam: 12-15% of the step's time in the
CPU step profile (``bench.benchmarks.step_profile``). The other way holds those layers' weights
and biases in bf16 in the networks themselves, so autocast has nothing to cast, and keeps the
fp32 master weights in the optimiser, whose update (one torch.compile'd function) reads the
bf16 gradients, updates master weights and moments in fp32 and writes the bf16 copies in the
same pass. The arithmetic is the fast path's: a copy holds what autocast's cast of the master
gives, a gradient is what autocast computes before widening it, and the update is
torch.optim.Adam's; only the optimiser's rounding order differs from the fused kernel's.

Both ways are the toolkit's MNIST step (bf16, paper recipe; the usual way with fused Adam) from
the same weights, on index-drawn batches of random uint8 images; the repeats alternate between
them. Before timing, ``--check-steps`` steps of each from the same seed, on the same batches and
latent draws, give the largest difference between their losses. Writes
``<out>/bf16_weight_copies.csv``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from bench.aggregate import write_csv
from bench.perf import random_images, seeded_networks
from models.infogan import InfoGANStep, TrainConfig

AUTOCAST_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)  # the layers autocast computes in bf16 on the CPU


def adam_update(masters: list[torch.Tensor], grads: list[torch.Tensor], exp_avgs: list[torch.Tensor],
                exp_avg_sqs: list[torch.Tensor], copies: list[torch.Tensor | None], step_size: torch.Tensor,
                bias_correction2_sqrt: torch.Tensor, beta1: float, beta2: float, eps: float) -> None:
    """Adam as torch.optim.Adam computes it (no weight decay), on fp32 master weights from
    gradients of any float dtype: m <- beta1 m + (1 - beta1) g, v <- beta2 v + (1 - beta2) g^2,
    p <- p - step_size * m / (sqrt(v) / bias_correction2_sqrt + eps), where at step t
    step_size = lr / (1 - beta1^t) and bias_correction2_sqrt = sqrt(1 - beta2^t); then each
    master is written into its copy (in the copy's dtype) where it has one."""
    for master, grad, exp_avg, exp_avg_sq, copy in zip(masters, grads, exp_avgs, exp_avg_sqs, copies):
        grad = grad.float()
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        master.sub_(exp_avg / denom * step_size)
        if copy is not None:
            copy.copy_(master)


class Bf16CopyAdam:
    """Adam for a network whose convolution and linear parameters are bf16 copies of fp32 master
    weights held here; the network's other parameters (batch norm) are their own masters.

    Replaces a torch.optim.Adam in place: ``zero_grad`` and ``step`` as it has them. The update
    runs torch.compile'd (one pass over each tensor); ``compile=False`` runs the same arithmetic
    op by op, without the compiler's start-up (about 30 s in a fresh process).
    """

    def __init__(self, network: nn.Module, lr: float, betas: tuple[float, float], eps: float = 1e-8,
                 compile: bool = True):
        in_bf16 = {id(p) for layer in network.modules() if isinstance(layer, AUTOCAST_LAYERS)
                   for p in layer.parameters(recurse=False)}
        self.params = list(network.parameters())
        self.masters, self.copies = [], []
        for param in self.params:
            if id(param) in in_bf16:
                self.masters.append(param.detach().clone())
                param.data = param.data.to(torch.bfloat16)
                self.copies.append(param.detach())
            else:
                self.masters.append(param.detach())
                self.copies.append(None)
        self.exp_avgs = [torch.zeros_like(m) for m in self.masters]
        self.exp_avg_sqs = [torch.zeros_like(m) for m in self.masters]
        self.step_count = 0
        self.lr, (self.beta1, self.beta2), self.eps = lr, betas, eps
        self._update = torch.compile(adam_update, dynamic=False) if compile else adam_update

    def zero_grad(self, set_to_none: bool = True) -> None:
        for param in self.params:
            param.grad = None

    @torch.no_grad()
    def step(self) -> None:
        grads = [param.grad for param in self.params]
        if any(grad is None for grad in grads):
            raise RuntimeError("every parameter needs a gradient before the update")
        self.step_count += 1
        # bias corrections in float64 on the host, as torch.optim.Adam computes them; passed as
        # tensors so that the compiled update does not specialise on the step
        step_size = torch.tensor(self.lr / (1 - self.beta1 ** self.step_count), dtype=torch.float64)
        bias_correction2_sqrt = torch.tensor((1 - self.beta2 ** self.step_count) ** 0.5, dtype=torch.float64)
        self._update(self.masters, grads, self.exp_avgs, self.exp_avg_sqs, self.copies, step_size,
                     bias_correction2_sqrt, self.beta1, self.beta2, self.eps)


WAYS = ("autocast casts", "bf16 copies")


def use_bf16_copies(step: InfoGANStep, compile: bool = True) -> None:
    """Replace, in place, both optimisers of a built step by Bf16CopyAdam with the step's learning
    rates and betas (its update compiled unless ``compile`` is False)."""
    config, betas = step.config, (step.config.beta1, step.config.beta2)
    step.opt_g = Bf16CopyAdam(step.generator, config.lr_g, betas, compile=compile)
    step.opt_d = Bf16CopyAdam(step.discriminator, config.lr_d, betas, compile=compile)


def build_step(way: str, batch_size: int, compile: bool = True) -> InfoGANStep:
    """The MNIST paper-recipe step in bf16 on the CPU (seeded weights): with fused Adam
    (``autocast casts``) or with both optimisers replaced by Bf16CopyAdam (``bf16 copies``,
    its update compiled unless ``compile`` is False)."""
    device = torch.device("cpu")
    suite, G, D = seeded_networks("mnist", device)
    config = TrainConfig(batch_size=batch_size, precision="bf16", fused_optimizer=True)
    step = InfoGANStep(suite.latent, G, D, config, device)
    if way == "bf16 copies":
        use_bf16_copies(step, compile)
    return step


def _batches(batch_size: int):
    """(random uint8 images, index generator, latent generator), the same for every step built."""
    data = random_images("mnist", 60000)
    return data, torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)


def _run(step: InfoGANStep, n: int, data: torch.Tensor, index_rng: torch.Generator,
         latent_rng: torch.Generator, batch_size: int) -> list[torch.Tensor]:
    return [step(data[torch.randint(len(data), (batch_size,), generator=index_rng)], latent_rng) for _ in range(n)]


def step_stats(steps: int, batch_size: int, compile: bool = True) -> dict[str, torch.Tensor]:
    """Each way's [steps, values] of what its step returns (the losses, then the mean log Q per
    code), from the same seed, batches and latent draws."""
    stats = {}
    for way in WAYS:
        data, index_rng, latent_rng = _batches(batch_size)
        step = build_step(way, batch_size, compile)
        stats[way] = torch.stack(_run(step, steps, data, index_rng, latent_rng, batch_size))
    return stats


def images_per_second(steps: int, repeats: int, batch_size: int) -> dict[str, list[float]]:
    """images/s of each way, one value per repeat (after 5 warm-up steps each, compiling included)."""
    data, index_rng, latent_rng = _batches(batch_size)
    ways = {way: build_step(way, batch_size) for way in WAYS}
    for step in ways.values():
        _run(step, 5, data, index_rng, latent_rng, batch_size)
    rates: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(repeats):
        for way, step in ways.items():
            start = time.perf_counter()
            _run(step, steps, data, index_rng, latent_rng, batch_size)
            rates[way].append(steps * batch_size / (time.perf_counter() - start))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--check-steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", default="results/bench_bf16_weight_copies")
    args = parser.parse_args()
    stats = step_stats(args.check_steps, args.batch_size)
    differences = (stats["bf16 copies"] - stats["autocast casts"]).abs()
    rates = images_per_second(args.steps, args.repeats, args.batch_size)
    ratios = [c / a for a, c in zip(rates["autocast casts"], rates["bf16 copies"])]
    table = pd.DataFrame([{"way": way, "images_per_s": statistics.median(values),
                           "range": f"{min(values):.0f}-{max(values):.0f}"} for way, values in rates.items()])
    table["median_ratio_of_paired_repeats"] = [1.0, statistics.median(ratios)]
    table["paired_ratio_range"] = ["", f"{min(ratios):.3f}-{max(ratios):.3f}"]
    table["max_loss_difference"] = [0.0, differences.max().item()]
    table["max_loss_difference_first_step"] = [0.0, differences[0].max().item()]
    table["threads"], table["steps"], table["repeats"] = torch.get_num_threads(), args.steps, args.repeats
    table["check_steps"] = args.check_steps
    write_csv(table, Path(args.out) / "bf16_weight_copies.csv")
    print(table.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
