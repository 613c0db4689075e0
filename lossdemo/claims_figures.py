"""Figures of the four claims experiments, drawn from stored runs only (``lossdemo.render`` calls these).

Points and lines are means over seeds; error bars and bands are 95 % t-intervals (``lossdemo.stats``).
Every function takes runs already grouped by condition, draws one PNG, and returns its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from . import measures as m
from .loss_shapes import probability_curves
from .metrics import expected_calibration_error, merge_histograms
from .plots import mean_band
from .plotstyle import loss_colour, plt, use_style
from .results import StoredRun
from .stats import mean_ci

Runs = list[StoredRun]


def _save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Software": None})  # no timestamp: same data, same bytes
    plt.close(figure)
    return path


# Colours for losses without a fixed one (plotstyle fixes the report's five): none of these is taken.
_EXTRA_COLOURS = ("#E69F00", "#56B4E9", "#8C564B", "#7F7F7F", "#F0E442")


def _colour(loss: str, order: Sequence[str]) -> str:
    """The loss's site-wide colour if it has one, else the next colour no fixed loss uses."""
    if loss_colour(loss, 0) == loss_colour(loss, 1):  # the same for any index: a fixed colour
        return loss_colour(loss)
    unfixed = [spec for spec in order if loss_colour(spec, 0) != loss_colour(spec, 1)]
    return _EXTRA_COLOURS[unfixed.index(loss) % len(_EXTRA_COLOURS)]


def _point(runs: Runs, measure) -> tuple[float, float]:
    """(mean, half-width of the 95 % interval) of ``measure`` over complete runs; NaN when none."""
    values = [value for value in (measure(run) for run in runs if run.status == "complete") if not np.isnan(value)]
    if not values:
        return float("nan"), float("nan")
    interval = mean_ci(values)
    return interval.mean, interval.half_width


def _curve(runs: Runs, metric: str):
    complete = [run for run in runs if run.status == "complete" and run.history.get(metric)]
    if not complete or any(value is None for run in complete for value in run.history[metric]):
        return None
    mean, low, high = mean_band([run.history[metric] for run in complete])
    return np.arange(1, len(mean) + 1), mean, np.clip(low, 0, 1), np.clip(high, 0, 1)


# --------------------------------------------------------------------------------------------
# label-noise


def draw_noise_accuracy(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str], title: str, path: Path) -> Path:
    """Final (solid) and best-epoch (dashed) test accuracy against the symmetric noise rate, per loss;
    the class-pair (asymmetric) condition as separate open markers."""
    use_style()
    figure, axis = plt.subplots(figsize=(7.5, 4.8))
    for loss in losses:
        colour = _colour(loss, losses)
        rates = sorted({rate for rate, kind, spec in runs if kind == "symmetric" and spec == loss})
        for measure, style, label in ((m.final_accuracy, "-", "final"), (m.best_accuracy, "--", "best epoch")):
            points = [_point(runs[(rate, "symmetric", loss)], measure) for rate in rates]
            axis.errorbar(np.array(rates) * 100, [p[0] * 100 for p in points], yerr=[p[1] * 100 for p in points],
                          color=colour, linestyle=style, marker="o" if style == "-" else None, capsize=3,
                          label=f"{loss}, {label}")
        for (rate, kind, spec), group in runs.items():
            if kind == "asymmetric" and spec == loss:
                mean, half = _point(group, m.final_accuracy)
                offset = 1.5 + 1.2 * list(losses).index(loss)  # side by side, not on top of each other
                axis.errorbar([rate * 100 + offset], [mean * 100], yerr=[half * 100], color=colour, marker="D",
                              markerfacecolor="white", linestyle="none", capsize=3)
    axis.plot([], [], color="grey", marker="D", markerfacecolor="white", linestyle="none",
              label="class-pair noise, final")
    axis.set_xlabel("share of training labels flipped (%)")
    axis.set_ylabel("test accuracy (%)")
    axis.set_title(title)
    axis.legend(ncol=2, fontsize=8, loc="lower left")
    return _save(figure, path)


