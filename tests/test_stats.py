"""Summary statistics against scipy: t-intervals, paired differences, convergence epochs.

Run: pytest tests/test_stats.py -q
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from lossdemo.report.stats import Interval, epochs_to_fraction, format_interval, mean_ci, paired_difference

samples = st.lists(st.floats(0.0, 1.0), min_size=2, max_size=30)


@settings(max_examples=100, deadline=None)
@given(values=samples, confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_mean_ci_matches_scipy_t_interval(values, confidence):
    interval = mean_ci(values, confidence)
    mean = float(np.mean(values))
    sem = float(scipy_stats.sem(values))
    assert interval.mean == pytest.approx(mean, abs=1e-12)
    assert interval.n == len(values)
    if sem == 0:
        assert interval.low == pytest.approx(mean) and interval.high == pytest.approx(mean)
        return
    low, high = scipy_stats.t.interval(confidence, len(values) - 1, loc=mean, scale=sem)
    assert interval.low == pytest.approx(low, abs=1e-9)
    assert interval.high == pytest.approx(high, abs=1e-9)


def test_a_known_interval():
    # mean 2, sample variance 2/3, n 4: half-width t_{0.975, 3} * sqrt(2/3) / sqrt(4), t_{0.975, 3} = 3.182446
    interval = mean_ci([1.0, 2.0, 2.0, 3.0])
    assert interval.mean == 2.0
    assert interval.half_width == pytest.approx(3.182446305284263 * math.sqrt(2 / 3) / 2, rel=1e-9)


def test_one_value_is_its_own_interval_and_none_is_an_error():
    assert mean_ci([0.7]) == Interval(0.7, 0.7, 0.7, 1)
    with pytest.raises(ValueError, match="at least one value"):
        mean_ci([])


@settings(max_examples=60, deadline=None)
@given(a=st.lists(st.floats(0.0, 1.0), min_size=2, max_size=10), shift=st.floats(-0.5, 0.5))
def test_paired_difference_is_the_interval_of_per_seed_differences(a, shift):
    a_by_seed = dict(enumerate(a))
    b_by_seed = {seed: value - shift for seed, value in a_by_seed.items()}
    b_by_seed[99] = 0.0  # a seed only one side has is ignored
    difference = paired_difference(a_by_seed, b_by_seed)
    expected = mean_ci([a_by_seed[s] - b_by_seed[s] for s in sorted(a_by_seed)])
    assert difference == expected
    assert difference.mean == pytest.approx(shift, abs=1e-9)


def test_pairing_removes_the_shared_seed_spread():
    """Big seed-to-seed spread, constant gap: unpaired intervals overlap, the paired one excludes 0."""
    base = {seed: 0.5 + 0.1 * seed for seed in range(5)}
    better = {seed: value + 0.01 for seed, value in base.items()}
    unpaired_a, unpaired_b = mean_ci(list(better.values())), mean_ci(list(base.values()))
    assert unpaired_a.low < unpaired_b.high
    assert paired_difference(better, base).excludes_zero()


def test_paired_difference_needs_a_shared_seed():
    with pytest.raises(ValueError, match="at least one seed"):
        paired_difference({0: 1.0}, {1: 1.0})


@pytest.mark.parametrize("curve, expected", [
    ([0.1, 0.5, 0.9, 0.95, 1.0], 4),
    ([1.0, 0.2, 1.0], 1),
    ([0.0, 0.0, 0.0], 1),
    ([0.5], 1),
])
def test_epochs_to_fraction_is_the_first_epoch_reaching_95_percent_of_the_final_value(curve, expected):
    assert epochs_to_fraction(curve) == expected


def test_format_interval():
    assert format_interval(Interval(0.923, 0.919, 0.927, 5)) == "92.3 ± 0.4"
    assert format_interval(Interval(0.5, 0.5, 0.5, 1)) == "50.0"
    assert format_interval(Interval(12.0, 11.0, 13.0, 3), scale=1.0) == "12.0 ± 1.0"
