"""The time-to-accuracy benchmark: curves per seed, lone or stacked, and its summary."""

import pandas as pd
import torch

from bench.benchmarks.time_to_accuracy import Recipe, seconds_to, summarise, train_seed, train_stacked
from bench.suites import SUITES
from datasets import ImageSplit
from models.trainer import Trainer

CPU = torch.device("cpu")


def _split(n: int, seed: int) -> ImageSplit:
    rng = torch.Generator().manual_seed(seed)
    return ImageSplit("mnist", "x", torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=rng),
                      torch.randint(0, 10, (n,), generator=rng))


def test_recipe_options_change_the_latent_and_the_weight():
    assert Recipe().latent().q_dim == 14 and Recipe(fixed_std=True).latent().q_dim == 12
    config = Recipe("toolkit-fp32+fused", iterations=40, lambda_cont=1.0).config()
    assert (config.iterations, config.lambda_cont, config.fused_optimizer) == (40, 1.0, True)
    assert Recipe().config().lambda_cont == 0.1
    assert Recipe(g_latent="fresh").config().fresh_g_latent and not Recipe(g_latent="reuse").config().fresh_g_latent
    assert Recipe().config().fresh_g_latent == SUITES["mnist"].profiles["paper"].train.fresh_g_latent
    assert "fresh G latent" in Recipe(g_latent="fresh").describe()


def test_recipe_network_options_reach_the_trained_networks():
    """The official code's leaky-ReLU slope and batch-norm scale draw end up in the networks trained."""
    assert Recipe().network() == SUITES["mnist"].network
    official = Recipe("toolkit-fp32", iterations=1, leak=0.01, bn_gamma_std=0.02)
    assert (official.network().leak, official.network().bn_gamma_std) == (0.01, 0.02)
    assert "leak 0.01" in official.describe() and "N(1, 0.02)" in official.describe()
    trainer = Trainer(official.latent(), official.network(), official.config(), _split(64, 0).images, CPU, seed=0)
    slopes = {m.negative_slope for m in trainer.discriminator.modules() if isinstance(m, torch.nn.LeakyReLU)}
    scales = torch.cat([m.weight.detach() for m in trainer.generator.modules()
                        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)])
    assert slopes == {0.01} and 0.005 < scales.std().item() < 0.04 and abs(scales.mean().item() - 1) < 0.01
    paper = Trainer(Recipe().latent(), Recipe().network(), official.config(), _split(64, 0).images, CPU, seed=0)
    assert all((m.weight == 1).all() for m in paper.generator.modules()
               if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))


def test_lone_and_stacked_curves_are_evaluated_at_the_same_points():
    """Ten iterations (log points every 50: the evaluation at the end only), lone and two stacked seeds."""
    train, test = _split(256, 0), _split(200, 1)
    recipe = Recipe("toolkit-fp32", iterations=10, fixed_std=True)
    lone = train_seed(0, recipe, 5, train, test, CPU, progress=False)
    stacked = train_stacked([0, 1], recipe, 5, train, test, CPU, progress=False)
    assert list(lone["iteration"]) == [10] and set(stacked) == {0, 1}
    for seed, curve in stacked.items():
        assert list(curve["iteration"]) == [10] and (curve["seed"] == seed).all()
        assert curve["test_accuracy"].between(0, 1).all()
    # stacked seeds share one clock: the same training seconds at each point
    assert list(stacked[0]["train_seconds"]) == list(stacked[1]["train_seconds"])


def test_summary_reads_thresholds_and_survives_a_seed_without_evaluations():
    curve = pd.DataFrame({"seed": 0, "iteration": [250, 500, 750], "train_seconds": [10.0, 20.0, 30.0],
                          "wall_seconds": [11.0, 22.0, 33.0], "test_accuracy": [0.5, 0.92, 0.96]})
    assert seconds_to(curve, 0.90) == 20.0 and seconds_to(curve, 0.95) == 30.0
    empty = curve.iloc[:0]
    table = summarise({0: curve, 1: empty}, "toolkit-bf16", None).set_index("seed")
    assert table.loc[0, "final_accuracy"] == 0.96 and table.loc[0, "seconds_to_95"] == 30.0
    assert pd.isna(table.loc[1, "final_accuracy"]) and pd.isna(table.loc[1, "seconds_to_90"])
