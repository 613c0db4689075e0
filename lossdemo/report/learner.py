"""What the learner pages say about the measurements: short, plain, and linked to the evidence.

The loss pages teach; the experiment pages prove. A loss page ends with a few bullets, one per claim
about that loss, each giving the claim, its verdict in plain words and a link to the page that states
the result in full (one home per fact). The guide opens with a plain table, "if you have …, use …",
with the expected gain over plain cross-entropy and how sure we are in words; its detailed table
(p-values, the runner-up, the family's intervals) stays one click away. Both are generated from the
same verdicts and comparisons as the claims table, so a learner page cannot disagree with the
evidence.
"""

from __future__ import annotations

from ..losses import loss_title
from ..protocol import MARGINS
from .family import Family
from .guide import BASELINE, guide_rows
from .measures import RunIndex
from .stats import CONFIDENCE, format_p
from .verdicts import DEPENDS, FAILS, HOLDS, NOT_SEPARATED, ClaimVerdict, NotDecided, claim_verdict_text

# The learner pages (under docs/losses/) and the claims whose verdicts each lists, in reading order.
LEARNER_FINDINGS: dict[str, tuple[str, ...]] = {
    "cross-entropy": ("ce-noise-sensitive", "early-stopping-noise", "ce-favours-majority", "mukhoti-calibration"),
    "mae": ("mae-near-40", "mae-stall-explanation", "l1-logits-zeros", "l1-not-suitable"),
    "focal": ("focal-half-best", "gamma-sensitive", "gamma-order", "focal-fixes-imbalance", "focal-fixes-noise",
              "mukhoti-calibration", "mukhoti-after-scaling"),
    "remedies": ("zhang-gce", "ma-active-passive", "lukasik-label-smoothing", "cui-class-balanced",
                 "menon-logit-adjustment", "mukhoti-after-scaling"),
}
DATASET_NAMES = {"mnist1d": "MNIST-1D", "mnist5k": "MNIST-5k", "mnist1d-40k": "MNIST-1D, long-tailed"}
# One line per loss family: what it does, for a reader who has not met it yet.
GLOSSES = {
    "ce": "the default: minus the log-probability of the true class",
    "focal": "cross-entropy with confident examples turned down",
    "mae": "the absolute error between the probabilities and the one-hot label; bounded",
    "gce": "between cross-entropy and MAE: bounded, so a wrong label cannot pull without limit",
    "ls": "cross-entropy against a softened target",
    "nce+mae": "a normalised cross-entropy plus an MAE term",
    "la-ce": "cross-entropy with each class's logit shifted by its log-frequency",
    "cb-ce": "cross-entropy with rare classes weighted up",
    "cb-focal": "focal loss with rare classes weighted up",
    "sce": "cross-entropy plus reverse cross-entropy",
}
PLAIN_OUTCOMES = {
    HOLDS: "holds in our runs",
    FAILS: "does not hold in our runs",
    NOT_SEPARATED: "not separated: the seeds cannot tell",
    DEPENDS: "depends",
}
GUIDE_PLAIN_FILE = "guide_plain.md"


def findings_file_name(page: str) -> str:
    return f"learn_{page.replace('-', '_')}_findings.md"


def _dataset_names(text: str) -> str:
    """Datasets as a reader names them ("MNIST-1D"), the longest code first so that none is cut short."""
    for code in sorted(DATASET_NAMES, key=len, reverse=True):
        text = text.replace(f"on {code}", f"on {DATASET_NAMES[code]}")
    return text


def _verdict_detail(verdict: ClaimVerdict) -> str:
    """The verdict's qualification in words a learner reads: per dataset or regime, without the list of
    effects a "not separated" rules out (that list is on the evidence page)."""
    long = claim_verdict_text(verdict.verdict)
    text = claim_verdict_text(verdict.verdict, short=True) if "rule out" in long else long
    return _dataset_names(text).replace("not separated on ", "the seeds cannot tell on ")


def _outcome(verdict: ClaimVerdict) -> str:
    if isinstance(verdict.verdict, NotDecided):
        return verdict.verdict.status
    return verdict.verdict.outcome


