"""Evaluation of a trained run: Q's categorical code on real data, and L_I on fresh samples."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import confusion_matrix
from torch import nn

from metrics.clustering import ari, cluster_accuracy, matching, nmi
from metrics.mutual_info import mi_lower_bound
from models.latent import LatentSpec


@torch.no_grad()
def recognise(discriminator: nn.Module, images: torch.Tensor, batch_size: int = 1000,
              batch_statistics: bool = False) -> torch.Tensor:
    """Q's parameters [N, q_dim] for uint8 images, with D in eval mode (BN running statistics),
    or with ``batch_statistics`` each batch normalised with its own (on a copy of D, whose
    running statistics then stay as they were)."""
    was_training = discriminator.training
    network = copy.deepcopy(discriminator).train() if batch_statistics else discriminator.eval()
    outputs = [network(images[i:i + batch_size].float() / 255.0)[1].float()
               for i in range(0, len(images), batch_size)]
    discriminator.train(was_training)
    return torch.cat(outputs)


def categorical_index(latent: LatentSpec) -> int | None:
    """Position of the first categorical code, or None when the spec has none."""
    return next((i for i, code in enumerate(latent.codes) if code.kind == "categorical"), None)


def predict_categories(latent: LatentSpec, discriminator: nn.Module, images: torch.Tensor,
                       batch_statistics: bool = False) -> np.ndarray:
    """argmax of Q's logits of the first categorical code, for every image (see recognise)."""
    index = categorical_index(latent)
    if index is None:
        raise ValueError("the latent spec has no categorical code")
    blocks = latent.split_q(recognise(discriminator, images, batch_statistics=batch_statistics))
    return blocks[index].argmax(dim=1).cpu().numpy()


def clustering_metrics(latent: LatentSpec, discriminator: nn.Module, images: torch.Tensor,
                       labels: torch.Tensor) -> tuple[dict[str, float], pd.DataFrame]:
    """cluster_accuracy, NMI and ARI of Q's categorical code against the true labels, and the
    confusion matrix (rows: true label, columns: the label each category is matched to)."""
    pred = predict_categories(latent, discriminator, images)
    truth = labels.cpu().numpy()
    mapping = matching(pred, truth)
    matched = np.array([mapping.get(int(p), -1) for p in pred])
    classes = np.unique(truth)
    confusion = pd.DataFrame(confusion_matrix(truth, matched, labels=classes), index=classes, columns=classes)
    confusion.index.name = "label"
    scores = {"cluster_accuracy": cluster_accuracy(pred, truth), "nmi": nmi(pred, truth), "ari": ari(pred, truth)}
    return scores, confusion


@torch.no_grad()
def sample_log_likelihoods(latent: LatentSpec, generator: nn.Module, discriminator: nn.Module,
                           n: int, device: torch.device, seed: int, batch_size: int = 1000) -> np.ndarray:
    """log Q(c_i | G(z, c)) for ``n`` fresh prior draws, [n, codes], both networks in eval mode."""
    rng = torch.Generator(device=device).manual_seed(seed)
    modes = generator.training, discriminator.training
    generator.eval()
    discriminator.eval()
    rows = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        noise = latent.sample_noise(b, device, rng)
        codes = latent.sample_codes(b, device, rng)
        _, q_out = discriminator(generator(latent.generator_input(noise, codes)))
        rows.append(latent.log_likelihoods(q_out.float(), codes).cpu())
    generator.train(modes[0])
    discriminator.train(modes[1])
    return torch.cat(rows).numpy()


def mi_metrics(latent: LatentSpec, generator: nn.Module, discriminator: nn.Module,
               n: int, device: torch.device, seed: int) -> dict[str, float]:
    """``mi_lower_bound/<code>`` in nats and ``entropy/<code>`` = H(c) beside it."""
    bound = mi_lower_bound(sample_log_likelihoods(latent, generator, discriminator, n, device, seed),
                           latent.entropies())
    out = {}
    for code, value, entropy in zip(latent.codes, bound, latent.entropies()):
        out[f"mi_lower_bound/{code.name}"] = float(value)
        out[f"entropy/{code.name}"] = float(entropy)
    return out
