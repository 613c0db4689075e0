"""The decision guide ranks each situation's losses from stored runs and says when the seeds cannot."""

from __future__ import annotations

from dataclasses import replace

from support import GENERATED_DIR, PUBLISHED_DIR, stored_run

from lossdemo.report import guide
from lossdemo.report.claims_pages import stored_runs
from lossdemo.report.verdicts import fair


def _runs(loss: str, values: list[float], **fields) -> list:
    config = fair("imbalance", "mnist1d", loss=loss, imbalance_ratio=100.0, **fields)
    runs = []
    for seed, value in enumerate(values):
        per_class = [value] * 10
        runs.append(stored_run(replace(config, seed=seed), {
            "test_accuracy": [value], "test_per_class_accuracy": [per_class], "train_accuracy": [0.9],
            "val_accuracy": [0.5], "test_ece": [0.05]}))
    return runs


def _long_tail_row(runs):
    return next(item for item in guide.guide_rows(runs) if item[0].situation.name.startswith("Long tail"))


def test_a_clear_winner_is_named_and_separated():
    runs = _runs("la-ce:1", [0.70, 0.71, 0.72, 0.70, 0.71]) + _runs("ce", [0.60, 0.61, 0.60, 0.62, 0.61])
    row, outcome, _, _ = _long_tail_row(runs)
    assert (row.best, row.runner_up, outcome) == ("la-ce:1", "ce", "separated")
    assert "| `la-ce:1` |" in guide.guide_markdown(runs)


def test_a_margin_within_the_noise_is_not_separated_and_names_both():
    runs = _runs("la-ce:1", [0.70, 0.62, 0.75, 0.60, 0.71]) + _runs("ce", [0.69, 0.66, 0.70, 0.65, 0.66])
    row, outcome, _, _ = _long_tail_row(runs)
    assert outcome == "not separated"
    text = guide.guide_markdown(runs)
    assert "`la-ce:1` or `ce`" in text and "the data rule out a margin above" in text


def test_lower_is_better_rows_pick_the_smallest_calibration_error():
    situation = next(s for s in guide.SITUATIONS if s.name == "Calibrated probabilities, as trained")
    runs = []
    for loss, ece in (("ce", 0.05), ("ls:0.1", 0.02)):
        config = fair("label-noise", "mnist1d", loss=loss, label_noise=0.0)
        runs += [stored_run(replace(config, seed=seed), {
            "test_accuracy": [0.9], "test_per_class_accuracy": [[0.9] * 10], "train_accuracy": [0.9],
            "val_accuracy": [0.9], "test_ece": [ece + 0.001 * seed]}) for seed in range(5)]
    row = next(item[0] for item in guide.guide_rows(runs) if item[0].situation is situation)
    assert row.best == "ls:0.1" and row.comparison.interval.mean > 0


def test_the_published_guide_is_the_guide_of_the_published_runs():
    expected = guide.guide_markdown(stored_runs([PUBLISHED_DIR]))
    assert (GENERATED_DIR / guide.GUIDE_FILE).read_text() == expected, (
        "docs/generated/guide_table.md is stale; regenerate with: "
        "python -m lossdemo.reproduce --full --plots-only --results-dir results")
