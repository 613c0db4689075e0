"""The ``label-noise`` experiment's report: is CE hurt by wrong labels, and what helps?

Figures (accuracy against the noise rate, one small panel per loss, at the last epoch and with early
stopping on the clean validation split; what CE and the robust losses fit, epoch by epoch) with
their captions, the long table and the loss × noise-rate matrix, and the verdicts of the
report's two label-noise claims and of the remedies' papers (GCE, NCE+MAE, label smoothing, early
stopping). The grid is ``EXPERIMENTS["label-noise"]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..experiments import EXPERIMENTS
from ..losses import loss_title
from ..protocol import NOISE_ROBUST_REFERENCE
from ..results import StoredRun
from . import measures as m
from .captions import join_names, with_captions
from .experiment_report import ExperimentReport, RenderContext, write_per_dataset, write_setup
from .figures import accuracy_curve, point
from .inference import Comparison
from .measures import RunIndex, group_runs
from .output import save_figure
from .stats import format_difference, format_level, format_mean_range, mean_ci
from .style import NEUTRAL_COLOUR, loss_colour_in, new_figure, panel_title, plt
from .tables import FOOTER, cell, complete_count, ordered_losses, stability_markdown
from .verdicts import Claim, Finding, beats, combined_values, fair, level_measure, paired_measure, paired_values

Runs = list[StoredRun]


# The order of the small multiples: CE first, as the yardstick every other panel draws in grey.
REFERENCE_LOSS = "ce"
# Panels per row of the accuracy figure: wide enough for a reader's loss name as the panel title.
ACCURACY_COLUMNS = 3


def _symmetric_rates(runs: dict[tuple[float, str, str], Runs], loss: str) -> list[float]:
    return sorted({rate for rate, kind, spec in runs if kind == "symmetric" and spec == loss})


def _accuracy_series(runs: dict[tuple[float, str, str], Runs], loss: str, measure) -> tuple[np.ndarray, list]:
    """(flipped share in %, [(mean, half-width) in %]) of ``measure`` over the symmetric noise rates."""
    rates = _symmetric_rates(runs, loss)
    points = [point(runs[(rate, "symmetric", loss)], measure) for rate in rates]
    return np.array(rates) * 100, [(mean * 100, half * 100) for mean, half in points]


def draw_noise_accuracy(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str], title: str, path: Path) -> Path:
    """Small multiples, one panel per loss: test accuracy against the share of labels flipped
    (symmetric noise), at the last epoch (solid) and at the epoch the clean validation split chose
    (dashed: early stopping); class-pair noise at the last epoch as an open diamond; and in every
    other panel CE's last epoch in grey, the yardstick.

    One panel per loss keeps each panel to four series: fourteen lines on one pair of axes cannot be
    told apart, while a shared axis across panels still lets the eye compare the losses.
    """
    ordered = sorted(losses, key=lambda loss: loss != REFERENCE_LOSS)
    rows = -(-(len(ordered) + 1) // ACCURACY_COLUMNS)  # one free slot for the legend
    figure, axes = new_figure(2.35 * rows + 0.8, rows=rows, columns=ACCURACY_COLUMNS, sharex=True, sharey=True,
                              squeeze=False)
    for axis, loss in zip(axes.flat, ordered):
        colour = loss_colour_in(loss, losses)
        if loss != REFERENCE_LOSS and any(spec == REFERENCE_LOSS for _, _, spec in runs):
            x, points = _accuracy_series(runs, REFERENCE_LOSS, m.final_accuracy)
            axis.plot(x, [p[0] for p in points], color=NEUTRAL_COLOUR, linewidth=1.2, alpha=0.8,
                      label=f"{loss_title(REFERENCE_LOSS)}, last epoch")
        for measure, style, label in ((m.final_accuracy, "-", "last epoch"), (m.selected_accuracy, "--", "early stopping")):
            x, points = _accuracy_series(runs, loss, measure)
            axis.errorbar(x, [p[0] for p in points], yerr=[p[1] for p in points], color=colour, linestyle=style,
                          marker="o" if style == "-" else None, markersize=4, capsize=2, label=label)
        for (rate, kind, spec), group in runs.items():
            if kind == "asymmetric" and spec == loss:
                mean, half = point(group, m.final_accuracy)
                axis.errorbar([rate * 100 + 2], [mean * 100], yerr=[half * 100], color=colour, marker="D",
                              markerfacecolor="white", markersize=5, linestyle="none", capsize=2,
                              label="class-pair noise, last epoch")
        axis.set_title(panel_title(loss_title(loss)), fontsize="medium")
    spare = list(axes.flat[len(ordered):])
    for axis in spare:
        axis.axis("off")
    for column in range(ACCURACY_COLUMNS):  # the lowest drawn panel of each column carries the x axis
        lowest = max(row for row in range(rows) if row * ACCURACY_COLUMNS + column < len(ordered))
        axes[lowest, column].set_xlabel("labels flipped (%)")
        axes[lowest, column].xaxis.set_tick_params(labelbottom=True)
    for axis in axes[:, 0]:
        axis.set_ylabel("test accuracy (%)")
    # The legend: a panel other than CE's holds all four kinds of series; its colour is that loss's,
    # so the legend's keys are redrawn in neutral grey and black.
    keys = [plt.Line2D([], [], color="black", marker="o", markersize=4), plt.Line2D([], [], color="black", linestyle="--"),
            plt.Line2D([], [], color="black", marker="D", markerfacecolor="white", linestyle="none"),
            plt.Line2D([], [], color=NEUTRAL_COLOUR)]
    names = ["last epoch", "early stopping (best epoch\non the clean validation split)", "40 % class-pair noise,\nlast epoch",
             f"{loss_title(REFERENCE_LOSS)}, last epoch"]
    if spare:
        spare[0].legend(keys, names, loc="center left", fontsize="small")
    else:
        figure.legend(keys, names, loc="lower center", ncol=2)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


# The memorisation figure teaches one contrast: CE fits the wrong labels, the noise-robust losses do
# not, at the noise rate every verdict reads. CE, generalised cross-entropy (the robust loss the
# protocol declares) and MAE (the loss it generalises, robust but slow); the other conditions and
# losses are in the table.
MEMORISATION_LOSSES = ("ce", NOISE_ROBUST_REFERENCE, "mae")
MEMORISATION_CONDITION = (0.4, "symmetric")
# (history key, line style, legend label) of the memorisation panels' three series.
_MEMORISATION_SERIES = (("test_accuracy", "-", "test set"),
                        ("train_accuracy_on_clean", "--", "training labels that are correct"),
                        ("train_accuracy_on_flipped", ":", "training labels that were flipped"))


def draw_noise_memorisation(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str], title: str, path: Path,
                            condition: tuple[float, str] = MEMORISATION_CONDITION) -> Path:
    """One panel per loss at one noisy condition: test accuracy over the epochs, and training accuracy
    measured against the labels trained on, separately on the samples whose label is correct and on
    those whose label was flipped. A flipped-label curve that climbs is the network learning wrong
    labels by heart.

    Each panel has its own epoch axis (the losses train for different lengths) and three series, so
    the one contrast the figure teaches (which losses memorise) is read across the panels.
    """
    rate, kind = condition
    shown = [loss for loss in losses if runs.get((rate, kind, loss))]
    figure, axes = new_figure(3.6, columns=max(1, len(shown)), sharey=True, squeeze=False)
    for axis, loss in zip(axes[0], shown):
        colour = loss_colour_in(loss, losses)
        for metric, style, label in _MEMORISATION_SERIES:
            curve = accuracy_curve(runs[(rate, kind, loss)], metric)
            if curve is None:
                continue
            epochs, mean, low, high = curve
            axis.plot(epochs, mean * 100, color=colour, linestyle=style, label=label)
            axis.fill_between(epochs, low * 100, high * 100, color=colour, alpha=0.15, linewidth=0)
        axis.set_title(panel_title(loss_title(loss)), fontsize="medium")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    axes[0, 0].set_ylabel("accuracy (%)")
    keys = [plt.Line2D([], [], color="black", linestyle=style) for _, style, _ in _MEMORISATION_SERIES]
    figure.legend(keys, [label for _, _, label in _MEMORISATION_SERIES], loc="lower center", ncol=3,
                  bbox_to_anchor=(0.5, 0.0), title="accuracy on the test set, and against the labels trained on")
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.17, 1, 1))
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


def _condition_name(rate: float, kind: str) -> str:
    return f"{rate * 100:.0f} %" + ("" if kind == "symmetric" else " class-pair")


def label_noise_matrix(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str]) -> str:
    """Loss × noise rate: test accuracy at the last epoch, one row per loss by its reader's name, one
    column per share of labels flipped; the cells are the long table's (``tables.cell``)."""
    conditions = sorted({(rate, kind) for rate, kind, _ in runs}, key=lambda c: (c[1] != "symmetric", c[0]))
    lines = ["| loss | " + " | ".join(f"{_condition_name(rate, kind)} flipped" for rate, kind in conditions) + " |",
             "|---|" + "---:|" * len(conditions)]
    for loss in losses:
        if any(runs.get((rate, kind, loss)) for rate, kind in conditions):
            lines.append(f"| {loss_title(loss)} | "
                         + " | ".join(cell(runs.get((rate, kind, loss), []), m.final_accuracy) for rate, kind in conditions)
                         + " |")
    seeds = sorted({complete_count(group) for group in runs.values() if group})
    lines += ["", f"Test accuracy at the last epoch (%), mean ± half-width of the 95 % t-interval over "
              f"{' or '.join(map(str, seeds))} seeds (the long table gives each condition's n, the early-stopped "
              "accuracy and the fits to the flipped labels). Symmetric noise moves a label to any other class; "
              "class-pair noise moves it to one fixed other class."]
    return "\n".join(lines) + "\n"


