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
from .claims import evaluate_claims
from .experiment_report import file_prefix
from .inference import ALPHA, EQUIVALENCE_MARGIN
from .measures import RunIndex
from .output import runs_fingerprint, update_manifest
from .render import REPORTS
from .stats import CONFIDENCE
from .tables import cell_text
from .verdicts import ClaimVerdict, claim_verdict_text, deciding_tests_text

TABLE_NAME = "claims_table.md"
RULES_NAME = "verdict_rules.md"


def claim_pages() -> tuple[str, ...]:
    """The experiments whose pages list verdicts: those whose report has claims."""
    return tuple(name for name, report in REPORTS.items() if report.claims)


def verdicts_file_name(page: str) -> str:
    return f"{file_prefix(page)}_verdicts.md"


def claims_table_markdown(verdicts: list[ClaimVerdict], run_count: int) -> str:
    """The "report, checked" table: one row per claim."""
    lines = [
        "| # | claim (paraphrased) | from | verdict | effect, points or % (95 % CI) | p → Holm | evidence |",
        "|---:|---|---|---|---|---|---|",
    ]
    for number, verdict in enumerate(verdicts, start=1):
        claim = verdict.claim
        evidence = f"[evidence]({claim.evidence})" if claim.evidence else "—"
        # "Not separated" is qualified by the effects it still rules out: on the evidence page, not here.
        shown = claim_verdict_text(verdict.verdict, short=True)
        lines.append(f"| {number} | {cell_text(claim.text)} | {claim.source} | **{cell_text(shown)}** | "
                     f"{cell_text(verdict.effect)} | {deciding_tests_text(verdict.decisions, '<br>')} | {evidence} |")
    lines += [
        "",
        f"Computed by `lossdemo.report.claims` from {run_count} stored runs. Effects are paired differences in "
        "percentage points between runs with the same seed (same initial weights and batch order), or levels in %: "
        "mean and 95 % t-interval over seeds; the evidence sections give the number of seeds and the details. "
        "Each claim is a set of one-sided paired t-tests; \"p → Holm\" is the test that decided the verdict, raw "
        "and after Holm's correction over every test in this table. A claim holds when its tests reject at 5 % "
        "after the correction, does not hold when the data refute it as firmly (the other sign, or a difference "
        "within ±1 point, by two one-sided tests), and is not separated otherwise, with the effects the data "
        "still rule out. Rows from a paper check a published result against ours.",
    ]
    return "\n".join(lines) + "\n"


def page_verdicts_markdown(verdicts: list[ClaimVerdict], page: str) -> str:
    """The verdicts listed on one experiment page, each with its explanation."""
    mine = [verdict for verdict in verdicts if verdict.claim.page == page]
    if not mine:
        return "No claim is checked on this page.\n"
    blocks = []
    for verdict in mine:
        source = "" if verdict.claim.source == "report" else f" ({verdict.claim.source})"
        tests = f" (p → Holm-adjusted: {deciding_tests_text(verdict.decisions, '; ')})" if verdict.decisions else ""
        blocks.append(f"**{verdict.claim.text}**{source} — *{claim_verdict_text(verdict.verdict)}*{tests}. {verdict.detail}")
    return "\n\n".join(blocks) + "\n"


def verdict_rules_markdown() -> str:
    """How a verdict is reached, with the constants the code uses (so the page cannot drift from it)."""
    alpha, margin = f"{ALPHA * 100:g} %", f"{EQUIVALENCE_MARGIN * 100:g} percentage point"
    return f"""Each claim becomes one or more statements about paired differences between runs with the same
seed, "A − B > 0" for "A beats B", with two one-sided t-tests over the seeds: one for it and one
against it. Against means the other sign, or a difference shown to lie within ±{margin} (two
one-sided tests, TOST), too small to matter. Of the two nulls at most one can be true for the same
statement, so each statement enters the family once, with the test its data point to; a statement
that two claims share enters once. Holm's step-down correction over the whole table keeps the
chance of any false verdict below {alpha}. The "p → Holm" column names the statement whose test
decided the row. Then:

- **holds**: every statement of the claim is supported after the correction;
- **does not hold**: the data refute it as firmly as a claim must be supported;
- **not separated**: the seeds decide neither way; the evidence section says which effects the
  {CONFIDENCE * 100:g} % intervals still rule out, and more seeds would narrow them;
- **depends on**: the answer changes with a condition, which the verdict names (γ, the recipe,
  the dataset): the claim holds in at least one regime and is refuted in another. A claim that
  holds in some regimes and is undecided in the rest is "not separated", and one refuted in some
  and undecided in the rest "does not hold"; the verdict names the regimes either way. When a
  regime has several parts (the claim says two things), all of them must hold for it.

Every verdict reads the runs of the fair protocol (each loss at its tuned learning rate, trained
for a fixed length at which validation accuracy levels off, test accuracy read once at the epoch
the validation split chose), with two exceptions that the claim's evidence names: a claim about
the report's own recipe reads that recipe's runs, and a claim about where training ends (what
label noise costs a run trained to the end, calibration before and after the temperature scaling
fitted at the last epoch) reads the last epoch. A verdict reads every stored run of its
condition, whichever experiment trained it, so its n can exceed the seeds of one experiment's
table: the label-noise experiment trains the comparison's clean fair-protocol runs with twice the
seeds, for instance. A
claim that names its own tolerance ("near 40 %") is tested with that tolerance, which its evidence
states.

A claim that something does *not* happen ("focal loss alone does not beat CE", "the losses have
converged") is held to the same standard: it holds only when the data show the difference stays
within the margin, not when they merely fail to show one. The sentences on each experiment page
describe each difference by its own {CONFIDENCE * 100:g} % interval, before the correction; the
verdict is what applies it. Showing a difference to be within the margin takes a small
seed-to-seed spread; more seeds narrow the intervals in both directions.
"""


def claims_files(runs: list[StoredRun]) -> dict[str, str]:
    """{file name: Markdown} of every claims file, from the runs (pure: no file system)."""
    index = RunIndex(runs)
    verdicts = evaluate_claims(index)
    files = {TABLE_NAME: claims_table_markdown(verdicts, len(runs)), RULES_NAME: verdict_rules_markdown()}
    for page in claim_pages():
        files[verdicts_file_name(page)] = page_verdicts_markdown(verdicts, page)
    for report in REPORTS.values():
        if report.files_from_all_runs is not None:
            files.update(report.files_from_all_runs(index))
    return files


def render_claims(runs: list[StoredRun], out_dir: Path) -> dict[str, str]:
    """Write the claims files into ``out_dir``; returns {file name: fingerprint} for the manifest."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = runs_fingerprint(runs)
    written = {}
    for name, text in claims_files(runs).items():
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
