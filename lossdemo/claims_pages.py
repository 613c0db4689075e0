"""Write the verdicts of ``lossdemo.claims`` as the site's generated Markdown.

* ``claims_table.md`` — one row per claim: paraphrase, verdict, effect with its CI, link to the
  evidence (links are relative to ``docs/claims/``, where the table is included);
* ``<experiment>_verdicts.md`` — the same verdicts with the sentence that explains each, for the
  experiment pages;
* ``gamma_sweep_longer.md`` — 25 against 100 epochs for the report's losses, which reads runs of two
  experiments (``compare`` and ``label-noise``);
* ``gamma_sweep_ranking.md`` — the report's losses after its 25 epochs (runs shared by ``compare``,
  ``gamma-sweep`` and ``mae-anatomy``).

The verdicts read every stored run they are given, across experiments, so the table is drawn from a
whole results directory rather than from one experiment's runs:

    python -m lossdemo.claims_pages --results-dir results --figures-dir docs/generated
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import measures as m
from .claims import ClaimVerdict, evaluate_claims, level_measure, paired_measure, reference
from .measures import RunIndex
from .results import StoredRun, load_runs
from .stats import format_interval

CLAIM_PAGES = ("label-noise", "imbalance", "gamma-sweep", "mae-anatomy")
TABLE_NAME = "claims_table.md"
LONGER_NAME = "gamma_sweep_longer.md"
RANKING_NAME = "gamma_sweep_ranking.md"


def verdicts_file_name(page: str) -> str:
    return f"{page.replace('-', '_')}_verdicts.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def claims_table_markdown(verdicts: list[ClaimVerdict], run_count: int) -> str:
    """The "report, checked" table: one row per claim."""
    lines = [
        "| # | claim (paraphrased) | from | verdict | effect (95 % CI over seeds) | evidence |",
        "|---:|---|---|---|---|---|",
    ]
    for number, verdict in enumerate(verdicts, start=1):
        claim = verdict.claim
        evidence = f"[evidence]({claim.evidence})" if claim.evidence else "—"
        lines.append(f"| {number} | {_cell(claim.text)} | {claim.source} | **{_cell(verdict.verdict)}** | "
                     f"{_cell(verdict.effect)} | {evidence} |")
    lines += [
        "",
        f"Computed by `lossdemo.claims` from {run_count} stored runs. Effects are paired differences between "
        "runs with the same seed (same initial weights and batch order): mean, 95 % t-interval and n, the number "
        "of seeds. One setting is said to beat another only when that interval excludes 0; otherwise the claim "
        "that it does is marked as not holding. Rows from a paper check a published result against ours.",
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
        blocks.append(f"**{verdict.claim.text}**{source} — *{verdict.verdict}*. {verdict.detail}")
    return "\n\n".join(blocks) + "\n"


def _short_difference(interval) -> str:
    return f"{interval.mean * 100:+.1f} ({interval.low * 100:+.1f} to {interval.high * 100:+.1f})"


def longer_training_markdown(index: RunIndex, datasets: list[str]) -> str:
    """Final test accuracy after 25 and after 100 epochs of the same recipe, for the report's four losses."""
    lines = ["| dataset | loss | n | final, 25 epochs (%) | final, 100 epochs (%) | 100 − 25 epochs (points, 95 % CI) "
             "| best epoch of the 100 |",
             "|---|---|---:|---:|---:|---:|---:|"]
    rows = 0
    for dataset in datasets:
        for loss in ("mae", "ce", "focal:0.5", "focal:2"):
            short = reference("compare", dataset, loss=loss)
            long = reference("label-noise", dataset, loss=loss, label_noise=0.0)
            gain = paired_measure(index, long, short, m.final_accuracy)  # the same pairing the verdicts use
            if gain is None:
                continue
            short_level = level_measure(index, short, m.final_accuracy)
            long_level = level_measure(index, long, m.final_accuracy)
            best = level_measure(index, long, lambda run: float(m.best_epoch(run)))
            lines.append(f"| `{dataset}` | `{loss}` | {gain.n} | {format_interval(short_level)} | "
                         f"{format_interval(long_level)} | {_short_difference(gain)} | "
                         f"{format_interval(best, scale=1, digits=0)} |")
            rows += 1
    if not rows:
        return ("Not measured yet: needs the 25-epoch runs (`--experiments compare`) and the 100-epoch clean runs "
                "(`--experiments label-noise`).\n")
    lines += ["", "Same recipe (SGD, cosine schedule to zero) over 25 or 100 epochs; mean ± half-width of the 95 % "
              "t-interval over seeds, differences paired by seed."]
    return "\n".join(lines) + "\n"


def report_ranking_markdown(index: RunIndex, datasets: list[str]) -> str:
    """The report's four losses (and `l1-logits` when stored) after 25 epochs of the report's recipe."""
    from .tables import results_table  # the same table as the comparison page's

    blocks = []
    for dataset in datasets:
        by_loss = {}
        for loss in ("mae", "l1-logits", "ce", "focal:0.5", "focal:2"):
            runs = list(index.seeds_of(reference("compare", dataset, loss=loss)).values())
            if runs:
                by_loss[loss] = runs
        if len(by_loss) >= 2:
            blocks.append(f"**{dataset}**, 25 epochs of SGD:\n\n" + results_table(by_loss))
    if not blocks:
        return "Not measured yet: needs the 25-epoch runs (`python -m lossdemo.reproduce --experiments compare`).\n"
    return "\n".join(blocks)


def claims_files(runs: list[StoredRun]) -> dict[str, str]:
    """{file name: Markdown} of every claims file, from the runs (pure: no file system)."""
    index = RunIndex(runs)
    verdicts = evaluate_claims(index)
    files = {TABLE_NAME: claims_table_markdown(verdicts, len(runs))}
    for page in CLAIM_PAGES:
        files[verdicts_file_name(page)] = page_verdicts_markdown(verdicts, page)
    files[LONGER_NAME] = longer_training_markdown(index, index.datasets())
    files[RANKING_NAME] = report_ranking_markdown(index, index.datasets())
    return files


def render_claims(runs: list[StoredRun], out_dir: Path) -> dict[str, str]:
    """Write the claims files into ``out_dir``; returns {file name: fingerprint} for the manifest."""
    from .render import runs_fingerprint  # render imports the figure code; keep this module light

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
    parser = argparse.ArgumentParser(prog="python -m lossdemo.claims_pages", description=__doc__.split("\n")[0])
    parser.add_argument("--results-dir", type=Path, action="append", metavar="DIR",
                        help="results directory (repeatable; later ones win on equal run ids); default: results")
    parser.add_argument("--figures-dir", type=Path, default=Path("docs", "generated"), metavar="DIR",
                        help="where the Markdown goes (default: docs/generated)")
    args = parser.parse_args(argv)
    from .render import update_manifest

    runs = stored_runs(args.results_dir or [Path("results")])
    written = render_claims(runs, args.figures_dir)
    update_manifest(args.figures_dir, written)
    for verdict in evaluate_claims(runs):
        print(f"{verdict.claim.claim_id}: {verdict.verdict}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
