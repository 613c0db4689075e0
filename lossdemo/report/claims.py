"""The report's claims, in the report's order, and their verdicts computed from stored runs.

Each claim's rule lives with its experiment's report module (``label_noise``, ``imbalance``,
``gamma_sweep``, ``mae_anatomy``; the machinery in ``verdicts``); this module puts them in order and
applies them. Verdicts are ``holds``, ``does not hold``, ``depends on (…)`` (the answer changes with
a condition: γ, the noise rate, the dataset, …), ``undecided (…)`` for an explanation the runs
cannot confirm or refute, and ``not measured yet (run …)`` when the runs are not stored.

    from lossdemo.report.claims import evaluate_claims
    verdicts = evaluate_claims(runs)          # runs: list[StoredRun], e.g. load_runs("results")
"""

from __future__ import annotations

from .measures import RunIndex
from .render import REPORTS
from .verdicts import Claim, ClaimVerdict, Finding

# The order of the claims table: the report's claims as it makes them, then the papers'.
CLAIM_ORDER = (
    "focal-half-best", "converges-by-25", "mae-near-40", "mae-stall-explanation", "ce-noise-sensitive",
    "focal-fixes-noise", "ce-favours-majority", "focal-fixes-imbalance", "gamma-sensitive", "gamma-order",
    "missing-labels", "cui-focal-alone", "cui-class-balanced", "mukhoti-calibration",
)


def _not_tested(index: RunIndex, dataset: str) -> Finding | None:
    return None


# A claim of the report that no experiment here can test: it is listed, with the reason.
MISSING_LABELS = Claim("missing-labels", "CE needs a valid label for every sample.", "report", (), "", "", _not_tested)
NOT_TESTED = {
    "missing-labels": ("not tested here", "Every loss compared here needs a label per sample; no experiment of this "
                       "project varies that, and the claim is not specific to CE."),
}


def all_claims() -> tuple[Claim, ...]:
    """Every registered experiment's claims plus the untested ones, in :data:`CLAIM_ORDER` (others last)."""
    claims = [claim for report in REPORTS.values() for claim in report.claims] + [MISSING_LABELS]
    rank = {claim_id: position for position, claim_id in enumerate(CLAIM_ORDER)}
    return tuple(sorted(claims, key=lambda claim: rank.get(claim.claim_id, len(rank))))


CLAIMS: tuple[Claim, ...] = all_claims()


def run_hint(claim: Claim) -> str:
    return f"`python -m lossdemo.reproduce --experiments {' '.join(claim.experiments)}`"


def evaluate_claim(claim: Claim, index: RunIndex) -> ClaimVerdict:
    """Apply the claim's rule on every dataset that has its runs and combine the findings."""
    if claim.claim_id in NOT_TESTED:
        verdict, detail = NOT_TESTED[claim.claim_id]
        return ClaimVerdict(claim, verdict, "—", detail, ())
    findings = {dataset: finding for dataset in index.datasets() if (finding := claim.rule(index, dataset))}
    if not findings:
        return ClaimVerdict(claim, f"not measured yet (run {run_hint(claim)})", "—",
                            "The runs this verdict needs are not stored.", ())
    verdicts = {finding.verdict for finding in findings.values()}
    if len(verdicts) == 1:
        verdict = verdicts.pop()
    else:
        verdict = "depends on (the dataset: " + "; ".join(f"{f.verdict} on {d}" for d, f in findings.items()) + ")"
    effect = "<br>".join(f"{dataset}: {finding.effect}" for dataset, finding in findings.items())
    detail = " ".join(f"On {dataset}: {finding.detail}" for dataset, finding in findings.items())
    return ClaimVerdict(claim, verdict, effect, detail, tuple(findings))


def evaluate_claims(runs) -> list[ClaimVerdict]:
    """Every claim's verdict from ``runs`` (stored runs of any experiments; the rules pick theirs)."""
    index = runs if isinstance(runs, RunIndex) else RunIndex(runs)
    return [evaluate_claim(claim, index) for claim in all_claims()]
