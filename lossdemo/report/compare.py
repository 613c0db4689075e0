"""The ``compare`` experiment's report: the report's own experiment, one recipe, five losses.

Per dataset: the train/test loss and accuracy curves, per-class accuracy, the results table (also
the README's headline table), and generated sentences on the ranking and what the seeds' spread
says about it (``agreement`` compares a local reproduce with the published runs). Every number and
sentence comes from results files, so the text cannot drift from the data.
"""

from __future__ import annotations

import math
from pathlib import Path

from ..data import class_names_of
from ..losses import loss_title
from ..metrics import TEMPERATURE_RANGE
from ..protocol import FAIR, SHARED_RECIPE, SHORT_BUDGET
from ..results import StoredRun
from ..run_config import RunStatus
from . import captions
from . import measures as m
from .captions import join_names, with_captions
from .experiment_report import ExperimentReport, RenderContext, write_per_dataset
from .family import Family
from .figures import draw_curves_figure, draw_per_class_figure, epoch_axis_is_log, per_class_matrix
from .inference import EQUIVALENCE_MARGIN, Comparison
from .measures import group_runs
from .output import runs_fingerprint
from .stats import (
    Interval,
    format_difference,
    format_interval,
    format_mean_range,
    format_p,
    mean_ci,
    paired_difference,
)
from .tables import FOOTER, cell, complete_count, setup_markdown
from .verdicts import FAILS, HOLDS, NOT_SEPARATED, Finding, decide

Runs = list[StoredRun]
# A loss must end this far above chance (1/C) before "how fast did it converge" means anything: a run
# that barely leaves chance reaches 95 % of its final accuracy at once.
ABOVE_CHANCE_MARGIN = 0.05


def final_accuracy_by_seed(runs: Runs) -> dict[int, float]:
    """Final-epoch test accuracy per seed, complete runs only (diverged runs are reported, not averaged)."""
    return m.by_seed(runs, m.final_accuracy)


def accuracy_by_seed(runs: Runs) -> dict[int, float]:
    """Test accuracy per seed at the epoch each run is judged at (``measures.selected_epoch``: the best
    validation epoch under the fair protocol, the last one under the shared recipe)."""
    return m.by_seed(runs, m.selected_accuracy)


def _convergence_epochs(runs: Runs) -> list[float]:
    return list(m.by_seed(runs, m.convergence_epoch).values())


# The common level a convergence sentence times every learning loss to: this share of the lowest final
# mean test accuracy among them.
COMMON_LEVEL_SHARE = 0.95


def _final_mean(runs: Runs) -> float:
    return mean_ci(list(m.by_seed(runs, m.final_accuracy).values())).mean


def _epochs_to_level(runs: Runs, level: float) -> float | None:
    """Mean over complete runs of the first epoch whose test accuracy reaches ``level`` (None if a run never does)."""
    epochs = []
    for run in m.complete(runs):
        reached = next((epoch for epoch, value in enumerate(run.history["test_accuracy"], start=1) if value >= level), None)
        if reached is None:
            return None
        epochs.append(reached)
    return math.fsum(epochs) / len(epochs) if epochs else None


def _rates(runs: Runs) -> str:
    return ", ".join(f"{rate:g}" for rate in sorted({run.config.lr for run in runs}))