def draw_noise_memorisation(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str], title: str, path: Path) -> Path:
    """Per noisy condition (columns): test accuracy over epochs (top) and training accuracy on the
    clean (solid) and flipped (dashed) samples, measured against the labels trained on (bottom)."""
    use_style()
    conditions = sorted({(rate, kind) for rate, kind, _ in runs if rate > 0}, key=lambda c: (c[1] != "symmetric", c[0]))
    figure, axes = plt.subplots(2, len(conditions), figsize=(3.3 * len(conditions), 6.4), sharex=True, sharey="row",
                                squeeze=False)
    for column, (rate, kind) in enumerate(conditions):
        top, bottom = axes[0, column], axes[1, column]
        for loss in losses:
            group = runs.get((rate, kind, loss))
            if not group:
                continue
            colour = _colour(loss, losses)
            for axis, metric, style, label in ((top, "test_accuracy", "-", loss),
                                               (bottom, "train_accuracy_on_clean", "-", f"{loss}, clean"),
                                               (bottom, "train_accuracy_on_flipped", "--", f"{loss}, flipped")):
                curve = _curve(group, metric)
                if curve is None:
                    continue
                epochs, mean, low, high = curve
                axis.plot(epochs, mean * 100, color=colour, linestyle=style, label=label)
                axis.fill_between(epochs, low * 100, high * 100, color=colour, alpha=0.15, linewidth=0)
        top.set_title(f"{rate * 100:.0f} % {'symmetric' if kind == 'symmetric' else 'class-pair'} noise")
        bottom.set_xlabel("epoch")
        bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0, 0].set_ylabel("test accuracy (%)")
    axes[1, 0].set_ylabel("training accuracy vs. given label (%)")
    handles, labels = axes[1, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), bbox_to_anchor=(0.5, -0.06), fontsize=8)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    return _save(figure, path)


# --------------------------------------------------------------------------------------------
# imbalance


def draw_imbalance(runs: dict[tuple[float, str], Runs], losses: Sequence[str], title: str, path: Path) -> Path:
    """Against the imbalance ratio: test accuracy, balanced accuracy, and head (solid) vs tail (dashed)."""
    use_style()
    figure, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharey=True)
    ratios = sorted({ratio for ratio, _ in runs})
    panels = ((axes[0], [(m.final_accuracy, "-")], "test accuracy"),
              (axes[1], [(m.final_balanced_accuracy, "-")], "balanced accuracy (mean over classes)"),
              (axes[2], [(m.final_head_accuracy, "-"), (m.final_tail_accuracy, "--")],
               "3 most frequent (head) vs 3 rarest (tail) classes"))
    for axis, series, panel_title in panels:
        for loss in losses:
            colour = _colour(loss, losses)
            for measure, style in series:
                points = [_point(runs.get((ratio, loss), []), measure) for ratio in ratios]
                axis.errorbar(ratios, [p[0] * 100 for p in points], yerr=[p[1] * 100 for p in points], color=colour,
                              linestyle=style, marker="o", capsize=3, label=loss)
        axis.set_xscale("log")
        axis.set_xticks(ratios, [f"{ratio:g}" for ratio in ratios])
        axis.set_xlabel("imbalance ratio (largest / smallest class)")
        axis.set_title(panel_title)
    axes[0].set_ylabel("test accuracy (%) on the balanced test set")
    axes[0].legend(fontsize=8)
    axes[2].legend([plt.Line2D([], [], color="grey"), plt.Line2D([], [], color="grey", linestyle="--")],
                   ["head (classes 0-2)", "tail (classes 7-9)"], fontsize=8, loc="lower left")
    figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


# --------------------------------------------------------------------------------------------
# gamma-sweep


