"""The metric battery of one trained run: samples the frozen generator, reads the samples
with the suite's references, and calls the pure functions in ``metrics``.

Parts (a suite lists the ones that apply):
* ``clustering``: Q's categorical argmax on the real test set: cluster_accuracy, NMI, ARI.
* ``mi_lower_bound``: L_I per code on fresh samples, with the training Q.
* ``mi_heldout``: I(c_i; G(z, c)) from a fresh recogniser on held-out samples.
* ``traversal``: categorical: the reference classifier's class of G(z, c=k) over many z;
  continuous: attributes along sweeps of c_j over [-2, 2] over many z.
* ``frechet``: Frechet distance between reference-classifier features of real test images and
  of generated images (lower is better).
* ``disentanglement`` (ground-truth suites): Q's means as the representation of real images with
  known factors: MIG, DCI, SAP, modularity, explicitness, FactorVAE and BetaVAE scores, and the
  code x factor mutual-information matrix (disentanglement_lib's definitions, Locatello et al. 2019).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from bench.evaluate import clustering_metrics, mi_metrics, recognise
from bench.reference import Reference
from datasets import ImageSplit
from metrics.heldout import RecogniserConfig, mi_heldout, targets_for
from metrics.dci import dci
from metrics.discretize import discrete_mutual_info, histogram_discretize
from metrics.mig import mig
from metrics.modularity import explicitness, modularity
from metrics.quality import frechet_distance
from metrics.sap import sap
from metrics.vae_scores import beta_vae_score, factor_vae_score
from metrics.traversal import traversal_consistency_categorical, traversal_consistency_continuous
from models.latent import LatentSpec


@dataclass(frozen=True)
class BatteryConfig:
    """Sample sizes of every part; the defaults are the full battery."""

    mi_samples: int = 10_000
    heldout: RecogniserConfig = field(default_factory=lambda: RecogniserConfig(num_train=10_000, num_eval=5_000,
                                                                               steps=2_000))
    traversal_noise: int = 100
    traversal_steps: int = 9
    traversal_low: float = -2.0
    traversal_high: float = 2.0
    fd_samples: int = 10_000
    reference_steps: int = 1_000
    disentanglement_train: int = 10_000
    disentanglement_test: int = 5_000
    vae_score_train: int = 10_000
    vae_score_eval: int = 5_000
    seed_offset: int = 1000


@dataclass
class BatteryResult:
    metrics: dict[str, float] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    confusion: object = None


@torch.no_grad()
def generate(generator: nn.Module, inputs: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """G(inputs) in eval mode, in batches, as float images in [0, 1]."""
    was_training = generator.training
    generator.eval()
    out = torch.cat([generator(inputs[i:i + batch_size]).float() for i in range(0, len(inputs), batch_size)])
    generator.train(was_training)
    return out


def _prior_inputs(latent: LatentSpec, n: int, device: torch.device, rng: torch.Generator):
    noise = latent.sample_noise(n, device, rng)
    codes = latent.sample_codes(n, device, rng)
    return latent.generator_input(noise, codes), codes


def heldout_part(latent: LatentSpec, generator: nn.Module, device: torch.device, config: RecogniserConfig,
                 seed: int) -> dict[str, float]:
    def sample(n: int, rng: np.random.Generator):
        torch_rng = torch.Generator(device=device).manual_seed(int(rng.integers(2**62)))
        inputs, codes = _prior_inputs(latent, n, device, torch_rng)
        targets = torch.stack([c.argmax(1).float() if code.kind == "categorical" else c[:, 0]
                               for code, c in zip(latent.codes, codes)], dim=1)
        return targets.cpu(), generate(generator, inputs).cpu()

    values = mi_heldout(sample, targets_for(latent.codes), config, seed=seed)
    return {f"mi_heldout/{name}": value for name, value in values.items()}


def traversal_part(latent: LatentSpec, generator: nn.Module, reference: Reference, device: torch.device,
                   config: BatteryConfig, seed: int) -> tuple[dict[str, float], dict[str, object]]:
    """Categorical codes: consistency and classes covered; continuous codes: per attribute the
    median |Spearman rho| and sign agreement, reporting the attribute the code moves most."""
    rng = torch.Generator(device=device).manual_seed(seed)
    m, metrics, notes = config.traversal_noise, {}, {}
    for index, code in enumerate(latent.codes):
        values = code.traversal(config.traversal_steps, config.traversal_low, config.traversal_high).to(device)
        s = values.shape[0]
        inputs, codes = _prior_inputs(latent, m, device, rng)
        fixed = [c.repeat_interleave(s, dim=0) for c in codes]
        for j, other in enumerate(latent.codes):
            if j != index and other.kind != "categorical":
                fixed[j] = torch.zeros_like(fixed[j])  # other continuous codes at their centre
        fixed[index] = values.repeat(m, 1)
        noise = inputs[:, :latent.noise_dim].repeat_interleave(s, dim=0)
        images = generate(generator, latent.generator_input(noise, fixed))  # [m * s], row-major (z, value)
        if code.kind == "categorical":
            if reference.classifier is None:
                continue
            classes, _ = reference.classify(images)
            result = traversal_consistency_categorical(classes.view(m, s).T.cpu().numpy())
            metrics[f"traversal/{code.name}/consistency"] = result["consistency"]
            metrics[f"traversal/{code.name}/classes_covered"] = result["classes_covered"]
        elif reference.attributes is not None:
            attributes = reference.attributes(images.cpu().numpy())
            steps = values[:, 0].cpu().numpy()
            per_attribute = {name: traversal_consistency_continuous(a.reshape(m, s), steps)
                             for name, a in attributes.items()}
            best = max(per_attribute, key=lambda name: per_attribute[name]["median_abs_rho"])
            metrics[f"traversal/{code.name}/median_abs_rho"] = per_attribute[best]["median_abs_rho"]
            metrics[f"traversal/{code.name}/sign_agreement"] = per_attribute[best]["sign_agreement"]
            notes[f"traversal/{code.name}/attribute"] = best
            notes[f"traversal/{code.name}/per_attribute"] = per_attribute
    return metrics, notes


def frechet_part(latent: LatentSpec, generator: nn.Module, reference: Reference, test: ImageSplit,
                 device: torch.device, n: int, seed: int) -> dict[str, float]:
    rng = torch.Generator(device=device).manual_seed(seed)
    inputs, _ = _prior_inputs(latent, n, device, rng)
    _, fake_features = reference.classify(generate(generator, inputs))
    _, real_features = reference.classify(test.images[:n])
    return {"frechet_distance": frechet_distance(real_features.cpu().numpy(), fake_features.cpu().numpy())}


def q_representation(latent: LatentSpec, discriminator: nn.Module, device: torch.device):
    """images -> Q's statistics [n, D]: the mean of each continuous code, the probabilities of each
    categorical one."""
    def represent(images) -> np.ndarray:
        images = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images)
        blocks = latent.split_q(recognise(discriminator, images.to(device)))
        columns = [torch.softmax(b, dim=1) if code.kind == "categorical" else b[:, :1]
                   for code, b in zip(latent.codes, blocks)]
        return torch.cat(columns, dim=1).cpu().numpy().astype(np.float64)
    return represent


class EncodedGrid:
    """A ground-truth grid whose every image is encoded once: ``images_for`` returns grid indices
    and ``represent`` looks their codes up. Exactly the scores of encoding each sampled image
    again (the representation is deterministic), at the cost of one pass over the grid instead of
    the ~2 million encodings of disentanglement_lib's FactorVAE and BetaVAE protocols."""

    def __init__(self, ground_truth, represent):
        self.factor_sizes = ground_truth.factor_sizes
        self.factor_names = getattr(ground_truth, "factor_names", None)
        self._ground_truth = ground_truth
        self.codes = np.concatenate([represent(ground_truth.images[i:i + 4096])
                                     for i in range(0, len(ground_truth.images), 4096)])

    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return self._ground_truth.sample_factors(n, rng)

    def images_for(self, factors: np.ndarray) -> np.ndarray:
        return self._ground_truth.index_of(factors)

    def represent(self, indices: np.ndarray) -> np.ndarray:
        return self.codes[np.asarray(indices)]


