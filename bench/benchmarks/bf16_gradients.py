"""How far bf16 autocast moves the training gradients, against the minibatch noise.

    python -m bench.benchmarks.bf16_gradients [--results results/bench_mnist_paper] [--batches 8]
        [--out results/bench_bf16_gradients] [--data-dir ...]

For the MNIST networks at initialisation (seed 0) and for every finished MNIST InfoGAN run
under ``--results``, draws ``--batches`` batches of 128 (real images and latent draws) and
computes each of the step's four gradients twice, in fp32 and under bf16 autocast with fp32
master weights (the fast path's arithmetic):

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
Writes ``<out>/bf16_gradients.csv``.
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


def gradient_terms(step: InfoGANStep, real: torch.Tensor, noise: torch.Tensor, codes: list[torch.Tensor],
                   precision: str) -> dict[str, torch.Tensor]:
    """Each of TERMS's gradients (flattened over the weights it trains, fp32) for real images
    ``real`` in [0, 1] and the latent draw (``noise``, ``codes``), in ``precision``."""
    G, D, latent, n = step.generator, step.discriminator, step.latent, len(real)
    grads = {}
    for term in TERMS:
        with autocast_context(step.device, precision):
            fake = G(latent.generator_input(noise, codes))
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
    """compare_terms over ``batches`` batches of uint8 ``images`` and latent draws (seeded 0, 1, ...)."""
    fp32, bf16 = [], []
    for b in range(batches):
        rng = torch.Generator(device=images.device).manual_seed(b)
        real = images[torch.randint(len(images), (batch_size,), generator=rng, device=images.device)].float() / 255.0
        noise = step.latent.sample_noise(batch_size, step.device, rng)
        codes = step.latent.sample_codes(batch_size, step.device, rng)
        fp32.append(gradient_terms(step, real, noise, codes, "fp32"))
        bf16.append(gradient_terms(step, real, noise, codes, "bf16"))
    return compare_terms(fp32, bf16)


def mnist_step(run: Path | None) -> InfoGANStep:
    """The MNIST paper recipe's step on the CPU: fresh networks of seed 0, or a stored run's."""
    suite = SUITES["mnist"]
    torch.manual_seed(0)
    generator, discriminator = build_networks(suite.latent.input_dim, suite.latent.q_dim, suite.network)
    if run is not None:
        trainer = load_checkpoint(run)["trainer"]
        generator.load_state_dict(trainer["generator"])
        discriminator.load_state_dict(trainer["discriminator"])
    config = suite.train_config("paper", "infogan", "fp32")
    return InfoGANStep(suite.latent, generator, discriminator, config, torch.device("cpu"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/bench_mnist_paper")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--out", default="results/bench_bf16_gradients")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    suite = SUITES["mnist"]
    images = load_dataset(suite.dataset, suite.train_split, args.data_dir).images
    runs = [None] + sorted(path.parent for path in Path(args.results, "runs", "mnist", "infogan").glob(
        "seed*/checkpoint.pt"))
    tables = []
    for run in runs:
        table = measure_state(mnist_step(run), images, args.batches)
        table.insert(0, "state", "initial (seed 0)" if run is None else f"trained: {run}")
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    write_csv(table, Path(args.out) / "bf16_gradients.csv")
    print(table.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
