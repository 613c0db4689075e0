"""Tests behind the verdicts: paired t-tests against a margin, Holm's correction, adjusted intervals.

A claim says a paired difference has a sign ("A beats B": A − B > 0). One margin δ (per metric,
``lossdemo.protocol.MARGINS``) applies both ways, so the burden of proof is the same:

* the claim **holds** when the data show A ahead by more than δ: the one-sided test of
  H0: d ≤ δ rejects;
* it **does not hold** when they show A ahead by less than δ (behind, or level within the margin):
  the non-superiority test of H0: d ≥ δ rejects;
* otherwise the seeds do **not separate** the two, and the verdict says which effects the data can
  still rule out, from intervals adjusted like the tests.

Both tests are after Holm's correction over one family (``lossdemo.report.family``: every comparison
a verdict or a guide row decides). Holm's step-down procedure (Holm 1979) controls the family-wise
error rate over the m tests without assuming they are independent; the intervals that sit next to a
verdict are Bonferroni's simultaneous ones at level 1 − α/m, which agree with it.

Each test adds the test split's own sampling noise to the seeds' spread where the measure has a
per-sample form (``lossdemo.report.test_noise``). Where paired differences are bimodal (MAE's seeds
either learn a class or abandon it), a t-test's normal approximation is poor, and the comparison uses
an exact sign-flip permutation test of the mean instead (``exact``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as _scipy_stats

from ..protocol import MARGINS
from .stats import Interval, mean_ci

ALPHA = 0.05
EQUIVALENCE_MARGIN = MARGINS["accuracy"]  # the accuracy margin, for pages that speak of accuracy only


class SeedValues(tuple):
    """Per-seed values of one comparison, with the variance the test split's sampling adds to their
    mean (``item_variance``; None where the measure has no per-sample form)."""

    item_variance: float | None

    def __new__(cls, values, item_variance: float | None = None):
        self = super().__new__(cls, values)
        self.item_variance = item_variance
        return self

    def __neg__(self) -> SeedValues:
        return SeedValues((-value for value in self), self.item_variance)


def _extra(values: Sequence[float]) -> float:
    return getattr(values, "item_variance", None) or 0.0


def one_sided_p(values: Sequence[float], direction: int, shift: float = 0.0) -> float:
    """p-value of the paired t-test of "direction × (mean − shift) > 0" against "≤ 0" (n − 1 dof), the
    variance of the mean being the seeds' s²/n plus the test split's (``SeedValues.item_variance``).

    With fewer than two values, or no spread at all, the test can say nothing unless the values
    themselves decide it: a constant difference on the claimed side of ``shift`` gets p = 0.
    """
    if direction not in (1, -1):
        raise ValueError(f"direction {direction!r} is invalid; allowed: 1 or -1")
    n = len(values)
    if n < 2:
        return 1.0
    mean = math.fsum(values) / n
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1) / n + _extra(values)
    effect = direction * (mean - shift)
    if variance == 0:
        return 0.0 if effect > 0 else 1.0
    t = effect / math.sqrt(variance)
    return float(_scipy_stats.t.sf(t, n - 1))


# Sign flips enumerated exactly up to this many seeds (2^16 patterns), drawn at random beyond.
EXACT_FLIPS_UP_TO = 16


def sign_flip_p(values: Sequence[float], direction: int, shift: float = 0.0) -> float:
    """Exact permutation p-value of "direction × (mean − shift) > 0": under H0 each centred difference
    is as likely positive as negative, so every pattern of signs is equally likely (Fisher's
    randomisation test of a mean). It assumes no shape for the differences, only symmetry under H0."""
    if direction not in (1, -1):
        raise ValueError(f"direction {direction!r} is invalid; allowed: 1 or -1")
    centred = direction * (np.asarray(values, dtype=float) - shift)
    n = len(centred)
    if n < 2:
        return 1.0
    if n <= EXACT_FLIPS_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        signs = np.random.default_rng(0).choice((1.0, -1.0), size=(1 << EXACT_FLIPS_UP_TO, n))
    flipped = (signs * np.abs(centred)).mean(axis=1)
    return float(np.mean(flipped >= centred.mean() - 1e-12))


def equivalence_p(values: Sequence[float], margin: float) -> float:
    """TOST p-value for "the mean difference lies inside (−margin, +margin)": the larger of the two
    one-sided tests (Schuirmann 1987). Small means the difference is too small to matter."""
    if not margin > 0:
        raise ValueError(f"margin {margin!r} is invalid; allowed: a number > 0")
    return max(one_sided_p(values, 1, -margin), one_sided_p(values, -1, margin))


def interval_of(values: Sequence[float], confidence: float) -> Interval:
    """Mean and two-sided t-interval at ``confidence``, with the test split's variance added (n − 1 dof)."""
    base = mean_ci(list(values), confidence)
    extra = _extra(values)
    if base.n < 2 or not extra:
        return base
    variance = math.fsum((v - base.mean) ** 2 for v in values) / (base.n - 1) / base.n + extra
    half = float(_scipy_stats.t.ppf(0.5 + confidence / 2, base.n - 1)) * math.sqrt(variance)
    return Interval(base.mean, base.mean - half, base.mean + half, base.n)


