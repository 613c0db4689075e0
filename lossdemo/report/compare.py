"""The ``compare`` experiment's report: the report's own experiment, one recipe, five losses.

Per dataset: the train/test loss and accuracy curves, per-class accuracy, the results table (also
the README's headline table), and generated sentences on the ranking and what the seeds' spread
says about it; plus the comparison of a local reproduce with the published runs. Every number and
sentence comes from results files, so the text cannot drift from the data.
"""

from __future__ import annotations

from pathlib import Path

from ..data import class_names_of
from ..results import StoredRun
from ..run_config import RunStatus
from . import measures as m
from .experiment_report import ExperimentReport, RenderContext, write_per_dataset
from .figures import draw_curves_figure, draw_per_class_figure
from .inference import EQUIVALENCE_MARGIN, Comparison, holm_adjusted
from .measures import CONVERGENCE_FRACTION, group_runs
from .output import runs_fingerprint
from .stats import Interval, format_difference, format_interval, format_mean_range, format_p, mean_ci, paired_difference
from .tables import FOOTER, cell, complete_count, setup_markdown
from .verdicts import FAILS, HOLDS, NOT_SEPARATED, Finding, decide

Runs = list[StoredRun]


def final_accuracy_by_seed(runs: Runs) -> dict[int, float]:
    """Final-epoch test accuracy per seed, complete runs only (diverged runs are reported, not averaged)."""
    return m.by_seed(runs, m.final_accuracy)


def _best_accuracy(runs: Runs) -> list[float]:
    return list(m.by_seed(runs, m.best_accuracy).values())


def _convergence_epochs(runs: Runs) -> list[float]:
    return list(m.by_seed(runs, m.convergence_epoch).values())


