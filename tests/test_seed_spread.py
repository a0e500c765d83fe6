"""Seed spread of time-to-accuracy curves and the seed-by-seed comparison of two settings."""

import numpy as np
import pandas as pd
import pytest

from bench.benchmarks.seed_spread import compare, main, read_group
from bench.benchmarks.time_to_accuracy import describe_spread, spread


def _write_curve(folder, seed: int, accuracies: list[float]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    n = len(accuracies)
    pd.DataFrame({"seed": seed, "iteration": [250 * (i + 1) for i in range(n)],
                  "train_seconds": [10.0 * (i + 1) for i in range(n)], "wall_seconds": [11.0 * (i + 1) for i in range(n)],
                  "test_accuracy": accuracies}).to_csv(folder / f"curve_seed{seed}.csv", index=False)


def test_spread_counts_seeds_that_reached_a_threshold_on_the_way(tmp_path):
    _write_curve(tmp_path / "a", 0, [0.5, 0.96, 0.93])   # reached 95%, ends below it
    _write_curve(tmp_path / "a", 1, [0.5, 0.80, 0.91])   # reaches 90% at the end only
    _write_curve(tmp_path / "b", 2, [0.5, 0.60, 0.70])
    table = read_group("x", [tmp_path / "a", tmp_path / "b"])
    assert list(table.index) == [0, 1, 2]
    row = spread(table)
    finals = np.array([0.93, 0.91, 0.70])
    assert row["seeds"] == 3 and row["reached_90"] == 2 and row["reached_95"] == 1
    assert row["mean"] == pytest.approx(finals.mean()) and row["sd"] == pytest.approx(finals.std(ddof=1))
    assert (row["median"], row["min"], row["max"]) == (0.91, 0.70, 0.93)
    assert describe_spread(row) == ("final accuracy over 3 seeds: 0.847 ± 0.127 (median 0.910, range 0.700-0.930); "
                                    "2 reached 90%, 1 reached 95%")


def test_compare_pairs_seeds_and_signs_the_difference(tmp_path):
    for seed, (a, b) in enumerate([(0.70, 0.80), (0.80, 0.95), (0.90, 0.92), (0.60, 0.61), (0.75, 0.90)]):
        _write_curve(tmp_path / "a", seed, [a])
        _write_curve(tmp_path / "b", seed, [b])
    _write_curve(tmp_path / "b", 9, [0.10])  # no partner: left out of the paired test, kept in the unpaired one
    first, second = read_group("a", [tmp_path / "a"]), read_group("b", [tmp_path / "b"])
    result = compare(first, second)
    assert result.shared_seeds == 5
    assert result.mean_difference == pytest.approx(np.mean([0.10, 0.15, 0.02, 0.01, 0.15]))
    # every shared seed is better in the second group: the exact two-sided signed-rank p of 5 pairs is 2/32
    assert result.wilcoxon_p == pytest.approx(2 / 32)
    assert compare(second, first).mean_difference == pytest.approx(-result.mean_difference)


def test_a_seed_in_two_folders_and_an_empty_folder_are_refused(tmp_path, capsys):
    _write_curve(tmp_path / "a", 0, [0.9])
    _write_curve(tmp_path / "b", 0, [0.8])
    with pytest.raises(ValueError, match="seed 0 of group x has a curve in more than one folder"):
        read_group("x", [tmp_path / "a", tmp_path / "b"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        main([f"x={tmp_path / 'empty'}"])
    assert "holds no curve_seed<k>.csv" in capsys.readouterr().err


def test_main_prints_both_groups_and_writes_the_table(tmp_path, capsys):
    for seed in range(3):
        _write_curve(tmp_path / "a", seed, [0.8 + 0.01 * seed])
        _write_curve(tmp_path / "b", seed, [0.7 + 0.02 * seed])
    main([f"bf16={tmp_path / 'a'}", f"fp32={tmp_path / 'b'}", "--out", str(tmp_path / "spread.csv")])
    out = capsys.readouterr().out
    assert "fp32 - bf16 on 3 shared seeds: -0.090 (sd 0.010)" in out
    assert list(pd.read_csv(tmp_path / "spread.csv")["group"]) == ["bf16", "fp32"]