def findings_markdown(verdicts: list[ClaimVerdict], page: str) -> str:
    """The bullets of one learner page: who claims what, the verdict in plain words, where the evidence is."""
    by_id = {verdict.claim.claim_id: verdict for verdict in verdicts}
    lines = []
    for claim_id in LEARNER_FINDINGS[page]:
        verdict = by_id.get(claim_id)
        if verdict is None:
            continue
        claim = verdict.claim
        who = "The report" if claim.source == "report" else claim.source[0].upper() + claim.source[1:]
        outcome = _outcome(verdict)
        plain = PLAIN_OUTCOMES.get(outcome, outcome)
        detail = _verdict_detail(verdict)
        if detail.startswith(outcome + " (") and detail.endswith(")"):  # "does not hold (x)": only x is new
            detail = detail[len(outcome) + 2: -1]
        detail = f" ({detail})" if detail != outcome and outcome in PLAIN_OUTCOMES else ""
        link = f" [Evidence]({'../claims/' + claim.evidence})" if claim.evidence else ""
        lines.append(f"- *{who}:* {claim.text} **{plain[0].upper() + plain[1:]}**{detail}.{link}")
    if not lines:
        return "Not measured yet: these bullets need the stored runs of the full profile (`--full`).\n"
    return "\n".join(lines) + "\n"


def _reader_name(spec: str) -> str:
    name = spec.partition(":")[0].partition("@")[0]
    gloss = GLOSSES.get(name)
    return f"**{loss_title(spec)}**" + (f": {gloss}" if gloss else "")


def _sure_text(outcome: str, metric: str) -> str:
    """A gain's verdict in words, with the margin it was tested against."""
    margin = MARGINS[metric] * (1 if metric == "nll" else 100)
    unit = "nats" if metric == "nll" else ("point" if margin == 1 else "points")
    margin_text = f"{margin:g} {unit}"
    return {HOLDS: f"**Sure**: ahead by more than the {margin_text} that matters",
            FAILS: f"**Sure it is not** ahead by more than the {margin_text} that matters",
            }.get(outcome, "**Not separated**: the seeds cannot tell them apart")


def _gain_text(comparison, confidence: float, metric: str) -> str:
    """The gain and the range the site's intervals allow, signed so that positive favours the pick."""
    interval = comparison.interval_at(confidence)
    if metric == "nll":
        return (f"{interval.mean:+.3f} nats less test NLL (somewhere between {interval.low:+.3f} and "
                f"{interval.high:+.3f}; positive is better)")
    return (f"{interval.mean * 100:+.1f} points of {metric} (somewhere between {interval.low * 100:+.1f} and "
            f"{interval.high * 100:+.1f})")


def guide_plain_markdown(index: RunIndex, family: Family, verdicts: list[ClaimVerdict]) -> str:
    """The guide's plain table: the situation, the loss to use, its gain over plain cross-entropy, how sure."""
    rows = guide_rows(index, family)
    if not rows:
        return "Not measured yet: the guide needs the stored runs of the experiments it reads (`--full`).\n"
    lines = ["| If you have … | use … | expected gain over plain cross-entropy | how sure |", "|---|---|---|---|"]
    for row, judged in rows:
        situation = row.situation
        have = f"{situation.name}, on {DATASET_NAMES.get(situation.dataset, situation.dataset)}"
        by_other = {other: (comparison, outcome) for other, comparison, outcome, _, _ in judged}
        if row.best == BASELINE:
            runner_up = judged[0][0]
            comparison, outcome = by_other[runner_up]
            gain = "none: it is plain cross-entropy"
            sure = (f"Against the runner-up, {loss_title(runner_up)}: "
                    f"{_gain_text(comparison, family.confidence, situation.metric)}. "
                    f"{_sure_text(outcome, situation.metric)}")
        else:
            comparison, outcome = by_other.get(BASELINE, (None, None))
            gain = _gain_text(comparison, family.confidence, situation.metric) if comparison else "not measured"
            sure = _sure_text(outcome, situation.metric) if comparison else "—"
        lines.append(f"| {have} | {_reader_name(row.best)} | {gain} | {sure} |")
    if mae_row := _mae_alone_row(index, verdicts):
        lines.append(mae_row)
    lines += ["", "The words in the last column come from the site's tests, which are a little sharper than the "
              "cautious ranges shown: a row can say **sure** while its range just reaches past the margin. "
              "[Reading the numbers](reading-the-numbers.md) explains both."]
    return "\n".join(lines) + "\n"


