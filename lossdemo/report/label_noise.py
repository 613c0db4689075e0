"""The ``label-noise`` experiment's report: is CE hurt by wrong labels, and does focal loss fix that?

Figures (accuracy against the noise rate; what the network fits, epoch by epoch), the table, and
the verdicts of the report's two label-noise claims. The grid is ``EXPERIMENTS["label-noise"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..experiments import EXPERIMENTS
from ..results import StoredRun
from . import measures as m
from .experiment_report import ExperimentReport, RenderContext, write_per_dataset, write_setup
from .figures import accuracy_curve, point
from .inference import Comparison
from .measures import RunIndex, group_runs
from .output import save_figure
from .stats import format_difference, format_level, format_mean_range
from .style import NEUTRAL_COLOUR, loss_colour_in, new_figure
from .tables import FOOTER, cell, complete_count, ordered_losses
from .verdicts import Claim, Finding, beats, level_measure, level_values, paired_measure, paired_values, reference

Runs = list[StoredRun]


def draw_noise_accuracy(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str], title: str, path: Path) -> Path:
    """Final (solid) and best-epoch (dashed) test accuracy against the symmetric noise rate, per loss;
    the class-pair (asymmetric) condition as separate open markers."""
    figure, axis = new_figure(4.8)
    for loss in losses:
        colour = loss_colour_in(loss, losses)
        rates = sorted({rate for rate, kind, spec in runs if kind == "symmetric" and spec == loss})
        for measure, style, label in ((m.final_accuracy, "-", "final"), (m.best_accuracy, "--", "best epoch (oracle)")):
            points = [point(runs[(rate, "symmetric", loss)], measure) for rate in rates]
            axis.errorbar(np.array(rates) * 100, [p[0] * 100 for p in points], yerr=[p[1] * 100 for p in points],
                          color=colour, linestyle=style, marker="o" if style == "-" else None, capsize=3,
                          label=f"{loss}, {label}")
        for (rate, kind, spec), group in runs.items():
            if kind == "asymmetric" and spec == loss:
                mean, half = point(group, m.final_accuracy)
                offset = 1.5 + 1.2 * list(losses).index(loss)  # side by side, not on top of each other
                axis.errorbar([rate * 100 + offset], [mean * 100], yerr=[half * 100], color=colour, marker="D",
                              markerfacecolor="white", linestyle="none", capsize=3)
    axis.plot([], [], color=NEUTRAL_COLOUR, marker="D", markerfacecolor="white", linestyle="none",
              label="class-pair noise, final")
    axis.set_xlabel("share of training labels flipped (%)")
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(title)
    axis.legend(ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize="small")
    return save_figure(figure, path)


def draw_noise_memorisation(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str], title: str, path: Path) -> Path:
    """Per noisy condition (rows): test accuracy over epochs (left) and training accuracy on the
    clean (solid) and flipped (dashed) samples, measured against the labels trained on (right)."""
    conditions = sorted({(rate, kind) for rate, kind, _ in runs if rate > 0}, key=lambda c: (c[1] != "symmetric", c[0]))
    figure, axes = new_figure(2.2 * len(conditions) + 1.2, rows=len(conditions), columns=2, sharex=True, sharey=True,
                              squeeze=False)
    for row, (rate, kind) in enumerate(conditions):
        top, bottom = axes[row, 0], axes[row, 1]
        for loss in losses:
            group = runs.get((rate, kind, loss))
            if not group:
                continue
            colour = loss_colour_in(loss, losses)
            for axis, metric, style, label in ((top, "test_accuracy", "-", loss),
                                               (bottom, "train_accuracy_on_clean", "-", f"{loss}, clean"),
                                               (bottom, "train_accuracy_on_flipped", "--", f"{loss}, flipped")):
                curve = accuracy_curve(group, metric)
                if curve is None:
                    continue
                epochs, mean, low, high = curve
                axis.plot(epochs, mean * 100, color=colour, linestyle=style, label=label)
                axis.fill_between(epochs, low * 100, high * 100, color=colour, alpha=0.15, linewidth=0)
        condition = f"{rate * 100:.0f} % {'symmetric' if kind == 'symmetric' else 'class-pair'} noise"
        top.set_title(f"{condition}: test set", fontsize="medium")
        bottom.set_title(f"{condition}: training set", fontsize="medium")
        top.set_ylabel("accuracy (%)")
    axes[-1, 0].set_xlabel("epoch")
    axes[-1, 1].set_xlabel("epoch")
    axes[-1, 0].xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0, 1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), bbox_to_anchor=(0.5, 0.0),
                  title="training accuracy against the labels trained on, on the clean and on the flipped samples")
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    return save_figure(figure, path)


def _mean_range(group: Runs, measure, scale: float, digits: int) -> str:
    values = [measure(run) * scale for run in m.complete(group)]
    return format_mean_range(values, digits, digits) if values else "—"


def label_noise_table(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str]) -> str:
    lines = ["| noise | loss | n | final test acc. (%) | best test acc., oracle (%) | oracle epoch | oracle − final (points) "
             "| fits flipped labels (%) | fits clean labels (%) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    conditions = sorted({(rate, kind) for rate, kind, _ in runs}, key=lambda c: (c[1] != "symmetric", c[0]))
    for rate, kind in conditions:
        for loss in losses:
            group = runs.get((rate, kind, loss), [])
            if not group:
                continue
            noisy = rate > 0
            lines.append(
                f"| {rate * 100:.0f} % {'symmetric' if kind == 'symmetric' else 'class-pair'} | `{loss}` | "
                f"{complete_count(group)} | "
                f"{cell(group, m.final_accuracy)} | {cell(group, m.best_accuracy)} | "
                f"{_mean_range(group, lambda run: float(m.best_epoch(run)), 1, 0)} | "
                f"{_mean_range(group, m.memorisation_gap, 100, 1)} | "
                f"{cell(group, m.final_flipped_fit) if noisy else '—'} | {cell(group, m.final_clean_fit) if noisy else '—'} |")
    lines += ["", FOOTER + " The oracle columns read the best epoch on the test split itself, which no real "
              "procedure can do; epochs and oracle − final cannot be negative, so they show mean (range) rather than "
              "an interval. \"Fits\" is training accuracy measured against the labels trained on, at the last "
              "epoch: on the flipped subset that means predicting the wrong label."]
    return "\n".join(lines) + "\n"


def render(runs: Runs, out_dir: Path, context: RenderContext) -> dict[str, str]:
    """Accuracy against the noise rate, memorisation curves and the table, per dataset."""
    losses = ordered_losses(EXPERIMENTS["label-noise"], runs)

    def outputs(dataset, dataset_runs):
        grouped = group_runs(dataset_runs, key=lambda r: (r.config.label_noise, r.config.label_noise_kind, r.config.loss))
        return {
            "accuracy.png": lambda p: draw_noise_accuracy(
                grouped, losses, f"Label noise on {dataset}: final and best-epoch test accuracy", p),
            "memorisation.png": lambda p: draw_noise_memorisation(
                grouped, losses, f"Label noise on {dataset}: what the network fits, epoch by epoch", p),
            "table.md": lambda p: p.write_text(label_noise_table(grouped, losses)),
        }

    return write_per_dataset("label-noise", runs, out_dir, outputs) | write_setup("label-noise", runs, out_dir)


def _ce_noise_sensitive(index: RunIndex, dataset: str) -> Finding | None:
    noisy = reference("label-noise", dataset, loss="ce", label_noise=0.4, label_noise_kind="symmetric")
    clean = reference("label-noise", dataset, loss="ce", label_noise=0.0)
    drop = paired_measure(index, noisy, clean, m.final_accuracy)
    gap = level_measure(index, noisy, m.memorisation_gap)
    fit = level_measure(index, noisy, m.final_flipped_fit)
    if drop is None or gap is None or fit is None:
        return None
    # Sensitivity: accuracy drops with the noise, and the flipped labels are fitted above chance (1/C).
    chance = m.chance(next(iter(index.seeds_of(noisy).values())))
    comparisons = (Comparison("noisy − clean accuracy", paired_values(index, noisy, clean, m.final_accuracy), direction=-1),
                   Comparison("fit of the flipped labels − chance",
                              tuple(-value for value in level_values(index, noisy, m.final_flipped_fit, chance))))
    # Best − final cannot be negative, so it gets a mean and no interval (an interval would pretend it could).
    detail = (f"With 40 % of the training labels flipped (symmetric), CE's final test accuracy changes by "
              f"{format_difference(drop)} against clean labels, and its best epoch on the test split (an oracle) was "
              f"better than its last by "
              f"{gap.mean * 100:.1f} points on average: by the end it predicts the wrong training label for "
              f"{format_level(fit)} of the flipped samples (chance: {chance * 100:.0f} %), i.e. it memorises them.")
    return Finding(comparisons, f"noisy − clean at 40 % noise: {format_difference(drop, short=True)}", detail)


def _focal_fixes_noise(index: RunIndex, dataset: str) -> Finding | None:
    ce = reference("label-noise", dataset, loss="ce", label_noise=0.4, label_noise_kind="symmetric")
    differences = {}
    for loss in ("focal:0.5", "focal:2"):
        focal = reference("label-noise", dataset, loss=loss, label_noise=0.4, label_noise_kind="symmetric")
        differences[loss] = paired_measure(index, focal, ce, m.final_accuracy)
    mae = paired_measure(index, reference("label-noise", dataset, loss="mae", label_noise=0.4, label_noise_kind="symmetric"),
                  ce, m.final_accuracy)
    if any(d is None for d in differences.values()):
        return None
    comparisons = tuple(Comparison(f"`{loss}`", paired_values(
        index, reference("label-noise", dataset, loss=loss, label_noise=0.4, label_noise_kind="symmetric"), ce,
        m.final_accuracy)) for loss in differences)
    detail = "At 40 % symmetric noise, final test accuracy: " + "; ".join(
        f"{beats(loss, 'ce', d)} ({format_difference(d)})" for loss, d in differences.items()) + "."
    others = []
    for rate, kind in ((0.2, "symmetric"), (0.6, "symmetric"), (0.4, "asymmetric")):
        other = paired_measure(index, reference("label-noise", dataset, loss="focal:2", label_noise=rate, label_noise_kind=kind),
                               reference("label-noise", dataset, loss="ce", label_noise=rate, label_noise_kind=kind),
                               m.final_accuracy)
        if other is not None:
            others.append(f"{rate * 100:.0f} % {'symmetric' if kind == 'symmetric' else 'class-pair'} {format_difference(other)}")
    if others:
        detail += " `focal:2` − `ce` at the other noise settings: " + "; ".join(others) + "."
    if mae is not None:
        detail += (f" For comparison with a bounded loss, at 40 % symmetric noise {beats('mae', 'ce', mae)} "
                   f"({format_difference(mae)}).")
    effect = "; ".join(f"`{loss}` − `ce`: {format_difference(d, short=True)}" for loss, d in differences.items())
    return Finding(comparisons, effect, detail, regime="γ")


CLAIMS = (
    Claim("ce-noise-sensitive", "CE is sensitive to wrong labels: label noise degrades it.",
          "report", ("label-noise",), "label-noise.md#memorisation", "label-noise", _ce_noise_sensitive),
    Claim("focal-fixes-noise", "Focal loss solves CE's sensitivity to wrong labels.",
          "report", ("label-noise",), "label-noise.md#accuracy-against-the-noise-rate", "label-noise", _focal_fixes_noise),
)

REPORT = ExperimentReport(render=render, claims=CLAIMS)