def accuracy_caption(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str]) -> str:
    """The accuracy figure's takeaway at the verdicts' noise rate, with the long table's cells: what CE
    keeps at the last epoch and when stopped early, and the loss that keeps the most."""
    rate, kind = NOISY["label_noise"], NOISY["label_noise_kind"]
    noisy = {loss: runs.get((rate, kind, loss), []) for loss in losses}
    means = {loss: mean_ci(values).mean for loss in losses
             if (values := [m.final_accuracy(run) for run in m.counted(noisy[loss])])}
    if REFERENCE_LOSS not in means:
        return f"No complete runs of {loss_title(REFERENCE_LOSS)} at {rate * 100:.0f} % flipped labels."
    ce = noisy[REFERENCE_LOSS]
    text = (f"With {rate * 100:.0f} % of the training labels flipped, {loss_title(REFERENCE_LOSS)} falls from "
            f"{cell(runs.get((0.0, kind, REFERENCE_LOSS), []), m.final_accuracy)} % test accuracy on clean labels to "
            f"{cell(ce, m.final_accuracy)} % at the last epoch, and keeps {cell(ce, m.selected_accuracy)} % when "
            "stopped early on the clean validation split.")
    best = max(means, key=means.get)
    if best != REFERENCE_LOSS:
        text += f" {loss_title(best)} keeps the most at the last epoch, {cell(noisy[best], m.final_accuracy)} %."
    return text


