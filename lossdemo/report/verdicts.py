"""The machinery of a verdict: claims, their findings, and the paired comparisons the rules are made of.

A verdict is computed, never typed: each claim names the runs it needs (by the experiment grids of
``lossdemo.experiments``) and a rule over paired, per-seed differences. "A beats B" is said only
when the 95 % t-interval of the paired difference A − B over seeds excludes 0 (``stats``). The
rules themselves live with their experiment's report module; ``claims`` lists them in order.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from ..experiments import EXPERIMENTS, plan_runs
from ..run_config import RunConfig
from . import measures as m
from .measures import RunIndex
from .stats import Interval, mean_ci, paired_difference

HOLDS, FAILS = "holds", "does not hold"
MIN_SEEDS = 2  # a t-interval needs two values; fewer is "not measured yet"


@dataclass(frozen=True)
class Finding:
    """A claim's outcome on one dataset: the verdict, the effect size with its CI, and why."""

    verdict: str
    effect: str
    detail: str


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
    """A claim's verdict over every dataset that has its runs."""

    claim: Claim
    verdict: str
    effect: str
    detail: str
    datasets: tuple[str, ...]


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
    """Words for a paired difference: who beats whom, or that the seeds do not separate them."""
    if sign(difference) > 0:
        return f"`{name_a}` beats `{name_b}`"
    if sign(difference) < 0:
        return f"`{name_b}` beats `{name_a}`"
    return f"`{name_a}` and `{name_b}` are not separated"


