"""How far bf16 autocast moves the training gradients, against the minibatch noise.

    python -m bench.benchmarks.bf16_gradients [--results results/bench_mnist_paper] [--batches 8]
        [--device cpu|cuda] [--out results/bench_bf16_gradients] [--data-dir ...]

For the MNIST networks at initialisation (seed 0) and for every finished MNIST InfoGAN run
under ``--results``, draws ``--batches`` batches of 128 (real images and latent draws) and
computes each of the step's four gradients in fp32 and under bf16 autocast with fp32 master
weights (the fast path's arithmetic), the latter three ways: bf16 in both networks (``both``,
the fast path), in G only and in D only (``g``, ``d``: where the error comes from):

- ``g_gan``: G's weights, of BCE(D(G(z, c)), 1);
- ``g_mi``: G's weights, of -sum_i lambda_i log Q(c_i | G(z, c));
- ``d_gan``: D's weights, of BCE(D(x), 1) + BCE(D(G(z, c)), 0), real and fake in one call as
  in the step;
- ``d_mi``: D's and Q's weights, of the same MI term on the detached fakes.

Per term and state it reports the median gradient norm; bf16's error, the median over batches
of |g_bf16 - g_fp32| / |g_fp32|; the minibatch's own noise, the median of
|g_fp32(b') - g_fp32(b)| / (sqrt(2) |g_fp32(b)|) for the next batch b' (the noise of one batch's
gradient about the expected one, if the batches' noises are independent); and how the error
averages out: the root mean square of the batches' errors divided by the norm of their mean,
which is sqrt(batches) for an error that is independent noise and 1 for a fixed bias.
Writes ``<out>/bf16_gradients.csv`` (one row per state, bf16 placement and term).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
import torch

from bench.aggregate import write_csv
from bench.suites import SUITES
from bench.traversals import load_checkpoint
from datasets import load_dataset
from models.infogan import InfoGANStep, autocast_context, batch_bce
from models.networks import build_networks

TERMS = ("g_gan", "g_mi", "d_gan", "d_mi")
# where bf16 autocast is on: (G, D)
PLACEMENTS = {"both": ("bf16", "bf16"), "g": ("bf16", "fp32"), "d": ("fp32", "bf16")}


def gradient_terms(step: InfoGANStep, real: torch.Tensor, noise: torch.Tensor, codes: list[torch.Tensor],
                   precision: str, d_precision: str | None = None) -> dict[str, torch.Tensor]:
    """Each of TERMS's gradients (flattened over the weights it trains, fp32) for real images
    ``real`` in [0, 1] and the latent draw (``noise``, ``codes``), with G in ``precision`` and
    D in ``d_precision`` (default: the same). G's images reach D in fp32, which is exact: a bf16
    tensor widens to fp32 without rounding, and D's autocast narrows it back where it computes."""
    G, D, latent, n = step.generator, step.discriminator, step.latent, len(real)
    d_precision = precision if d_precision is None else d_precision
    grads = {}
    for term in TERMS:
        with autocast_context(step.device, precision):
            fake = G(latent.generator_input(noise, codes)).float()
        with autocast_context(step.device, d_precision):
            if term.startswith("g"):
                d_fake, q_fake = D(fake)
                loss = batch_bce(d_fake, 1.0) if term == "g_gan" else step.mi_loss(q_fake, codes)[0]
            else:
                d_out, q_out = D(torch.cat([real, fake.detach()]), batches=2)
                loss = (batch_bce(d_out[:n], 1.0) + batch_bce(d_out[n:], 0.0) if term == "d_gan"
                        else step.mi_loss(q_out[n:], codes)[0])
        params = list((G if term.startswith("g") else D).parameters())
        found = torch.autograd.grad(loss, params, allow_unused=True)
        grads[term] = torch.cat([(g if g is not None else torch.zeros_like(p)).flatten().float()
                                 for g, p in zip(found, params)])
    return grads


