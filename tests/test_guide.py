"""The decision guide ranks each situation's losses from stored runs and says when the seeds cannot."""

from __future__ import annotations

from dataclasses import replace

from support import GENERATED_DIR, PUBLISHED_DIR, stored_run

from lossdemo.report import guide
from lossdemo.report.claims_pages import stored_runs
from lossdemo.report.verdicts import fair


def _runs(loss: str, values: list[float], val: float = 0.5) -> list:
    config = fair("imbalance", "mnist1d", loss=loss, imbalance_ratio=100.0)
    runs = []
    for seed, value in enumerate(values):
        per_class = [value] * 10
        runs.append(stored_run(replace(config, seed=seed), {
            "test_accuracy": [value], "test_per_class_accuracy": [per_class], "train_accuracy": [0.9],
            "val_accuracy": [val], "val_per_class_accuracy": [[val] * 10], "test_ece": [0.05]}))
    return runs


def _long_tail_row(runs):
    return next(item for item in guide.guide_rows(runs) if item[0].situation.name.startswith("Long tail"))


def test_a_clear_winner_is_named_and_separated():
    runs = _runs("la-ce:1", [0.70, 0.71, 0.72, 0.70, 0.71], val=0.8) + _runs("ce", [0.60, 0.61, 0.60, 0.62, 0.61])
    row, outcome, _, _ = _long_tail_row(runs)
    assert (row.best, row.runner_up, outcome) == ("la-ce:1", "ce", "separated")
    assert "| `la-ce:1` |" in guide.guide_markdown(runs)


def test_a_margin_within_the_noise_is_not_separated_and_names_both():
    runs = _runs("la-ce:1", [0.70, 0.62, 0.75, 0.60, 0.71], val=0.8) + _runs("ce", [0.69, 0.66, 0.70, 0.65, 0.66])
    row, outcome, _, _ = _long_tail_row(runs)
    assert outcome == "not separated"
    text = guide.guide_markdown(runs)
    assert "`la-ce:1` or `ce`" in text and "the data rule out a margin above" in text


def test_lower_is_better_rows_pick_on_validation_nll_and_test_the_calibration_error():
    situation = next(s for s in guide.SITUATIONS if s.name == "Calibrated probabilities")
    runs = []
    for loss, ece, nll in (("ce", 0.05, 0.30), ("ls:0.1", 0.02, 0.20)):
        config = fair("label-noise", "mnist1d", loss=loss, label_noise=0.0)
        runs += [stored_run(replace(config, seed=seed), {
            "test_accuracy": [0.9], "test_per_class_accuracy": [[0.9] * 10], "train_accuracy": [0.9],
            "val_accuracy": [0.9], "val_ce": [nll], "test_ece": [ece + 0.001 * seed]}) for seed in range(5)]
    row = next(item[0] for item in guide.guide_rows(runs) if item[0].situation is situation)
    assert row.best == "ls:0.1" and row.comparison.interval.mean > 0


def test_the_test_split_never_chooses_the_best():
    # Better on validation, worse on test: it is still the pick, and the row says the test disagrees.
    runs = (_runs("la-ce:1", [0.60, 0.61, 0.60, 0.62, 0.61], val=0.9)
            + _runs("ce", [0.70, 0.71, 0.72, 0.70, 0.71], val=0.5))
    row, outcome, _, _ = _long_tail_row(runs)
    assert row.best == "la-ce:1" and outcome == guide.REVERSED


def test_a_gap_shown_to_be_negligible_is_called_practically_equal():
    runs = (_runs("la-ce:1", [0.700, 0.712, 0.695, 0.705, 0.701], val=0.9)
            + _runs("ce", [0.700, 0.711, 0.696, 0.704, 0.702], val=0.5))
    row, outcome, _, _ = _long_tail_row(runs)
    assert outcome == guide.EQUIVALENT
    assert "practically equal" in guide.guide_markdown(runs)


def test_the_published_guide_is_the_guide_of_the_published_runs():
    expected = guide.guide_markdown(stored_runs([PUBLISHED_DIR]))
    assert (GENERATED_DIR / guide.GUIDE_FILE).read_text() == expected, (
        "docs/generated/guide_table.md is stale; regenerate with: "
        "python -m lossdemo.reproduce --full --plots-only --results-dir results")


def test_every_situation_has_its_row_in_the_published_guide():
    rows = guide.guide_rows(stored_runs([PUBLISHED_DIR]))
    assert [row.situation for row, *_ in rows] == list(guide.SITUATIONS), "a situation whose runs are stored lost its row"