def disentanglement_part(latent: LatentSpec, discriminator: nn.Module, ground_truth, device: torch.device,
                         config: BatteryConfig, seed: int) -> tuple[dict[str, float], dict[str, object]]:
    """Supervised scores of Q's representation on images drawn uniformly from the factor grid."""
    grid = EncodedGrid(ground_truth, q_representation(latent, discriminator, device))
    rng = np.random.default_rng(seed)
    f_train = grid.sample_factors(config.disentanglement_train, rng)
    f_test = grid.sample_factors(config.disentanglement_test, rng)
    c_train, c_test = grid.represent(grid.images_for(f_train)), grid.represent(grid.images_for(f_test))
    metrics = {"mig": mig(c_train, f_train), "sap": sap(c_train, f_train, c_test, f_test),
               "modularity": modularity(c_train, f_train)}
    metrics.update({f"dci/{k}": v for k, v in dci(c_train, f_train, c_test, f_test).items()})
    metrics.update({f"explicitness/{k}": v for k, v in explicitness(c_train, f_train, c_test, f_test).items()})
    factor_vae = factor_vae_score(grid, grid.represent, rng, num_train=config.vae_score_train,
                                  num_eval=config.vae_score_eval, num_variance_estimate=config.vae_score_train)
    beta_vae = beta_vae_score(grid, grid.represent, rng, num_train=config.vae_score_train,
                              num_eval=config.vae_score_eval)
    metrics["factor_vae"] = factor_vae["eval_accuracy"]
    metrics["beta_vae"] = beta_vae["eval_accuracy"]
    mi_matrix = discrete_mutual_info(histogram_discretize(c_train), f_train)
    names = [code.name for code in latent.codes]
    notes = {"mi_matrix": {"codes": names, "factors": list(grid.factor_names or []), "values": mi_matrix.tolist()},
             "factor_vae_active_dims": factor_vae.get("num_active_dims")}
    return metrics, notes


