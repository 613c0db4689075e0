"""Figure building blocks shared by the experiments' report modules, drawn from stored runs only.

Each curve is the mean over seeds with a shaded 95 % t-interval; diverged runs are drawn as a
marked, truncated line and are left out of the mean, so a blow-up is visible instead of averaged away.
Points are means over seeds with the half-width of their 95 % t-interval as the error bar.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

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
    ("train_accuracy", "training set", "accuracy"),
    ("test_accuracy", "test set", "accuracy"),
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


def draw_curves_figure(runs_by_loss: dict[str, list[StoredRun]], title: str, path: Path) -> Path:
    """2×2 panels (train/test × loss/accuracy) vs epoch, one colour per loss, mean ± 95 % CI."""
    figure, axes = new_figure(6.6, rows=2, columns=2, sharex=True)
    for index, (loss, runs) in enumerate(runs_by_loss.items()):
        colour = loss_colour(loss, index)
        finished = complete(runs)
        for axis, (metric, _, _) in zip(axes.flat, _PANELS):
            if finished:
                mean, low, high = mean_band([run.history[metric] for run in finished])
                if "accuracy" in metric:  # a t-interval knows nothing of [0, 1]; don't draw impossible values
                    low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
                epochs = np.arange(1, len(mean) + 1)
                axis.plot(epochs, mean, color=colour, label=f"{loss} (n={len(finished)})")
                axis.fill_between(epochs, low, high, color=colour, alpha=0.2, linewidth=0)
            for run in runs:
                if run.status == RunStatus.DIVERGED:
                    values = [np.nan if v is None else v for v in run.history[metric]]
                    axis.plot(range(1, len(values) + 1), values, color=colour, linestyle=":", marker="x",
                              label=f"{loss} seed {run.config.seed} diverged")
    for axis, (_, panel_title, y_label) in zip(axes.flat, _PANELS):
        axis.set_title(panel_title)
        axis.set_ylabel(y_label)
    for axis in axes[1]:
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axis in axes[0]:
        axis.set_yscale("log")  # losses of different families differ by orders of magnitude
    handles, labels = axes[1, 1].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), bbox_to_anchor=(0.5, -0.01))
    figure.suptitle(title)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    return save_figure(figure, path)


def draw_per_class_figure(runs_by_loss: dict[str, list[StoredRun]], class_names, title: str, path: Path) -> Path:
    """Heatmap of final per-class test accuracy (mean over complete seeds): abandoned classes show as dark cells."""
    losses = list(runs_by_loss)
    matrix = np.full((len(losses), len(class_names)), np.nan)
    for row, loss in enumerate(losses):
        finals = [run.history["test_per_class_accuracy"][-1] for run in complete(runs_by_loss[loss])]
        if finals:
            matrix[row] = np.mean(finals, axis=0)
    figure, axis = new_figure(1.2 + 0.45 * len(losses))
    image = axis.imshow(matrix * 100, vmin=0, vmax=100, cmap="viridis", aspect="auto")
    axis.set_xticks(range(len(class_names)), class_names)
    axis.set_yticks(range(len(losses)), losses)
    axis.set_xlabel("class")
    axis.grid(False)
    for (row, col), value in np.ndenumerate(matrix):
        if not np.isnan(value):
            axis.text(col, row, f"{value * 100:.0f}", ha="center", va="center", fontsize="small",
                      color="white" if value < 0.6 else "black")
    figure.colorbar(image, ax=axis, label="final test accuracy (%)")
    axis.set_title(title)
    return save_figure(figure, path)
