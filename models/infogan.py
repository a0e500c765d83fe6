"""One InfoGAN (or GAN-baseline) training step: one D/Q update, then one G update.

Objective (paper, Eq. 6): min_{G,Q} max_D V(D, G) - lambda * L_I(G, Q), with
L_I = E_{c, z}[log Q(c | G(z, c))] + H(c).

* D/Q step: BCE on real (label 1) and on detached fakes (label 0), plus the MI term
  -sum_i lambda_i E[log Q(c_i | G(z, c))] on the detached fakes, so Q's loss also trains the
  body Q shares with D.
* G step: the non-saturating loss BCE(D(G(z, c)), 1) through the updated D, plus, for
  InfoGAN only, the same MI term. The GAN baseline differs in exactly that term: its G gets
  no MI gradient while its Q is trained as before, so L_I stays measurable.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from models.latent import LatentSpec

PRECISIONS = ("fp32", "bf16")


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

    def __post_init__(self) -> None:
        if self.iterations <= 0 or self.batch_size <= 0:
            raise ValueError("iterations and batch_size must be positive")
        if self.log_every <= 0 or self.checkpoint_every <= 0:
            raise ValueError("log_every and checkpoint_every must be positive")
        if self.checkpoint_every % self.log_every:
            raise ValueError("checkpoint_every must be a multiple of log_every (a resumed log interval starts clean)")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")


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


def default_precision(device: torch.device) -> str:
    """The toolkit's default precision on ``device``: bf16 autocast where bf16 is native, else
    fp32 (README, Speed: the measurements behind this choice)."""
    return "bf16" if native_bf16(device) else "fp32"


def autocast_context(device: torch.device, precision: str):
    """bf16 autocast on the device when asked for (master weights stay fp32), else nothing."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


class InfoGANStep:
    """Holds the optimisers and performs training steps without any host synchronisation."""

    def __init__(self, latent: LatentSpec, generator: nn.Module, discriminator: nn.Module,
                 config: TrainConfig, device: torch.device):
        self.latent, self.generator, self.discriminator = latent, generator, discriminator
        self.config, self.device = config, device
        if config.channels_last:
            generator.to(memory_format=torch.channels_last)
            discriminator.to(memory_format=torch.channels_last)
        if config.compile:
            generator.compile()
            discriminator.compile()
        betas = (config.beta1, config.beta2)
        fused = True if config.fused_optimizer else None
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=betas, fused=fused)
        self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=betas, fused=fused)
        self.code_weights = torch.tensor(
            [config.lambda_cat if code.kind == "categorical" else config.lambda_cont for code in latent.codes],
            device=device,
        )

    def mi_loss(self, q_out: torch.Tensor, codes: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(-sum_i lambda_i mean log Q(c_i|x), mean log Q per code [number of codes])."""
        mean_loglik = self.latent.log_likelihoods(q_out, codes).mean(dim=0)
        return -(mean_loglik * self.code_weights).sum(), mean_loglik

    def generator_loss(self, fake: torch.Tensor, codes: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(G's loss, mean log Q per code) for fakes ``fake`` = G(z, c) through the current D.

        G's loss is BCE(D(fake), 1), plus -sum_i lambda_i E[log Q(c_i | fake)] for InfoGAN only.
        """
        with autocast_context(self.device, self.config.precision):
            d_gen, q_gen = self.discriminator(fake)
            loss_g = F.binary_cross_entropy_with_logits(d_gen.float(), torch.ones_like(d_gen, dtype=torch.float32))
            mi_g, mean_loglik = self.mi_loss(q_gen, codes)
        return (loss_g + mi_g if self.config.mutual_info else loss_g), torch.stack([loss_g, *mean_loglik])

    def __call__(self, real_uint8: torch.Tensor, latent_rng: torch.Generator | None = None) -> torch.Tensor:
        """One D/Q update and one G update; returns [loss_d, loss_g, loss_q, mean log Q per code]."""
        G, D, latent = self.generator, self.discriminator, self.latent
        real = real_uint8.float().div_(255.0)
        if self.config.channels_last:
            real = real.contiguous(memory_format=torch.channels_last)
        n = real.shape[0]
        noise = latent.sample_noise(n, self.device, latent_rng)
        codes = latent.sample_codes(n, self.device, latent_rng)

        with autocast_context(self.device, self.config.precision):
            fake = G(latent.generator_input(noise, codes))
            d_real, _ = D(real)
            d_fake, q_fake = D(fake.detach())
            loss_d = (F.binary_cross_entropy_with_logits(d_real.float(), torch.ones(n, device=self.device))
                      + F.binary_cross_entropy_with_logits(d_fake.float(), torch.zeros(n, device=self.device)))
            loss_q, _ = self.mi_loss(q_fake, codes)
        self.opt_d.zero_grad(set_to_none=True)
        (loss_d + loss_q).backward()
        self.opt_d.step()

        D.requires_grad_(False)  # G's step needs gradients through D, not for D's weights
        total_g, g_stats = self.generator_loss(fake, codes)
        self.opt_g.zero_grad(set_to_none=True)
        total_g.backward()
        self.opt_g.step()
        D.requires_grad_(True)

        return torch.cat([torch.stack([loss_d, g_stats[0], loss_q]), g_stats[1:]]).detach()
