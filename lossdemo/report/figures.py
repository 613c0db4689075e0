"""Figure building blocks shared by the experiments' report modules, drawn from stored runs only.

Each curve is the mean over seeds with a shaded 95 % t-interval; diverged runs are drawn as a
marked, truncated line and are left out of the mean, so a blow-up is visible instead of averaged away.
Points are means over seeds with the half-width of their 95 % t-interval as the error bar.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator, NullLocator

from ..losses import loss_title
from ..results import StoredRun
from ..run_config import RunStatus
from .measures import Measure, complete
from .output import save_figure
from .stats import mean_ci
from .style import loss_colour, new_figure

Runs = list[StoredRun]

# (history key, panel title, y-axis label)
_PANELS = (
    ("train_loss", "training set", "loss, each its own (log scale)"),
    ("test_loss", "test set", "loss, each its own (log scale)"),
    ("train_accuracy", "training set", "accuracy (%)"),
    ("test_accuracy", "test set", "accuracy (%)"),
)


def mean_band(curves: list[list[float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-epoch mean and 95 % interval bounds over equally long curves."""
    intervals = [mean_ci(list(values)) for values in zip(*curves)]
    return (
        np.array([i.mean for i in intervals]),
        np.array([i.low for i in intervals]),
        np.array([i.high for i in intervals]),
    )


def point(runs: Runs, measure: Measure) -> tuple[float, float]:
    """(mean, half-width of the 95 % interval) of ``measure`` over complete runs; NaN when none."""
    values = [value for value in (measure(run) for run in complete(runs)) if not np.isnan(value)]
    if not values:
        return float("nan"), float("nan")
    interval = mean_ci(values)
    return interval.mean, interval.half_width


def accuracy_curve(runs: Runs, metric: str):
    """(epochs, mean, low, high) of a per-epoch accuracy over complete runs, the band clipped to [0, 1];
    None when no complete run recorded it at every epoch."""
    finished = [run for run in complete(runs) if run.history.get(metric)]
    if not finished or any(value is None for run in finished for value in run.history[metric]):
        return None
    mean, low, high = mean_band([run.history[metric] for run in finished])
    return np.arange(1, len(mean) + 1), mean, np.clip(low, 0, 1), np.clip(high, 0, 1)


# Runs whose lengths differ by this factor or more are drawn against a logarithmic epoch axis.
LOG_EPOCHS_FROM = 2.0


def epoch_axis_is_log(lengths) -> bool:
    """Whether a figure of runs with these lengths (epochs) draws its epoch axis on a log scale.

    Under the fair protocol the slow losses (MAE) train four times as long as CE and focal loss, and
    on a linear axis the fast losses' whole run, where they do all their learning, is squeezed into
    the left quarter. A log axis gives each doubling of epochs the same width, so the first epochs
    of the short runs and the long tail of the long ones are both readable, and the unit stays an
    epoch, so the lengths are still compared truthfully. Equal lengths keep a linear axis.
    """
    lengths = [length for length in lengths if length]
    return bool(lengths) and max(lengths) >= LOG_EPOCHS_FROM * min(lengths)


def draw_curves_figure(runs_by_loss: dict[str, list[StoredRun]], title: str, path: Path) -> Path:
    """2×2 panels (train/test × loss/accuracy) vs epoch, one colour per loss, mean ± 95 % CI.

    Every run is drawn over its own epochs; where the losses' lengths differ (the fair protocol's
    longer runs for slow losses) the epoch axis is logarithmic (:func:`epoch_axis_is_log`).
    """
    figure, axes = new_figure(6.6, rows=2, columns=2, sharex=True)
    lengths = [len(run.history["test_accuracy"]) for runs in runs_by_loss.values() for run in complete(runs)]
    for index, (loss, runs) in enumerate(runs_by_loss.items()):
        colour = loss_colour(loss, index)
        finished = complete(runs)
        for axis, (metric, _, _) in zip(axes.flat, _PANELS):
            scale = 100 if "accuracy" in metric else 1
            if finished:
                mean, low, high = mean_band([run.history[metric] for run in finished])
                if "accuracy" in metric:  # a t-interval knows nothing of [0, 1]; don't draw impossible values
                    low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
                epochs = np.arange(1, len(mean) + 1)
                axis.plot(epochs, mean * scale, color=colour, label=f"{loss_title(loss)} (n = {len(finished)})")
                axis.fill_between(epochs, low * scale, high * scale, color=colour, alpha=0.2, linewidth=0)
            for run in runs:
                if run.status == RunStatus.DIVERGED:
                    values = [np.nan if v is None else v * scale for v in run.history[metric]]
                    axis.plot(range(1, len(values) + 1), values, color=colour, linestyle=":", marker="x",
                              label=f"{loss_title(loss)}, seed {run.config.seed} diverged")
    for axis, (_, panel_title, y_label) in zip(axes.flat, _PANELS):
        axis.set_title(panel_title)
        axis.set_ylabel(y_label)
    log_epochs = epoch_axis_is_log(lengths)
    for axis in axes[1]:
        axis.set_xlabel("epoch (log scale)" if log_epochs else "epoch")
        if log_epochs:
            axis.set_xscale("log")
            ticks = [tick for tick in (1, 2, 5, 10, 25, 50, 100, 200, 500) if tick <= max(lengths)]
            axis.set_xticks(ticks, [str(tick) for tick in ticks])
            axis.xaxis.set_minor_locator(NullLocator())
        else:
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in axes[0]:
        axis.set_yscale("log")  # losses of different families differ by orders of magnitude
    handles, labels = axes[1, 1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), bbox_to_anchor=(0.5, -0.01))
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.02 + 0.035 * -(-len(labels) // 3), 1, 1))
    return save_figure(figure, path)


def per_class_matrix(runs_by_loss: dict[str, list[StoredRun]]) -> dict[str, np.ndarray]:
    """Per loss, the final per-class test accuracy averaged over its complete seeds (the heatmap's
    cells, which its caption reads too); a loss without complete runs is left out."""
    matrix = {}
    for loss, runs in runs_by_loss.items():
        finals = [run.history["test_per_class_accuracy"][-1] for run in complete(runs)]
        if finals:
            matrix[loss] = np.mean(finals, axis=0)
    return matrix


def draw_per_class_figure(runs_by_loss: dict[str, list[StoredRun]], class_names, title: str, path: Path) -> Path:
    """Heatmap of final per-class test accuracy (mean over complete seeds): abandoned classes show as dark cells."""
    losses = list(runs_by_loss)
    cells = per_class_matrix(runs_by_loss)
    matrix = np.full((len(losses), len(class_names)), np.nan)
    for row, loss in enumerate(losses):
        if loss in cells:
            matrix[row] = cells[loss]
    figure, axis = new_figure(1.2 + 0.45 * len(losses))
    image = axis.imshow(matrix * 100, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    axis.set_xticks(range(len(class_names)), class_names)
    axis.set_yticks(range(len(losses)), [loss_title(loss) for loss in losses])
    axis.set_xlabel("class")
    axis.grid(False)
    for (row, col), value in np.ndenumerate(matrix):
        if not np.isnan(value):
            axis.text(col, row, f"{value * 100:.0f}", ha="center", va="center", fontsize="small",
                      color="white" if value < 0.6 else "black")
    figure.colorbar(image, ax=axis, label="final test accuracy (%)")
    axis.set_title(title)
    return save_figure(figure, path)
