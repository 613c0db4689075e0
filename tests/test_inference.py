"""The tests behind the verdicts: one-sided paired t-tests, TOST equivalence, Holm, and the four outcomes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from lossdemo.report.inference import Comparison, RuledOut, equivalence_p, holm_adjusted, one_sided_p
from lossdemo.report.verdicts import (
    FAILS,
    HOLDS,
    NOT_SEPARATED,
    Finding,
    decide,
    reason_text,
    ruled_out_text,
    verdict_text,
)

values = st.lists(st.floats(-1, 1, allow_nan=False), min_size=2, max_size=12)


@settings(max_examples=80, deadline=None)
@given(values=values, direction=st.sampled_from([1, -1]))
def test_one_sided_p_is_scipys_paired_t_test(values, direction):
    if max(values) - min(values) < 1e-9:
        return  # no spread: scipy says nan, the verdicts decide by the sign (tested below)
    expected = stats.ttest_1samp(values, 0.0, alternative="greater" if direction > 0 else "less").pvalue
    assert one_sided_p(values, direction) == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_without_spread_the_sign_decides_and_one_value_decides_nothing():
    assert one_sided_p([0.02, 0.02, 0.02], 1) == 0.0 and one_sided_p([0.02, 0.02], -1) == 1.0
    assert one_sided_p([0.5], 1) == 1.0


def test_equivalence_is_the_larger_of_the_two_one_sided_tests():
    inside = [0.001, -0.002, 0.0015, 0.0, -0.001]
    assert equivalence_p(inside, 0.01) < 0.001
    assert equivalence_p([0.05, 0.06, 0.04], 0.01) > 0.9
    with pytest.raises(ValueError, match="margin 0 is invalid; allowed: a number > 0"):
        equivalence_p(inside, 0)


def test_holm_matches_the_step_down_definition():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: 0.005 (×4), 0.01 (×3), 0.03 (×2), 0.04 (×1), each at least the previous
    assert holm_adjusted(p) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm_adjusted([0.5, 0.9]) == pytest.approx([1.0, 1.0]), "0.9 is raised to the 1.0 before it"
    assert holm_adjusted([]) == []


@settings(max_examples=60, deadline=None)
@given(p=st.lists(st.floats(0, 1), min_size=1, max_size=20))
def test_holm_never_lowers_a_p_value_and_keeps_the_order(p):
    adjusted = holm_adjusted(p)
    assert all(a >= raw - 1e-15 for a, raw in zip(adjusted, p))
    for i in range(len(p)):
        for j in range(len(p)):
            if p[i] < p[j]:
                assert adjusted[i] <= adjusted[j] + 1e-15


def _decided(*comparisons, regime=None):
    finding = Finding(tuple(comparisons), "", "", regime=regime)
    raw_for = [c.p_for for c in comparisons]
    raw_against = [c.p_against for c in comparisons]
    return decide(finding, raw_for, raw_for, raw_against, raw_against)  # one test each: nothing to adjust


def _words(decision) -> str:
    """The verdict as the experiment pages word it."""
    return verdict_text(decision.verdict)


CLEAR_GAIN = (0.03, 0.031, 0.029, 0.032, 0.03)
CLEAR_LOSS = tuple(-value for value in CLEAR_GAIN)
UNSETTLED = (0.03, -0.02, 0.02, -0.01, 0.01)


def test_the_four_outcomes():
    assert _words(_decided(Comparison("a − b", CLEAR_GAIN))) == HOLDS
    assert _words(_decided(Comparison("a − b", CLEAR_LOSS))) == FAILS
    unsettled = _decided(Comparison("a − b", UNSETTLED))
    assert unsettled.verdict.outcome == NOT_SEPARATED
    assert reason_text(unsettled.verdict).startswith("the 95 % intervals rule out a − b above +")
    mixed = _decided(Comparison("`x`", CLEAR_GAIN), Comparison("`y`", CLEAR_LOSS), regime="γ")
    assert _words(mixed) == "depends on (γ: holds for `x`; does not hold for `y`)"
    ranking = _decided(Comparison("`x`", CLEAR_GAIN), Comparison("`y`", CLEAR_LOSS))
    assert _words(ranking) == FAILS, "without a regime, every link must hold"


def test_depends_on_needs_one_regime_that_holds_and_one_that_fails():
    held_and_open = _decided(Comparison("`x`", CLEAR_GAIN), Comparison("`y`", UNSETTLED), regime="γ")
    assert held_and_open.verdict.outcome == NOT_SEPARATED
    assert reason_text(held_and_open.verdict).startswith("holds for `x`; the 95 % intervals")
    refuted_and_open = _decided(Comparison("`x`", CLEAR_LOSS), Comparison("`y`", UNSETTLED), regime="γ")
    assert _words(refuted_and_open) == "does not hold (not separated for `y`)"


def test_the_parts_of_one_regime_must_all_hold_for_it():
    # Regime A: both parts hold. Regime B: one part refuted, so B is refuted although its other part holds.
    comparisons = (Comparison("a1", CLEAR_GAIN), Comparison("a2", CLEAR_GAIN),
                   Comparison("b1", CLEAR_GAIN), Comparison("b2", CLEAR_LOSS))
    finding = Finding(comparisons, "", "", regime="the recipe", groups=("A", "A", "B", "B"))
    raw_for = [c.p_for for c in comparisons]
    raw_against = [c.p_against for c in comparisons]
    decision = decide(finding, raw_for, raw_for, raw_against, raw_against)
    assert _words(decision) == "depends on (the recipe: holds for A; does not hold for B)"


def test_an_at_most_claim_is_refuted_only_beyond_its_margin():
    small_gain = (0.004, 0.005, 0.006, 0.005, 0.004)  # clearly above 0, clearly below +1 point
    assert _words(_decided(Comparison("gain", small_gain, kind="at-most"))) == HOLDS


def test_claims_of_no_effect_and_of_no_gain_need_evidence_too():
    tiny = (0.001, -0.001, 0.0005, 0.0, -0.0005)
    assert _words(_decided(Comparison("gain", tiny, kind="no-effect"))) == HOLDS
    assert _words(_decided(Comparison("gain", CLEAR_GAIN, kind="no-effect"))) == FAILS
    assert _decided(Comparison("gain", UNSETTLED, kind="no-effect")).verdict.outcome == NOT_SEPARATED
    assert _words(_decided(Comparison("gain", CLEAR_LOSS, kind="at-most"))) == HOLDS
    assert _words(_decided(Comparison("gain", CLEAR_GAIN, kind="at-most"))) == FAILS
    assert _decided(Comparison("gain", UNSETTLED, kind="at-most")).verdict.outcome == NOT_SEPARATED, \
        "not beating B is shown by the data, never assumed from an unsettled difference"


def test_a_ruled_out_effect_is_worded_by_the_sides_it_bounds():
    assert ruled_out_text(RuledOut("`a` − `b`", None, 0.0123)) == "`a` − `b` above +1.2 points"
    assert ruled_out_text(RuledOut("gap", -0.011, None)) == "gap below -1.1 points"
    assert ruled_out_text(RuledOut("gap", -0.02, 0.032)) == "gap outside -2.0 to +3.2 points"
    with pytest.raises(ValueError, match="ruled-out bounds \\(None, None\\) of 'gap' are invalid"):
        RuledOut("gap", None, None)


def test_a_comparison_rules_out_effects_as_numbers_on_the_claimed_side():
    interval = Comparison("x", UNSETTLED).interval
    assert Comparison("x", UNSETTLED).ruled_out() == RuledOut("x", None, interval.high)
    assert Comparison("x", UNSETTLED, direction=-1).ruled_out() == RuledOut("x", interval.low, None)
    assert Comparison("x", UNSETTLED, kind="no-effect").ruled_out() == RuledOut("x", interval.low, interval.high)


def test_a_bad_kind_or_direction_is_a_one_line_error():
    with pytest.raises(ValueError, match="comparison kind 'bigger' is invalid; allowed: sign, no-effect, at-most"):
        Comparison("a", (0.1, 0.2), kind="bigger")
    with pytest.raises(ValueError, match="direction 0 is invalid; allowed: 1 or -1"):
        Comparison("a", (0.1, 0.2), direction=0)
