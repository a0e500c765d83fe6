"""The latent input of InfoGAN: noise z plus codes c_i, each with its prior and its Q-head.

For every code this module gives the prior sample, how many generator inputs it takes,
how many Q-head outputs parameterise Q(c_i | x), the log-likelihood log Q(c_i | x), and
the prior entropy H(c_i), so that L_I = E[log Q(c|G(z,c))] + H(c) (paper, Sec. 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

LOG_STD_MIN, LOG_STD_MAX = -5.0, 3.0


@dataclass(frozen=True)
class CategoricalCode:
    """c ~ Cat(K), fed to G as one-hot; Q outputs K logits; log Q = log-softmax; H = ln K."""

    size: int
    name: str = "cat"
    kind: str = field(default="categorical", init=False)

    @property
    def input_dim(self) -> int:
        return self.size

    @property
    def q_dim(self) -> int:
        return self.size

    def entropy(self) -> float:
        return math.log(self.size)

    def sample(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        """One-hot rows [n, K] with the category drawn uniformly."""
        index = torch.randint(self.size, (n,), device=device, generator=generator)
        return F.one_hot(index, self.size).float()

    def log_likelihood(self, q_params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """log Q(c = value | x) per row, from logits ``q_params`` [n, K] and one-hot ``value``."""
        return (F.log_softmax(q_params.float(), dim=1) * value).sum(dim=1)

    def traversal(self, steps: int | None = None, low: float = -2.0, high: float = 2.0) -> torch.Tensor:
        """The K one-hot values 0..K-1 in order."""
        return torch.eye(self.size)


@dataclass(frozen=True)
class UniformCode:
    """c ~ Unif(low, high); Q is a Gaussian with a mean and a log-std (paper) or a fixed std of 1.

    H(Unif[low, high]) = ln(high - low) (ln 2 for [-1, 1]).
    """

    name: str
    low: float = -1.0
    high: float = 1.0
    learn_std: bool = True
    kind: str = field(default="uniform", init=False)

    @property
    def input_dim(self) -> int:
        return 1

    @property
    def q_dim(self) -> int:
        return 2 if self.learn_std else 1

    def entropy(self) -> float:
        return math.log(self.high - self.low)

    def sample(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(n, 1, device=device, generator=generator) * (self.high - self.low) + self.low

    def gaussian_params(self, q_params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean [n], log-std [n]) of Q(c | x)."""
        q_params = q_params.float()
        mean = q_params[:, 0]
        if not self.learn_std:
            return mean, torch.zeros_like(mean)
        return mean, q_params[:, 1].clamp(LOG_STD_MIN, LOG_STD_MAX)

    def log_likelihood(self, q_params: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """log N(value; mean, std^2) = -(value - mean)^2 / (2 std^2) - log std - ln(2 pi) / 2."""
        mean, log_std = self.gaussian_params(q_params)
        z = (value[:, 0] - mean) * torch.exp(-log_std)
        return -0.5 * z.pow(2) - log_std - 0.5 * math.log(2 * math.pi)

    def traversal(self, steps: int = 10, low: float = -2.0, high: float = 2.0) -> torch.Tensor:
        """``steps`` values evenly spaced over [low, high], as rows [steps, 1]."""
        return torch.linspace(low, high, steps).unsqueeze(1)


Code = CategoricalCode | UniformCode


@dataclass(frozen=True)
class LatentSpec:
    """Noise z ~ Unif(-1, 1)^noise_dim followed by the codes, in generator-input order."""

    noise_dim: int
    codes: tuple[Code, ...]

    @property
    def input_dim(self) -> int:
        return self.noise_dim + sum(code.input_dim for code in self.codes)

    @property
    def q_dim(self) -> int:
        return sum(code.q_dim for code in self.codes)

    @property
    def code_names(self) -> list[str]:
        return [code.name for code in self.codes]

    def entropies(self) -> list[float]:
        return [code.entropy() for code in self.codes]

    def sample_noise(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.rand(n, self.noise_dim, device=device, generator=generator) * 2 - 1

    def sample_codes(self, n: int, device: torch.device, generator: torch.Generator | None = None) -> list[torch.Tensor]:
        return [code.sample(n, device, generator) for code in self.codes]

    def generator_input(self, noise: torch.Tensor, codes: list[torch.Tensor]) -> torch.Tensor:
        """Noise and codes side by side along the last dimension (any leading dimensions)."""
        return torch.cat([noise, *codes], dim=-1)

    def split_q(self, q_out: torch.Tensor) -> list[torch.Tensor]:
        """The Q-head output [n, q_dim] cut into one parameter block per code."""
        return list(torch.split(q_out, [code.q_dim for code in self.codes], dim=1))

    def log_likelihoods(self, q_out: torch.Tensor, codes: list[torch.Tensor]) -> torch.Tensor:
        """log Q(c_i | x) per row and code: [..., n, number of codes] from Q outputs [..., n, q_dim]
        and code values [..., n, input dim] (leading dimensions, such as stacked seeds, are kept)."""
        lead = q_out.shape[:-1]
        blocks = self.split_q(q_out.reshape(-1, q_out.shape[-1]))
        values = [v.reshape(-1, v.shape[-1]) for v in codes]
        per_code = [code.log_likelihood(b, v) for code, b, v in zip(self.codes, blocks, values)]
        return torch.stack(per_code, dim=1).reshape(*lead, len(self.codes))

    def describe(self) -> dict:
        return {
            "noise_dim": self.noise_dim,
            "codes": [
                {"name": c.name, "kind": c.kind, **({"size": c.size} if c.kind == "categorical" else
                                                     {"low": c.low, "high": c.high, "learn_std": c.learn_std})}
                for c in self.codes
            ],
        }
