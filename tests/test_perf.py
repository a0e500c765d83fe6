"""The fast path against fp32, and the speed benchmark in its smoke form."""

import warnings
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from bench.perf import (CUDA_VARIANTS, PerfConfig, default_variant, default_variants, random_images, run_perf,
                        step_flops_per_image, summary_lines, toolkit_loop, variant_copies, variant_name,
                        variant_settings)
from bench.suites import SUITES
from models.infogan import EmulatedBf16Warning, default_precision
from models.trainer import Trainer

SUITE = SUITES["mnist"]


def _history(variant: str) -> list[dict]:
    config = replace(SUITE.profiles["smoke"].train, iterations=4, log_every=1, checkpoint_every=4,
                     batch_size=64, **variant_settings(variant))
    images = torch.randint(0, 256, (512, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    return Trainer(SUITE.latent, SUITE.network, config, images, torch.device("cpu"), seed=0).train(progress=False)


@pytest.mark.parametrize("variant", ["toolkit-bf16", "toolkit-bf16+fused", "toolkit-bf16+fused+simul"])
def test_fast_path_losses_follow_fp32_for_the_first_iterations(variant):
    """Same seed, same batches: every logged loss of the first 4 iterations on the fast path
    (bf16 autocast, alone or with fused Adam) is within 5% (relative) or 0.02 (absolute) of
    fp32's; with simultaneous updates, of fp32's with simultaneous updates."""
    fp32, fast = _history("toolkit-fp32+simul" if "+simul" in variant else "toolkit-fp32"), _history(variant)
    keys = ("loss_d", "loss_g", "loss_q", "L_I/cat", "L_I/c1", "L_I/c2")
    assert len(fp32) == len(fast) == 4
    for a, b in zip(fp32, fast):
        for key in keys:
            assert abs(a[key] - b[key]) <= max(0.02, 0.05 * abs(a[key])), (a["iteration"], key, a[key], b[key])
    # bf16 did run: the losses differ from fp32's with the same other settings
    same_but_fp32 = _history(variant.replace("bf16", "fp32"))
    assert any(a[key] != b[key] for a, b in zip(same_but_fp32, fast) for key in keys)


def test_perf_smoke_measures_every_variant(tmp_path):
    """Every variant of the CPU's default set (bf16 ones where bf16 is native, else fp32 ones)."""
    images = torch.randint(0, 256, (600, 1, 28, 28), dtype=torch.uint8)
    config = PerfConfig(batch_size=16, iterations=2, warmup=1, repeats=1, variants=default_variants(torch.device("cpu")))
    table = run_perf(config, images, torch.device("cpu"))
    assert list(table["variant"]) == list(config.variants)
    assert (table["images_per_s"] > 0).all() and (table["peak_memory_mb"] >= 0).all()
    assert table.loc[table["variant"] == "reference", "ratio_to_reference"].iloc[0] == 1.0
    assert (table["matmul_gflops_fp32"] > 0).all() and (table["floor_images_per_s"] > 0).all()
    assert (table["floor_precision"] == default_precision(torch.device("cpu"))).all()


def test_a_table_without_the_reference_prints_no_ratio():
    images = torch.randint(0, 256, (600, 1, 28, 28), dtype=torch.uint8)
    config = PerfConfig(batch_size=16, iterations=2, warmup=1, repeats=1, variants=("toolkit-fp32",))
    table = run_perf(config, images, torch.device("cpu"))
    assert table["ratio_to_reference"].isna().all()
    line = summary_lines(table)[-1]
    assert "(no reference)" in line and "nan" not in line


def test_perf_counts_the_images_of_every_stacked_seed():
    images = torch.randint(0, 256, (600, 1, 28, 28), dtype=torch.uint8)
    config = PerfConfig(batch_size=16, iterations=2, warmup=1, repeats=1, variants=("toolkit-fp32", "toolkit-fp32+x2"))
    table = run_perf(config, images, torch.device("cpu")).set_index("variant")
    assert table.loc["toolkit-fp32+x2", "seeds_at_once"] == 2 and table.loc["toolkit-fp32", "seeds_at_once"] == 1
    assert (table["images_per_s"] > 0).all()


def test_step_flops_are_counted():
    # MNIST step: G and D forward and backward, about 0.3 GFLOP per image
    assert 1e8 < step_flops_per_image("mnist", 8, torch.device("cpu")) < 1e9


def test_fp32_options_alone_change_nothing():
    """Fused Adam and channels-last in fp32 follow the plain fp32 path up to float rounding
    (other summation orders, amplified a little by four training steps): within 0.005 or 1%."""
    plain, fused = _history("toolkit-fp32"), _history("toolkit-fp32+fused+cl")
    for a, b in zip(plain, fused):
        for key in ("loss_d", "loss_g", "L_I/cat"):
            assert abs(a[key] - b[key]) <= max(5e-3, 1e-2 * abs(a[key])), (a["iteration"], key, a[key], b[key])


def test_variant_names_round_trip_and_bad_names_are_refused():
    settings = variant_settings("toolkit-bf16+fused+compile")
    assert settings == {"precision": "bf16", "fused_optimizer": True, "compile": True}
    config = replace(SUITE.profiles["paper"].train, **settings)
    assert variant_name(config) == "toolkit-bf16+fused+compile"
    assert variant_settings("toolkit-bf16+fused+graph+x8") == {"precision": "bf16", "fused_optimizer": True,
                                                               "cuda_graph": True}
    simultaneous = replace(SUITE.profiles["paper"].train, **variant_settings("toolkit-bf16+fused+simul"))
    assert simultaneous.simultaneous and variant_name(simultaneous) == "toolkit-bf16+fused+simul"
    assert variant_copies("toolkit-bf16+fused+graph+x8") == 8 and variant_copies("toolkit-bf16") == 1
    for bad in ("toolkit-fp16", "toolkit-bf16+turbo", "bf16", "reference+cl", "toolkit-bf16+x0", "toolkit-bf16+xx"):
        with pytest.raises(ValueError, match="unknown variant"):
            variant_settings(bad)


def test_perf_command_smoke_writes_its_table(tmp_path, fake_mnist, capsys):
    """``bench perf --smoke``: three variants timed on the training images, the CSV written."""
    from bench.cli import main

    assert main(["perf", "--smoke", "--data-dir", str(fake_mnist), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "perf" / "perf.csv")
    assert list(table["variant"]) == ["reference", "toolkit-fp32", "toolkit-bf16"]
    printed = capsys.readouterr().out
    floor = f"% of {default_precision(torch.device('cpu'))} floor"
    assert "x reference" in printed and floor in printed


def test_perf_command_refuses_an_unknown_variant(tmp_path, capsys):
    from bench.cli import EXIT_USAGE, main

    assert main(["perf", "--variants", "reference,toolkit-fp8", "--out", str(tmp_path)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("bench: error: unknown variant 'toolkit-fp8'") and err.count("\n") == 1


def test_step_benchmarks_run_in_their_smallest_form():
    """The joint-D-call timing and the step profile run, and measure what they say they do."""
    from bench.benchmarks.joint_discriminator_call import images_per_second
    from bench.benchmarks.step_profile import profile_step
    from bench.perf import recipe_flops_per_image

    rates = images_per_second("fp32", steps=1, repeats=2, batch_size=8)
    assert set(rates) == {"two calls", "one call"} and all(len(v) == 2 and min(v) > 0 for v in rates.values())
    result = profile_step("fp32", steps=2, batch_size=8, peak_size=64)
    flops = result.flops
    assert len(result.ms_per_step) == len(result.peaks) == 2 and min(result.ms_per_step + result.peaks) > 0
    assert set(result.ops["step"]) == {0, 1}
    for _, ops in result.ops.groupby("step"):  # each step profiled on its own
        assert {"aten::convolution_backward", "aten::_fused_adam_"} <= set(ops["op"])
    # the flop counter's total for the step, split into the three compute kinds
    assert set(flops) == {"matrix products", "convolution forward", "convolution backward"}
    assert sum(flops.values()) / 8 == pytest.approx(step_flops_per_image("mnist", 8, torch.device("cpu")), rel=1e-6)
    # the floor's count is the recipe's: the reference loop's step, which also computes D's weight gradients in G's step
    assert recipe_flops_per_image("mnist", 8, torch.device("cpu")) > sum(flops.values()) / 8


def test_op_kinds_and_the_kernel_bound_ceiling():
    from bench.benchmarks.step_profile import kernel_ceiling, kind_table, op_kind

    assert [op_kind(name) for name in ("aten::mm", "aten.addmm", "aten::mkldnn_convolution", "aten::_convolution",
                                       "aten::convolution_backward", "aten::copy_", "aten::_fused_adam_",
                                       "Optimizer.step#Adam.step", "aten::native_batch_norm_backward",
                                       "aten::leaky_relu")] == [
        "matrix products", "matrix products", "convolution forward", "convolution forward",
        "convolution backward", "casts and copies", "optimiser", "optimiser", "batch norm", "other"]
    ops = pd.DataFrame({"op": ["aten::mm", "aten::addmm", "aten::convolution_backward", "aten::copy_", "aten::relu"],
                        "self_ms_per_step": [3.0, 1.0, 4.0, 1.5, 0.5]})
    flops = {"matrix products": 8e9, "convolution backward": 2e9}
    kinds = kind_table(ops, flops).set_index("kind")
    assert kinds.loc["matrix products", "ms_per_step"] == 4.0 and kinds.loc["matrix products", "share"] == 0.4
    assert kinds.loc["matrix products", "gflop_per_s"] == pytest.approx(2000)      # 8 GFLOP in 4 ms
    assert kinds.loc["convolution backward", "gflop_per_s"] == pytest.approx(500)  # 2 GFLOP in 4 ms
    assert np.isnan(kinds.loc["casts and copies", "gflop_per_s"])
    ceiling = kernel_ceiling(kinds.reset_index(), batch_size=100, floor_flops_per_image=1e8, peak_gflops=5000)
    assert ceiling["ceiling_images_per_s"] == pytest.approx(100 / 0.008)   # 8 ms of kernels, the rest free
    assert ceiling["floor_images_per_s"] == pytest.approx(5000e9 / 1e8)    # 0.1 GFLOP per image at 5,000 GFLOP/s
    assert ceiling["ceiling_share_of_floor"] == pytest.approx(0.25)


def test_each_profiled_step_is_measured_against_its_own_peak():
    from bench.benchmarks.step_profile import StepProfile, step_table

    ops = pd.DataFrame({"step": [0, 0, 0, 1, 1, 1], "op": ["aten::mm", "aten::convolution_backward", "aten::relu"] * 2,
                        "input_shapes": ["[]"] * 6, "calls": [1] * 6, "self_ms": [4.0, 4.0, 2.0, 8.0, 8.0, 4.0]})
    # step 1 ran at half the speed of step 0, and so did the product timed after it
    result = StepProfile([10.0, 20.0], ops, {"matrix products": 8e9, "convolution backward": 2e9}, [4000.0, 2000.0])
    steps, kinds = step_table(result, batch_size=100, floor_flops_per_image=1e8)
    assert list(steps["peak_gflops"]) == [4000.0, 2000.0]
    # 8 and 16 ms of kernels: 12,500 and 6,250 images/s, against floors of 40,000 and 20,000
    assert list(steps["ceiling_share_of_floor"]) == pytest.approx([0.3125, 0.3125])
    kinds = kinds.set_index("kind")
    assert kinds.loc["matrix products", "share_of_peak"] == pytest.approx(0.5)  # 2,000 of 4,000 and 1,000 of 2,000
    assert kinds.loc["matrix products", "ms_per_step"] == pytest.approx(6.0)    # the median of 4 and 8
    assert np.isnan(kinds.loc["other", "share_of_peak"])


def test_matmul_peak_table_gives_each_size_and_its_floor():
    from bench.benchmarks.matmul_peak import peak_table

    table = peak_table([32, 64], rounds=2, device=torch.device("cpu"), flops_per_image=1e6)
    assert list(zip(table["size"], table["dtype"])) == [(32, "fp32"), (32, "bf16"), (64, "fp32"), (64, "bf16")]
    assert (table["gflops_min"] <= table["gflops"]).all() and (table["gflops"] <= table["gflops_max"]).all()
    assert (table["gflops_min"] > 0).all()
    # 1 MFLOP per image: the floor in images/s is the rate in FLOP/s over 1e6
    assert table["floor_images_per_s"].to_numpy() == pytest.approx(table["gflops"].to_numpy() * 1e3)


def _pretend_native_bf16(monkeypatch, native: bool) -> None:
    """Make the CPU look like one with native bf16 or like one that emulates it (an AVX2 CPU
    without AVX512-BF16 or AMX)."""
    import models.infogan

    monkeypatch.setattr(models.infogan, "native_bf16", lambda device: native)


def test_without_native_bf16_the_defaults_are_fp32(monkeypatch):
    cpu = torch.device("cpu")
    _pretend_native_bf16(monkeypatch, False)
    assert default_variant(cpu) == "toolkit-fp32+fused"
    assert all("bf16" not in name for name in default_variants(cpu))
    assert {"reference", "toolkit-fp32", "toolkit-fp32+fused"} <= set(default_variants(cpu))
    for name in default_variants(cpu)[1:]:
        variant_settings(name)


def test_with_native_bf16_the_defaults_are_bf16(monkeypatch):
    cpu = torch.device("cpu")
    _pretend_native_bf16(monkeypatch, True)
    assert default_variant(cpu) == "toolkit-bf16+fused"
    assert default_variants(cpu) == PerfConfig.variants and "toolkit-bf16+fused" in default_variants(cpu)
    assert default_variants(torch.device("cuda")) == CUDA_VARIANTS


def test_without_native_bf16_the_floor_is_the_fp32_one(monkeypatch):
    """Where bf16 is emulated its peak is not measured, and the floor is taken at the fp32 peak."""
    _pretend_native_bf16(monkeypatch, False)
    images = torch.randint(0, 256, (600, 1, 28, 28), dtype=torch.uint8)
    config = PerfConfig(batch_size=16, iterations=2, warmup=1, repeats=1, variants=("reference", "toolkit-fp32"))
    table = run_perf(config, images, torch.device("cpu"))
    first = table.iloc[0]
    assert (table["floor_precision"] == "fp32").all() and table["matmul_gflops_bf16"].isna().all()
    expected = first["matmul_gflops_fp32"] * 1e3 / first["reference_step_mflop_per_image"]
    assert first["floor_images_per_s"] == pytest.approx(expected)
    assert np.allclose(table["share_of_floor"], table["images_per_s"] / expected)
    lines = summary_lines(table)
    assert "bf16 not native here, not measured" in lines[1] and "fp32 floor" in lines[1]
    assert all("% of fp32 floor" in line for line in lines[2:])


def test_the_floor_takes_the_median_of_the_peak_readings(monkeypatch):
    """The peak is read before the first round and after each of the three; one slow reading
    (the machine busy for a moment) does not set the floor."""
    import bench.perf

    _pretend_native_bf16(monkeypatch, False)
    readings = iter([140.0, 70.0, 150.0, 130.0])
    monkeypatch.setattr(bench.perf, "matmul_gflops", lambda device, dtype, size=None, repeats=5: next(readings))
    images = torch.randint(0, 256, (600, 1, 28, 28), dtype=torch.uint8)
    config = PerfConfig(batch_size=16, iterations=2, warmup=1, repeats=3, variants=("toolkit-fp32",))
    first = run_perf(config, images, torch.device("cpu")).iloc[0]
    assert first["peak_readings"] == 4
    assert (first["matmul_gflops_fp32"], first["matmul_gflops_fp32_min"], first["matmul_gflops_fp32_max"]) == \
        (135.0, 70.0, 150.0)
    assert first["floor_images_per_s"] == pytest.approx(135.0 * 1e3 / first["reference_step_mflop_per_image"])
    assert "median of 4 readings: fp32 135 GFLOP/s (70-150)" in summary_lines(pd.DataFrame([first]))[1]


def test_bf16_on_a_device_that_emulates_it_warns(monkeypatch):
    _pretend_native_bf16(monkeypatch, False)
    config = replace(SUITE.profiles["smoke"].train, batch_size=8)
    with pytest.warns(EmulatedBf16Warning, match="emulated"):
        Trainer(SUITE.latent, SUITE.network, replace(config, precision="bf16"),
                torch.zeros(16, 1, 28, 28, dtype=torch.uint8), torch.device("cpu"), seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EmulatedBf16Warning)
        Trainer(SUITE.latent, SUITE.network, replace(config, precision="fp32"),
                torch.zeros(16, 1, 28, 28, dtype=torch.uint8), torch.device("cpu"), seed=0)


def test_networks_and_step_are_adapted_for_one_copy_and_refused_for_stacked_ones():
    seen = []
    loop = toolkit_loop(PerfConfig(batch_size=4), "toolkit-fp32", random_images("mnist", 8), torch.device("cpu"),
                        lambda G, D: seen.append((type(G).__name__, type(D).__name__)),
                        lambda step: seen.append(type(step).__name__))
    assert seen == [("Generator", "Discriminator"), "InfoGANStep"]
    stats = loop()  # what the step returns: loss_d, loss_g, loss_q and the mean log Q of each code
    assert stats.shape == (3 + len(SUITE.latent.codes),) and torch.isfinite(stats).all()
    for hooks in ((lambda G, D: None, None), (None, lambda step: None)):
        with pytest.raises(ValueError, match="one copy"):
            toolkit_loop(PerfConfig(batch_size=4), "toolkit-fp32+x2", random_images("mnist", 8), torch.device("cpu"),
                         *hooks)
