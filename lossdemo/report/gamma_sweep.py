"""The ``gamma-sweep`` experiment's report: how much do accuracy and calibration depend on focal loss's γ?

Figures (accuracy and ECE against γ; reliability diagrams), the table, the report's ranking after
its 25 epochs and the same losses after 100, and the verdicts of the report's claims about the
ranking, convergence and γ, and of Mukhoti et al. 2020's calibration claim.
The grid is ``EXPERIMENTS["gamma-sweep"]``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..experiments import EXPERIMENTS, spec_gamma
from ..metrics import expected_calibration_error, merge_histograms
from ..results import StoredRun
from . import measures as m
from .compare import results_table
from .experiment_report import ExperimentReport, RenderContext, write_per_dataset, write_setup
from .figures import point
from .inference import Comparison
from .measures import RunIndex, group_runs
from .output import save_figure
from .stats import format_difference, format_interval, format_level
from .style import ACCURACY_BAR_COLOUR, GAP_COLOUR, NEUTRAL_COLOUR, SERIES_COLOUR, new_figure
from .tables import FOOTER, cell, complete_count
from .verdicts import Claim, Finding, beats, level_measure, paired_measure, paired_values, reference, sign

Runs = list[StoredRun]
LONGER_NAME = "gamma_sweep_longer.md"
RANKING_NAME = "gamma_sweep_ranking.md"


def draw_gamma_sweep(runs_by_gamma: dict[float, Runs], title: str, path: Path) -> Path:
    """Final test accuracy (left) and final test ECE (right) against γ; γ = 0 is cross-entropy."""
    gammas = sorted(runs_by_gamma)
    positions = np.arange(len(gammas))
    figure, (left, right) = new_figure(3.8, columns=2)
    for axis, measure, label in ((left, m.final_accuracy, "final test accuracy (%)"),
                                 (right, m.final_ece, "final test ECE, 15 bins (%)")):
        points = [point(runs_by_gamma[gamma], measure) for gamma in gammas]
        axis.errorbar(positions, [p[0] * 100 for p in points], yerr=[p[1] * 100 for p in points], marker="o",
                      capsize=3, color=SERIES_COLOUR)
        axis.set_xticks(positions, [f"{gamma:g}" for gamma in gammas])
        axis.set_xlabel("focal loss γ (0 = cross-entropy)")
        axis.set_ylabel(label)
    left.set_title("accuracy")
    right.set_title("calibration (lower is better)")
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def draw_reliability(runs_by_gamma: dict[float, Runs], title: str, path: Path) -> Path:
    """One reliability diagram per γ, bins pooled over seeds: bar = accuracy, hatched = gap to confidence.

    The ECE printed in each panel is that of the pooled bins, which is lower than the mean of the
    seeds' ECEs (errors of opposite sign in different seeds cancel when pooled).
    """
    gammas = sorted(runs_by_gamma)
    columns = 4
    rows = -(-len(gammas) // columns)
    figure, axes = new_figure(2.1 * rows + 0.9, rows=rows, columns=columns, sharex=True, sharey=True, squeeze=False)
    spare = list(axes.flat[len(gammas):])  # empty slots of the last row: the legend goes in the first
    for axis in spare:
        axis.axis("off")
    for axis, gamma in zip(axes.flat, gammas):
        histograms = [h for h in (m.final_reliability(run) for run in m.complete(runs_by_gamma[gamma])) if h]
        axis.plot([0, 1], [0, 1], color=NEUTRAL_COLOUR, linestyle=":", linewidth=1)
        axis.set_title(f"γ = {gamma:g}" + (" (CE)" if gamma == 0 else ""))
        if not histograms:
            axis.text(0.5, 0.5, "not recorded", ha="center", va="center")
            continue
        pooled = merge_histograms(histograms)
        bins = len(pooled.count)
        centres = (np.arange(bins) + 0.5) / bins
        filled = np.array(pooled.count) > 0
        accuracy, confidence = np.array(pooled.accuracy), np.array(pooled.confidence)
        axis.bar(centres[filled], accuracy[filled], width=1 / bins, color=ACCURACY_BAR_COLOUR, edgecolor="white",
                 label="accuracy")
        # The gap between accuracy and mean confidence, hatched (Guo et al. 2017's style): above the bar
        # when over-confident, inside it when under-confident.
        axis.bar(centres[filled], np.abs(confidence - accuracy)[filled], bottom=np.minimum(confidence, accuracy)[filled],
                 width=1 / bins, facecolor="none", edgecolor=GAP_COLOUR, hatch="////", linewidth=0.8,
                 label="gap to the bin's mean confidence")
        axis.text(0.04, 0.92, f"ECE {expected_calibration_error(pooled) * 100:.1f} %", fontsize="small",
                  transform=axis.transAxes)
    for column in range(columns):  # the lowest drawn panel of each column carries the x axis
        lowest = max(row for row in range(rows) if row * columns + column < len(gammas))
        axes[lowest, column].set_xlabel("confidence")
        axes[lowest, column].xaxis.set_tick_params(labelbottom=True)
    for axis in axes[:, 0]:
        axis.set_ylabel("accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        if spare:
            spare[0].legend(handles, ["accuracy", "gap to the mean confidence"], loc="center")
        else:
            figure.legend(handles, labels, loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.03))
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def gamma_sweep_table(runs_by_gamma: dict[float, Runs]) -> str:
    lines = ["| γ | loss | n | final test acc. (%) | best test acc., oracle (%) | final test ECE (%) "
             "| confidence − accuracy (points) | training acc. (%) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for gamma in sorted(runs_by_gamma):
        group = runs_by_gamma[gamma]
        lines.append(f"| {gamma:g} | `{group[0].config.loss}` | {complete_count(group)} | {cell(group, m.final_accuracy)} | "
                     f"{cell(group, m.best_accuracy)} | {cell(group, m.final_ece)} | "
                     f"{cell(group, m.final_overconfidence)} | {cell(group, m.final_train_accuracy)} |")
    lines += ["", FOOTER + " ECE: expected calibration error over 15 equal-width confidence bins (Guo et al. 2017); "
              "confidence − accuracy > 0 means over-confident."]
    return "\n".join(lines) + "\n"


def render(runs: Runs, out_dir: Path, context: RenderContext) -> dict[str, str]:
    """Accuracy and ECE against γ, reliability diagrams and the table, per dataset."""

    def outputs(dataset, dataset_runs):
        by_gamma = group_runs(dataset_runs, key=lambda r: spec_gamma(r.config.loss))
        return {
            "accuracy_ece.png": lambda p: draw_gamma_sweep(
                by_gamma, f"Focal loss γ on {dataset}: accuracy and calibration after 25 epochs", p),
            "reliability.png": lambda p: draw_reliability(
                by_gamma, f"Reliability diagrams on {dataset}'s test set, seeds pooled", p),
            "table.md": lambda p: p.write_text(gamma_sweep_table(by_gamma)),
        }

    return write_per_dataset("gamma-sweep", runs, out_dir, outputs) | write_setup("gamma-sweep", runs, out_dir)


def _focal_half_best(index: RunIndex, dataset: str) -> Finding | None:
    best = reference("compare", dataset, loss="focal:0.5")
    others = ("ce", "focal:2", "mae")
    differences = {loss: paired_measure(index, best, reference("compare", dataset, loss=loss), m.final_accuracy)
                   for loss in others}
    if any(d is None for d in differences.values()):
        return None
    closest = min(others, key=lambda loss: differences[loss].mean)
    comparisons = tuple(Comparison(f"`focal:0.5` − `{loss}`", paired_values(
        index, best, reference("compare", dataset, loss=loss), m.final_accuracy)) for loss in others)
    detail = "; ".join(f"{beats('focal:0.5', loss, d)} ({format_difference(d)})" for loss, d in differences.items())
    return Finding(comparisons, f"`focal:0.5` − `{closest}`: {format_difference(differences[closest], short=True)}",
                   f"Final test accuracy after 25 epochs, paired by seed: {detail}.")


def _converges_by_25(index: RunIndex, dataset: str) -> Finding | None:
    losses = ("ce", "focal:0.5", "focal:2")
    gains = {}
    for loss in losses:
        long = reference("label-noise", dataset, loss=loss, label_noise=0.0)
        short = reference("compare", dataset, loss=loss)
        gains[loss] = paired_measure(index, long, short, m.final_accuracy)
    if any(g is None for g in gains.values()):
        return None
    # "Converged" claims no gain from training longer: within ±1 point (equivalence), per loss.
    comparisons = tuple(Comparison(f"`{loss}`", paired_values(
        index, reference("label-noise", dataset, loss=loss, label_noise=0.0), reference("compare", dataset, loss=loss),
        m.final_accuracy), kind="no-effect") for loss in losses)
    largest = max(losses, key=lambda loss: gains[loss].mean)
    detail = "; ".join(f"`{loss}` {format_difference(gain)}" for loss, gain in gains.items())
    return Finding(comparisons, f"100 − 25 epochs, `{largest}`: {format_difference(gains[largest], short=True)}",
                   "Final test accuracy of a 100-epoch run minus that of a 25-epoch run (same recipe, "
                   f"same seeds): {detail}. A gain means 25 epochs had not converged; the claim needs every gain "
                   "to be within ±1 point.", regime="the loss")


def _gamma_sensitive(index: RunIndex, dataset: str) -> Finding | None:
    configs = [reference("gamma-sweep", dataset, loss=loss) for loss in EXPERIMENTS["gamma-sweep"].losses]
    levels = {config.loss: level_measure(index, config, m.final_accuracy) for config in configs}
    if any(value is None for value in levels.values()):
        return None
    best = max(levels, key=lambda loss: levels[loss].mean)
    worst = min(levels, key=lambda loss: levels[loss].mean)
    spread = paired_measure(index, reference("gamma-sweep", dataset, loss=best), reference("gamma-sweep", dataset, loss=worst),
                     m.final_accuracy)
    comparisons = (Comparison(f"`{best}` − `{worst}`", paired_values(
        index, reference("gamma-sweep", dataset, loss=best), reference("gamma-sweep", dataset, loss=worst),
        m.final_accuracy)),)
    detail = (f"Over γ ∈ {{0, 0.25, 0.5, 1, 2, 3, 5}} the best mean final test accuracy is `{best}`'s and the worst "
              f"`{worst}`'s; best − worst = {format_difference(spread)}. Picking the extremes of seven means after the fact "
              "flatters this interval a little; the figure shows the whole curve.")
    return Finding(comparisons, f"`{best}` − `{worst}`: {format_difference(spread, short=True)}", detail)


def _gamma_order(index: RunIndex, dataset: str) -> Finding | None:
    half, zero, two = (reference("gamma-sweep", dataset, loss=loss) for loss in ("focal:0.5", "ce", "focal:2"))
    first = paired_measure(index, half, zero, m.final_accuracy)
    second = paired_measure(index, zero, two, m.final_accuracy)
    if first is None or second is None:
        return None
    comparisons = (Comparison("`focal:0.5` − `ce`", paired_values(index, half, zero, m.final_accuracy)),
                   Comparison("`ce` − `focal:2`", paired_values(index, zero, two, m.final_accuracy)))
    detail = (f"Final test accuracy after 25 epochs, paired by seed: {beats('focal:0.5', 'ce', first)} "
              f"({format_difference(first)}); "
              f"{beats('ce', 'focal:2', second)} ({format_difference(second)}). The claim needs both to be positive.")
    effect = f"0.5 − 0: {format_difference(first, short=True)}; 0 − 2: {format_difference(second, short=True)}"
    return Finding(comparisons, effect, detail)


def _mukhoti_calibration(index: RunIndex, dataset: str) -> Finding | None:
    ce = reference("gamma-sweep", dataset, loss="ce")
    focal = reference("gamma-sweep", dataset, loss="focal:3")
    difference = paired_measure(index, focal, ce, m.final_ece)
    ce_over = level_measure(index, ce, m.final_overconfidence)
    focal_over = level_measure(index, focal, m.final_overconfidence)
    ce_train = level_measure(index, ce, m.final_train_accuracy)
    if difference is None or ce_over is None or focal_over is None or ce_train is None:
        return None
    comparisons = (Comparison("ECE `focal:3` − `ce`", paired_values(index, focal, ce, m.final_ece), direction=-1),)
    detail = (f"Final test ECE (15 bins), focal γ = 3 − CE: {format_difference(difference)}. Mean confidence minus accuracy: "
              f"CE {format_difference(ce_over)}, focal γ = 3 {format_difference(focal_over)} (positive: over-confident).")
    if sign(difference) > 0:
        detail += (f" Likely reason: Mukhoti et al. attribute CE's miscalibration to over-fitting the training NLL "
                   f"(ResNets trained to 100 % training accuracy for hundreds of epochs); here CE reaches "
                   f"{format_level(ce_train)} training accuracy in 25 epochs with weight decay, so it is not over-confident to "
                   "begin with, and focal loss's push towards lower confidence overshoots.")
    return Finding(comparisons, f"ECE focal:3 − ce: {format_difference(difference, short=True)}", detail)


def longer_training_markdown(index: RunIndex, datasets: list[str]) -> str:
    """Final test accuracy after 25 and after 100 epochs of the same recipe, for the report's four losses."""
    lines = ["| dataset | loss | n | final, 25 epochs (%) | final, 100 epochs (%) | 100 − 25 epochs (points, 95 % CI) "
             "| best epoch of the 100, oracle |",
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
                         f"{format_interval(long_level)} | {format_difference(gain, short=True)} | "
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


def files_from_all_runs(index: RunIndex) -> dict[str, str]:
    """The two tables that read runs of ``compare`` and ``label-noise`` as well as this experiment's."""
    return {LONGER_NAME: longer_training_markdown(index, index.datasets()),
            RANKING_NAME: report_ranking_markdown(index, index.datasets())}


CLAIMS = (
    Claim("focal-half-best", "Focal loss with γ = 0.5 reaches the best final accuracy of the four losses.",
          "report", ("compare",), "gamma-sweep.md#the-reports-ranking", "gamma-sweep", _focal_half_best),
    Claim("converges-by-25", "Focal (γ = 0.5), CE and focal (γ = 2) have converged after about 25 epochs.",
          "report", ("compare", "label-noise"), "gamma-sweep.md#training-longer", "gamma-sweep", _converges_by_25),
    Claim("gamma-sensitive", "Focal loss is sensitive to γ: a badly chosen γ costs accuracy.",
          "report", ("gamma-sweep",), "gamma-sweep.md#accuracy-and-calibration-against-gamma", "gamma-sweep", _gamma_sensitive),
    Claim("gamma-order", "For γ, 0.5 > 0 (CE) > 2 in test accuracy.",
          "report", ("gamma-sweep",), "gamma-sweep.md#the-reports-ranking", "gamma-sweep", _gamma_order),
    Claim("mukhoti-calibration", "Focal loss is better calibrated (lower ECE) than CE.",
          "Mukhoti et al. 2020", ("gamma-sweep",), "gamma-sweep.md#calibration", "gamma-sweep", _mukhoti_calibration),
)

REPORT = ExperimentReport(render=render, claims=CLAIMS, files_from_all_runs=files_from_all_runs)
