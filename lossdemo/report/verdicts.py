"""The machinery of a verdict: claims, their findings, and how comparisons become one of four outcomes.

A verdict is computed, never typed: each claim names the runs it needs (by the experiment grids of
``lossdemo.experiments``) and a rule that turns them into :class:`~lossdemo.report.inference.Comparison`s
of paired, per-seed differences. :func:`decide` reads the comparisons' tests after Holm's correction
over the whole claims table (``inference``): **holds**, **does not hold** (refuted as firmly as a
claim must be supported: the other sign, or no practical difference), **not separated** (with the
effects the data still rule out), or **depends on** (a named regime). The rules themselves live with
their experiment's report module; ``claims`` lists them in order and applies the correction.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from ..experiments import EXPERIMENTS, plan_runs
from ..protocol import FAIR, SHARED_RECIPE
from ..run_config import RunConfig
from . import measures as m
from .inference import ALPHA, Comparison
from .measures import RunIndex
from .stats import Interval, mean_ci, paired_difference

HOLDS, FAILS = "holds", "does not hold"
MIN_SEEDS = 2  # a t-interval needs two values; fewer is "not measured yet"


NOT_SEPARATED = "not separated"


@dataclass(frozen=True)
class Finding:
    """A claim's evidence on one dataset: the comparisons it makes, the effect to show, and why.

    Attributes:
        comparisons: what the claim says about each paired difference; the claim holds when every
            one of them is supported.
        effect: the effect size with its CI, for the claims table.
        detail: the sentences that explain the evidence, for the experiment page.
        regime: None when a mix of outcomes means the claim as a whole does not hold (a ranking
            needs every link); else what the comparisons vary ("γ", "the ratio"), and a mix reads
            "depends on (<regime>: ...)".
        holds_as: the word for full support ("holds"; an explanation the runs can only fail to
            refute says "undecided (...)" instead).
    """

    comparisons: tuple[Comparison, ...]
    effect: str
    detail: str
    regime: str | None = None
    holds_as: str = HOLDS


@dataclass(frozen=True)
class Decision:
    """The outcome of a finding's comparisons, with the p-value that decided it, raw and Holm-adjusted.

    Attributes:
        outcome: holds (or the finding's word for support), does not hold, not separated, or depends on.
        reason: what qualifies the outcome: the effects still ruled out, or the regime and how each fares.
    """

    outcome: str
    reason: str
    p_value: float
    p_adjusted: float
    label: str = ""  # the comparison the p-values belong to

    @property
    def verdict(self) -> str:
        return f"{self.outcome} ({self.reason})" if self.reason else self.outcome


@dataclass(frozen=True)
class Claim:
    """One claim of the report (or of a paper we compare with), paraphrased, with its test.

    Attributes:
        claim_id: stable id, also the anchor prefix in generated pages.
        text: the claim in our words.
        source: "report" or the paper that made it.
        experiments: the experiments whose runs the rule reads (for "run …" hints).
        evidence: link target relative to ``docs/claims/`` (a section of an experiment page).
        page: the experiment page that lists this claim's verdict (its generated verdicts file).
        rule: (runs, dataset) -> Finding, or None when the needed runs are not stored.
    """

    claim_id: str
    text: str
    source: str
    experiments: tuple[str, ...]
    evidence: str
    page: str
    rule: Callable[[RunIndex, str], Finding | None]


@dataclass(frozen=True)
class ClaimVerdict:
    """A claim's verdict over every dataset that has its runs.

    Attributes:
        tests: per dataset, "p raw → Holm-adjusted" of the test that decided it ("—" when untested).
    """

    claim: Claim
    verdict: str
    effect: str
    detail: str
    datasets: tuple[str, ...]
    tests: str = "—"


def _status(for_adjusted: float, against_adjusted: float) -> str:
    if for_adjusted < ALPHA:
        return HOLDS
    if against_adjusted < ALPHA:
        return FAILS
    return NOT_SEPARATED


def decide(finding: Finding, raw_for: list[float], adjusted_for: list[float], raw_against: list[float],
           adjusted_against: list[float]) -> Decision:
    """The outcome of ``finding`` from its comparisons' p-values (one per comparison, in order),
    already adjusted over the whole family of comparisons."""
    statuses = [_status(f, a) for f, a in zip(adjusted_for, adjusted_against)]
    labels = [comparison.label for comparison in finding.comparisons]
    held = [i for i, status in enumerate(statuses) if status == HOLDS]
    refuted = [i for i, status in enumerate(statuses) if status == FAILS]
    open_ = [i for i, status in enumerate(statuses) if status == NOT_SEPARATED]
    if len(held) == len(statuses):
        worst = max(held, key=lambda i: adjusted_for[i])
        return Decision(finding.holds_as, "", raw_for[worst], adjusted_for[worst], labels[worst])
    if refuted and (finding.regime is None or len(refuted) == len(statuses)):
        firmest = min(refuted, key=lambda i: adjusted_against[i])
        return Decision(FAILS, "", raw_against[firmest], adjusted_against[firmest], labels[firmest])
    if not refuted and (finding.regime is None or not held):
        ruled_out = "; ".join(finding.comparisons[i].ruled_out() for i in open_)
        closest = min(open_, key=lambda i: min(adjusted_for[i], adjusted_against[i]))
        return Decision(NOT_SEPARATED, f"the 95 % intervals rule out {ruled_out}",
                        min(raw_for[closest], raw_against[closest]),
                        min(adjusted_for[closest], adjusted_against[closest]), labels[closest])
    parts = [f"{word} for {', '.join(labels[i] for i in indices)}"
             for word, indices in ((HOLDS, held), (NOT_SEPARATED, open_), (FAILS, refuted)) if indices]
    deciding = min(range(len(statuses)), key=lambda i: min(adjusted_for[i], adjusted_against[i]))
    return Decision("depends on", f"{finding.regime}: {'; '.join(parts)}",
                    min(raw_for[deciding], raw_against[deciding]),
                    min(adjusted_for[deciding], adjusted_against[deciding]), labels[deciding])


def sign(interval: Interval | None) -> int:
    """+1 / −1 when the interval lies above / below 0, else 0 (including too few seeds)."""
    if interval is None or interval.n < MIN_SEEDS:
        return 0
    return 1 if interval.low > 0 else -1 if interval.high < 0 else 0


def _finite(values: dict[int, float]) -> dict[int, float]:
    return {seed: value for seed, value in values.items() if not math.isnan(value)}


@functools.cache
def _seed_zero_grid(experiment: str, dataset: str) -> tuple[RunConfig, ...]:
    return tuple(plan_runs(EXPERIMENTS[experiment], (dataset,), None, 1, None))


def reference(experiment: str, dataset: str, **fields) -> RunConfig:
    """The seed-0 config of ``experiment``'s default grid on ``dataset`` whose fields equal ``fields``.

    Tying each claim to the grid definition means a claim reads exactly the runs the experiment
    trains, at the experiment's own epochs.
    """
    matches = [config for config in _seed_zero_grid(experiment, dataset)
               if all(getattr(config, name) == value for name, value in fields.items())]
    if len(matches) != 1:
        raise ValueError(f"{experiment} grid has {len(matches)} runs with {fields}; a claim needs exactly one")
    return matches[0]


def fair(experiment: str, dataset: str, **fields) -> RunConfig:
    """:func:`reference` among the experiment's fair-protocol runs (tuned rate, validation split)."""
    return reference(experiment, dataset, validation_fraction=FAIR.validation_fraction, **fields)


def shared(experiment: str, dataset: str, **fields) -> RunConfig:
    """:func:`reference` among the experiment's shared-recipe runs (lr 0.05 for all, no validation split)."""
    return reference(experiment, dataset, validation_fraction=SHARED_RECIPE.validation_fraction, **fields)


def paired_values(index: RunIndex, a: RunConfig, b: RunConfig, measure: m.Measure) -> tuple[float, ...] | None:
    """measure(a) − measure(b) for every seed both have; None with fewer than MIN_SEEDS."""
    a_values, b_values = _finite(index.measure(a, measure)), _finite(index.measure(b, measure))
    shared = sorted(set(a_values) & set(b_values))
    if len(shared) < MIN_SEEDS:
        return None
    return tuple(a_values[seed] - b_values[seed] for seed in shared)


def level_values(index: RunIndex, config: RunConfig, measure: m.Measure, reference: float) -> tuple[float, ...] | None:
    """reference − measure(run) for every complete seed: a level compared with a fixed value."""
    values = _finite(index.measure(config, measure))
    if len(values) < MIN_SEEDS:
        return None
    return tuple(reference - value for _, value in sorted(values.items()))


def paired_measure(index: RunIndex, a: RunConfig, b: RunConfig, measure: m.Measure) -> Interval | None:
    """Mean and CI of measure(a) − measure(b) over shared seeds; None with fewer than MIN_SEEDS."""
    a_values, b_values = _finite(index.measure(a, measure)), _finite(index.measure(b, measure))
    if len(set(a_values) & set(b_values)) < MIN_SEEDS:
        return None
    return paired_difference(a_values, b_values)


def level_measure(index: RunIndex, config: RunConfig, measure: m.Measure) -> Interval | None:
    """Mean and CI of ``measure`` over the condition's complete seeds; None with fewer than MIN_SEEDS."""
    values = _finite(index.measure(config, measure))
    return mean_ci(list(values.values())) if len(values) >= MIN_SEEDS else None


def beats(name_a: str, name_b: str, difference: Interval) -> str:
    """Words for one paired difference's own 95 % interval, before the table's correction for many
    tests (the verdict is what applies the correction): which side it puts each name on, if any."""
    if sign(difference) > 0:
        return f"the 95 % interval puts `{name_a}` above `{name_b}`"
    if sign(difference) < 0:
        return f"the 95 % interval puts `{name_b}` above `{name_a}`"
    return f"the 95 % interval does not separate `{name_a}` and `{name_b}`"


