"""Verdicts as data, worded at the end: the long form for the experiment pages, the short form for the
claims table, and the combination over datasets, which works on the data and not on the words."""

from __future__ import annotations

import pytest

from lossdemo.report.claims import combined_outcome, combined_verdict
from lossdemo.report.inference import Comparison, RuledOut
from lossdemo.report.verdicts import (
    DEPENDS,
    FAILS,
    HOLDS,
    NOT_MEASURED,
    NOT_SEPARATED,
    NOT_TESTED_HERE,
    AcrossDatasets,
    Decision,
    Finding,
    NotDecided,
    Part,
    Verdict,
    claim_verdict_text,
    decide,
    deciding_tests_text,
    verdict_text,
)

CLEAR_GAIN = (0.03, 0.031, 0.029, 0.032, 0.03)
CLEAR_LOSS = tuple(-value for value in CLEAR_GAIN)
UNSETTLED = (0.03, -0.02, 0.02, -0.01, 0.01)

# "not separated" with one regime held and another undecided, as the label-noise remedies can end.
HELD_AND_OPEN = Verdict(NOT_SEPARATED, regime="early stopping", parts=(Part("the last epoch", HOLDS),),
                        ruled_out=(RuledOut("early stopping", None, 0.016),))


def _decided(*comparisons: Comparison, regime: str | None = None) -> Decision:
    finding = Finding(tuple(comparisons), "", "", regime=regime)
    raw_for = [c.p_for for c in comparisons]
    raw_against = [c.p_against for c in comparisons]
    return decide(finding, raw_for, raw_for, raw_against, raw_against)


def test_a_not_separated_verdict_has_a_long_form_and_a_short_form_without_the_ruled_out_effects():
    long = "not separated (holds for the last epoch; the 95 % intervals rule out early stopping above +1.6 points)"
    assert verdict_text(HELD_AND_OPEN) == long
    assert verdict_text(HELD_AND_OPEN, short=True) == "not separated (holds for the last epoch)"
    nothing_held = Verdict(NOT_SEPARATED, ruled_out=(RuledOut("a", None, 0.05), RuledOut("b", -0.01, 0.02)))
    assert verdict_text(nothing_held) == "not separated (the 95 % intervals rule out a above +5.0 points; " \
                                         "b outside -1.0 to +2.0 points)"
    assert verdict_text(nothing_held, short=True) == NOT_SEPARATED


def test_decide_returns_the_parts_and_effects_as_data():
    held_and_open = _decided(Comparison("`x`", CLEAR_GAIN), Comparison("`y`", UNSETTLED), regime="γ")
    high = Comparison("`y`", UNSETTLED).interval.high
    assert held_and_open.verdict == Verdict(NOT_SEPARATED, regime="γ", parts=(Part("`x`", HOLDS),),
                                            ruled_out=(RuledOut("`y`", None, high),))
    assert held_and_open.label == "`y`"
    mixed = _decided(Comparison("`x`", CLEAR_GAIN), Comparison("`y`", CLEAR_LOSS), Comparison("`z`", UNSETTLED), regime="γ")
    assert mixed.verdict.parts == (Part("`x`", HOLDS), Part("`y`", FAILS), Part("`z`", NOT_SEPARATED))
    assert verdict_text(mixed.verdict) == "depends on (γ: holds for `x`; not separated for `z`; does not hold for `y`)"
    ranking = _decided(Comparison("`x`", CLEAR_GAIN), Comparison("`y`", CLEAR_LOSS))
    assert ranking.verdict == Verdict(FAILS), "a ranking names no links: one refuted link refutes it"


def test_a_finding_words_its_own_support():
    finding = Finding((Comparison("gain", CLEAR_GAIN),), "", "", holds_as="undecided (nothing refutes it)")
    decision = decide(finding, [0.001], [0.001], [0.9], [0.9])
    assert decision.verdict.outcome == HOLDS
    assert verdict_text(decision.verdict) == "undecided (nothing refutes it)"