def memorisation_caption(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str],
                         condition: tuple[float, str] = MEMORISATION_CONDITION) -> str:
    """The memorisation figure's takeaway: how many flipped labels each drawn loss ends up fitting (the
    long table's "fits flipped labels"), and CE's test accuracy at its peak and at the end."""
    rate, kind = condition
    shown = [loss for loss in losses if runs.get((rate, kind, loss))]
    if not shown:
        return f"No runs at {rate * 100:.0f} % flipped labels: 0 curves to draw."
    fits = [f"{loss_title(loss)} {cell(runs[(rate, kind, loss)], m.final_flipped_fit)} %" for loss in shown]
    chance = m.chance(runs[(rate, kind, shown[0])][0])
    text = (f"At {_condition_name(rate, kind)} of the training labels flipped, the share of flipped samples a network "
            f"ends up predicting with their wrong label (chance {chance * 100:.0f} %): {join_names(fits)}.")
    curve = accuracy_curve(runs.get((rate, kind, REFERENCE_LOSS), []), "test_accuracy")
    if curve is not None:
        epochs, mean, _, _ = curve
        peak = int(np.argmax(mean))
        text += (f" {loss_title(REFERENCE_LOSS)} learns the correct labels first: its mean test accuracy peaks at "
                 f"{mean[peak] * 100:.1f} % in epoch {epochs[peak]} and ends at {mean[-1] * 100:.1f} % as it memorises "
                 "the flipped ones.")
    return text


def render(runs: Runs, out_dir: Path, context: RenderContext) -> dict[str, str]:
    """Accuracy against the noise rate, memorisation curves, the long table and the loss × rate matrix, per dataset."""
    losses = ordered_losses(EXPERIMENTS["label-noise"], runs)
    memorised = [loss for loss in MEMORISATION_LOSSES if loss in losses] or losses[:len(MEMORISATION_LOSSES)]

    def outputs(dataset, dataset_runs):
        grouped = group_runs(dataset_runs, key=lambda r: (r.config.label_noise, r.config.label_noise_kind, r.config.loss))
        return with_captions({
            "accuracy.png": lambda p: draw_noise_accuracy(
                grouped, losses, f"Label noise on {dataset}: test accuracy against the labels flipped", p),
            "memorisation.png": lambda p: draw_noise_memorisation(
                grouped, memorised, f"Label noise on {dataset}: {_condition_name(*MEMORISATION_CONDITION)} of the "
                "labels flipped, what the network fits", p),
            "table.md": lambda p: p.write_text(label_noise_table(grouped, losses)),
            "matrix.md": lambda p: p.write_text(label_noise_matrix(grouped, losses)),
            "stability.md": lambda p: p.write_text(stability_markdown(
                {(loss, "none" if rate == 0 else f"{rate * 100:g} % symmetric"): grouped.get((rate, "symmetric", loss), [])
                 for rate in (0.0, 0.4) for loss in losses}, "noise", m.selected_accuracy, "test acc.")),
        }, {"accuracy.png": lambda: accuracy_caption(grouped, losses),
            "memorisation.png": lambda: memorisation_caption(grouped, memorised)})

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
