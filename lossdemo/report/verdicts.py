"""The machinery of a verdict: claims, their findings, how comparisons become one of four outcomes, and the words for them.

A verdict is computed, never typed: each claim names the runs it needs (by the experiment grids of
``lossdemo.experiments``) and a rule that turns them into :class:`~lossdemo.report.inference.Comparison`s
of paired, per-seed differences. :func:`decide` reads the comparisons' tests after Holm's correction
over the whole claims table (``inference``): **holds**, **does not hold** (refuted as firmly as a
claim must be supported: the other sign, or no practical difference), **not separated** (with the
effects the data still rule out), or **depends on** (a named regime). The rules themselves live with
their experiment's report module; ``claims`` lists them in order and applies the correction.

A verdict is plain data (:class:`Verdict`, :class:`AcrossDatasets`, :class:`NotDecided`) until a page
words it with :func:`claim_verdict_text`: in full for the experiment pages, or short for the claims
table, which leaves the effects the intervals rule out to the evidence page. Both forms are written
from the same data, so no page takes words back out of another's sentence.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from ..experiments import EXPERIMENTS, plan_runs
from ..protocol import SHARED_RECIPE
from ..run_config import RunConfig
from . import measures as m
from .inference import ALPHA, Comparison, RuledOut, SeedValues
from .measures import RunIndex
from .stats import CONFIDENCE, Interval, format_p, mean_ci, paired_difference
from .test_noise import item_variance

HOLDS, FAILS = "holds", "does not hold"
MIN_SEEDS = 2  # a t-interval needs two values; fewer is "not measured yet"


NOT_SEPARATED = "not separated"
DEPENDS = "depends on"
NOT_TESTED_HERE, NOT_MEASURED = "not tested here", "not measured yet"
STATUS_ORDER = (HOLDS, NOT_SEPARATED, FAILS)  # the order in which a verdict names its regimes
DATASET_REGIME = "the dataset"  # what a verdict that changes between datasets depends on


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
        groups: per comparison, the regime it belongs to, when a regime has several parts that
            must all hold (e.g. "near 40 %" and "below one half" under one recipe).
    """

    comparisons: tuple[Comparison, ...]
    effect: str
    detail: str
    regime: str | None = None
    holds_as: str = HOLDS
    groups: tuple[str, ...] | None = None  # per comparison, the regime it belongs to (None: one regime each)


@dataclass(frozen=True)
class Part:
    """One regime a verdict names (a value of what the finding varies), and how the claim fares there:
    HOLDS, FAILS or NOT_SEPARATED."""

    name: str
    status: str


@dataclass(frozen=True)
class Verdict:
    """What a finding's comparisons say about its claim on one dataset, before any wording.

    Attributes:
        outcome: HOLDS, FAILS, NOT_SEPARATED or DEPENDS.
        supported_as: the finding's word for HOLDS (an explanation the runs can only fail to refute
            has its own).
        regime: what the finding's comparisons vary (None: they are links that must all hold).
        parts: the regimes the verdict names, in the finding's order, with how each fares: every
            regime for DEPENDS; the undecided ones for FAILS and the held ones for NOT_SEPARATED (none
            without a regime, where one part decides for all).
        ruled_out: for NOT_SEPARATED, the effects the undecided comparisons' intervals rule out.
    """

    outcome: str
    supported_as: str = HOLDS
    regime: str | None = None
    parts: tuple[Part, ...] = ()
    ruled_out: tuple[RuledOut, ...] = ()


@dataclass(frozen=True)
class Decision:
    """A verdict with the test that decided it: that comparison's label and p-value, raw and Holm-adjusted."""

    verdict: Verdict
    label: str
    p_value: float
    p_adjusted: float


@dataclass(frozen=True)
class AcrossDatasets:
    """A claim's verdict where its datasets' verdicts differ.

    Attributes:
        outcome: HOLDS, FAILS, NOT_SEPARATED or DEPENDS over the datasets, by the rule that combines regimes.
        by_dataset: (dataset, its verdict), for every dataset that has the claim's runs, in order.
    """

    outcome: str
    by_dataset: tuple[tuple[str, Verdict], ...]


