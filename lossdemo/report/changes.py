"""What changed when the protocol was frozen: every claim's verdict before and after, with the reason.

The verdicts before come from an archived copy of the earlier claims table
(``docs/history/verdicts-before-frozen-protocol.json``, read from the table at the commit it names:
``git show <commit>:docs/generated/claims_table.md``, each numbered row's bold verdict matched to the
claim order of that commit). The reasons are the protocol's changes that bear on each claim; the
verdicts after are computed from the stored runs like every other verdict.
"""

from __future__ import annotations

import json
from pathlib import Path

from .tables import cell_text
from .verdicts import ClaimVerdict, claim_verdict_text

HISTORY_FILE = Path("docs") / "history" / "verdicts-before-frozen-protocol.json"
CHANGES_NAME = "claims_changes.md"

# What in the frozen protocol bears on each claim (the same for every claim is not repeated: ten seeds
# per condition, tuning seeds apart from the verdicts', intervals with the test split's noise, one
# margin both ways, one family with simultaneous intervals).
REASONS = {
    "focal-half-best": "judged under the report's own recipe as well as the fair protocol; learning rates picked "
                       "without the back-off rule",
    "converges-by-25": "judged per dataset, with the report's recipe run twice as long on both",
    "mae-near-40": "a claim about the report's runs reads the report's recipe; the fair protocol is its explanation",
    "mae-stall-explanation": "exact sign-flip tests for MAE's bimodal seeds",
    "l1-logits-zeros": "unchanged reading; the collapse is described as an optimisation trap, not the loss's minimum",
    "ce-noise-sensitive": "judged against one robust loss declared before the runs (GCE), not against every robust loss",
    "focal-fixes-noise": "learning rates picked without the back-off rule",
    "ce-favours-majority": "long tails drawn from a larger pool, so the rarest class keeps dozens of samples",
    "focal-fixes-imbalance": "led by the report's γ = 0.5, with γ = 2 as a second regime; the larger long-tail pool",
    "gamma-sensitive": "learning rates picked without the back-off rule, which had moved some γ off their best rate",
    "gamma-order": "judged under the report's own recipe as well as the fair protocol",
    "missing-labels": "not tested, as before",
    "l1-not-suitable": "a new row: the report's bottom line",
    "cui-focal-alone": "the larger long-tail pool; balanced accuracy's own margin",
    "cui-class-balanced": "the larger long-tail pool; balanced accuracy's own margin",
    "mukhoti-calibration": "judged for every γ, not only γ = 3; ECE's own margin",
    "mukhoti-after-scaling": "a new row: the claim after temperature scaling, judged for every γ",
    "zhang-gce": "learning rates picked without the back-off rule",
    "ma-active-passive": "NCE+MAE as Ma et al.'s reference code trains it (β = 10, MAE term 1 − p_y, clipped gradient)",
    "lukasik-label-smoothing": "learning rates picked without the back-off rule",
    "early-stopping-noise": "no change to the reading",
    "menon-logit-adjustment": "learning rates picked without the back-off rule (CE and logit adjustment had run at "
                              "different rates); the larger long-tail pool",
}


def read_previous(path: Path = HISTORY_FILE) -> dict | None:
    """The archived verdicts ({"commit": ..., "verdicts": {claim id: words}}), or None outside a clone."""
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def changes_markdown(verdicts: list[ClaimVerdict], previous: dict) -> str:
    """Every claim's verdict before and after the frozen protocol, in the claims table's order."""
    before = previous["verdicts"]
    lines = ["| # | claim | before | after | what bears on it |", "|---:|---|---|---|---|"]
    for number, verdict in enumerate(verdicts, start=1):
        claim_id = verdict.claim.claim_id
        after = claim_verdict_text(verdict.verdict, short=True)
        old = before.get(claim_id, "— (no row)")
        changed = "" if old == after else " ✱"
        lines.append(f"| {number} | {cell_text(verdict.claim.text)} | {cell_text(old)} | **{cell_text(after)}**{changed} | "
                     f"{REASONS.get(claim_id, '')} |")
    changed_count = sum(before.get(v.claim.claim_id) != claim_verdict_text(v.verdict, short=True) for v in verdicts)
    lines += ["", f"✱ the verdict's words changed ({changed_count} of {len(verdicts)} rows). \"Before\" is the claims table "
              f"at commit `{previous['commit']}`, under the earlier protocol: five to ten seeds per condition, the "
              "tuning runs' seeds among the verdicts', a back-off rule in the tuning, one accuracy margin for every "
              "metric, intervals over seeds only. Every row also gains what the whole table gains: ten seeds per "
              "condition, tuning seeds apart from the verdicts', the test split's noise in the intervals, one margin "
              "both ways, one family of tests with simultaneous intervals."]
    return "\n".join(lines) + "\n"