def family_confidence(tests: int) -> float:
    """Bonferroni's simultaneous confidence for a family of ``tests``: 1 − α/m (1 − α for one test)."""
    return 1 - ALPHA / max(1, tests)


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
    confidence: float = 0.95  # the level of the interval the bounds come from

    def __post_init__(self):
        if self.low is None and self.high is None:
            raise ValueError(f"ruled-out bounds (None, None) of {self.label!r} are invalid; allowed: a low or a high bound")


@dataclass(frozen=True)
class Comparison:
    """One claim about a paired difference, with its per-seed values.

    Attributes:
        label: what is compared, e.g. "`focal:0.5` − `ce`".
        values: the per-seed differences, as fractions (0.01 = one percentage point); a
            :class:`SeedValues` also carries the test split's variance of their mean.
        direction: for kind "sign", +1 if the claim says the difference is positive, −1 if negative.
        margin: the smallest difference that matters (None: the metric's, ``lossdemo.protocol.MARGINS``).
        kind: "sign" — the difference exceeds the margin in the claimed direction; "no-effect" — it is
            within ±margin; "at-most" — it is not above +margin (A is no better than B in practice).
        metric: what the values measure, a key of ``MARGINS``.
        exact: test with the sign-flip permutation test instead of the t-test (bimodal differences).
        level: (reference, sign) when the values are a level against a reference (value = reference +
            sign × difference), for the effect to be shown as that level in %.
    """

    label: str
    values: tuple[float, ...]
    direction: int = 1
    margin: float | None = None
    kind: str = "sign"
    metric: str = "accuracy"
    exact: bool = False
    level: tuple[float, int] | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"comparison kind {self.kind!r} is invalid; allowed: {', '.join(KINDS)}")
        if self.direction not in (1, -1):
            raise ValueError(f"direction {self.direction!r} is invalid; allowed: 1 or -1")
        if self.metric not in MARGINS:
            raise ValueError(f"metric {self.metric!r} is invalid; allowed: {', '.join(MARGINS)}")
        if self.margin is None:
            object.__setattr__(self, "margin", MARGINS[self.metric])

    def interval_at(self, confidence: float) -> Interval:
        """The mean difference with its interval at ``confidence``, the test split's noise included."""
        return interval_of(self.values, confidence)

    @property
    def interval(self) -> Interval:
        return self.interval_at(0.95)

    @property
    def key(self) -> tuple:
        """What makes two comparisons the same statement, whatever they are called."""
        return (self.kind, self.direction, self.margin, tuple(self.values), self.exact)

    def _p(self, direction: int, shift: float) -> float:
        test = sign_flip_p if self.exact else one_sided_p
        return test(self.values, direction, shift)

    @property
    def p_for(self) -> float:
        """The claim's test: small when the data support the claim."""
        if self.kind == "no-effect":
            return max(self._p(1, -self.margin), self._p(-1, self.margin))
        if self.kind == "at-most":
            return self._p(-1, self.margin)
        return self._p(self.direction, self.direction * self.margin)

    @property
    def p_against(self) -> float:
        """The refutation's test, against the same margin: small when the data contradict the claim."""
        if self.kind == "no-effect":  # a clear effect beyond the margin, either way
            return min(self._p(1, self.margin), self._p(-1, -self.margin))
        if self.kind == "at-most":  # refuted only by a difference shown to exceed the margin
            return self._p(1, self.margin)
        return self._p(-self.direction, self.direction * self.margin)  # non-superiority: short of the margin

    def ruled_out(self, confidence: float = 0.95) -> RuledOut:
        """The effects the interval at ``confidence`` rules out, for a "not separated" verdict: beyond the
        bound on the claimed side for a sign, outside the interval for a claim about a margin."""
        interval = self.interval_at(confidence)
        if self.kind != "sign":
            return RuledOut(self.label, interval.low, interval.high, confidence)
        if self.direction > 0:
            return RuledOut(self.label, None, interval.high, confidence)
        return RuledOut(self.label, interval.low, None, confidence)

    def effect_text(self, confidence: float) -> str:
        """``"label: +1.2 (−0.3 to +2.7)"`` in points, or as a level in % when ``level`` is set."""
        interval = self.interval_at(confidence)
        if self.level is None:
            return f"{self.label}: {interval.mean * 100:+.1f} ({interval.low * 100:+.1f} to {interval.high * 100:+.1f})"
        reference, sign = self.level
        low, high = sorted((reference + sign * interval.low, reference + sign * interval.high))
        return f"{self.label}: {(reference + sign * interval.mean) * 100:.1f} % ({low * 100:.1f} to {high * 100:.1f})"
