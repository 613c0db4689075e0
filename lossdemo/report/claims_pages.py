"""Write the verdicts of ``claims`` as the site's generated Markdown.

* ``claims_table.md`` — one row per claim: paraphrase, verdict, effect with its CI, link to the
  evidence (links are relative to ``docs/claims/``, where the table is included);
* ``<experiment>_verdicts.md`` — the same verdicts with the sentence that explains each, for the
  experiment pages;
* the tables an experiment draws from every stored run rather than its own
  (``ExperimentReport.files_from_all_runs``, e.g. 25 against 100 epochs of the same recipe).

The verdicts read every stored run they are given, across experiments, so these files are drawn from
a whole results directory rather than from one experiment's runs:

    python -m lossdemo.report.claims_pages --results-dir results --figures-dir docs/generated
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..results import StoredRun, load_runs
from .changes import CHANGES_NAME, changes_markdown, read_previous
from .claims import evaluate_claims
from .experiment_report import file_prefix
from .family import Family, site_family
from .inference import ALPHA
from .learner import learner_files
from .matched_rates import PAGE_CHECKS, page_matched_rates_markdown
from .measures import RunIndex
from .output import runs_fingerprint, update_manifest
from .protocol_page import PROTOCOL_NAME, protocol_markdown
from .render import REPORTS
from .tables import cell_text
from .verdicts import ClaimVerdict, claim_verdict_text, deciding_tests_text

TABLE_NAME = "claims_table.md"
RULES_NAME = "verdict_rules.md"


def claim_pages() -> tuple[str, ...]:
    """The experiments whose pages list verdicts: those whose report has claims."""
    return tuple(name for name, report in REPORTS.items() if report.claims)


def verdicts_file_name(page: str) -> str:
    return f"{file_prefix(page)}_verdicts.md"


def claims_table_markdown(verdicts: list[ClaimVerdict], run_count: int, family: Family) -> str:
    """The "report, checked" table, one row per claim, narrow enough to read without scrolling; each
    claim's effects and deciding test follow in a collapsed list with the same numbers."""
    level = f"{family.confidence * 100:.2f} %"
    lines = ["| # | claim (paraphrased) | from | verdict | evidence |", "|---:|---|---|---|---|"]
    effects = []
    for number, verdict in enumerate(verdicts, start=1):
        claim = verdict.claim
        evidence = f"[evidence]({claim.evidence})" if claim.evidence else "—"
        # "Not separated" is qualified by the effects it still rules out: on the evidence page, not here.
        shown = claim_verdict_text(verdict.verdict, short=True)
        lines.append(f"| {number} | {cell_text(claim.text)} | {claim.source} | **{cell_text(shown)}** | {evidence} |")
        if verdict.effect or verdict.decisions:
            effects.append(f"    - **{number}.** Effect: {verdict.effect.replace('<br>', '; ') or '—'}. "
                           f"p → Holm: {deciding_tests_text(verdict.decisions, '; ')}.")
    lines += [
        "",
        f'??? info "Effects (points or %, {level} simultaneous intervals) and the deciding test, claim by claim"',
        "",
        *effects,
        "",
        f"Computed by `lossdemo.report.claims` from {run_count} stored runs. Effects are paired differences in "
        "percentage points between runs with the same seed (same initial weights and batch order), or levels in %, "
        f"with their {level} intervals: simultaneous over the {family.size} tests of the site's one family "
        "(Bonferroni), and widened by the test split's own sampling noise where the measure has a per-sample form. "
        "\"p → Holm\" is the test that decided the verdict, raw and after Holm's correction over that family. The "
        "rules, the margins and the seeds are on the [protocol page](../protocol.md); rows from a paper check a "
        "published result against ours.",
    ]
    return "\n".join(lines) + "\n"


def page_verdicts_markdown(verdicts: list[ClaimVerdict], page: str) -> str:
    """The verdicts listed on one experiment page, each with its explanation and its effects at the
    family's simultaneous level (the explanation's own intervals are per comparison, 95 %)."""
    mine = [verdict for verdict in verdicts if verdict.claim.page == page]
    if not mine:
        return "No claim is checked on this page.\n"
    blocks = []
    for verdict in mine:
        source = "" if verdict.claim.source == "report" else f" ({verdict.claim.source})"
        tests = f" (p → Holm-adjusted: {deciding_tests_text(verdict.decisions, '; ')})" if verdict.decisions else ""
        effects = f" Effects with the verdict's simultaneous intervals: {verdict.effect.replace('<br>', '; ')}." \
            if verdict.decisions else ""
        blocks.append(f"**{verdict.claim.text}**{source} — *{claim_verdict_text(verdict.verdict)}*{tests}. "
                      f"{verdict.detail}{effects}")
    return "\n\n".join(blocks) + "\n"


