"""The learner pages' generated parts agree with the evidence they summarise.

The loss pages' "What the experiments say" bullets, the guide's plain table and its worked example
are short forms of the claims table and the guide's detailed table; each test recomputes the long
form from the published runs and checks the short one against it, so a learner page cannot say
"holds" where the evidence page says "not separated". Also the glossary and the reader names of losses.
"""

from __future__ import annotations

import functools
import json
import re

import pytest
from support import PUBLISHED_DIR

from lossdemo.losses import loss_title, parse_loss_spec
from lossdemo.report.claims import evaluate_claims
from lossdemo.report.claims_pages import stored_runs
from lossdemo.report.family import site_family
from lossdemo.report.glossary import GLOSSARY_ELEMENT_ID, glossary_entries, glossary_markdown, loss_codes
from lossdemo.report.guide import BASELINE, guide_rows
from lossdemo.report.learner import (
    LEARNER_FINDINGS,
    PLAIN_OUTCOMES,
    findings_markdown,
    guide_plain_markdown,
    worked_example_markdown,
)
from lossdemo.report.measures import RunIndex
from lossdemo.report.verdicts import FAILS, HOLDS, NOT_SEPARATED, NotDecided


@functools.cache
def _published():
    index = RunIndex(stored_runs([PUBLISHED_DIR]))
    family = site_family(index)
    return index, family, evaluate_claims(index, family)


def _outcome(verdict) -> str:
    return verdict.verdict.status if isinstance(verdict.verdict, NotDecided) else verdict.verdict.outcome


@pytest.mark.parametrize("page", list(LEARNER_FINDINGS))
def test_each_bullet_gives_its_claims_verdict(page):
    _, _, verdicts = _published()
    by_id = {verdict.claim.claim_id: verdict for verdict in verdicts}
    bullets = findings_markdown(verdicts, page).splitlines()
    assert len(bullets) == len(LEARNER_FINDINGS[page])
    for claim_id, bullet in zip(LEARNER_FINDINGS[page], bullets):
        verdict = by_id[claim_id]
        assert verdict.claim.text in bullet
        plain = PLAIN_OUTCOMES[_outcome(verdict)]
        assert f"**{plain[0].upper() + plain[1:]}**" in bullet, (claim_id, bullet)
        assert f"(../claims/{verdict.claim.evidence})" in bullet


def test_a_bullet_follows_a_changed_verdict():
    """The words come from the verdict, not from the page: flip one and the bullet changes."""
    _, _, verdicts = _published()
    before = findings_markdown(verdicts, "remedies")
    gce = next(v for v in verdicts if v.claim.claim_id == "zhang-gce")
    flipped = type(gce.verdict)(FAILS if gce.verdict.outcome == HOLDS else HOLDS)
    changed = [type(v)(v.claim, flipped, v.effect, v.detail, v.decisions) if v is gce else v for v in verdicts]
    assert findings_markdown(changed, "remedies") != before


def test_the_plain_guide_gives_the_detailed_guides_gain_over_cross_entropy():
    index, family, verdicts = _published()
    plain = [line for line in guide_plain_markdown(index, family, verdicts).splitlines()[2:] if line.startswith("|")]
    rows = guide_rows(index, family)
    assert len(plain) == len(rows) + 1, "one line per situation, and the MAE row"
    for (row, judged), line in zip(rows, plain):
        assert f"**{loss_title(row.best)}**" in line
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if row.best == BASELINE:
            assert cells[2] == "none: it is plain cross-entropy"
            continue
        _, comparison, outcome, _, _ = next(entry for entry in judged if entry[0] == BASELINE)
        interval = comparison.interval_at(family.confidence)
        assert f"{interval.mean * 100:+.1f} points" in cells[2]
        assert f"between {interval.low * 100:+.1f} and {interval.high * 100:+.1f}" in cells[2]
        expected = {HOLDS: "**Sure**", FAILS: "**Sure it is not**"}.get(outcome, f"**{NOT_SEPARATED.capitalize()}**")
        assert cells[3].startswith(expected), (cells[3], outcome)


def test_the_worked_example_decodes_a_row_with_the_rows_numbers():
    index, family, _ = _published()
    text = worked_example_markdown(index, family)
    row, judged = next((row, judged) for row, judged in guide_rows(index, family) if row.best != BASELINE)
    _, comparison, _, _, _ = next(entry for entry in judged if entry[0] == BASELINE)
    wide = comparison.interval_at(family.confidence)
    assert row.situation.name in text
    assert f"{wide.low * 100:+.1f} to {wide.high * 100:+.1f} points" in text
    assert f"{family.size} such comparisons" in text


def test_the_glossary_defines_every_loss_code_and_term_once():
    text = glossary_markdown()
    abbreviations = re.findall(r"^\*\[([^\]]+)\]: (.+)$", text, re.M)
    assert len(abbreviations) == len({term for term, _ in abbreviations})
    payload = re.search(rf'<script type="application/json" id="{GLOSSARY_ELEMENT_ID}">(.*?)</script>', text, re.S)
    entries = json.loads(payload.group(1))
    assert entries == glossary_entries()
    for code in loss_codes():
        assert code in entries and loss_title(code) in entries[code]
    assert {"gce:0.7", "focal:2", "cb-ce@0.9", "la-ce:1"} <= set(entries)


@pytest.mark.parametrize(("spec", "title"), [
    ("ce", "Cross-entropy"), ("mae", "MAE"), ("focal:2", "Focal loss (γ = 2)"),
    ("gce:0.7", "Generalized cross-entropy (q = 0.7)"), ("cb-focal:2", "Class-balanced focal loss (γ = 2)"),
    ("cb-ce@0.9", "Class-balanced cross-entropy (β = 0.9)"), ("la-ce:1", "Logit-adjusted cross-entropy (τ = 1)"),
    ("ls:0.1", "Label smoothing (ε = 0.1)"),
])
def test_reader_names_of_losses(spec, title):
    assert loss_title(spec) == title == parse_loss_spec(spec).title
