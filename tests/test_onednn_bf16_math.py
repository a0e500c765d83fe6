"""The benchmark of fp32 training with oneDNN allowed to compute in bf16."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from bench.benchmarks.onednn_bf16_math import main, onednn_fp32_precision
from models.infogan import native_bf16

SETTINGS = (torch.backends.mkldnn.conv, torch.backends.mkldnn.matmul)


def test_the_setting_is_put_back_as_it_was_even_after_an_error():
    before = [backend.fp32_precision for backend in SETTINGS]
    with pytest.raises(RuntimeError):
        with onednn_fp32_precision("bf16"):
            assert [backend.fp32_precision for backend in SETTINGS] == ["bf16", "bf16"]
            raise RuntimeError("a failing block")
    assert [backend.fp32_precision for backend in SETTINGS] == before


def test_a_small_run_times_every_loop_and_each_product_both_ways(tmp_path):
    before = [backend.fp32_precision for backend in SETTINGS]
    table = main(["--blocks", "2", "--steps", "2", "--batch-size", "8", "--images", "64", "--out", str(tmp_path)])
    assert [backend.fp32_precision for backend in SETTINGS] == before
    written = pd.read_csv(tmp_path / "onednn_bf16_math.csv")
    expected = ["fp32", "fp32, oneDNN bf16"] + (["bf16 autocast"] if native_bf16(torch.device("cpu")) else [])
    assert list(written["arm"]) == list(table["arm"]) == expected
    assert list(written["onednn_fp32_precision"]) == ["ieee", "bf16", "ieee"][: len(expected)]
    assert written.loc[0, "ratio_to_fp32"] == 1.0 and (written["images_per_s"] > 0).all()
    assert (written["min_images_per_s"] <= written["images_per_s"]).all()
    assert (written["images_per_s"] <= written["max_images_per_s"]).all()
    # a finite fraction: 0 or rounding from fp32 kernels, about 3e-3 from bf16 ones
    assert ((written["conv_relative_change"] >= 0) & (written["conv_relative_change"] < 0.01)).all()
    products = pd.read_csv(tmp_path / "onednn_bf16_math_products.csv")
    assert sorted(zip(products["product"], products["onednn_fp32_precision"])) == sorted(
        (name, precision) for name in ("forward", "weight gradient", "input gradient") for precision in ("ieee", "bf16"))
    assert (products["ms"] > 0).all()
