"""Tests behind the verdicts: one-sided paired t-tests, equivalence within a margin, Holm's correction.

A claim says a paired difference has a sign ("A beats B": A − B > 0). The same burden of proof
applies both ways:

* the claim **holds** when the one-sided test in its direction rejects "no effect or the other
  way", after Holm's correction over every claim of the table;
* it **does not hold** when the data refute it just as firmly: the one-sided test in the other
  direction rejects, or the two one-sided tests (TOST) put the difference inside ±margin, a
  difference too small to matter; both after the same correction;
* otherwise the seeds do **not separate** the two, and the verdict says which effects the data can
  still rule out: those beyond the interval's bound in the claim's direction.

Holm's step-down procedure (Holm 1979) controls the family-wise error rate over the m tests of a
family without assuming they are independent, and rejects everything Bonferroni would and more.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _scipy_stats

from .stats import Interval, mean_ci

ALPHA = 0.05
EQUIVALENCE_MARGIN = 0.01  # one percentage point: a smaller difference in accuracy or ECE does not matter here


def one_sided_p(values: Sequence[float], direction: int, shift: float = 0.0) -> float:
    """p-value of the paired t-test of "direction × (mean − shift) > 0" against "≤ 0" (n − 1 dof).

    With fewer than two values, or no spread at all, the test can say nothing unless the values
    themselves decide it: a constant difference on the claimed side of ``shift`` gets p = 0.
    """
    if direction not in (1, -1):
        raise ValueError(f"direction {direction!r} is invalid; allowed: 1 or -1")
    n = len(values)
    if n < 2:
        return 1.0
    mean = math.fsum(values) / n
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    effect = direction * (mean - shift)
    if variance == 0:
        return 0.0 if effect > 0 else 1.0
    t = effect / math.sqrt(variance / n)
    return float(_scipy_stats.t.sf(t, n - 1))


def equivalence_p(values: Sequence[float], margin: float) -> float:
    """TOST p-value for "the mean difference lies inside (−margin, +margin)": the larger of the two
    one-sided tests (Schuirmann 1987). Small means the difference is too small to matter."""
    if not margin > 0:
        raise ValueError(f"margin {margin!r} is invalid; allowed: a number > 0")
    return max(one_sided_p(values, 1, -margin), one_sided_p(values, -1, margin))


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values, in the input's order: reject test i at level α iff adjusted[i] < α."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


KINDS = ("sign", "no-effect", "at-most")


def holm_one_test_per_statement(raw_for: Sequence[float], raw_against: Sequence[float],
                                keys: Sequence[object]) -> tuple[list[float], list[float]]:
    """Holm-adjusted p-values for and against each statement, counting one test per distinct statement.

    A statement's two null hypotheses (no effect or the other way; an effect beyond the margin)
    cannot both be true, so each statement contributes one test: the one its data point to, the
    smaller p. The other is not tested (adjusted p 1). Statements with the same ``key`` (the same
    comparison made by two claims) count once and share their result.
    """
    first_of: dict[object, int] = {}
    for index, key in enumerate(keys):
        first_of.setdefault(key, index)
    distinct = list(first_of.values())
    adjusted = dict(zip(distinct, holm_adjusted([min(raw_for[i], raw_against[i]) for i in distinct])))
    adjusted_for, adjusted_against = [], []
    for key in keys:
        index = first_of[key]
        tested_for = raw_for[index] <= raw_against[index]
        adjusted_for.append(adjusted[index] if tested_for else 1.0)
        adjusted_against.append(1.0 if tested_for else adjusted[index])
    return adjusted_for, adjusted_against


@dataclass(frozen=True)
class RuledOut:
    """The effects one comparison's 95 % interval rules out, kept as numbers so a verdict can be worded
    (or left out) wherever it is shown.

    A claim of a sign names only the bound on its own side (how large an effect in the claimed direction
    the data still allow); a claim about a margin names both.

    Attributes:
        label: the comparison, as the verdict names it.
        low: effects below it are ruled out (a fraction; None: that side is not named).
        high: effects above it are ruled out (a fraction; None: that side is not named).
    """

    label: str
    low: float | None
    high: float | None

    def __post_init__(self):
        if self.low is None and self.high is None:
            raise ValueError(f"ruled-out bounds (None, None) of {self.label!r} are invalid; allowed: a low or a high bound")


@dataclass(frozen=True)
class Comparison:
    """One claim about a paired difference, with its per-seed values.

    Attributes:
        label: what is compared, e.g. "`focal:0.5` − `ce`".
        values: the per-seed differences, as fractions (0.01 = one percentage point).
        direction: for kind "sign", +1 if the claim says the difference is positive, −1 if negative.
        margin: differences within ±margin count as no practical difference.
        kind: "sign" — the difference has the claimed sign; "no-effect" — it is within ±margin;
            "at-most" — it is not above +margin (A is no better than B in practice).
    """

    label: str
    values: tuple[float, ...]
    direction: int = 1
    margin: float = EQUIVALENCE_MARGIN
    kind: str = "sign"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"comparison kind {self.kind!r} is invalid; allowed: {', '.join(KINDS)}")
        if self.direction not in (1, -1):
            raise ValueError(f"direction {self.direction!r} is invalid; allowed: 1 or -1")

    @property
    def interval(self) -> Interval:
        return mean_ci(list(self.values))

    @property
    def key(self) -> tuple:
        """What makes two comparisons the same statement, whatever they are called."""
        return (self.kind, self.direction, self.margin, self.values)

    @property
    def p_for(self) -> float:
        """The claim's test: small when the data support the claim."""
        if self.kind == "no-effect":
            return equivalence_p(self.values, self.margin)
        if self.kind == "at-most":
            return one_sided_p(self.values, -1, self.margin)
        return one_sided_p(self.values, self.direction)

    @property
    def p_against(self) -> float:
        """The refutation's test: small when the data contradict the claim."""
        if self.kind == "no-effect":  # a clear effect beyond the margin, either way
            return min(one_sided_p(self.values, 1, self.margin), one_sided_p(self.values, -1, -self.margin))
        if self.kind == "at-most":  # refuted only by a difference shown to exceed the margin
            return one_sided_p(self.values, 1, self.margin)
        return min(one_sided_p(self.values, -self.direction), equivalence_p(self.values, self.margin))

    def ruled_out(self) -> RuledOut:
        """The effects the 95 % interval rules out, for a "not separated" verdict: beyond the bound on the
        claimed side for a sign, outside the interval for a claim about a margin."""
        interval = self.interval
        if self.kind != "sign":
            return RuledOut(self.label, interval.low, interval.high)
        if self.direction > 0:
            return RuledOut(self.label, None, interval.high)
        return RuledOut(self.label, interval.low, None)