def results_table(runs_by_loss: dict[str, Runs]) -> str:
    """One row per loss: final and best test accuracy (mean ± 95 % CI over seeds), convergence epoch.

    The convergence epoch is at least 1 and a whole number: it gets its mean and range over seeds,
    not a t-interval, which would pretend it could be lower.
    """
    lines = [
        "| loss | seeds | final test accuracy (%) | best test accuracy, oracle (%) | epochs to 95 % of final | diverged |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for loss, runs in runs_by_loss.items():
        complete = final_accuracy_by_seed(runs)
        diverged = sum(run.status == RunStatus.DIVERGED for run in runs)
        if complete:
            final = format_interval(mean_ci(list(complete.values())))
            best = format_interval(mean_ci(_best_accuracy(runs)))
            epochs = _convergence_epochs(runs)
            convergence = format_mean_range(epochs, range_digits=0)
        else:
            final = best = convergence = "—"
        lines.append(f"| `{loss}` | {len(complete)} | {final} | {best} | {convergence} | {diverged} |")
    lines.append("")
    lines.append("Accuracies: mean ± half-width of the 95 % t-interval over seeds. Epochs: mean (range) over seeds. "
                 "\"Oracle\": the best epoch chosen on the test split itself, which no real procedure can do; it "
                 "bounds what early stopping could keep. Diverged runs are counted, not averaged.")
    return "\n".join(lines) + "\n"


def calibration_table(runs_by_loss: dict[str, Runs]) -> str:
    """One row per loss: how confident the final model is on the test set, and how well that matches."""
    lines = ["| loss | seeds | test accuracy (%) | mean confidence (%) | confidence − accuracy (points) "
             "| test ECE (%) |",
             "|---|---:|---:|---:|---:|---:|"]
    for loss, runs in runs_by_loss.items():
        lines.append(f"| `{loss}` | {complete_count(runs)} | {cell(runs, m.final_accuracy)} | "
                     f"{cell(runs, m.final_mean_confidence)} | {cell(runs, m.final_overconfidence)} | "
                     f"{cell(runs, m.final_ece)} |")
    lines += ["", FOOTER + " Confidence is the probability the model gives its predicted class; ECE is the "
              "expected calibration error over 15 equal-width confidence bins (Guo et al. 2017)."]
    return "\n".join(lines) + "\n"


def ranking(runs_by_loss: dict[str, Runs]) -> list[tuple[str, Interval]]:
    """Losses with at least one complete run, best final test accuracy first."""
    scored = [(loss, mean_ci(list(final_accuracy_by_seed(runs).values())))
              for loss, runs in runs_by_loss.items() if final_accuracy_by_seed(runs)]
    return sorted(scored, key=lambda item: -item[1].mean)


def describe_difference(name_a: str, name_b: str, difference: Interval, outcome: str,
                        p_adjusted: float | None = None) -> str:
    """A sentence for ``a − b`` in accuracy points, worded by ``outcome`` (``verdicts.decide`` of the
    claim "a beats b" after the page's correction): "beats" only when that test says so."""
    points = format_difference(difference, n_label=" paired seeds")
    tested = f", Holm-adjusted p {format_p(p_adjusted)}" if p_adjusted is not None else ""
    if difference.n < 2:
        return f"`{name_a}` vs `{name_b}`: {points}; one seed cannot separate them."
    if outcome == HOLDS:
        return f"`{name_a}` beats `{name_b}`: `{name_a}` − `{name_b}` = {points}{tested}."
    if outcome == FAILS:
        return (f"`{name_a}` does not beat `{name_b}` (the other way round, or within ±{EQUIVALENCE_MARGIN * 100:g} "
                f"point): `{name_a}` − `{name_b}` = {points}{tested}.")
    return f"`{name_a}` and `{name_b}` are not separated by the seeds: {points}{tested}."


def summary_markdown(dataset: str, runs_by_loss: dict[str, Runs]) -> str:
    """Generated sentences on convergence and on what the seeds' spread says about the ranking."""
    ordered = ranking(runs_by_loss)
    if not ordered:
        return f"No complete runs on `{dataset}` yet.\n"
    lines = [f"**Ranking on `{dataset}`** by final test accuracy: "
             + " > ".join(f"`{loss}` ({format_interval(interval)} %)" for loss, interval in ordered) + "."]
    lines.append("")
    lines.append("Paired differences between neighbours in that ranking (same seed = same initial weights and batch "
                 "order), each tested as \"the higher one beats the next\" with the rules of the claims table, "
                 "Holm-corrected over the tests of this list:")
    lines.append("")
    pairs = []
    for (loss_a, _), (loss_b, _) in zip(ordered, ordered[1:]):
        seeds_a, seeds_b = final_accuracy_by_seed(runs_by_loss[loss_a]), final_accuracy_by_seed(runs_by_loss[loss_b])
        shared = sorted(set(seeds_a) & set(seeds_b))
        pairs.append((loss_a, loss_b, seeds_a, seeds_b, shared))
    comparisons = [Comparison(f"`{a}` − `{b}`", tuple(sa[s] - sb[s] for s in shared))
                   for a, b, sa, sb, shared in pairs if len(shared) >= 2]
    raw = [c.p_for for c in comparisons] + [c.p_against for c in comparisons]
    adjusted = holm_adjusted(raw)
    tested = iter(range(len(comparisons)))
    for loss_a, loss_b, seeds_a, seeds_b, shared in pairs:
        if not shared:  # e.g. a results file was skipped: nothing to pair
            lines.append(f"- `{loss_a}` vs `{loss_b}`: no seed has a complete run of both, so no paired comparison.")
            continue
        difference = paired_difference(seeds_a, seeds_b)
        if len(shared) < 2:
            lines.append(f"- {describe_difference(loss_a, loss_b, difference, NOT_SEPARATED)}")
            continue
        i = next(tested)
        count = len(comparisons)
        decision = decide(Finding((comparisons[i],), "", ""), [raw[i]], [adjusted[i]], [raw[count + i]],
                          [adjusted[count + i]])
        lines.append(f"- {describe_difference(loss_a, loss_b, difference, decision.outcome, decision.p_adjusted)}")
    # A run that ends at chance has nothing to converge to: reaching 95 % of chance says nothing.
    learning = {loss for loss, interval in ordered if interval.n >= 2 and interval.low > m.chance(runs_by_loss[loss][0])}
    convergence = {loss: mean_ci(_convergence_epochs(runs)).mean
                   for loss, runs in runs_by_loss.items() if loss in learning}
    lines.append("")
    if convergence:
        slowest = max(convergence, key=convergence.get)
        fastest = min(convergence, key=convergence.get)
        lines.append(
            f"**Convergence.** Measured as the first epoch with at least {CONVERGENCE_FRACTION:.0%} of the run's final "
            f"test accuracy, among the losses that end above chance, `{fastest}` gets there first (epoch "
            f"{convergence[fastest]:.1f} on average) and `{slowest}` last (epoch {convergence[slowest]:.1f}).")
    at_chance = [loss for loss, _ in ordered if loss not in learning]
    if at_chance:
        lines.append("")
        lines.append("**Not above chance** (the 95 % interval of the final accuracy reaches 1/C), so no convergence "
                     "epoch is read for it: " + ", ".join(f"`{loss}`" for loss in at_chance) + ".")
    diverged = {loss: sum(r.status == RunStatus.DIVERGED for r in runs) for loss, runs in runs_by_loss.items()}
    if any(diverged.values()):
        lines.append("")
        lines.append("**Diverged runs** (left out of every mean): "
                     + ", ".join(f"`{loss}` × {count}" for loss, count in diverged.items() if count) + ".")
    return "\n".join(lines) + "\n"


def compare_with_published(working: dict[str, Runs], published: dict[str, Runs]) -> list[str]:
    """Per loss: does this run's final test accuracy agree with the committed one within seed noise?

    "Agrees" means the difference of the means is within the half-width of the published 95 % interval.
    """
    lines = []
    for loss, runs in working.items():
        mine = list(final_accuracy_by_seed(runs).values())
        theirs = list(final_accuracy_by_seed(published.get(loss, [])).values())
        if not mine or not theirs:
            lines.append(f"{loss}: no published runs to compare with")
            continue
        mine_ci, theirs_ci = mean_ci(mine), mean_ci(theirs)
        gap = mine_ci.mean - theirs_ci.mean
        tolerance = max(theirs_ci.half_width, 1e-12)
        verdict = "agrees" if abs(gap) <= tolerance else "DIFFERS"
        lines.append(
            f"{loss}: {verdict} — {format_interval(mine_ci)} % here vs {format_interval(theirs_ci)} % published "
            f"(gap {gap * 100:+.2f} points, seed noise ±{theirs_ci.half_width * 100:.2f})"
        )
    return lines


def render(runs: Runs, out_dir: Path, context: RenderContext) -> dict[str, str]:
    """Figures, tables and summaries of the ``compare`` experiment, per dataset. Returns {file: fingerprint}."""

    def outputs(dataset, dataset_runs):
        by_loss = {loss: grouped for (_, loss), grouped in group_runs(dataset_runs).items()}
        return {
            ".png": lambda p: draw_curves_figure(by_loss, f"{len(by_loss)} losses on {dataset}: mean ± 95 % CI over seeds", p),
            "per_class.png": lambda p: draw_per_class_figure(
                by_loss, class_names_of(dataset), f"Final per-class test accuracy on {dataset}", p),
            "table.md": lambda p: p.write_text(results_table(by_loss)),
            "summary.md": lambda p: p.write_text(summary_markdown(dataset, by_loss)),
            "calibration.md": lambda p: p.write_text(calibration_table(by_loss)),
        }

    written = write_per_dataset("compare", runs, out_dir, outputs)
    if runs:
        (out_dir / "compare_setup.md").write_text(setup_markdown([run.config for run in runs]))
        written["compare_setup.md"] = runs_fingerprint(runs)
    return written


REPORT = ExperimentReport(render=render)