@dataclass(frozen=True)
class NotDecided:
    """A claim without a verdict: NOT_TESTED_HERE, or NOT_MEASURED with the command that trains its runs."""

    status: str
    command: str = ""


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
        verdict: the one verdict of every dataset when they agree, theirs combined when they differ,
            or why there is none.
        decisions: per dataset, in order, the decision with the test that decided it (none when untested).
    """

    claim: Claim
    verdict: Verdict | AcrossDatasets | NotDecided
    effect: str
    detail: str
    decisions: tuple[tuple[str, Decision], ...] = ()

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(dataset for dataset, _ in self.decisions)


def _status(for_adjusted: float, against_adjusted: float) -> str:
    if for_adjusted < ALPHA:
        return HOLDS
    if against_adjusted < ALPHA:
        return FAILS
    return NOT_SEPARATED


def _combine_parts(statuses: list[str]) -> str:
    """One regime's status from its parts, which must all hold: one refuted part refutes it."""
    if FAILS in statuses:
        return FAILS
    return HOLDS if all(status == HOLDS for status in statuses) else NOT_SEPARATED


def decide(finding: Finding, raw_for: list[float], adjusted_for: list[float], raw_against: list[float],
           adjusted_against: list[float], confidence: float = CONFIDENCE) -> Decision:
    """The outcome of ``finding`` from its comparisons' p-values (one per comparison, in order),
    already adjusted over the whole family of comparisons; ``confidence`` is the family's simultaneous
    level, at which a "not separated" verdict names the effects the data rule out.

    Comparisons that share a ``groups`` label are parts of one regime and must all hold for it. The
    claim holds when every regime holds and does not hold when every regime is refuted; it
    **depends on** the regime only when at least one regime holds and another is refuted. A mix of
    held (or refuted) and undecided regimes is "not separated" (or "does not hold"), with the held
    or undecided regimes named, so that the same burden of proof applies both ways.
    """
    part_status = [_status(f, a) for f, a in zip(adjusted_for, adjusted_against)]
    labels = [comparison.label for comparison in finding.comparisons]
    groups = finding.groups or tuple(labels)
    regimes = list(dict.fromkeys(groups))
    members = {regime: [i for i, group in enumerate(groups) if group == regime] for regime in regimes}
    status = {regime: _combine_parts([part_status[i] for i in members[regime]]) for regime in regimes}
    held = [r for r in regimes if status[r] == HOLDS]
    refuted = [r for r in regimes if status[r] == FAILS]
    open_ = [r for r in regimes if status[r] == NOT_SEPARATED]

    def verdict(outcome: str, named: list[str], ruled_out: tuple[RuledOut, ...] = ()) -> Verdict:
        parts = tuple(Part(regime, status[regime]) for regime in named) if finding.regime is not None else ()
        return Verdict(outcome, finding.holds_as, finding.regime, parts, ruled_out)

    def either_way(i: int) -> tuple[float, float]:  # the test a comparison's data point to, raw and adjusted
        return min(raw_for[i], raw_against[i]), min(adjusted_for[i], adjusted_against[i])

    if len(held) == len(regimes):
        worst = max(range(len(labels)), key=lambda i: adjusted_for[i])  # every part held: the weakest decides
        return Decision(verdict(HOLDS, []), labels[worst], raw_for[worst], adjusted_for[worst])
    if held and refuted and finding.regime is not None:
        deciding = min(range(len(labels)), key=lambda i: either_way(i)[1])
        return Decision(verdict(DEPENDS, regimes), labels[deciding], *either_way(deciding))
    if refuted:  # and, with a regime, nothing held; without one, every part must hold, so one refutes all
        failing = [i for r in refuted for i in members[r] if part_status[i] == FAILS]
        best = min(failing, key=lambda i: adjusted_against[i])
        return Decision(verdict(FAILS, open_), labels[best], raw_against[best], adjusted_against[best])
    undecided = [i for r in (open_ or regimes) for i in members[r] if part_status[i] != HOLDS] or list(range(len(labels)))
    ruled_out = tuple(finding.comparisons[i].ruled_out(confidence) for i in undecided)
    closest = min(undecided, key=lambda i: either_way(i)[1])
    return Decision(verdict(NOT_SEPARATED, held, ruled_out), labels[closest], *either_way(closest))