def _mae_alone_row(index: RunIndex, verdicts: list[ClaimVerdict]) -> str:
    """MAE on its own: the report's bottom line ("L1 is not suitable"), as the claims table judges it."""
    verdict = next((verdict for verdict in verdicts if verdict.claim.claim_id == "l1-not-suitable"), None)
    if verdict is None or isinstance(verdict.verdict, NotDecided):
        return ""
    plain = PLAIN_OUTCOMES.get(_outcome(verdict), _outcome(verdict))
    detail = _verdict_detail(verdict)
    if detail.startswith(_outcome(verdict) + " ("):
        plain += " " + detail[len(_outcome(verdict)) + 1:]
    return (f"| MAE alone, chosen for its robustness | {_reader_name('ce')}; with wrong labels, "
            f"{_reader_name('gce:0.7')} | MAE trains slowly and unevenly: its push vanishes near chance "
            f"([the MAE page](losses/mae.md)) | The report's \"MAE is not suitable\": {plain} "
            f"([evidence](claims/{verdict.claim.evidence})) |")


def learner_files(index: RunIndex, family: Family, verdicts: list[ClaimVerdict]) -> dict[str, str]:
    """{file name: Markdown} of the learner pages' generated parts."""
    files = {findings_file_name(page): findings_markdown(verdicts, page) for page in LEARNER_FINDINGS}
    files[GUIDE_PLAIN_FILE] = guide_plain_markdown(index, family, verdicts)
    files[WORKED_EXAMPLE_FILE] = worked_example_markdown(index, family)
    return files


WORKED_EXAMPLE_FILE = "guide_worked_example.md"


def worked_example_markdown(index: RunIndex, family: Family) -> str:
    """One guide row decoded step by step: the first row whose pick is not plain cross-entropy."""
    rows = guide_rows(index, family)
    chosen = next(((row, judged) for row, judged in rows if row.best != BASELINE
                   and any(other == BASELINE for other, *_ in judged)), None)
    if chosen is None:
        return "Not measured yet: the worked example reads the guide's runs (`--full`).\n"
    row, judged = chosen
    situation = row.situation
    _, comparison, outcome, p_raw, p_adjusted = next(entry for entry in judged if entry[0] == BASELINE)
    if situation.metric == "nll":
        return ""
    single, family_wide = comparison.interval_at(CONFIDENCE), comparison.interval_at(family.confidence)
    margin = MARGINS[situation.metric] * 100
    seeds = len(comparison.values)
    words = {HOLDS: "lies above the margin, so the row says **sure**",
             FAILS: "lies below the margin, so the row says **sure it is not** ahead by it"}.get(
        outcome, "reaches both sides of the margin, so the row says **not separated**")
    return "\n".join([
        f"Take the row *{situation.name}, on {DATASET_NAMES.get(situation.dataset, situation.dataset)}*.",
        "",
        f"1. **The pick.** Every candidate loss was trained with {seeds} seeds. {loss_title(row.best)} had the "
        f"highest mean {situation.metric} on the validation split, so it is the pick. Its mean on the test "
        f"split is {row.level}.",
        f"2. **The paired gain.** For each seed, {loss_title(row.best)} and cross-entropy started from the same "
        "weights and saw the batches in the same order. The gain is the test difference seed by seed, "
        f"averaged: {single.mean * 100:+.1f} points.",
        f"3. **One comparison's 95 % interval**: {single.low * 100:+.1f} to {single.high * 100:+.1f} points. "
        "If we reran the whole experiment many times with new seeds and a fresh test set, intervals built this way would catch "
        "the true average gain 95 times in 100.",
        f"4. **The site's interval**: {family_wide.low * 100:+.1f} to {family_wide.high * 100:+.1f} points. It "
        f"is wider because the site makes {family.size} such comparisons at once; at "
        f"{family.confidence * 100:.2f} % each, all of them hold together at least 95 % of the time.",
        f"5. **The margin** is {margin:g} point{'s' if margin != 1 else ''}: a smaller gain would not be worth "
        f"switching for. The site's interval {words}.",
        f"6. **The p-value**, for evidence pages: the chance of a gain this far above the margin if the true "
        f"gain were only the margin is {format_p(p_raw)}; after Holm's correction over the {family.size} tests, "
        f"{format_p(p_adjusted)}.",
    ]) + "\n"
