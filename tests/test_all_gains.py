"""The benchmark of every measured gain at once: each way really takes its gains, every way trains
what the default step trains up to rounding, and the benchmark runs in a tiny form."""

import pandas as pd
import torch

import bench.benchmarks.all_gains as all_gains
from bench.benchmarks.all_gains import WAYS, Gains, build_loops, check_steps, gains_loop, main
from bench.benchmarks.bf16_weight_copies import Bf16CopyAdam
from bench.benchmarks.thin_layers import ThinConv2d, ThinConvTranspose2d
from bench.perf import PerfConfig, random_images


def test_the_ways_are_the_default_and_four_combinations_with_distinct_names():
    assert WAYS[0] == Gains() and WAYS[0].name == "default"
    assert WAYS[-1] == Gains(channels_last=True, bf16_copies=True, thin_layers=True)
    assert len({gains.name for gains in WAYS}) == len(WAYS) == 5


def test_every_gain_is_applied_to_the_built_step(monkeypatch):
    steps = []
    real_use = all_gains.use_bf16_copies

    def recording_use(step, compile=True):
        real_use(step, compile)
        steps.append(step)

    monkeypatch.setattr(all_gains, "use_bf16_copies", recording_use)
    loop = gains_loop(WAYS[-1], PerfConfig(batch_size=4), random_images("mnist", 16), compile=False)
    loop()
    (step,) = steps
    G, D = step.generator, step.discriminator
    assert isinstance(step.opt_g, Bf16CopyAdam) and isinstance(step.opt_d, Bf16CopyAdam)
    assert isinstance(G.conv[3], ThinConvTranspose2d) and isinstance(D.body[0], ThinConv2d)
    assert step.config.channels_last and step.config.precision == "bf16" and step.config.fused_optimizer
    second_conv = D.body[2]
    assert second_conv.weight.dtype == torch.bfloat16
    assert second_conv.weight.is_contiguous(memory_format=torch.channels_last)


def test_every_way_trains_what_the_default_step_trains_up_to_rounding():
    loops = build_loops(WAYS, 16, random_images("mnist", 64), compile=False)
    checks = check_steps(loops, 3).set_index("way")
    assert checks.loc["default", "max_output_difference"] == 0.0
    # the copies hold what autocast's casts give, so the first step (before any update) is the same
    assert checks.loc["bf16 copies", "max_output_difference_first_step"] == 0.0
    # other kernels (channels-last, the thin layers' product) may round otherwise, by little
    assert (checks["max_output_difference"] < 0.05).all(), checks


def test_the_benchmark_writes_its_tables(tmp_path):
    table = main(["--rounds", "2", "--steps", "1", "--check-steps", "2", "--batch-size", "8", "--eager-update",
                  "--out", str(tmp_path)])
    assert list(table["way"]) == [gains.name for gains in WAYS]
    assert table.loc[table["way"] == "default", "ratio_to_default"].item() == 1.0
    assert (table["images_per_s"] > 0).all() and (table["copies_update"] == "op by op").all()
    rounds = pd.read_csv(tmp_path / "all_gains_rounds.csv")
    assert len(rounds) == 2 and set(rounds.columns) == {"round", *table["way"]}
    saved = pd.read_csv(tmp_path / "all_gains.csv")
    assert list(saved["way"]) == list(table["way"])
