"""The ``label-noise`` experiment's report: is CE hurt by wrong labels, and what helps?

Figures (accuracy against the noise rate, at the last epoch and with early stopping on the clean
validation split; what the network fits, epoch by epoch), the table, and the verdicts of the
report's two label-noise claims and of the remedies' papers (GCE, NCE+MAE, label smoothing, early
stopping). The grid is ``EXPERIMENTS["label-noise"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..experiments import EXPERIMENTS
from ..protocol import NOISE_ROBUST_REFERENCE
from ..results import StoredRun
from . import measures as m
from .experiment_report import ExperimentReport, RenderContext, write_per_dataset, write_setup
from .figures import accuracy_curve, point
from .inference import Comparison
from .measures import RunIndex, group_runs
from .output import save_figure
from .stats import format_difference, format_level, format_mean_range, mean_ci
from .style import NEUTRAL_COLOUR, loss_colour_in, new_figure
from .tables import FOOTER, cell, complete_count, ordered_losses, stability_markdown
from .verdicts import Claim, Finding, beats, combined_values, fair, level_measure, paired_measure, paired_values

Runs = list[StoredRun]


def draw_noise_accuracy(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str], title: str, path: Path) -> Path:
    """Test accuracy at the last epoch (solid) and at the epoch the clean validation split chose
    (dashed: early stopping) against the symmetric noise rate, per loss; the class-pair (asymmetric)
    condition, last epoch, as separate open markers."""
    figure, axis = new_figure(5.4)
    for loss in losses:
        colour = loss_colour_in(loss, losses)
        rates = sorted({rate for rate, kind, spec in runs if kind == "symmetric" and spec == loss})
        for measure, style, label in ((m.final_accuracy, "-", "last epoch"), (m.selected_accuracy, "--", "early stopping")):
            points = [point(runs[(rate, "symmetric", loss)], measure) for rate in rates]
            axis.errorbar(np.array(rates) * 100, [p[0] * 100 for p in points], yerr=[p[1] * 100 for p in points],
                          color=colour, linestyle=style, marker="o" if style == "-" else None, capsize=3,
                          label=f"{loss}, {label}")
        for (rate, kind, spec), group in runs.items():
            if kind == "asymmetric" and spec == loss:
                mean, half = point(group, m.final_accuracy)
                offset = 1.0 + 0.7 * list(losses).index(loss)  # side by side, not on top of each other
                axis.errorbar([rate * 100 + offset], [mean * 100], yerr=[half * 100], color=colour, marker="D",
                              markerfacecolor="white", linestyle="none", capsize=3)
    axis.plot([], [], color=NEUTRAL_COLOUR, marker="D", markerfacecolor="white", linestyle="none",
              label="class-pair noise, final")
    axis.set_xlabel("share of training labels flipped (%)")
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(title)
    axis.legend(ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize="x-small")
    return save_figure(figure, path)


# The memorisation figure draws fewer losses than the experiment trains, or its lines would be unreadable:
# CE, the report's focal loss, and the three remedies.
MEMORISATION_LOSSES = ("ce", "focal:2", "gce:0.7", "nce+mae", "ls:0.1")


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
    lines = ["| noise | loss | lr | n | test acc., last epoch (%) | test acc., early stopping (%) | chosen epoch "
             "| fits flipped labels (%) | fits clean labels (%) |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    conditions = sorted({(rate, kind) for rate, kind, _ in runs}, key=lambda c: (c[1] != "symmetric", c[0]))
    for rate, kind in conditions:
        for loss in losses:
            group = runs.get((rate, kind, loss), [])
            if not group:
                continue
            noisy = rate > 0
            rates = ", ".join(f"{lr:g}" for lr in sorted({run.config.lr for run in group}))
            lines.append(
                f"| {rate * 100:.0f} % {'symmetric' if kind == 'symmetric' else 'class-pair'} | `{loss}` | {rates} | "
                f"{complete_count(group)} | "
                f"{cell(group, m.final_accuracy)} | {cell(group, m.selected_accuracy)} | "
                f"{_mean_range(group, lambda run: float(m.selected_epoch(run)), 1, 0)} of {group[0].config.epochs} | "
                f"{cell(group, m.final_flipped_fit) if noisy else '—'} | {cell(group, m.final_clean_fit) if noisy else '—'} |")
    lines += ["", FOOTER + " Early stopping reads each run at the epoch with the best accuracy on the validation split, "
              "which is held out before the labels are corrupted and so stays clean; the chosen epoch is shown as mean "
              "(range). \"Fits\" is training accuracy measured against the labels trained on, at the last epoch: on "
              "the flipped subset that means predicting the wrong label."]
    return "\n".join(lines) + "\n"


def render(runs: Runs, out_dir: Path, context: RenderContext) -> dict[str, str]:
    """Accuracy against the noise rate, memorisation curves and the table, per dataset."""
    losses = ordered_losses(EXPERIMENTS["label-noise"], runs)

    def outputs(dataset, dataset_runs):
        grouped = group_runs(dataset_runs, key=lambda r: (r.config.label_noise, r.config.label_noise_kind, r.config.loss))
        return {
            "accuracy.png": lambda p: draw_noise_accuracy(
                grouped, losses, f"Label noise on {dataset}: test accuracy, last epoch and early stopping", p),
            "memorisation.png": lambda p: draw_noise_memorisation(
                grouped, [loss for loss in losses if loss in MEMORISATION_LOSSES] or losses,
                f"Label noise on {dataset}: what the network fits, epoch by epoch", p),
            "table.md": lambda p: p.write_text(label_noise_table(grouped, losses)),
            "stability.md": lambda p: p.write_text(stability_markdown(
                {(loss, "none" if rate == 0 else f"{rate * 100:g} % symmetric"): grouped.get((rate, "symmetric", loss), [])
                 for rate in (0.0, 0.4) for loss in losses}, "noise", m.selected_accuracy, "test acc.")),
        }

    return write_per_dataset("label-noise", runs, out_dir, outputs) | write_setup("label-noise", runs, out_dir)


NOISY = dict(label_noise=0.4, label_noise_kind="symmetric")


def _drop_minus_drop(index: RunIndex, dataset: str, loss: str, other: str):
    """Per seed: (clean − noisy accuracy of ``loss``) − (the same of ``other``), last epoch, 40 % symmetric noise."""
    configs = [fair("label-noise", dataset, loss=name, **condition)
               for name in (loss, other) for condition in ({"label_noise": 0.0}, NOISY)]
    return combined_values(index, [(coefficient, config, m.final_accuracy)
                                   for coefficient, config in zip((1.0, -1.0, -1.0, 1.0), configs)])


def _ce_noise_sensitive(index: RunIndex, dataset: str) -> Finding | None:
    noisy = fair("label-noise", dataset, loss="ce", **NOISY)
    clean = fair("label-noise", dataset, loss="ce", label_noise=0.0)
    drop = paired_measure(index, noisy, clean, m.final_accuracy)
    fit = level_measure(index, noisy, m.final_flipped_fit)
    extra = {loss: _drop_minus_drop(index, dataset, "ce", loss) for loss in (NOISE_ROBUST_REFERENCE,)}
    if drop is None or fit is None or any(values is None for values in extra.values()):
        return None
    # Sensitive is comparative: every loss loses accuracy when labels are wrong, so the claim says CE loses
    # more than a loss built to resist noise does, at the last epoch (no early stopping): the robust loss
    # declared in the protocol before the runs (lossdemo.protocol.NOISE_ROBUST_REFERENCE).
    comparisons = tuple(Comparison(f"CE's drop − `{loss}`'s drop", values) for loss, values in extra.items())
    chance = m.chance(next(iter(index.seeds_of(noisy).values())))
    intervals = {loss: mean_ci(list(values)) for loss, values in extra.items()}
    detail = (f"With 40 % of the training labels flipped (symmetric), CE's test accuracy at the last epoch changes by "
              f"{format_difference(drop)} against clean labels; by then it predicts the wrong training label for "
              f"{format_level(fit)} of the flipped samples (chance: {chance * 100:.0f} %), i.e. it memorises them. "
              "CE's drop minus the drop of the noise-robust loss the protocol declared before the runs, paired by seed: "
              + "; ".join(f"`{loss}` {format_difference(interval)}" for loss, interval in intervals.items()) + ".")
    closest = min(intervals, key=lambda loss: intervals[loss].mean)
    return Finding(comparisons, f"CE's drop − `{closest}`'s: {format_difference(intervals[closest], short=True)}", detail)


def _focal_fixes_noise(index: RunIndex, dataset: str) -> Finding | None:
    ce = fair("label-noise", dataset, loss="ce", **NOISY)
    differences = {loss: paired_measure(index, fair("label-noise", dataset, loss=loss, **NOISY), ce, m.final_accuracy)
                   for loss in ("focal:0.5", "focal:2")}
    if any(d is None for d in differences.values()):
        return None
    comparisons = tuple(Comparison(f"`{loss}`", paired_values(
        index, fair("label-noise", dataset, loss=loss, **NOISY), ce, m.final_accuracy)) for loss in differences)
    detail = "At 40 % symmetric noise, test accuracy at the last epoch: " + "; ".join(
        f"{beats(loss, 'ce', d)} ({format_difference(d)})" for loss, d in differences.items()) + "."
    others = []
    for rate, kind in ((0.2, "symmetric"), (0.6, "symmetric"), (0.4, "asymmetric")):
        other = paired_measure(index, fair("label-noise", dataset, loss="focal:2", label_noise=rate, label_noise_kind=kind),
                               fair("label-noise", dataset, loss="ce", label_noise=rate, label_noise_kind=kind),
                               m.final_accuracy)
        if other is not None:
            others.append(f"{rate * 100:.0f} % {'symmetric' if kind == 'symmetric' else 'class-pair'} {format_difference(other)}")
    if others:
        detail += " `focal:2` − `ce` at the other noise settings: " + "; ".join(others) + "."
    effect = "; ".join(f"`{loss}` − `ce`: {format_difference(d, short=True)}" for loss, d in differences.items())
    return Finding(comparisons, effect, detail, regime="γ")


def _remedy_beats_ce(loss: str):
    """The rule "``loss`` beats CE at 40 % symmetric noise", judged at the last epoch and with early stopping."""

    def rule(index: RunIndex, dataset: str) -> Finding | None:
        remedy, ce = fair("label-noise", dataset, loss=loss, **NOISY), fair("label-noise", dataset, loss="ce", **NOISY)
        readings = (("the last epoch", m.final_accuracy), ("early stopping", m.selected_accuracy))
        intervals = {name: paired_measure(index, remedy, ce, measure) for name, measure in readings}
        if any(interval is None for interval in intervals.values()):
            return None
        comparisons = tuple(Comparison(name, paired_values(index, remedy, ce, measure)) for name, measure in readings)
        detail = (f"At 40 % symmetric noise, `{loss}` − `ce` test accuracy, each at its own tuned rate, paired by seed: "
                  + "; ".join(f"at {name} {format_difference(interval)}" if name == "the last epoch" else
                              f"with {name} {format_difference(interval)}" for name, interval in intervals.items())
                  + ". Early stopping reads each run at its best epoch on the clean validation split.")
        effect = "; ".join(f"{name}: {format_difference(interval, short=True)}" for name, interval in intervals.items())
        return Finding(comparisons, effect, detail, regime="early stopping")

    return rule


def _early_stopping_helps(index: RunIndex, dataset: str) -> Finding | None:
    noisy = fair("label-noise", dataset, loss="ce", **NOISY)
    gain = level_measure(index, noisy, m.early_stopping_gain)
    epochs = level_measure(index, noisy, lambda run: float(m.selected_epoch(run)))
    if gain is None or epochs is None:
        return None
    comparisons = (Comparison("chosen − last epoch", combined_values(
        index, [(1.0, noisy, m.selected_accuracy), (-1.0, noisy, m.final_accuracy)])),)
    detail = (f"At 40 % symmetric noise, CE's test accuracy at the epoch the clean validation split chose (epoch "
              f"{epochs.mean:.0f} on average, of {noisy.epochs}) minus at the last epoch: {format_difference(gain)}.")
    return Finding(comparisons, f"chosen − last epoch: {format_difference(gain, short=True)}", detail)


CLAIMS = (
    Claim("ce-noise-sensitive", "CE is sensitive to wrong labels: label noise costs it more than it costs a "
          "noise-robust loss.",
          "report", ("label-noise",), "label-noise.md#memorisation", "label-noise", _ce_noise_sensitive),
    Claim("focal-fixes-noise", "Focal loss solves CE's sensitivity to wrong labels.",
          "report", ("label-noise",), "label-noise.md#accuracy-against-the-noise-rate", "label-noise", _focal_fixes_noise),
    Claim("zhang-gce", "Generalized cross-entropy (q = 0.7) is more accurate than CE when 40 % of the labels are "
          "flipped.", "Zhang & Sabuncu 2018", ("label-noise",), "label-noise.md#the-remedies", "label-noise",
          _remedy_beats_ce("gce:0.7")),
    Claim("ma-active-passive", "The active-passive loss NCE + MAE is more accurate than CE when 40 % of the labels "
          "are flipped.", "Ma et al. 2020", ("label-noise",), "label-noise.md#the-remedies", "label-noise",
          _remedy_beats_ce("nce+mae")),
    Claim("lukasik-label-smoothing", "Label smoothing (ε = 0.1) is more accurate than CE when 40 % of the labels "
          "are flipped.", "Lukasik et al. 2020", ("label-noise",), "label-noise.md#the-remedies", "label-noise",
          _remedy_beats_ce("ls:0.1")),
    Claim("early-stopping-noise", "Stopping CE early, at the best epoch on a clean validation split, is more "
          "accurate than training it to the end when 40 % of the labels are flipped.", "common practice",
          ("label-noise",), "label-noise.md#the-remedies", "label-noise", _early_stopping_helps),
)

REPORT = ExperimentReport(render=render, claims=CLAIMS)