def ruled_out_text(effect: RuledOut) -> str:
    """``"a − b above +1.2 points"``: an effect the data rule out, in the points the site writes."""
    if effect.low is None:
        return f"{effect.label} above {effect.high * 100:+.1f} points"
    if effect.high is None:
        return f"{effect.label} below {effect.low * 100:+.1f} points"
    return f"{effect.label} outside {effect.low * 100:+.1f} to {effect.high * 100:+.1f} points"


def parts_text(parts: tuple[Part, ...]) -> str:
    """``"holds for a, b; not separated for c"``: the named regimes, grouped by how they fare."""
    named = {status: [part.name for part in parts if part.status == status] for status in STATUS_ORDER}
    return "; ".join(f"{status} for {', '.join(names)}" for status, names in named.items() if names)


def reason_text(verdict: Verdict, *, short: bool = False) -> str:
    """What qualifies the outcome ("" when nothing does): the regime and how each named part fares, then
    the effects still ruled out, which the ``short`` form leaves to the evidence page."""
    if verdict.outcome == DEPENDS:
        return f"{verdict.regime}: {parts_text(verdict.parts)}"
    qualifiers = [parts_text(verdict.parts)] if verdict.parts else []
    if verdict.ruled_out and not short:
        effects = "; ".join(ruled_out_text(effect) for effect in verdict.ruled_out)
        qualifiers.append(f"the {level_text(verdict.ruled_out[0].confidence)} intervals rule out {effects}")
    return "; ".join(qualifiers)


def level_text(confidence: float) -> str:
    """``"95 %"`` for a single interval, ``"99.90 % simultaneous"`` for a family's."""
    return f"{confidence * 100:g} %" if confidence == CONFIDENCE else f"{confidence * 100:.2f} % simultaneous"


def outcome_word(verdict: Verdict) -> str:
    """The outcome as the verdict says it: a finding may have its own word for support."""
    return verdict.supported_as if verdict.outcome == HOLDS else verdict.outcome


def verdict_text(verdict: Verdict, *, short: bool = False) -> str:
    """``"not separated (holds for a; the 95 % intervals rule out b above +1.2 points)"``, or with ``short``
    ``"not separated (holds for a)"``."""
    reason = reason_text(verdict, short=short)
    return f"{outcome_word(verdict)} ({reason})" if reason else outcome_word(verdict)


def across_datasets_text(combined: AcrossDatasets, *, short: bool = False) -> str:
    """The words for datasets whose verdicts differ: the shared outcome qualified per dataset, or the
    combined outcome naming the datasets that decide it. The ``short`` form of a "not separated" names
    only the regimes that held, not the datasets, whose verdicts the evidence page gives."""
    by_dataset = combined.by_dataset
    if combined.outcome != DEPENDS and all(verdict.outcome == combined.outcome for _, verdict in by_dataset):
        reasons = [f"on {dataset}: {reason}" for dataset, verdict in by_dataset if (reason := reason_text(verdict, short=short))]
        word = outcome_word(by_dataset[0][1])
        return f"{word} ({'; '.join(reasons)})" if reasons else word
    if combined.outcome == FAILS:
        undecided = [dataset for dataset, verdict in by_dataset if verdict.outcome == NOT_SEPARATED]
        return f"{FAILS} ({NOT_SEPARATED} on {', '.join(undecided)})"
    if combined.outcome == NOT_SEPARATED:
        held = [f"{verdict_text(verdict)} on {dataset}" for dataset, verdict in by_dataset if verdict.outcome != NOT_SEPARATED]
        return NOT_SEPARATED if short else f"{NOT_SEPARATED} ({'; '.join(held)})"
    each = "; ".join(f"{verdict_text(verdict, short=short)} on {dataset}" for dataset, verdict in by_dataset)
    return f"{DEPENDS} ({DATASET_REGIME}: {each})"


def claim_verdict_text(verdict: Verdict | AcrossDatasets | NotDecided, *, short: bool = False) -> str:
    """A claim's verdict in words: in full for the experiment pages, ``short`` for the claims table."""
    if isinstance(verdict, NotDecided):
        return f"{verdict.status} (run {verdict.command})" if verdict.command else verdict.status
    if isinstance(verdict, AcrossDatasets):
        return across_datasets_text(verdict, short=short)
    return verdict_text(verdict, short=short)


