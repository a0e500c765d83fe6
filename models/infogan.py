"""One InfoGAN (or GAN-baseline) training step: one D/Q update, then one G update.

Objective (paper, Eq. 6): min_{G,Q} max_D V(D, G) - lambda * L_I(G, Q), with
L_I = E_{c, z}[log Q(c | G(z, c))] + H(c).

* D/Q step: BCE on real (label 1) and on detached fakes (label 0), plus the MI term
  -sum_i lambda_i E[log Q(c_i | G(z, c))] on the detached fakes, so Q's loss also trains the
  body Q shares with D.
* G step: the non-saturating loss BCE(D(G(z, c)), 1) through the updated D, plus, for
  InfoGAN only, the same MI term. The GAN baseline differs in exactly that term: its G gets
  no MI gradient while its Q is trained as before, so L_I stays measurable.
* The D step sends real and fake through D in one call, each batch norm still per batch
  (``Discriminator(x, batches=2)``), which is two calls' arithmetic in fewer kernels. The G step
  reuses the D step's fakes, as most public ports do; with ``fresh_g_latent`` it draws its own
  (z, c) and generates again, as the official code does (each of its two session runs samples
  the prior).
* With ``simultaneous`` both updates come from one forward pass: G's loss is taken on the same
  D(fake) as D's, at D's weights before its update, and two backward passes (one for D's
  weights, one through D to G's) replace the G step's own D pass. D is called once per batch
  here, so that G's backward pass runs through the fakes' graph alone. It saves a D pass (and
  the recast of D's weights under bf16) but changes the algorithm from alternating to
  simultaneous gradient steps.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from models.cuda_graph import GraphedStep
from models.host_heap import keep_freed_memory
from models.latent import LatentSpec
from models.stacked import StackedModules

PRECISIONS = ("fp32", "bf16")

# One generator for a lone run, one per copy for stacked copies.
LatentRng = torch.Generator | Sequence[torch.Generator] | None


@dataclass(frozen=True)
class TrainConfig:
    """The optimisation recipe; defaults are the official MNIST recipe (batch 128, 5,000 steps)."""

    iterations: int = 5000
    batch_size: int = 128
    lr_g: float = 1e-3
    lr_d: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_cat: float = 1.0
    lambda_cont: float = 0.1
    mutual_info: bool = True
    log_every: int = 50
    checkpoint_every: int = 500
    precision: str = "fp32"
    channels_last: bool = False    # conv activations and weights in NHWC
    fused_optimizer: bool = False  # Adam's fused kernel instead of its per-tensor loop
    compile: bool = False          # torch.compile G and D (in place; state dicts keep their keys)
    cuda_graph: bool = False       # replay each step from one captured CUDA graph (CUDA only)
    fresh_g_latent: bool = False   # the G step draws a new latent batch instead of reusing the D step's
    simultaneous: bool = False     # G's gradient from the D step's forward pass (D before its update)

    def __post_init__(self) -> None:
        if self.iterations <= 0 or self.batch_size <= 0:
            raise ValueError("iterations and batch_size must be positive")
        if self.log_every <= 0 or self.checkpoint_every <= 0:
            raise ValueError("log_every and checkpoint_every must be positive")
        if self.checkpoint_every % self.log_every:
            raise ValueError("checkpoint_every must be a multiple of log_every (a resumed log interval starts clean)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.cuda_graph and self.compile:
            raise ValueError("cuda_graph and compile are alternatives: choose one")
        if self.simultaneous and self.fresh_g_latent:
            raise ValueError("simultaneous updates share the D step's fakes; fresh_g_latent draws new ones")


# Order of the values a step returns (then one mean log Q per code).
STEP_STATS = ("loss_d", "loss_g", "loss_q")


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 matrix products natively: CUDA GPUs that report bf16
    support, CPUs with AVX512-BF16 or AMX tiles (elsewhere bf16 is emulated and slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    return False


class EmulatedBf16Warning(UserWarning):
    """bf16 was asked for on a device that only emulates it."""


def default_precision(device: torch.device) -> str:
    """The toolkit's default precision on ``device``: bf16 autocast where bf16 is native, else
    fp32 (README, Speed: the measurements behind this choice)."""
    return "bf16" if native_bf16(device) else "fp32"


def default_cuda_graph(device: torch.device, compile: bool) -> bool:
    """Whether the training step is replayed from a CUDA graph by default: on a CUDA device,
    unless the step is compiled (the two are alternatives)."""
    return device.type == "cuda" and not compile


def autocast_context(device: torch.device, precision: str, cache: bool = True):
    """bf16 autocast on the device when asked for (master weights stay fp32), else nothing.

    ``cache=False`` recasts weights at every use, as code captured in a CUDA graph must.
    """
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16, cache_enabled=cache)
    return nullcontext()


class InfoGANStep:
    """Holds the optimisers and performs training steps without any host synchronisation."""

    def __init__(self, latent: LatentSpec, generator: nn.Module | StackedModules,
                 discriminator: nn.Module | StackedModules,
                 config: TrainConfig, device: torch.device):
        self.latent, self.generator, self.discriminator = latent, generator, discriminator
        self.config, self.device = config, device
        self.copies = generator.count if isinstance(generator, StackedModules) else None
        if config.cuda_graph and device.type != "cuda":
            raise ValueError(f"cuda_graph needs a CUDA device, not {device}")
        if self.copies is not None and (config.channels_last or config.compile):
            raise ValueError("stacked copies take neither channels_last nor compile")
        if config.precision == "bf16" and not native_bf16(device):
            warnings.warn(f"bf16 is emulated on this {device.type} (no native bf16 matrix products): "
                          "26 times slower than fp32, the default here, on a 2-core AVX2 CPU (README, Speed)",
                          EmulatedBf16Warning, stacklevel=2)
        if device.type == "cpu":
            keep_freed_memory()
        if config.channels_last:
            generator.to(memory_format=torch.channels_last)
            discriminator.to(memory_format=torch.channels_last)
        if config.compile:
            generator.compile()
            discriminator.compile()
        betas = (config.beta1, config.beta2)
        fused = True if config.fused_optimizer else None
        capturable = config.cuda_graph  # step counts on the device, updated inside the graph
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=betas, fused=fused,
                                      capturable=capturable)
        self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=betas, fused=fused,
                                      capturable=capturable)
        self.params_g, self.params_d = list(generator.parameters()), list(discriminator.parameters())
        self._graphed: GraphedStep | None = None
        self._graph_rng: torch.Generator | None = None
        self.code_weights = torch.tensor(
            [config.lambda_cat if code.kind == "categorical" else config.lambda_cont for code in latent.codes],
            device=device,
        )

    def mi_loss(self, q_out: torch.Tensor, codes: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(-sum_i lambda_i mean log Q(c_i|x), mean log Q per code), per stacked copy if stacked."""
        mean_loglik = self.latent.log_likelihoods(q_out, codes).mean(dim=-2)
        return -(mean_loglik * self.code_weights).sum(dim=-1), mean_loglik

    def generator_loss(self, fake: torch.Tensor, codes: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(G's loss, [BCE term, mean log Q per code]) for fakes ``fake`` = G(z, c) through the current D.

        G's loss is BCE(D(fake), 1), plus -sum_i lambda_i E[log Q(c_i | fake)] for InfoGAN only.
        """
        with self._autocast():
            d_gen, q_gen = self.discriminator(fake)
            loss_g = batch_bce(d_gen, 1.0)
            mi_g, mean_loglik = self.mi_loss(q_gen, codes)
        total = loss_g + mi_g if self.config.mutual_info else loss_g
        return total, torch.cat([loss_g.unsqueeze(-1), mean_loglik], dim=-1)

    def _autocast(self):
        return autocast_context(self.device, self.config.precision, cache=not self.config.cuda_graph)

    def __call__(self, real_uint8: torch.Tensor, latent_rng: LatentRng = None) -> torch.Tensor:
        """One D/Q update and one G update; returns [loss_d, loss_g, loss_q, mean log Q per code]
        ([K, ...] for K stacked copies, which take ``real_uint8`` [K, n, C, H, W] and one
        generator each in ``latent_rng``).

        With ``cuda_graph`` the step is replayed from a CUDA graph after a few eager calls
        (models.cuda_graph); the latent generators must then stay the same at every call.
        """
        if not self.config.cuda_graph:
            return self.eager_step(real_uint8, latent_rng)
        if self._graphed is None:
            self._graph_rng = latent_rng
            generators = [] if latent_rng is None else [latent_rng] if isinstance(latent_rng, torch.Generator) \
                else list(latent_rng)
            self._graphed = GraphedStep(lambda batch: self.eager_step(batch, latent_rng), generators)
        elif latent_rng is not self._graph_rng:
            raise ValueError("a graphed step draws from the generators it was captured with")
        return self._graphed(real_uint8)

    def sample_latent(self, n: int, latent_rng: LatentRng) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(noise, codes) for n images, or for n images of each stacked copy, each copy from its
        own generator (so copy k draws what a lone run with that generator draws)."""
        latent, device = self.latent, self.device
        if self.copies is None:
            return latent.sample_noise(n, device, latent_rng), latent.sample_codes(n, device, latent_rng)
        generators = list(latent_rng) if latent_rng is not None else [None] * self.copies
        if len(generators) != self.copies:
            raise ValueError(f"{len(generators)} latent generators for {self.copies} stacked copies")
        drawn = [(latent.sample_noise(n, device, g), latent.sample_codes(n, device, g)) for g in generators]
        noise = torch.stack([noise for noise, _ in drawn])
        codes = [torch.stack([c[i] for _, c in drawn]) for i in range(len(latent.codes))]
        return noise, codes

    def eager_step(self, real_uint8: torch.Tensor, latent_rng: LatentRng = None) -> torch.Tensor:
        """The step itself, run op by op (see __call__)."""
        G, D, latent = self.generator, self.discriminator, self.latent
        real = real_uint8.float().div_(255.0)
        if self.config.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        n, fresh = real.shape[-4], self.config.fresh_g_latent
        noise, codes = self.sample_latent(n, latent_rng)
        if self.config.simultaneous:
            return self.simultaneous_step(real, noise, codes)

        with self._autocast():
            with torch.no_grad() if fresh else nullcontext():  # these fakes reach G's update only when reused
                fake = G(latent.generator_input(noise, codes))
            # real and fake through D in one call, batch norm still per batch (= D(real), D(fake))
            d_out, q_out = D(torch.cat([real, fake.detach()], dim=-4), batches=2)
            d_real, d_fake, q_fake = d_out[..., :n], d_out[..., n:], q_out[..., n:, :]
            loss_d = batch_bce(d_real, 1.0) + batch_bce(d_fake, 0.0)
            loss_q, _ = self.mi_loss(q_fake, codes)
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d + loss_q).sum().backward()  # a sum over stacked copies leaves each its own gradient
        self.opt_d.step()

        D.requires_grad_(False)  # G's step needs gradients through D, not for D's weights
        if fresh:
            noise, codes = self.sample_latent(n, latent_rng)
            with self._autocast():
                fake = G(latent.generator_input(noise, codes))
        total_g, g_stats = self.generator_loss(fake, codes)
        self.opt_g.zero_grad(set_to_none=True)
        total_g.sum().backward()
        self.opt_g.step()
        D.requires_grad_(True)

        return step_stats(loss_d, g_stats[..., 0], loss_q, g_stats[..., 1:])

    def simultaneous_step(self, real: torch.Tensor, noise: torch.Tensor, codes: list[torch.Tensor]) -> torch.Tensor:
        """Both updates from one pass of real and fake through D (simultaneous gradient steps).

        D/Q descend on BCE(D(x), 1) + BCE(D(G(z, c)), 0) - L_I and G on BCE(D(G(z, c)), 1) - L_I
        (no L_I for the GAN baseline), all at the current weights; the two backward passes keep
        the gradients apart (D's weights get none of G's loss, G's none of D's).
        """
        G, D = self.generator, self.discriminator
        with self._autocast():
            fake = G(self.latent.generator_input(noise, codes))
            d_real, _ = D(real)
            d_fake, q_fake = D(fake)
            loss_d = batch_bce(d_real, 1.0) + batch_bce(d_fake, 0.0)
            loss_q, mean_loglik = self.mi_loss(q_fake, codes)
            loss_g = batch_bce(d_fake, 1.0)
        total_g = loss_g + loss_q if self.config.mutual_info else loss_g
        self.opt_d.zero_grad(set_to_none=True)
        self.opt_g.zero_grad(set_to_none=True)
        torch.autograd.backward((loss_d + loss_q).sum(), inputs=self.params_d, retain_graph=True)
        torch.autograd.backward(total_g.sum(), inputs=self.params_g)
        self.opt_d.step()
        self.opt_g.step()
        return step_stats(loss_d, loss_g, loss_q, mean_loglik)


def step_stats(loss_d: torch.Tensor, loss_g: torch.Tensor, loss_q: torch.Tensor,
               mean_loglik: torch.Tensor) -> torch.Tensor:
    """A step's returned values in STEP_STATS order, then the mean log Q per code (detached)."""
    return torch.cat([torch.stack([loss_d, loss_g, loss_q], dim=-1), mean_loglik], dim=-1).detach()


def batch_bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Mean over the batch (last dimension) of BCE(sigmoid(logits), target), in fp32."""
    logits = logits.float()
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target), reduction="none").mean(dim=-1)