def compare_terms(fp32: list[dict[str, torch.Tensor]], bf16: list[dict[str, torch.Tensor]]) -> pd.DataFrame:
    """One row per term: the median gradient norm, bf16's median relative error, the minibatch
    noise relative to the gradient (median |g(b') - g(b)| / (sqrt 2 |g(b)|), b' the next batch
    cyclically) and the error's averaging factor rms_b |e_b| / |mean_b e_b| (float64)."""
    rows = []
    for term in fp32[0]:
        exact = torch.stack([grads[term] for grads in fp32]).double()
        error = torch.stack([grads[term] for grads in bf16]).double() - exact
        norms, error_norms = exact.norm(dim=1), error.norm(dim=1)
        rows.append({
            "term": term,
            "batches": len(exact),
            "grad_norm": norms.median().item(),
            "bf16_rel_error": (error_norms / norms).median().item(),
            "batch_rel_noise": ((exact.roll(-1, dims=0) - exact).norm(dim=1) / (math.sqrt(2) * norms)).median().item(),
            "error_averaging": (error_norms.square().mean().sqrt() / error.mean(dim=0).norm()).item(),
        })
    return pd.DataFrame(rows)


def measure_state(step: InfoGANStep, images: torch.Tensor, batches: int, batch_size: int = 128) -> pd.DataFrame:
    """compare_terms over ``batches`` batches of uint8 ``images`` (on the step's device) and
    latent draws (seeded 0, 1, ...), for each bf16 placement in PLACEMENTS (column ``bf16_in``)."""
    fp32, bf16 = [], {placement: [] for placement in PLACEMENTS}
    for b in range(batches):
        rng = torch.Generator(device=images.device).manual_seed(b)
        real = images[torch.randint(len(images), (batch_size,), generator=rng, device=images.device)].float() / 255.0
        noise = step.latent.sample_noise(batch_size, step.device, rng)
        codes = step.latent.sample_codes(batch_size, step.device, rng)
        fp32.append(gradient_terms(step, real, noise, codes, "fp32"))
        for placement, (g_precision, d_precision) in PLACEMENTS.items():
            bf16[placement].append(gradient_terms(step, real, noise, codes, g_precision, d_precision))
    tables = []
    for placement, grads in bf16.items():
        tables.append(compare_terms(fp32, grads))
        tables[-1].insert(0, "bf16_in", placement)
    return pd.concat(tables, ignore_index=True)


def mnist_step(run: Path | None, device: torch.device = torch.device("cpu")) -> InfoGANStep:
    """The MNIST paper recipe's step on ``device``: fresh networks of seed 0 (drawn on the CPU,
    so the same on every device), or a stored run's."""
    suite = SUITES["mnist"]
    torch.manual_seed(0)
    generator, discriminator = build_networks(suite.latent.input_dim, suite.latent.q_dim, suite.network)
    if run is not None:
        trainer = load_checkpoint(run)["trainer"]
        generator.load_state_dict(trainer["generator"])
        discriminator.load_state_dict(trainer["discriminator"])
    config = suite.train_config("paper", "infogan", "fp32")
    return InfoGANStep(suite.latent, generator.to(device), discriminator.to(device), config, device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/bench_mnist_paper")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--out", default="results/bench_bf16_gradients")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    suite = SUITES["mnist"]
    images = load_dataset(suite.dataset, suite.train_split, args.data_dir).images.to(device)
    runs = [None] + sorted(path.parent for path in Path(args.results, "runs", "mnist", "infogan").glob(
        "seed*/checkpoint.pt"))
    tables = []
    for run in runs:
        table = measure_state(mnist_step(run, device), images, args.batches)
        table.insert(0, "state", "initial (seed 0)" if run is None else f"trained: {run}")
        table.insert(1, "device", device.type)
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    write_csv(table, Path(args.out) / "bf16_gradients.csv")
    print(table.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