def run_battery(parts: tuple[str, ...], latent: LatentSpec, generator: nn.Module, discriminator: nn.Module,
                test: ImageSplit, reference: Reference | None, device: torch.device, config: BatteryConfig,
                seed: int, ground_truth=None) -> BatteryResult:
    """Every listed part, each timed; ``seed`` fixes every sample drawn."""
    result = BatteryResult()
    seed = seed + config.seed_offset

    def timed(name, fn):
        start = time.perf_counter()
        out = fn()
        result.seconds[name] = time.perf_counter() - start
        return out

    if "clustering" in parts:
        scores, result.confusion = timed("clustering", lambda: clustering_metrics(
            latent, discriminator, test.images, test.labels))
        result.metrics.update(scores)
    if "mi_lower_bound" in parts:
        result.metrics.update(timed("mi_lower_bound", lambda: mi_metrics(
            latent, generator, discriminator, config.mi_samples, device, seed)))
    if "mi_heldout" in parts:
        result.metrics.update(timed("mi_heldout", lambda: heldout_part(
            latent, generator, device, config.heldout, seed)))
    if "traversal" in parts and reference is not None:
        metrics, notes = timed("traversal", lambda: traversal_part(
            latent, generator, reference, device, config, seed))
        result.metrics.update(metrics)
        result.notes.update(notes)
    if "frechet" in parts and reference is not None and reference.classifier is not None:
        result.metrics.update(timed("frechet", lambda: frechet_part(
            latent, generator, reference, test, device, config.fd_samples, seed)))
    if "disentanglement" in parts and ground_truth is not None:
        metrics, notes = timed("disentanglement", lambda: disentanglement_part(
            latent, discriminator, ground_truth, device, config, seed))
        result.metrics.update(metrics)
        result.notes.update(notes)
    return result
