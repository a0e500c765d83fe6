"""The fast path against fp32, and the speed benchmark in its smoke form."""

from dataclasses import replace

import torch

from bench.perf import PerfConfig, run_perf, step_flops_per_image
from bench.suites import SUITES
from models.trainer import Trainer

SUITE = SUITES["mnist"]


def _history(precision: str) -> list[dict]:
    config = replace(SUITE.profiles["smoke"].train, iterations=4, log_every=1, checkpoint_every=4,
                     batch_size=64, precision=precision)
    images = torch.randint(0, 256, (512, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return Trainer(SUITE.latent, SUITE.network, config, images, torch.device("cpu"), seed=0).train(progress=False)


def test_bf16_losses_follow_fp32_for_the_first_iterations():
    """Same seed, same batches: every logged loss of the first 4 iterations under bf16 autocast is
    within 5% (relative) or 0.02 (absolute) of fp32's."""
    fp32, bf16 = _history("fp32"), _history("bf16")
    for a, b in zip(fp32, bf16):
        for key in ("loss_d", "loss_g", "loss_q", "L_I/cat", "L_I/c1", "L_I/c2"):
            assert abs(a[key] - b[key]) <= max(0.02, 0.05 * abs(a[key])), (a["iteration"], key, a[key], b[key])


def test_perf_smoke_measures_every_variant(tmp_path):
    images = torch.randint(0, 256, (600, 1, 28, 28), dtype=torch.uint8)
    config = PerfConfig(batch_size=16, iterations=2, warmup=1, repeats=1)
    table = run_perf(config, images, torch.device("cpu"))
    assert list(table["variant"]) == list(config.variants)
    assert (table["images_per_s"] > 0).all() and (table["peak_memory_mb"] >= 0).all()
    assert table.loc[table["variant"] == "reference", "ratio_to_reference"].iloc[0] == 1.0
    assert (table["matmul_gflops_fp32"] > 0).all() and (table["bf16_floor_images_per_s"] > 0).all()


def test_step_flops_are_counted():
    # MNIST step: G and D forward and backward, about 0.3 GFLOP per image
    assert 1e8 < step_flops_per_image("mnist", 8, torch.device("cpu")) < 1e9