def deciding_tests_text(decisions: tuple[tuple[str, Decision], ...], separator: str) -> str:
    """Per dataset, the comparison that decided the verdict and its p-value raw → Holm-adjusted; "—" when none."""
    if not decisions:
        return "—"
    return separator.join(f"{dataset}, {decision.label}: {format_p(decision.p_value)} → {format_p(decision.p_adjusted)}"
                          for dataset, decision in decisions)


def sign(interval: Interval | None) -> int:
    """+1 / −1 when the interval lies above / below 0, else 0 (including too few seeds)."""
    if interval is None or interval.n < MIN_SEEDS:
        return 0
    return 1 if interval.low > 0 else -1 if interval.high < 0 else 0


def _finite(values: dict[int, float]) -> dict[int, float]:
    return {seed: value for seed, value in values.items() if not math.isnan(value)}


@functools.cache
def _seed_zero_grid(experiment: str, dataset: str) -> tuple[RunConfig, ...]:
    # A grid may give some conditions more seeds than asked for (label-noise): keep seed 0 only.
    return tuple(config for config in plan_runs(EXPERIMENTS[experiment], (dataset,), None, 1, None) if config.seed == 0)


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
    """:func:`reference` among the experiment's fair-protocol runs (tuned rate, validation split); where
    the grid also has a short budget with the same split, the fair run is the longer one."""
    matches = [config for config in _seed_zero_grid(experiment, dataset)
               if config.validation_fraction > 0 and all(getattr(config, name) == value for name, value in fields.items())]
    if matches and "validation_fraction" not in fields:  # the fair share, or a long-tail pool's own
        fields["validation_fraction"] = matches[0].validation_fraction
    if len(matches) > 1 and "epochs" not in fields:
        fields["epochs"] = max(config.epochs for config in matches)
    return reference(experiment, dataset, **fields)


def shared(experiment: str, dataset: str, **fields) -> RunConfig:
    """:func:`reference` among the experiment's shared-recipe runs (lr 0.05 for all, no validation split),
    at the recipe's own length unless ``fields`` names another (the γ sweep also runs it longer)."""
    fields = {"epochs": SHARED_RECIPE.epochs, **fields}
    return reference(experiment, dataset, validation_fraction=SHARED_RECIPE.validation_fraction, **fields)


def combined_values(index: RunIndex, terms: list[tuple[float, RunConfig, m.Measure]]) -> SeedValues | None:
    """Per seed, Σ coefficient × measure(config's run) over ``terms``, for every seed all of them have, with
    the test split's sampling variance of the mean where every measure has a per-sample form; None with
    fewer than MIN_SEEDS."""
    values = [_finite(index.measure(config, measure)) for _, config, measure in terms]
    seeds = sorted(set.intersection(*(set(v) for v in values)))
    if len(seeds) < MIN_SEEDS:
        return None
    noise = item_variance([(coefficient, index.seeds_of(config), measure) for coefficient, config, measure in terms], seeds)
    return SeedValues((math.fsum(coefficient * v[seed] for (coefficient, _, _), v in zip(terms, values)) for seed in seeds),
                      noise)


def paired_values(index: RunIndex, a: RunConfig, b: RunConfig, measure: m.Measure) -> SeedValues | None:
    """measure(a) − measure(b) for every seed both have, with the test split's sampling variance of
    their mean where the measure has a per-sample form; None with fewer than MIN_SEEDS."""
    a_values, b_values = _finite(index.measure(a, measure)), _finite(index.measure(b, measure))
    shared = sorted(set(a_values) & set(b_values))
    if len(shared) < MIN_SEEDS:
        return None
    noise = item_variance([(1.0, index.seeds_of(a), measure), (-1.0, index.seeds_of(b), measure)], shared)
    return SeedValues((a_values[seed] - b_values[seed] for seed in shared), noise)


def level_values(index: RunIndex, config: RunConfig, measure: m.Measure, reference: float) -> SeedValues | None:
    """reference − measure(run) for every counted seed: a level compared with a fixed value (with the
    test split's sampling variance, as :func:`paired_values`)."""
    values = _finite(index.measure(config, measure))
    if len(values) < MIN_SEEDS:
        return None
    seeds = sorted(values)
    noise = item_variance([(-1.0, index.seeds_of(config), measure)], seeds)
    return SeedValues((reference - values[seed] for seed in seeds), noise)


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


