"""The calibration and long-tail metrics on inputs whose answer is known by hand."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lossdemo.metrics import (
    ECE_BINS,
    ReliabilityHistogram,
    balanced_accuracy,
    expected_calibration_error,
    group_accuracy,
    histogram_from_sums,
    merge_histograms,
    reliability_histogram,
    reliability_sums,
)


def test_perfectly_calibrated_bins_have_zero_ece():
    # Eight predictions at confidence 0.75, six of them right: the bin's accuracy equals its confidence.
    confidences = torch.full((8,), 0.75)
    correct = torch.tensor([1, 1, 1, 0, 1, 1, 1, 0])
    assert expected_calibration_error(reliability_histogram(confidences, correct)) == pytest.approx(0.0)


def test_overconfident_predictions_give_the_gap_as_ece():
    # Every prediction says 0.9 but only half are right: ECE = |0.5 - 0.9| = 0.4.
    confidences = torch.full((10,), 0.9)
    correct = torch.tensor([1, 0] * 5)
    assert expected_calibration_error(reliability_histogram(confidences, correct)) == pytest.approx(0.4)


def test_ece_weights_bins_by_their_counts():
    # 3 predictions at 0.95 all right (gap 0.05), 1 at 0.55 wrong (gap 0.55): (3*0.05 + 0.55) / 4.
    confidences = torch.tensor([0.95, 0.95, 0.95, 0.55])
    correct = torch.tensor([True, True, True, False])
    expected = (3 * 0.05 + 0.55) / 4
    assert expected_calibration_error(reliability_histogram(confidences, correct)) == pytest.approx(expected)


def test_bins_are_right_closed_and_zero_joins_the_first():
    histogram = reliability_histogram(torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0]), torch.ones(5), num_bins=2)
    assert histogram.count == (3, 2)  # 0.0 and exactly 0.5 in (0, 0.5]; 0.75 and 1.0 in (0.5, 1]


def test_empty_bins_report_zero_and_do_not_count():
    histogram = reliability_histogram(torch.tensor([0.99]), torch.tensor([1]))
    assert len(histogram.count) == ECE_BINS
    assert histogram.accuracy[0] == 0 and histogram.confidence[0] == 0
    assert expected_calibration_error(histogram) == pytest.approx(0.01)


def test_round_trip_through_json_data():
    histogram = reliability_histogram(torch.tensor([0.3, 0.6, 0.9]), torch.tensor([0, 1, 1]), num_bins=5)
    assert ReliabilityHistogram.from_dict(histogram.to_dict()) == histogram


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=60), st.integers(1, 20))
def test_ece_is_between_zero_and_one_and_merging_splits_changes_nothing(samples, num_bins):
    confidences = torch.tensor([c for c, _ in samples], dtype=torch.float64)
    correct = torch.tensor([k for _, k in samples])
    whole = reliability_histogram(confidences, correct, num_bins)
    ece = expected_calibration_error(whole)
    assert 0 <= ece <= 1
    half = len(samples) // 2
    parts = [reliability_histogram(confidences[:half], correct[:half], num_bins),
             reliability_histogram(confidences[half:], correct[half:], num_bins)]
    merged = merge_histograms(parts)
    assert merged.count == whole.count
    assert expected_calibration_error(merged) == pytest.approx(ece, abs=1e-12)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="num_bins"):
        reliability_histogram(torch.tensor([0.5]), torch.tensor([1]), num_bins=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        reliability_histogram(torch.tensor([1.5]), torch.tensor([1]))
    with pytest.raises(ValueError, match="equal-length"):
        reliability_histogram(torch.tensor([0.5, 0.5]), torch.tensor([1]))


def test_balanced_and_group_accuracy():
    per_class = [1.0, 0.8, 0.0, 0.2]
    assert balanced_accuracy(per_class) == pytest.approx(0.5)
    assert group_accuracy(per_class, [0, 1]) == pytest.approx(0.9)
    assert group_accuracy(per_class, [2, 3]) == pytest.approx(0.1)
    assert math.isclose(group_accuracy(per_class, range(4)), balanced_accuracy(per_class))


def test_device_sums_give_the_same_histogram_as_the_direct_one():
    generator = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(500, 10, generator=generator)
    labels = torch.randint(0, 10, (500,), generator=generator)
    confidences, predictions = torch.softmax(logits, dim=1).max(dim=1)
    direct = reliability_histogram(confidences, predictions == labels)
    from_sums = histogram_from_sums(reliability_sums(logits, labels).tolist())
    assert from_sums.count == direct.count
    assert from_sums.accuracy == pytest.approx(direct.accuracy, abs=1e-6)
    assert from_sums.confidence == pytest.approx(direct.confidence, abs=1e-6)
    assert expected_calibration_error(from_sums) == pytest.approx(expected_calibration_error(direct), abs=1e-6)


def test_temperature_scaling_recovers_the_temperature_that_made_the_logits_over_confident():
    from lossdemo.metrics import fit_temperature

    generator = torch.Generator().manual_seed(0)
    calibrated = torch.randn(20_000, 10, generator=generator, dtype=torch.float64) * 2
    labels = torch.multinomial(torch.softmax(calibrated, dim=1), 1, generator=generator).squeeze(1)
    for true_temperature in (0.5, 2.0):
        fitted = fit_temperature(calibrated * true_temperature, labels)  # logits / T recovers the calibrated ones
        assert fitted == pytest.approx(true_temperature, rel=0.05)


def test_temperature_scaled_keeps_every_prediction_and_never_worsens_the_validation_nll():
    from lossdemo.metrics import fit_temperature, temperature_scaled

    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(500, 10, generator=generator) * 4
    labels = torch.randint(0, 10, (500,), generator=generator)
    record = temperature_scaled(logits, labels, logits, labels)
    assert set(record) == {"temperature", "val_ce_scaled", "test_ece_scaled", "test_ce_scaled", "test_reliability_scaled"}
    assert torch.equal((logits / record["temperature"]).argmax(1), logits.argmax(1))
    raw = torch.nn.functional.cross_entropy(logits.double(), labels)
    assert record["test_ce_scaled"] <= float(raw) + 1e-9
    assert record["val_ce_scaled"] == pytest.approx(record["test_ce_scaled"])  # the same split on both sides here
    with pytest.raises(ValueError, match="logits with non-finite values are invalid; allowed: finite logits"):
        fit_temperature(torch.full((3, 2), float("nan")), torch.zeros(3, dtype=torch.long))


@pytest.mark.parametrize("scale", [0.01, 1.0, 30.0])
def test_the_fitted_temperature_is_the_validation_nll_minimum(scale):
    from lossdemo.metrics import fit_temperature

    generator = torch.Generator().manual_seed(2)
    logits = torch.randn(800, 10, generator=generator, dtype=torch.float64) * scale
    informative = torch.rand(800, generator=generator) < 0.7
    labels = torch.where(informative, logits.argmax(1), torch.randint(0, 10, (800,), generator=generator))
    temperature = fit_temperature(logits, labels)

    def nll(value):
        return float(torch.nn.functional.cross_entropy(logits / value, labels))

    # A minimum to float precision: a step of 1e-4 either way does not lower the NLL.
    assert nll(temperature) <= min(nll(temperature * 1.0001), nll(temperature / 1.0001))
    grid = torch.logspace(-4, 4, 801, dtype=torch.float64).tolist()
    assert nll(temperature) <= min(nll(value) for value in grid)


def test_a_temperature_without_a_finite_optimum_stops_at_its_range():
    from lossdemo.metrics import TEMPERATURE_RANGE, fit_temperature

    constant = torch.zeros(50, 10)  # a run at chance: the NLL falls all the way to T = ∞
    assert fit_temperature(constant, torch.zeros(50, dtype=torch.long)) == TEMPERATURE_RANGE[1]
    separated = torch.eye(10) * 5  # every sample right with a margin: the NLL falls all the way to T = 0
    assert fit_temperature(separated, torch.arange(10)) == TEMPERATURE_RANGE[0]