def verdict_rules_markdown(family: Family) -> str:
    """How a verdict is reached, with the constants the code uses (so the page cannot drift from it)."""
    alpha = f"{ALPHA * 100:g} %"
    return f"""Each claim becomes one or more statements about paired differences between runs with the same
seed, "A − B > 0" for "A beats B". One margin δ, the metric's (the protocol page gives each with its
reason), applies both ways. The statement **holds** when a one-sided test shows A ahead by more than
δ (H0: A − B ≤ δ rejected), and it **does not hold** when the non-superiority test shows A ahead by
less than δ (H0: A − B ≥ δ rejected): behind, or level within the margin. A claim that something
does *not* happen ("focal loss alone does not beat CE", "the losses have converged") is held to the
same standard with the roles swapped, and a claim of equality ("near 40 %") holds when two one-sided
tests put the difference inside ±δ.

The tests are paired t-tests over the seeds whose variance adds the test split's own sampling noise
where the measure has a per-sample form (accuracy, balanced accuracy, the head-tail gap: each run
stores its answer on every test sample), since every seed is scored on the same 1,000 samples.
Where paired differences are bimodal, as MAE's are (a seed learns a class or abandons it), an exact
sign-flip permutation test replaces the t-test.

Of a statement's two nulls at most one can be true, so each statement enters the family once, with
the test its data point to; a statement made twice (two claims, or a claim and a guide row, on the
same runs) enters once. The family is every comparison of this table and of the guide:
{family.size} tests. Holm's step-down correction over it keeps the chance of any false verdict below
{alpha}, and every interval shown next to a verdict is Bonferroni's simultaneous
{family.confidence * 100:.2f} % interval for the same family, so "the data rule out" statements are
adjusted like the verdicts. Holm's procedure rejects everything Bonferroni's does and more, so a
verdict can hold while its simultaneous interval still reaches the margin: the interval is the
more cautious of the two. The "p → Holm" column names the statement whose test decided the row.
Summaries outside the family (the compare page's neighbours in a ranking) are their own family, and
they say so. Then:

- **holds**: every statement of the claim is supported after the correction;
- **does not hold**: the data refute it as firmly as a claim must be supported;
- **not separated**: the seeds decide neither way; the evidence section says which effects the
  simultaneous intervals still rule out;
- **depends on**: the answer changes with a condition, which the verdict names (γ, the recipe,
  the dataset): the claim holds in at least one regime and is refuted in another. A claim that
  holds in some regimes and is undecided in the rest is "not separated", and one refuted in some
  and undecided in the rest "does not hold"; the verdict names the regimes either way. When a
  regime has several parts (the claim says two things), all of them must hold for it.

Every verdict reads the runs of the fair protocol (each loss at its tuned learning rate, trained
for a fixed length at which validation accuracy levels off, test accuracy read once at the epoch
the validation split chose), with two exceptions that the claim's evidence names: a claim about
the report's own runs reads the report's recipe (and, where the claim is about its ranking, the
fair protocol too, so that the verdict says whether the ranking depends on the recipe), and a
claim about where training ends (what label noise costs a run trained to the end, calibration
before and after the temperature scaling fitted at the last epoch) reads the last epoch. Every
condition a verdict reads has the same number of seeds, fixed before the runs, and every page reads
the same runs for the same condition. A claim that names its own tolerance ("near 40 %") is tested
with that tolerance, which its evidence states. The sentences on each experiment page describe each
difference by its own 95 % interval, before the correction; the verdict and its effects line apply
it.
"""


def claims_files(runs: list[StoredRun], previous: dict | None = None, family: Family | None = None) -> dict[str, str]:
    """{file name: Markdown} of every claims file, from the runs (pure: no file system); with
    ``previous`` (``changes.read_previous``), the page of verdicts before and after the frozen protocol."""
    index = RunIndex(runs)
    family = family or site_family(index)
    verdicts = evaluate_claims(index, family)
    files = {TABLE_NAME: claims_table_markdown(verdicts, len(runs), family), RULES_NAME: verdict_rules_markdown(family),
             PROTOCOL_NAME: protocol_markdown(runs)}
    if previous is not None:
        files[CHANGES_NAME] = changes_markdown(verdicts, previous)
    for page in claim_pages():
        files[verdicts_file_name(page)] = page_verdicts_markdown(verdicts, page)
        if page in PAGE_CHECKS:
            files[f"{file_prefix(page)}_matched_rates.md"] = page_matched_rates_markdown(runs, page)
    for report in REPORTS.values():
        if report.files_from_all_runs is not None:
            files.update(report.files_from_all_runs(index))
    files.update(learner_files(index, family, verdicts))
    return files


def render_claims(runs: list[StoredRun], out_dir: Path, family: Family | None = None) -> dict[str, str]:
    """Write the claims files into ``out_dir``; returns {file name: fingerprint} for the manifest.
    ``family``: the site's family of tests over ``runs``, when the caller already has it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = runs_fingerprint(runs)
    written = {}
    for name, text in claims_files(runs, read_previous(), family).items():
        (out_dir / name).write_text(text)
        written[name] = fingerprint
    return written


def stored_runs(results_dirs: list[Path]) -> list[StoredRun]:
    """Runs of several results directories; a run id in a later directory replaces an earlier one."""
    merged: dict[str, StoredRun] = {}
    for directory in results_dirs:
        runs, _ = load_runs(directory)
        merged.update(runs)
    return list(merged.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lossdemo.report.claims_pages", description=__doc__.split("\n")[0])
    parser.add_argument("--results-dir", type=Path, action="append", metavar="DIR",
                        help="results directory (repeatable; later ones win on equal run ids); default: results")
    parser.add_argument("--figures-dir", type=Path, default=Path("docs", "generated"), metavar="DIR",
                        help="where the Markdown goes (default: docs/generated)")
    args = parser.parse_args(argv)
    runs = stored_runs(args.results_dir or [Path("results")])
    written = render_claims(runs, args.figures_dir)
    update_manifest(args.figures_dir, written)
    for verdict in evaluate_claims(runs):
        print(f"{verdict.claim.claim_id}: {claim_verdict_text(verdict.verdict)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