def results_table(runs_by_loss: dict[str, Runs], short_budget: bool = False) -> str:
    """One row per loss. Fair-protocol runs: test accuracy at the epoch validation chose, that epoch,
    and the last epoch's accuracy; shared-recipe runs: the last epoch, the test-chosen best (labelled
    oracle) and the convergence epoch.

    Epochs are whole numbers of at least 1: they get mean and range over seeds, not a t-interval,
    which would pretend they could be lower.
    """
    fair = all(m.has_validation(run) for runs in runs_by_loss.values() for run in runs)
    if fair:
        lines = ["| loss | learning rate | seeds | test acc. at the chosen epoch (%) | chosen epoch (on validation) "
                 "| validation acc. there (%) | test acc. at the last epoch (%) | diverged |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
    else:
        lines = ["| loss | learning rate | seeds | final test accuracy (%) | best test accuracy, oracle (%) "
                 "| epochs to 95 % of final | diverged |",
                 "|---|---:|---:|---:|---:|---:|---:|"]
    for loss, runs in runs_by_loss.items():
        complete = m.counted(runs)  # the runs every number of the site reads for this condition
        diverged = sum(run.status == RunStatus.DIVERGED for run in runs)
        if not complete:
            lines.append(f"| `{loss}` | {_rates(runs)} | 0 | " + " | ".join(["—"] * (5 if fair else 4)) + f" | {diverged} |")
            continue
        if fair:
            epochs = format_mean_range([m.selected_epoch(run) for run in complete], range_digits=0)
            lines.append(f"| `{loss}` | {_rates(runs)} | {len(complete)} | {cell(runs, m.selected_accuracy)} | {epochs} "
                         f"of {complete[0].config.epochs} | {cell(runs, m.selected_validation_accuracy)} | "
                         f"{cell(runs, m.final_accuracy)} | {diverged} |")
        else:
            convergence = format_mean_range(_convergence_epochs(complete), range_digits=0)
            lines.append(f"| `{loss}` | {_rates(runs)} | {len(complete)} | {cell(runs, m.final_accuracy)} | "
                         f"{cell(runs, m.best_accuracy)} | {convergence} | {diverged} |")
    lines.append("")
    if fair and short_budget:
        lines.append("Short budget: each loss at the learning rate the tune experiment picked for its full-length "
                     "run (the shared rate 0.05 where it picked none), trained for a fifth of the fair protocol's "
                     "common length (the same epochs for every loss) with the cosine schedule shortened to match, "
                     "and read at the epoch with its best validation accuracy. Accuracies: mean ± half-width of the "
                     "95 % t-interval over seeds; epochs: mean (range). Diverged runs are counted, not averaged.")
    elif fair:
        lines.append("Fair protocol: each loss at the learning rate the tune experiment picked for it on validation "
                     "accuracy (the shared rate 0.05 where it picked none), a fifth of each class held out of training "
                     "as the validation split, and each run read "
                     "at the epoch with its best validation accuracy: the test split is read once, there. Accuracies: "
                     "mean ± half-width of the 95 % t-interval over seeds; epochs: mean (range). A chosen epoch well "
                     "before the last means validation accuracy had stopped improving. Diverged runs are counted, not "
                     "averaged.")
    else:
        lines.append("Shared recipe (the report's): one learning rate for every loss, 25 epochs, no validation "
                     "split, read at the last epoch. Accuracies: mean ± half-width of the 95 % t-interval over seeds; "
                     "epochs: mean (range). \"Oracle\": the best epoch chosen on the test split itself, which no real "
                     "procedure can do; it bounds what early stopping could keep. Diverged runs are counted, not "
                     "averaged.")
    return "\n".join(lines) + "\n"


def changes_markdown(fair_by_loss: dict[str, Runs], shared_by_loss: dict[str, Runs]) -> str:
    """What changes between the report's shared recipe and the fair protocol, per loss and in the ranking."""
    lines = ["| loss | shared recipe: lr, final test acc. (%) | fair protocol: lr, test acc. at the chosen epoch (%) "
             "| fair − shared (points, 95 % CI) |",
             "|---|---:|---:|---:|"]
    for loss in fair_by_loss:
        if loss not in shared_by_loss:
            continue
        fair_seeds, shared_seeds = accuracy_by_seed(fair_by_loss[loss]), accuracy_by_seed(shared_by_loss[loss])
        shared_seeds_ok = sorted(set(fair_seeds) & set(shared_seeds))
        change = (format_difference(paired_difference(fair_seeds, shared_seeds), short=True)
                  if len(shared_seeds_ok) >= 2 else "—")
        lines.append(f"| `{loss}` | {_rates(shared_by_loss[loss])}: {cell(shared_by_loss[loss], m.selected_accuracy)} | "
                     f"{_rates(fair_by_loss[loss])}: {cell(fair_by_loss[loss], m.selected_accuracy)} | {change} |")
    lines.append("")
    before = [loss for loss, _ in ranking(shared_by_loss)]
    after = [loss for loss, _ in ranking(fair_by_loss)]
    order = lambda losses: " > ".join(f"`{loss}`" for loss in losses)  # noqa: E731
    lines.append(f"Ranking by mean accuracy (fair protocol: on validation), shared recipe: {order(before)}; "
                 f"fair protocol: {order(after)}"
                 + (" (the same order)." if before == after else " (the order changes)."))
    lines.append("")
    lines.append("Paired by seed (the two recipes share seeds, not batches: the fair runs train on four fifths of "
                 "the training split). The rankings are by means; which neighbours the seeds actually separate is "
                 "in the summary below each table.")
    return "\n".join(lines) + "\n"


def calibration_table(runs_by_loss: dict[str, Runs]) -> str:
    """One row per loss: how confident the final model is on the test set, how well that matches, and
    (fair protocol) what temperature scaling fitted on validation does to it."""
    scaled = all(m.has_validation(run) for runs in runs_by_loss.values() for run in runs)
    head = ("| loss | seeds | test accuracy (%) | mean confidence (%) | confidence − accuracy (points) | test ECE (%) "
            "| test NLL (nats) |")
    rule = "|---|---:|---:|---:|---:|---:|---:|"
    if scaled:
        head += " fitted temperature | ECE after scaling (%) | NLL after scaling (nats) |"
        rule += "---:|---:|---:|"
    lines = [head, rule]
    for loss, runs in runs_by_loss.items():
        row = (f"| `{loss}` | {complete_count(runs)} | {cell(runs, m.final_accuracy)} | "
               f"{cell(runs, m.final_mean_confidence)} | {cell(runs, m.final_overconfidence)} | "
               f"{cell(runs, m.final_ece)} | {cell(runs, m.final_nll, scale=1, digits=3)} |")
        if scaled:
            row += (f" {cell(runs, m.fitted_temperature, scale=1, digits=2)} | {cell(runs, m.final_ece_scaled)} | "
                    f"{cell(runs, m.final_nll_scaled, scale=1, digits=3)} |")
        lines.append(row)
    lines += ["", FOOTER + " All at the last epoch. Confidence is the probability the model gives its predicted class; "
              "ECE is the expected calibration error over 15 equal-width confidence bins (Guo et al. 2017); NLL is the "
              "mean negative log-probability of the true class."
              + (" Temperature scaling divides the logits by one number fitted to minimise NLL on the validation "
                 "split (Guo et al. 2017): a temperature above 1 means the model was over-confident, below 1 "
                 "under-confident; it never changes which class is predicted. The fit keeps it between "
                 f"{TEMPERATURE_RANGE[0]:g} and {TEMPERATURE_RANGE[1]:g}; a run whose logits barely differ between "
                 "classes (one at chance) can show 0.00, a temperature below 0.005 that sharpens them." if scaled else "")]
    return "\n".join(lines) + "\n"


def ranking(runs_by_loss: dict[str, Runs]) -> list[tuple[str, Interval]]:
    """Losses with at least one complete run and their test accuracy (at the judged epoch), ordered by
    mean validation accuracy where the runs have a validation split (the test split never orders
    them), else by the test accuracy itself (the shared recipe has nothing else)."""
    def order(loss: str) -> float:
        validation = list(m.by_seed(runs_by_loss[loss], m.selected_validation_accuracy).values())
        return mean_ci(validation).mean if validation and validation[0] == validation[0] else scored[loss].mean

    scored = {loss: mean_ci(list(accuracy_by_seed(runs).values()))
              for loss, runs in runs_by_loss.items() if accuracy_by_seed(runs)}
    return sorted(scored.items(), key=lambda item: -order(item[0]))


def describe_difference(name_a: str, name_b: str, difference: Interval, outcome: str, two_sided: bool,
                        p_adjusted: float | None = None, margin: float = EQUIVALENCE_MARGIN) -> str:
    """A sentence for ``a − b`` in accuracy points, worded by ``outcome`` (``verdicts.decide`` after the
    correction). One-sided (the order fixed on validation): "a beats b" by more than the margin, or not.
    Two-sided (the order read off the test split itself): "a and b differ" by more than the margin, or are
    practically equal."""
    points = format_difference(difference, n_label=" paired seeds")
    tested = f", adjusted p {format_p(p_adjusted)}" if p_adjusted is not None else ""
    if difference.n < 2:
        return f"`{name_a}` vs `{name_b}`: {points}; one seed cannot separate them."
    if two_sided:
        if outcome == HOLDS:  # the claim tested is "equal within the margin"
            return f"`{name_a}` and `{name_b}` are practically equal (within ±{margin * 100:g} point): {points}{tested}."
        if outcome == FAILS:
            return f"`{name_a}` and `{name_b}` differ by more than {margin * 100:g} point: {points}{tested}."
        return f"`{name_a}` and `{name_b}` are not separated by the seeds: {points}{tested}."
    if outcome == HOLDS:
        return f"`{name_a}` beats `{name_b}` by more than {margin * 100:g} point: {points}{tested}."
    if outcome == FAILS:
        return (f"`{name_a}` does not beat `{name_b}` by {margin * 100:g} point (behind, or level within it): "
                f"{points}{tested}.")
    return f"`{name_a}` and `{name_b}` are not separated by the seeds: {points}{tested}."


def summary_markdown(dataset: str, runs_by_loss: dict[str, Runs], family: Family | None = None) -> str:
    """Generated sentences on convergence and on what the seeds' spread says about the ranking.

    Where the ranking comes from the validation split, neighbours are tested one-sided ("the higher one
    beats the next"); where it comes from the test split itself (no validation split), the direction was
    not fixed in advance, and the test is two-sided (do they differ by more than the margin). The
    comparisons form this list's own Holm family, except those the site's family already holds
    (``family``), which show that family's p-value.
    """
    ordered = ranking(runs_by_loss)
    if not ordered:
        return f"No complete runs on `{dataset}` yet.\n"
    fair = all(m.has_validation(run) for runs in runs_by_loss.values() for run in runs)
    where = ("by validation accuracy (test accuracy at the epoch validation chose in brackets)" if fair
             else "by test accuracy at the last epoch (no validation split to rank on)")
    lines = [f"**Ranking on `{dataset}`** {where}: "
             + " > ".join(f"`{loss}` ({format_interval(interval)} %)" for loss, interval in ordered) + "."]
    lines.append("")
    test_words = ("one-sided, \"the higher one beats the next by more than the margin\", the order being fixed on "
                  "validation" if fair else "two-sided, \"the two differ by more than the margin\", since the order "
                  "was read off the test split itself")
    lines.append("Paired differences between neighbours in that ranking (same seed = same initial weights and batch "
                 f"order), each tested {test_words}, with the rules of the claims table; this list is its own Holm "
                 "family (a comparison that a verdict of the claims table also makes shows that table's p-value). The "
                 "interval shown is the plain 95 % interval over seeds, so it and the corrected test can disagree near "
                 "the edge:")
    lines.append("")
    pairs = []
    for (loss_a, _), (loss_b, _) in zip(ordered, ordered[1:]):
        seeds_a, seeds_b = accuracy_by_seed(runs_by_loss[loss_a]), accuracy_by_seed(runs_by_loss[loss_b])
        shared = sorted(set(seeds_a) & set(seeds_b))
        pairs.append((loss_a, loss_b, seeds_a, seeds_b, shared))
    kind = "sign" if fair else "no-effect"
    comparisons = [Comparison(f"`{a}` − `{b}`", tuple(sa[s] - sb[s] for s in shared), kind=kind)
                   for a, b, sa, sb, shared in pairs if len(shared) >= 2]
    own = [c for c in comparisons if family is None or c not in family]
    local = Family.of(own) if own else None
    tested = iter(comparisons)
    for loss_a, loss_b, seeds_a, seeds_b, shared in pairs:
        if not shared:  # e.g. a results file was skipped: nothing to pair
            lines.append(f"- `{loss_a}` vs `{loss_b}`: no seed has a complete run of both, so no paired comparison.")
            continue
        difference = paired_difference(seeds_a, seeds_b)
        if len(shared) < 2:
            lines.append(f"- {describe_difference(loss_a, loss_b, difference, NOT_SEPARATED, not fair)}")
            continue
        comparison = next(tested)
        adjusted_for, adjusted_against = (family if family is not None and comparison in family else local).p_values(comparison)
        decision = decide(Finding((comparison,), "", ""), [comparison.p_for], [adjusted_for], [comparison.p_against],
                          [adjusted_against])
        words = describe_difference(loss_a, loss_b, difference, decision.verdict.outcome, not fair, decision.p_adjusted,
                                    comparison.margin)
        lines.append(f"- {words}")
    # A run that ends at chance has nothing to converge to. The others are timed to one common level,
    # so that a loss that plateaus low does not "get there first" by reaching its own low plateau.
    learning = {loss: interval for loss, interval in ordered
                if interval.n >= 2 and interval.low > m.chance(runs_by_loss[loss][0]) + ABOVE_CHANCE_MARGIN}
    lines.append("")
    if len(learning) >= 2:
        target = COMMON_LEVEL_SHARE * min(_final_mean(runs_by_loss[loss]) for loss in learning)
        reached = {loss: _epochs_to_level(runs_by_loss[loss], target) for loss in learning}
        reached = {loss: value for loss, value in reached.items() if value is not None}
        if reached:
            fastest, slowest = min(reached, key=reached.get), max(reached, key=reached.get)
            lines.append(
                f"**Convergence.** Timed to one common level, {target * 100:.1f} % test accuracy "
                f"({COMMON_LEVEL_SHARE:.0%} of the lowest final mean among the losses that learn, so every one of them "
                f"reaches it), `{fastest}` gets there first (epoch {reached[fastest]:.1f} on average over seeds) and "
                f"`{slowest}` last (epoch {reached[slowest]:.1f}).")
    at_chance = [loss for loss, _ in ordered if loss not in learning]
    if at_chance:
        lines.append("")
        lines.append(f"**Not clearly above chance** (the 95 % interval of the accuracy reaches below 1/C + "
                     f"{ABOVE_CHANCE_MARGIN * 100:g} points), so no convergence epoch is read for it: "
                     + ", ".join(f"`{loss}`" for loss in at_chance) + ".")
    diverged = {loss: sum(r.status == RunStatus.DIVERGED for r in runs) for loss, runs in runs_by_loss.items()}
    if any(diverged.values()):
        lines.append("")
        lines.append("**Diverged runs** (left out of every mean): "
                     + ", ".join(f"`{loss}` × {count}" for loss, count in diverged.items() if count) + ".")
    return "\n".join(lines) + "\n"


def _chosen_epochs(runs: Runs) -> str:
    """The mean epoch the counted runs are judged at, as the results table prints it."""
    epochs = [m.selected_epoch(run) for run in m.counted(runs)]
    return f"{math.fsum(epochs) / len(epochs):.1f}"


def curves_caption(runs_by_loss: dict[str, Runs]) -> str:
    """The curves figure's takeaway: the first and last loss of the summary's ranking with the results
    table's cells and, where some losses train longer (the reason the epoch axis is logarithmic), where
    those losses peak and what they reach."""
    ordered = ranking(runs_by_loss)
    if not ordered:
        return f"No complete runs yet: 0 of {len(runs_by_loss)} losses to draw."
    fair = all(m.has_validation(run) for runs in runs_by_loss.values() for run in runs)
    top, bottom = ordered[0][0], ordered[-1][0]
    chance = m.chance(runs_by_loss[bottom][0])
    length = {loss: max(run.config.epochs for run in runs) for loss, runs in runs_by_loss.items() if runs}
    if fair:
        text = (f"Ranked on validation accuracy, {loss_title(top)} comes first, with "
                f"{cell(runs_by_loss[top], m.selected_accuracy)} % test accuracy at the epoch validation chose, epoch "
                f"{_chosen_epochs(runs_by_loss[top])} of {length[top]} on average; {loss_title(bottom)} comes last, with "
                f"{cell(runs_by_loss[bottom], m.selected_accuracy)} % (chance {chance * 100:.0f} %).")
    else:
        text = (f"{loss_title(top)} ends highest, with {cell(runs_by_loss[top], m.selected_accuracy)} % test accuracy "
                f"at the last epoch, and {loss_title(bottom)} lowest, with "
                f"{cell(runs_by_loss[bottom], m.selected_accuracy)} % (chance {chance * 100:.0f} %).")
    if epoch_axis_is_log(length.values()):
        longest = max(length.values())
        slow = [loss for loss, epochs in length.items() if epochs == longest]
        others = sorted({epochs for epochs in length.values() if epochs != longest})
        text += (f" The epoch axis is logarithmic because {join_names([loss_title(loss) for loss in slow])} "
                 f"{'trains' if len(slow) == 1 else 'train'} for {longest} epochs and the others for "
                 f"{join_names([str(epochs) for epochs in others])}: "
                 + "; ".join(f"{loss_title(loss)} peaks on validation at epoch {_chosen_epochs(runs_by_loss[loss])} on average, "
                             f"at {cell(runs_by_loss[loss], m.selected_accuracy)} % test accuracy" for loss in slow) + ".")
    return text


def per_class_caption(runs_by_loss: dict[str, Runs], dataset: str) -> str:
    """The per-class heatmap's takeaway (``captions.per_class_caption``) from the cells it prints."""
    return captions.per_class_caption(per_class_matrix(runs_by_loss), class_names_of(dataset), m.ABANDONED_BELOW)


# A loss whose best validation epoch falls, on average over the seeds, in the last LATE_SHARE of its
# run was still improving when the run stopped: for it the fixed length is a budget, not convergence.
LATE_SHARE = 0.2


def late_validation_gain(run: StoredRun) -> float:
    """Validation accuracy at the last epoch minus at the start of the run's last fifth (NaN without
    a validation split): how much the run was still learning when it stopped."""
    history = run.history.get("val_accuracy")
    if not history or run.record["status"] != "complete":
        return float("nan")
    start = max(1, round(len(history) * (1 - LATE_SHARE)))
    return history[-1] - history[start - 1]


def convergence_table(runs_by_loss: dict[str, Runs]) -> str:
    """Did the fixed length suffice? Per loss: the epoch validation chose and the validation accuracy
    gained over the last fifth; a sentence names the losses whose chosen epoch is late."""
    lines = ["| loss | epochs | epoch chosen on validation | validation acc. there (%) | "
             f"validation gain over the last {LATE_SHARE:.0%} of epochs (points) |",
             "|---|---:|---:|---:|---:|"]
    late, some_late = [], []
    for loss, runs in runs_by_loss.items():
        complete = m.complete(runs)
        gains = [value * 100 for value in (late_validation_gain(run) for run in complete) if value == value]
        if not gains:
            continue
        chosen = [m.selected_epoch(run) for run in complete]
        accuracy = [m.selected_validation_accuracy(run) * 100 for run in complete]
        epochs = [run.config.epochs for run in complete]
        lines.append(f"| `{loss}` | {', '.join(map(str, sorted(set(epochs))))} | {format_mean_range(chosen, 0)} | "
                     f"{format_mean_range(accuracy)} | {format_mean_range(gains)} |")
        if math.fsum(chosen) / len(chosen) > (1 - LATE_SHARE) * math.fsum(epochs) / len(epochs):
            late.append(f"`{loss}`")
        elif any(epoch > (1 - LATE_SHARE) * length for epoch, length in zip(chosen, epochs)):
            some_late.append(f"`{loss}`")
    verdict = (f"Best validation epoch in the last fifth of the run, on average: {', '.join(late)}; for "
               f"{'it' if len(late) == 1 else 'them'} the fixed length is a budget rather than convergence, and a "
               "longer run might rank it differently." if late else
               "Every loss reaches its best validation epoch before the last fifth of its run, on average over seeds.")
    if some_late:
        verdict += (f" Some seeds of {', '.join(some_late)} peak later (the range): for those seeds the length may be "
                    "a budget rather than convergence (a run stuck near chance peaks wherever its noise is highest).")
    lines += ["", "Mean (range) over seeds, complete runs. " + verdict + " The learning rate decays to zero by the "
              "last epoch (cosine schedule), so a small gain in the last column shows the schedule ending as much as "
              "the loss levelling off."]
    return "\n".join(lines) + "\n"


def render(runs: Runs, out_dir: Path, context: RenderContext) -> dict[str, str]:
    """Figures, tables and summaries of the ``compare`` experiment, per dataset and recipe: the fair
    protocol's files are ``compare_<dataset>*``, the shared recipe's ``compare_<dataset>_shared*``, and
    ``compare_<dataset>_changes.md`` sets the two side by side. Returns {file: fingerprint}."""

    def outputs(dataset, dataset_runs):
        by_recipe = group_runs(dataset_runs, key=m.recipe_labels(dataset_runs))
        files = {}
        for recipe, prefix, words in ((FAIR.name, "", "fair protocol"), (SHORT_BUDGET.name, "short_", "short budget"),
                                      (SHARED_RECIPE.name, "shared_", "shared recipe")):
            if recipe not in by_recipe:
                continue
            by_loss = {loss: grouped for (_, loss), grouped in group_runs(by_recipe[recipe]).items()}
            curves = f"{prefix.rstrip('_')}.png" if prefix else ".png"
            files |= with_captions({
                curves: lambda p, b=by_loss, w=words: draw_curves_figure(
                    b, f"{len(b)} losses on {dataset}, {w}: mean ± 95 % CI over seeds", p),
                f"{prefix}per_class.png": lambda p, b=by_loss, w=words: draw_per_class_figure(
                    b, class_names_of(dataset), f"Per-class test accuracy on {dataset}, {w}", p),
            }, {curves: lambda b=by_loss: curves_caption(b),
                f"{prefix}per_class.png": lambda b=by_loss: per_class_caption(b, dataset)}) | {
                f"{prefix}table.md": lambda p, b=by_loss, r=recipe: p.write_text(results_table(b, r == SHORT_BUDGET.name)),
                f"{prefix}summary.md": lambda p, b=by_loss: p.write_text(summary_markdown(dataset, b, context.family)),
                f"{prefix}calibration.md": lambda p, b=by_loss: p.write_text(calibration_table(b)),
            }
        if FAIR.name in by_recipe and SHARED_RECIPE.name in by_recipe:
            fair_by_loss = {loss: g for (_, loss), g in group_runs(by_recipe[FAIR.name]).items()}
            shared_by_loss = {loss: g for (_, loss), g in group_runs(by_recipe[SHARED_RECIPE.name]).items()}
            files["changes.md"] = lambda p: p.write_text(changes_markdown(fair_by_loss, shared_by_loss))
        if FAIR.name in by_recipe:
            fair_runs = {loss: g for (_, loss), g in group_runs(by_recipe[FAIR.name]).items()}
            files["convergence.md"] = lambda p: p.write_text(convergence_table(fair_runs))
        return files

    written = write_per_dataset("compare", runs, out_dir, outputs)
    if runs:
        (out_dir / "compare_setup.md").write_text(setup_markdown([run.config for run in runs]))
        written["compare_setup.md"] = runs_fingerprint(runs)
    return written


REPORT = ExperimentReport(render=render)