def draw_gamma_sweep(runs_by_gamma: dict[float, Runs], title: str, path: Path) -> Path:
    """Final test accuracy (left) and final test ECE (right) against γ; γ = 0 is cross-entropy."""
    use_style()
    gammas = sorted(runs_by_gamma)
    positions = np.arange(len(gammas))
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for axis, measure, label in ((left, m.final_accuracy, "final test accuracy (%)"),
                                 (right, m.final_ece, "final test ECE, 15 bins (%)")):
        points = [_point(runs_by_gamma[gamma], measure) for gamma in gammas]
        axis.errorbar(positions, [p[0] * 100 for p in points], yerr=[p[1] * 100 for p in points], marker="o",
                      capsize=3, color="#009E73")
        axis.set_xticks(positions, [f"{gamma:g}" for gamma in gammas])
        axis.set_xlabel("focal loss γ (0 = cross-entropy)")
        axis.set_ylabel(label)
    left.set_title("accuracy")
    right.set_title("calibration (lower is better)")
    figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def draw_reliability(runs_by_gamma: dict[float, Runs], title: str, path: Path) -> Path:
    """One reliability diagram per γ, bins pooled over seeds: bar = accuracy, hatched = gap to confidence.

    The ECE printed in each panel is that of the pooled bins, which is lower than the mean of the
    seeds' ECEs (errors of opposite sign in different seeds cancel when pooled).
    """
    use_style()
    gammas = sorted(runs_by_gamma)
    columns = 4
    rows = -(-len(gammas) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.1 * columns, 3.1 * rows), sharex=True, sharey=True,
                                squeeze=False)
    for axis in axes.flat[len(gammas):]:
        axis.set_visible(False)
    for axis, gamma in zip(axes.flat, gammas):
        histograms = [h for h in (m.final_reliability(run) for run in runs_by_gamma[gamma] if run.status == "complete") if h]
        axis.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        axis.set_title(f"γ = {gamma:g}" + (" (CE)" if gamma == 0 else ""))
        if not histograms:
            axis.text(0.5, 0.5, "not recorded", ha="center", va="center")
            continue
        pooled = merge_histograms(histograms)
        bins = len(pooled.count)
        centres = (np.arange(bins) + 0.5) / bins
        filled = np.array(pooled.count) > 0
        accuracy, confidence = np.array(pooled.accuracy), np.array(pooled.confidence)
        axis.bar(centres[filled], accuracy[filled], width=1 / bins, color="#0072B2", edgecolor="white", label="accuracy")
        # The gap between accuracy and mean confidence, hatched (Guo et al. 2017's style): above the bar
        # when over-confident, inside it when under-confident.
        axis.bar(centres[filled], np.abs(confidence - accuracy)[filled], bottom=np.minimum(confidence, accuracy)[filled],
                 width=1 / bins, facecolor="none", edgecolor="#D55E00", hatch="////", linewidth=0.8,
                 label="gap to the bin's mean confidence")
        axis.text(0.04, 0.92, f"pooled ECE {expected_calibration_error(pooled) * 100:.1f} %", fontsize=8,
                  transform=axis.transAxes)
    for axis in axes[-1]:
        axis.set_xlabel("confidence")
    for axis in axes[:, 0]:
        axis.set_ylabel("accuracy")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.03))
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(figure, path)


# --------------------------------------------------------------------------------------------
# mae-anatomy


