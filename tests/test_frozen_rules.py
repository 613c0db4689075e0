"""The rules of the frozen protocol: one margin both ways, the test split's own noise, exact tests for
bimodal differences, one family with one adjusted p per comparison, and the generated protocol page."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import stored_run

from lossdemo.epoch_record import decode_classes, encode_classes
from lossdemo.protocol import MARGINS, SEEDS_PER_CONDITION, TUNING_SEED_BASE
from lossdemo.report import measures as m
from lossdemo.report.family import Family
from lossdemo.report.inference import Comparison, SeedValues, family_confidence, interval_of, one_sided_p, sign_flip_p
from lossdemo.report.protocol_page import protocol_markdown
from lossdemo.report.test_noise import READINGS, item_variance
from lossdemo.report.verdicts import fair


def test_one_margin_decides_both_ways():
    tight = [0.001 * i for i in range(-2, 3)]
    ahead = Comparison("a − b", tuple(0.03 + v for v in tight))  # ahead by 3 points: more than the margin
    level = Comparison("a − b", tuple(0.004 + v for v in tight))  # ahead by 0.4 point: less than the margin
    unclear = Comparison("a − b", (0.0, 0.02, 0.005, 0.018, 0.01))  # around the margin itself
    assert ahead.p_for < 0.01 and ahead.p_against > 0.99
    assert level.p_against < 0.01 and level.p_for > 0.99, "ahead by less than the margin refutes 'a beats b'"
    assert unclear.p_for > 0.05 and unclear.p_against > 0.05
    # the two tests are mirror images around the same margin
    assert ahead.p_for == pytest.approx(one_sided_p(ahead.values, 1, MARGINS["accuracy"]))
    assert level.p_against == pytest.approx(one_sided_p(level.values, -1, MARGINS["accuracy"]))


def test_each_metric_has_its_margin_and_an_unknown_metric_is_a_one_line_error():
    assert Comparison("x", (0.1, 0.2), metric="balanced accuracy").margin == MARGINS["balanced accuracy"]
    assert Comparison("x", (0.1, 0.2), metric="ece").margin == MARGINS["ece"]
    assert Comparison("x", (0.1, 0.2), margin=0.05).margin == 0.05
    with pytest.raises(ValueError, match="metric 'f1' is invalid; allowed: accuracy, balanced accuracy, ece, nll"):
        Comparison("x", (0.1, 0.2), metric="f1")


def test_the_test_splits_noise_widens_the_interval_and_weakens_the_test():
    plain = (0.010, 0.012, 0.011, 0.013, 0.009)
    noisy = SeedValues(plain, item_variance=0.005 ** 2)
    assert interval_of(noisy, 0.95).half_width > interval_of(plain, 0.95).half_width
    assert one_sided_p(noisy, 1) > one_sided_p(plain, 1)
    n = len(plain)
    mean = sum(plain) / n
    se = math.sqrt(sum((v - mean) ** 2 for v in plain) / (n - 1) / n + 0.005 ** 2)
    from scipy import stats
    assert one_sided_p(noisy, 1) == pytest.approx(float(stats.t.sf(mean / se, n - 1)))
    assert (-noisy).item_variance == noisy.item_variance and tuple(-noisy) == tuple(-v for v in plain)


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.floats(-1, 1, allow_nan=False), min_size=2, max_size=8), shift=st.floats(-0.5, 0.5))
def test_the_sign_flip_test_is_the_exact_randomisation_test(values, shift):
    centred = np.asarray(values) - shift
    observed = centred.mean()
    patterns = list(itertools.product((1, -1), repeat=len(values)))
    expected = sum((np.asarray(signs) * np.abs(centred)).mean() >= observed - 1e-12 for signs in patterns) / len(patterns)
    assert sign_flip_p(values, 1, shift) == pytest.approx(expected)


def test_an_exact_comparison_needs_enough_seeds_to_reach_a_small_p():
    all_positive = tuple([0.3] * 5)
    assert sign_flip_p(all_positive, 1) == 1 / 32, "five seeds can never give less than 2^-5"
    assert Comparison("mae", tuple([0.3] * SEEDS_PER_CONDITION), exact=True).p_for == 2 ** -SEEDS_PER_CONDITION


def _run_with_answers(config, seed, predictions, labels):
    accuracy = float(np.mean(np.asarray(predictions) == np.asarray(labels)))
    return stored_run(replace(config, seed=seed), {
        "test_accuracy": [accuracy], "test_per_class_accuracy": [[accuracy] * 10],
        "test_predictions": {"labels": encode_classes(labels), "selected_epoch": 1, "selected": encode_classes(predictions),
                             "last": encode_classes(predictions)}})


def test_item_variance_is_the_variance_of_the_seed_averaged_per_sample_difference():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 200)
    a_config, b_config = fair("compare", "mnist1d", loss="ce"), fair("compare", "mnist1d", loss="mae")
    a_predictions = [np.where(rng.random(200) < 0.9, labels, (labels + 1) % 10) for _ in range(3)]
    b_predictions = [np.where(rng.random(200) < 0.6, labels, (labels + 1) % 10) for _ in range(3)]
    a = {seed: _run_with_answers(a_config, seed, p, labels) for seed, p in enumerate(a_predictions)}
    b = {seed: _run_with_answers(b_config, seed, p, labels) for seed, p in enumerate(b_predictions)}
    found = item_variance([(1.0, a, m.selected_accuracy), (-1.0, b, m.selected_accuracy)], [0, 1, 2])
    per_sample = np.mean([(pa == labels).astype(float) - (pb == labels) for pa, pb in zip(a_predictions, b_predictions)],
                         axis=0)
    assert found == pytest.approx(np.var(per_sample, ddof=1) / len(labels))
    assert item_variance([(1.0, a, m.final_ece)], [0, 1, 2]) is None, "ECE has no per-sample form here"
    assert set(READINGS) >= {m.selected_accuracy, m.final_accuracy, m.selected_balanced_accuracy}


def test_predictions_are_stored_compactly_and_decoded_exactly():
    classes = [0, 9, 3, 35, 7]
    assert encode_classes(classes) == "093z7" and decode_classes(encode_classes(classes)) == classes
    assert decode_classes(encode_classes([40, 1])) == [40, 1]


def test_one_family_gives_a_comparison_one_adjusted_p_wherever_it_appears():
    first = Comparison("claim's label", (0.05, 0.06, 0.055, 0.052))
    same = Comparison("guide's label", first.values)  # the same statement on the same runs
    other = Comparison("other", (0.0, 0.01, -0.01, 0.005))
    family = Family.of([first, same, other])
    assert family.size == 2
    assert family.p_values(first) == family.p_values(same)
    assert family.confidence == family_confidence(2) == 1 - 0.05 / 2


def test_the_protocol_page_states_the_frozen_choices_from_the_code():
    text = protocol_markdown([])
    assert f"**{SEEDS_PER_CONDITION} seeds**" in text and f"{TUNING_SEED_BASE}–" in text
    assert "argmax" in text and "No runs are stored yet." in text
    for metric in MARGINS:
        assert f"| {metric} |" in text


def test_the_changes_page_lists_every_claim_before_and_after_and_marks_the_changed():
    from lossdemo.report.changes import REASONS, changes_markdown
    from lossdemo.report.claims import all_claims
    from lossdemo.report.verdicts import ClaimVerdict, Verdict

    claims = all_claims()
    verdicts = [ClaimVerdict(claim, Verdict("holds"), "", "") for claim in claims]
    previous = {"commit": "abc1234", "verdicts": {claims[0].claim_id: "holds", claims[1].claim_id: "does not hold"}}
    text = changes_markdown(verdicts, previous)
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(claims)
    assert rows[0].endswith(f"| holds | **holds** | {REASONS[claims[0].claim_id]} |")
    assert "**holds** ✱" in rows[1] and "— (no row)" in rows[2]
    assert set(REASONS) == {claim.claim_id for claim in claims}, "every claim says what bears on it"


def test_a_matched_rate_check_compares_two_losses_at_each_ones_pick():
    from lossdemo.experiments import default_configs
    from lossdemo.report.matched_rates import matched_rate_rows

    configs = [c for c in default_configs("tune", seeds=2) if c.imbalance_ratio == 1 and c.optimizer == "sgd"
               and c.loss in ("ce", "gce:0.7") and c.lr in (0.2, 0.4)]
    scores = {("ce", 0.2): 0.90, ("ce", 0.4): 0.50, ("gce:0.7", 0.2): 0.85, ("gce:0.7", 0.4): 0.92}
    runs = [stored_run(c, {"val_accuracy": [scores[(c.loss, c.lr)]], "test_accuracy": [scores[(c.loss, c.lr)]],
                           "test_per_class_accuracy": [[0.5] * 10], "train_accuracy": [0.9]}) for c in configs]
    [(loss, own, base, at_own, at_base)] = matched_rate_rows(runs, "mnist1d", 1.0, ("ce", "gce:0.7"), m.selected_accuracy)
    assert (loss, own, base) == ("gce:0.7", 0.4, 0.2)
    assert at_own == pytest.approx(0.42) and at_base == pytest.approx(-0.05)