@pytest.mark.parametrize("outcomes, expected", [
    ((HOLDS, FAILS), DEPENDS),
    ((HOLDS, NOT_SEPARATED), NOT_SEPARATED),
    ((FAILS, NOT_SEPARATED), FAILS),
    ((DEPENDS, NOT_SEPARATED), DEPENDS),
    ((FAILS, FAILS), FAILS),
    ((HOLDS, FAILS, NOT_SEPARATED), DEPENDS),
])
def test_datasets_combine_their_outcomes_by_the_rule_of_regimes(outcomes, expected):
    assert combined_outcome(list(outcomes)) == expected


def test_combining_a_held_with_a_refuted_dataset_keeps_each_verdict_as_data():
    held, refuted = Verdict(HOLDS), Verdict(FAILS, regime="γ", parts=(Part("`focal:2`", NOT_SEPARATED),))
    combined = combined_verdict({"mnist1d": held, "mnist5k": refuted})
    assert combined == AcrossDatasets(DEPENDS, (("mnist1d", held), ("mnist5k", refuted)))
    assert claim_verdict_text(combined) == \
        "depends on (the dataset: holds on mnist1d; does not hold (not separated for `focal:2`) on mnist5k)"


def test_datasets_that_say_the_same_give_one_verdict():
    assert combined_verdict({"mnist1d": HELD_AND_OPEN, "mnist5k": HELD_AND_OPEN}) is HELD_AND_OPEN


def test_each_dataset_is_shortened_from_its_own_data():
    open_only = Verdict(NOT_SEPARATED, ruled_out=(RuledOut("gap", None, 0.02),))
    depends = combined_verdict({"mnist1d": Verdict(HOLDS), "mnist5k": Verdict(FAILS), "other": open_only})
    assert claim_verdict_text(depends, short=True) == \
        "depends on (the dataset: holds on mnist1d; does not hold on mnist5k; not separated on other)"
    assert claim_verdict_text(depends).endswith("not separated (the 95 % intervals rule out gap above +2.0 points) on other)")
    both_open = combined_verdict({"mnist1d": open_only, "mnist5k": HELD_AND_OPEN})
    assert both_open == AcrossDatasets(NOT_SEPARATED, (("mnist1d", open_only), ("mnist5k", HELD_AND_OPEN)))
    assert claim_verdict_text(both_open, short=True) == "not separated (on mnist5k: holds for the last epoch)"
    assert claim_verdict_text(both_open) == (
        "not separated (on mnist1d: the 95 % intervals rule out gap above +2.0 points; on mnist5k: holds for the last "
        "epoch; the 95 % intervals rule out early stopping above +1.6 points)")
    held_and_open = combined_verdict({"mnist1d": Verdict(HOLDS), "mnist5k": open_only})
    assert claim_verdict_text(held_and_open) == "not separated (holds on mnist1d)"
    assert claim_verdict_text(held_and_open, short=True) == NOT_SEPARATED


def test_a_claim_without_a_verdict_says_why():
    assert claim_verdict_text(NotDecided(NOT_TESTED_HERE)) == "not tested here"
    assert claim_verdict_text(NotDecided(NOT_MEASURED, "`make runs`"), short=True) == "not measured yet (run `make runs`)"


def test_the_deciding_tests_are_worded_per_dataset():
    decisions = (("mnist1d", Decision(Verdict(HOLDS), "`a` − `b`", 0.0004, 0.012)),
                 ("mnist5k", Decision(Verdict(FAILS), "`a` − `c`", 0.0301, 0.25)))
    assert deciding_tests_text(decisions, "<br>") == "mnist1d, `a` − `b`: < 0.001 → 0.012<br>mnist5k, `a` − `c`: 0.030 → 0.250"
    assert deciding_tests_text((), "<br>") == "—"