def draw_per_class_over_epochs(runs_by_loss: dict[str, Runs], title: str, path: Path, seeds: int = 3) -> Path:
    """Per-class test accuracy over epochs, one panel per (loss, seed): a class MAE abandons stays flat near 0.

    Seeds are shown separately rather than averaged, because different seeds abandon different classes
    and a mean would blur a dead class into a slow one.
    """
    use_style()
    losses = list(runs_by_loss)
    figure, axes = plt.subplots(len(losses), seeds, figsize=(3.6 * seeds, 2.9 * len(losses)), sharex=True,
                                sharey=True, squeeze=False)
    class_colours = plt.get_cmap("tab10")
    for row, loss in enumerate(losses):
        complete = [run for run in runs_by_loss[loss] if run.status == "complete"][:seeds]
        for column in range(seeds):
            axis = axes[row, column]
            if column >= len(complete):
                axis.set_visible(False)
                continue
            run = complete[column]
            per_class = np.array(run.history["test_per_class_accuracy"]) * 100  # (epochs, C)
            epochs = np.arange(1, len(per_class) + 1)
            for class_index in range(per_class.shape[1]):
                axis.plot(epochs, per_class[:, class_index], color=class_colours(class_index % 10), linewidth=1.2,
                          label=f"class {class_index}")
            axis.set_title(f"{loss}, seed {run.config.seed}: {m.abandoned_classes(run)} classes < "
                           f"{m.ABANDONED_BELOW * 100:.0f} %", fontsize=9)
        axes[row, 0].set_ylabel("per-class test accuracy (%)")
    for axis in axes[-1]:
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=10, bbox_to_anchor=(0.5, -0.04), fontsize=8)
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    return _save(figure, path)


def draw_recipes(runs: dict[tuple[str, int, str], Runs], title: str, path: Path) -> Path:
    """Test accuracy over epochs for MAE and CE, SGD (left) and Adam (right), 25 (solid) and 100 (dashed) epochs."""
    use_style()
    optimizers = [name for name in ("sgd", "adam") if any(key[0] == name for key in runs)]
    figure, axes = plt.subplots(1, len(optimizers), figsize=(5.6 * len(optimizers), 4.2), sharey=True, squeeze=False)
    lengths = sorted({epochs for _, epochs, _ in runs})
    for axis, optimizer in zip(axes[0], optimizers):
        for (name, epochs, loss), group in sorted(runs.items()):
            if name != optimizer:
                continue
            curve = _curve(group, "test_accuracy")
            if curve is None:
                continue
            x, mean, low, high = curve
            colour = loss_colour(loss)
            style = "-" if epochs == lengths[0] else "--"
            axis.plot(x, mean * 100, color=colour, linestyle=style, label=f"{loss}, {epochs} epochs")
            axis.fill_between(x, low * 100, high * 100, color=colour, alpha=0.15, linewidth=0)
        lr = next(group[0].config.lr for key, group in runs.items() if key[0] == optimizer and group)
        axis.set_title(f"{'SGD' if optimizer == 'sgd' else 'Adam'}, lr {lr:g}")
        axis.set_xlabel("epoch")
        axis.legend(fontsize=8)
    axes[0, 0].set_ylabel("test accuracy (%)")
    figure.suptitle(title)
    figure.tight_layout()
    return _save(figure, path)


def draw_true_logit_push(path: Path, specs: Sequence[str] = ("mae", "ce", "focal:0.5", "focal:2", "focal:5")) -> Path:
    """Analytic: the push −∂loss/∂z_y on the true logit against p_y (left) and as a share of CE's (right).

    MAE's push is 2·p_y(1 − p_y) against CE's 1 − p_y: at p_y = 1/C it is a fifth of CE's, and it
    vanishes as p_y → 0, so an example (or a whole class) the network gets badly wrong barely moves.
    """
    use_style()
    curves = probability_curves(specs)
    reference = curves["ce"].true_logit_push
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for index, (spec, curve) in enumerate(curves.items()):
        colour = loss_colour(spec, index + 1)
        left.plot(curve.true_probability, curve.true_logit_push, color=colour, label=spec)
        right.plot(curve.true_probability, curve.true_logit_push / reference, color=colour, label=spec)
    for axis in (left, right):
        axis.axvline(0.1, color="grey", linestyle=":", linewidth=1)
        axis.set_xlabel("$p_y$, probability of the true class")
        axis.set_xlim(0, 1)
    left.set_ylabel(r"$-\partial \ell / \partial z_y$")
    left.set_title("push on the true logit (dotted: chance, 1/C)")
    right.set_ylabel("share of cross-entropy's push")
    right.set_title("relative to cross-entropy")
    left.legend()
    figure.suptitle("Why MAE stalls: its gradient vanishes on the examples it gets wrong")
    figure.tight_layout()
    return _save(figure, path)
