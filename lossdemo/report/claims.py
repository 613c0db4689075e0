"""The report's claims, in the report's order, and their verdicts computed from stored runs.

Each claim's rule lives with its experiment's report module (``label_noise``, ``imbalance``,
``gamma_sweep``, ``mae_anatomy``; the machinery in ``verdicts``); this module puts them in order and
applies them. Verdicts are ``holds``, ``does not hold``, ``depends on (…)`` (the answer changes with
a condition: γ, the noise rate, the dataset, …), ``not separated (…)`` when the seeds decide
neither way, ``undecided (…)`` for an explanation the runs can only fail to refute, and ``not
measured yet (run …)`` when the runs are not stored. Holm's correction runs over the whole table.
A verdict stays data (``verdicts.Verdict``, combined over datasets as ``verdicts.AcrossDatasets``)
until a page words it:

    from lossdemo.report.claims import evaluate_claims
    from lossdemo.report.verdicts import claim_verdict_text
    verdicts = evaluate_claims(runs)          # runs: list[StoredRun], e.g. load_runs("results")
    claim_verdict_text(verdicts[0].verdict)   # e.g. "not separated (the 95 % intervals rule out …)"
"""

from __future__ import annotations

from .family import Family, site_family
from .measures import RunIndex
from .render import REPORTS
from .verdicts import (
    DEPENDS,
    FAILS,
    HOLDS,
    NOT_MEASURED,
    NOT_SEPARATED,
    NOT_TESTED_HERE,
    AcrossDatasets,
    Claim,
    ClaimVerdict,
    Decision,
    Finding,
    NotDecided,
    Verdict,
    decide,
)

# The order of the claims table: the report's claims as it makes them, then the papers'.
CLAIM_ORDER = (
    "focal-half-best", "converges-by-25", "mae-near-40", "mae-stall-explanation", "l1-logits-zeros",
    "ce-noise-sensitive", "focal-fixes-noise", "ce-favours-majority", "focal-fixes-imbalance", "gamma-sensitive",
    "gamma-order", "missing-labels", "l1-not-suitable", "cui-focal-alone", "cui-class-balanced", "mukhoti-calibration",
    "mukhoti-after-scaling", "zhang-gce", "ma-active-passive", "lukasik-label-smoothing", "early-stopping-noise",
    "menon-logit-adjustment",
)


def _not_tested(index: RunIndex, dataset: str) -> Finding | None:
    return None


# A claim of the report that no experiment here can test: it is listed, with the reason.
MISSING_LABELS = Claim("missing-labels", "CE needs a valid label for every sample.", "report", (), "", "", _not_tested)
NOT_TESTED = {
    "missing-labels": "Every loss compared here needs a label per sample; no experiment of this project varies that, "
                      "and the claim is not specific to CE.",
}


def all_claims() -> tuple[Claim, ...]:
    """Every registered experiment's claims plus the untested ones, in :data:`CLAIM_ORDER` (others last)."""
    claims = [claim for report in REPORTS.values() for claim in report.claims] + [MISSING_LABELS]
    rank = {claim_id: position for position, claim_id in enumerate(CLAIM_ORDER)}
    return tuple(sorted(claims, key=lambda claim: rank.get(claim.claim_id, len(rank))))


CLAIMS: tuple[Claim, ...] = all_claims()


def run_hint(claim: Claim) -> str:
    return f"`python -m lossdemo.reproduce --experiments {' '.join(claim.experiments)}`"


def combined_outcome(outcomes: list[str]) -> str:
    """The outcome over datasets, by the rule :func:`~lossdemo.report.verdicts.decide` applies to the
    regimes of one dataset: the claim **depends on** the dataset only when it holds on one and is
    refuted on another (or already depends on a regime of one); refuted on some and undecided on the
    rest, it does not hold; held on some and undecided on the rest, it is not separated."""
    if len(set(outcomes)) == 1:
        return outcomes[0]
    held = any(outcome in (HOLDS, DEPENDS) for outcome in outcomes)
    refuted = FAILS in outcomes
    if DEPENDS in outcomes or (held and refuted):
        return DEPENDS
    return FAILS if refuted else NOT_SEPARATED


def combined_verdict(verdicts: dict[str, Verdict]) -> Verdict | AcrossDatasets:
    """One verdict over datasets: theirs when every dataset says the same, else :func:`combined_outcome`
    with each dataset's verdict, for the words to name the datasets that decide it."""
    if len(set(verdicts.values())) == 1:
        return next(iter(verdicts.values()))
    return AcrossDatasets(combined_outcome([verdict.outcome for verdict in verdicts.values()]), tuple(verdicts.items()))


def _combine(claim: Claim, findings: dict[str, Finding], decisions: dict[str, Decision], confidence: float) -> ClaimVerdict:
    """One verdict over the datasets that have the claim's runs; the effects are every comparison's
    difference with its interval at the family's simultaneous ``confidence``."""
    verdict = combined_verdict({dataset: decision.verdict for dataset, decision in decisions.items()})
    effect = "<br>".join(f"{dataset}: " + "; ".join(comparison.effect_text(confidence) for comparison in finding.comparisons)
                         for dataset, finding in findings.items())
    detail = " ".join(f"On {dataset}: {finding.detail}" for dataset, finding in findings.items())
    return ClaimVerdict(claim, verdict, effect, detail, tuple(decisions.items()))


def claim_findings(index: RunIndex) -> dict[str, dict[str, Finding]]:
    """Per claim id, per dataset that has its runs, the claim's finding (untested claims have none)."""
    findings = {claim.claim_id: {} for claim in all_claims()}
    for claim in all_claims():
        if claim.claim_id in NOT_TESTED:
            continue
        for dataset in index.datasets():
            finding = claim.rule(index, dataset)
            if finding is not None:
                findings[claim.claim_id][dataset] = finding
    return findings


def evaluate_claims(runs, family: Family | None = None) -> list[ClaimVerdict]:
    """Every claim's verdict from ``runs`` (stored runs of any experiments; the rules pick theirs).

    Every distinct statement of every claim and dataset contributes one test, for or against (the two
    nulls cannot both be true), adjusted with the guide's rows as one family (``family.site_family``)
    before any verdict is decided.
    """
    index = runs if isinstance(runs, RunIndex) else RunIndex(runs)
    family = family or site_family(index)
    findings = claim_findings(index)
    verdicts = []
    for claim in all_claims():
        if claim.claim_id in NOT_TESTED:
            verdicts.append(ClaimVerdict(claim, NotDecided(NOT_TESTED_HERE), "—", NOT_TESTED[claim.claim_id]))
            continue
        if not findings[claim.claim_id]:
            verdicts.append(ClaimVerdict(claim, NotDecided(NOT_MEASURED, run_hint(claim)), "—",
                                         "The runs this verdict needs are not stored."))
            continue
        decisions = {}
        for dataset, finding in findings[claim.claim_id].items():
            adjusted = [family.p_values(comparison) for comparison in finding.comparisons]
            decisions[dataset] = decide(finding, [c.p_for for c in finding.comparisons], [a for a, _ in adjusted],
                                        [c.p_against for c in finding.comparisons], [b for _, b in adjusted],
                                        family.confidence)
        verdicts.append(_combine(claim, findings[claim.claim_id], decisions, family.confidence))
    return verdicts
