"""The decision guide ranks each situation's losses from stored runs and says when the seeds cannot."""

from __future__ import annotations

from dataclasses import replace

from support import GENERATED_DIR, PUBLISHED_DIR, stored_run

from lossdemo.report import guide
from lossdemo.report.claims_pages import stored_runs
from lossdemo.report.verdicts import FAILS, HOLDS, NOT_SEPARATED, fair


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
    """(row, [(loss compared with, comparison, outcome, raw p, adjusted p), ...]) of the long-tail situation."""
    return next(item for item in guide.guide_rows(runs) if item[0].situation.name.startswith("Long tail"))


def test_a_clear_winner_is_named_and_shown_ahead():
    runs = _runs("la-ce:1", [0.70, 0.71, 0.72, 0.70, 0.71], val=0.8) + _runs("ce", [0.60, 0.61, 0.60, 0.62, 0.61])
    row, judged = _long_tail_row(runs)
    assert row.best == "la-ce:1" and [(other, outcome) for other, _, outcome, *_ in judged] == [("ce", HOLDS)]
    text = guide.guide_markdown(runs)
    assert "| `la-ce:1` |" in text and "**ahead**" in text and "the runner-up is the default" in text


def test_the_pick_is_compared_with_the_runner_up_and_with_plain_ce():
    runs = (_runs("la-ce:1", [0.70, 0.71, 0.72, 0.70, 0.71], val=0.8)
            + _runs("cb-ce@0.9", [0.69, 0.71, 0.70, 0.70, 0.70], val=0.7)
            + _runs("ce", [0.60, 0.61, 0.60, 0.62, 0.61], val=0.5))
    row, judged = _long_tail_row(runs)
    assert [other for other, *_ in judged] == ["cb-ce@0.9", "ce"]
    assert judged[1][2] == HOLDS and judged[1][1].interval.mean > 0.09, "the gain over the practitioner's default"


def test_a_margin_within_the_noise_is_not_separated():
    runs = _runs("la-ce:1", [0.70, 0.62, 0.75, 0.60, 0.71], val=0.8) + _runs("ce", [0.69, 0.66, 0.70, 0.65, 0.66])
    _, judged = _long_tail_row(runs)
    assert judged[0][2] == NOT_SEPARATED
    assert "**not separated**" in guide.guide_markdown(runs)


def test_calibration_rows_rank_and_report_the_nll():
    situation = next(s for s in guide.SITUATIONS if s.name == "Calibrated probabilities, as trained")
    assert situation.metric == "nll" and situation.lower_is_better
    runs = []
    for loss, nll in (("ce", 0.30), ("ls:0.1", 0.20)):
        config = fair("label-noise", "mnist1d", loss=loss, label_noise=0.0)
        runs += [stored_run(replace(config, seed=seed), {
            "test_accuracy": [0.9], "test_per_class_accuracy": [[0.9] * 10], "train_accuracy": [0.9],
            "val_accuracy": [0.9], "val_ce": [nll], "test_ce": [nll + 0.001 * seed]}) for seed in range(5)]
    row, judged = next(item for item in guide.guide_rows(runs) if item[0].situation is situation)
    assert row.best == "ls:0.1" and judged[0][1].interval.mean > 0, "a positive gain favours the pick (lower NLL)"


def test_the_test_split_never_chooses_the_best():
    # Better on validation, worse on test: it is still the pick, and the row says it is not ahead.
    runs = (_runs("la-ce:1", [0.60, 0.61, 0.60, 0.62, 0.61], val=0.9)
            + _runs("ce", [0.70, 0.71, 0.72, 0.70, 0.71], val=0.5))
    row, judged = _long_tail_row(runs)
    assert row.best == "la-ce:1" and judged[0][2] == FAILS


def test_a_gap_shown_to_be_negligible_is_not_ahead_by_the_margin():
    runs = (_runs("la-ce:1", [0.700, 0.712, 0.695, 0.705, 0.701], val=0.9)
            + _runs("ce", [0.700, 0.711, 0.696, 0.704, 0.702], val=0.5))
    _, judged = _long_tail_row(runs)
    assert judged[0][2] == FAILS
    assert "not ahead by the margin" in guide.guide_markdown(runs)


def test_the_published_guide_is_the_guide_of_the_published_runs():
    expected = guide.guide_markdown(stored_runs([PUBLISHED_DIR]))
    assert (GENERATED_DIR / guide.GUIDE_FILE).read_text() == expected, (
        "docs/generated/guide_table.md is stale; regenerate with: "
        "python -m lossdemo.reproduce --full --plots-only --results-dir results")


def test_every_situation_has_its_row_in_the_published_guide():
    rows = guide.guide_rows(stored_runs([PUBLISHED_DIR]))
    assert [row.situation for row, _ in rows] == list(guide.SITUATIONS), "a situation whose runs are stored lost its row"
