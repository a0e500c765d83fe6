import pytest

from bench.eta import TrainingRate


def test_rate_leaves_out_the_first_interval():
    rate = TrainingRate()
    assert not rate.observe(50, 0.77)  # graph capture and algorithm search: 0.77 s for 50 iterations
    assert rate.observe(100, 0.85)
    assert rate.seconds_per_iteration == pytest.approx(0.08 / 50)
    line = rate.describe(4900)  # 4,900 iterations at 625 it/s: 7.8 s
    assert line.startswith("ETA: about 0.1 min of training for the plan")
    assert "625.0 it/s over iterations 50-100" in line


def test_rate_is_measured_once_per_plan():
    rate = TrainingRate()
    rate.observe(5, 1.0)
    rate.observe(10, 2.0)
    assert not rate.observe(15, 10.0)
    assert rate.seconds_per_iteration == pytest.approx(0.2)


def test_a_new_run_starts_its_own_pair_of_rows():
    rate = TrainingRate()
    rate.observe(50, 100.0)  # the only log row of a run resumed near its end
    rate.start_run()
    assert not rate.observe(50, 3.0)
    assert rate.observe(100, 4.0)
    assert rate.seconds_per_iteration == pytest.approx(1 / 50)


def test_misuse_is_refused():
    rate = TrainingRate()
    with pytest.raises(ValueError, match="no rate"):
        rate.describe(100)
    rate.observe(50, 1.0)
    with pytest.raises(ValueError, match="out of order"):
        rate.observe(50, 2.0)
