"""The ``tune`` experiment's report: which learning rate does each loss need?

One shared learning rate compares "how fast under this rate" as much as "how good": a loss whose
gradients are small (MAE near chance) needs a larger rate to get anywhere. Each loss is trained at
every rate of a log grid on a training split that holds out a validation split, and read at its
best validation epoch; the rate with the best mean validation accuracy is its pick. The test split
plays no part. The grid is ``EXPERIMENTS["tune"]``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..experiments import EXPERIMENTS, is_gamma_spec
from ..losses import loss_title
from ..results import StoredRun
from . import measures as m
from .captions import caption_writer, join_names
from .experiment_report import ExperimentReport, RenderContext, write_per_dataset, write_setup
from .measures import group_runs
from .output import save_figure
from .stats import format_mean_range
from .style import loss_colour_in, new_figure
from .tables import ordered_losses

Runs = list[StoredRun]


def selected_validation_accuracy(run: StoredRun) -> float:
    """Validation accuracy at the run's best validation epoch (NaN without a validation split)."""
    if not m.has_validation(run):
        return float("nan")
    return run.history["val_accuracy"][m.selected_epoch(run) - 1]


# A run whose final training accuracy is within this of always predicting the most frequent class
# (1/C on balanced data) has collapsed: the table marks it, next to the diverged runs.
COLLAPSE_MARGIN = 0.05


def unstable(run: StoredRun) -> bool:
    """Diverged, or collapsed to predicting the most frequent class by the end of training."""
    if run.status != "complete":
        return True
    return m.collapsed(run, COLLAPSE_MARGIN)


def score(runs: Runs) -> float:
    """A rate's score: the mean over the tuning seeds of the validation accuracy each run was read at.
    A seed that diverged or collapsed counts at what it scored (a diverged run at its best validation
    epoch before diverging, as early stopping would have kept it), so no seed is dropped."""
    return float(np.mean([selected_validation_accuracy(run) for run in runs]))


def picks(by_loss_and_rate: dict[tuple[str, float], Runs]) -> dict[str, float]:
    """Each loss's learning rate: the argmax over the grid of :func:`score`, the smaller rate on a tie.

    The same rule for every loss, and nothing else: no rate is excluded for being near one at which a
    seed failed, because a back-off rule moves some losses off their best rate and not others, and
    the loss comparisons would then compare learning rates. A loss whose every rate scores NaN (no
    validation split) gets no pick.
    """
    best: dict[str, tuple[float, float]] = {}
    for (loss, rate), runs in sorted(by_loss_and_rate.items()):
        if not runs:
            continue
        value = score(runs)
        if math.isnan(value):
            continue
        if loss not in best or value > best[loss][1]:
            best[loss] = (rate, value)
    return {loss: rate for loss, (rate, _) in best.items()}


def picks_by_condition(runs: Runs) -> dict[tuple[str, float, str, str], float]:
    """(dataset, imbalance ratio, loss, optimizer) -> picked learning rate, over all tuning runs in
    ``runs`` (runs with a validation split); what ``lossdemo.protocol.write_picks`` stores."""
    tuning = [run for run in runs if m.has_validation(run)]
    chosen = {}
    for (dataset, ratio, optimizer), condition_runs in group_runs(
            tuning, key=lambda run: (run.config.dataset, run.config.imbalance_ratio, run.config.optimizer)).items():
        by_loss_and_rate = group_runs(condition_runs, key=lambda run: (run.config.loss, run.config.lr))
        chosen.update({(dataset, ratio, loss, optimizer): rate for loss, rate in picks(by_loss_and_rate).items()})
    return chosen


def draw_tuning(by_loss_and_rate: dict[tuple[str, float], Runs], losses: list[str], title: str, path: Path,
                optimizer: str = "sgd") -> Path:
    """Validation accuracy (at each run's best validation epoch) against the learning rate: the mean
    over the tuning seeds as a line, every seed as a dot (a few seeds give no useful interval), the pick ringed.

    When the focal γ sweep's extra values are among the losses, they get a second panel (with CE as
    γ = 0), so that neither panel has more lines than can be told apart.
    """
    sweep_only = [loss for loss in losses if is_gamma_spec(loss) and loss not in ("ce", "focal:0.5", "focal:2")]
    panels = [[loss for loss in losses if loss not in sweep_only]]
    if sweep_only:
        panels.append([loss for loss in losses if is_gamma_spec(loss)])
    figure, axes = new_figure(4.6, columns=len(panels), sharey=True, squeeze=False)
    chosen = picks(by_loss_and_rate)
    rates = sorted({rate for _, rate in by_loss_and_rate})
    for axis, panel in zip(axes[0], panels):
        for loss in panel:
            loss_rates = sorted(rate for name, rate in by_loss_and_rate if name == loss)
            colour = loss_colour_in(loss, panel)
            means = [score(by_loss_and_rate[(loss, rate)]) * 100 for rate in loss_rates]
            axis.plot(loss_rates, means, color=colour, marker="o", label=loss_title(loss))
            for rate in loss_rates:
                seeds = [selected_validation_accuracy(run) * 100 for run in by_loss_and_rate[(loss, rate)]]
                axis.plot([rate] * len(seeds), seeds, color=colour, marker=".", linestyle="none", alpha=0.5)
            if loss in chosen:
                picked = score(by_loss_and_rate[(loss, chosen[loss])]) * 100
                axis.plot([chosen[loss]], [picked], marker="o", markersize=13, markerfacecolor="none",
                          markeredgecolor=colour, linestyle="none")
        axis.set_ylim(0, 100)
        axis.set_xscale("log", base=2)
        axis.set_xticks(rates, [f"{rate:g}" for rate in rates], rotation=45 if len(panels) > 1 else 0)
        recipe = "SGD, momentum 0.9, cosine" if optimizer == "sgd" else "Adam, no weight decay, cosine"
        axis.set_xlabel("learning rate" if len(panels) > 1 else f"learning rate ({recipe})")
        axis.legend(ncol=2 if len(panels) > 1 else 3, loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize="x-small")
    axes[0, 0].set_ylabel("validation accuracy at the best epoch (%)")
    if len(panels) > 1:
        axes[0, 0].set_title("the report's losses and the remedies", fontsize="medium")
        axes[0, 1].set_title("focal loss's γ (cross-entropy is γ = 0)", fontsize="medium")
    figure.suptitle(title)
    return save_figure(figure, path)


def tuning_caption(by_loss_and_rate: dict[tuple[str, float], Runs]) -> str:
    """The tuning figure's takeaway: how far apart the picked rates lie (the table's picks), and which
    losses pick the lowest and the highest."""
    chosen = picks(by_loss_and_rate)
    if not chosen:
        return "No rate trains any loss: 0 picks."
    low, high = min(chosen.values()), max(chosen.values())

    def at(rate: float) -> str:
        names = [loss for loss, picked in chosen.items() if picked == rate]
        if len(names) <= 2:
            return f"{rate:g}, for {join_names([loss_title(loss) for loss in names])}"
        return f"{rate:g}, for {len(names)} losses" + (", cross-entropy among them" if "ce" in names else "")

    if low == high:
        return f"Every loss picks the same learning rate, {low:g}, on validation accuracy at the best epoch."
    return (f"One learning rate does not suit every loss: the rates picked on validation accuracy run from {at(low)}, "
            f"to {at(high)}, a factor of {high / low:g}.")


def _pick_accuracy(runs: Runs) -> str:
    return format_mean_range([selected_validation_accuracy(run) * 100 for run in runs])


def tuning_table(by_loss_and_rate: dict[tuple[str, float], Runs], losses: list[str]) -> str:
    chosen = picks(by_loss_and_rate)
    lines = ["| loss | picked learning rate | validation acc. there (%) | best epoch there | rates tried | "
             "rates where a seed diverged or collapsed |",
             "|---|---:|---:|---:|---|---|"]
    for loss in losses:
        rates = sorted(rate for name, rate in by_loss_and_rate if name == loss)
        diverged = [f"{rate:g}" for rate in rates if any(unstable(run) for run in by_loss_and_rate[(loss, rate)])]
        if loss in chosen:
            runs = by_loss_and_rate[(loss, chosen[loss])]
            epochs = [m.selected_epoch(run) for run in runs]
            lines.append(f"| `{loss}` | {chosen[loss]:g} | {_pick_accuracy(runs)} | "
                         f"{format_mean_range(epochs, range_digits=0)} | "
                         f"{', '.join(f'{rate:g}' for rate in rates)} | {', '.join(diverged) or '—'} |")
        else:
            lines.append(f"| `{loss}` | none: no rate trains it | — | — | {', '.join(f'{rate:g}' for rate in rates)} | "
                         f"{', '.join(diverged) or '—'} |")
    lines += ["", "Mean (range) over the tuning seeds, which no verdict reads: with a few seeds per rate a "
              "t-interval says little, the range shows the spread. The pick is the rate with the best mean validation "
              "accuracy, the same rule for every loss; a seed that failed counts at what it scored (a diverged run at its "
              "best validation epoch before diverging). The last column names the rates where a seed diverged or ended "
              f"with a training accuracy within {COLLAPSE_MARGIN * 100:g} points of always predicting the most frequent "
              "class (chance on balanced data). The best epoch is chosen on validation too."]
    return "\n".join(lines) + "\n"


def render(runs: Runs, out_dir: Path, context: RenderContext) -> dict[str, str]:
    """The tuning curves and the table of picks, per dataset and tuning condition (balanced; long tail)."""
    losses = ordered_losses(EXPERIMENTS["tune"], runs)

    def outputs(dataset, dataset_runs):
        files = {}
        conditions = group_runs(dataset_runs, key=lambda run: (run.config.imbalance_ratio, run.config.optimizer))
        for (ratio, optimizer), condition_runs in sorted(conditions.items()):
            by_loss_and_rate = group_runs(condition_runs, key=lambda run: (run.config.loss, run.config.lr))
            shown = [loss for loss in losses if any(name == loss for name, _ in by_loss_and_rate)]
            prefix = ("" if ratio == 1 else "long_tail_") + ("" if optimizer == "sgd" else f"{optimizer}_")
            where = (dataset if ratio == 1 else f"{dataset}, imbalance ratio {ratio:g}") + \
                ("" if optimizer == "sgd" else f", {optimizer.capitalize()}")
            files[f"{prefix}learning_rates.png"] = lambda p, b=by_loss_and_rate, s=shown, w=where, o=optimizer: draw_tuning(
                b, s, f"Learning rate per loss on {w}: validation accuracy", p, o)
            files[f"{prefix}learning_rates_caption.md"] = caption_writer(lambda b=by_loss_and_rate: tuning_caption(b))
            files[f"{prefix}table.md"] = lambda p, b=by_loss_and_rate, s=shown: p.write_text(tuning_table(b, s))
        return files

    reasons = {"lr": "the experiment's subject: a factor-2 grid around the shared recipe's rate (SGD) or around "
                     "Adam's customary 1e-3 (Adam)",
               "optimizer": "SGD, as every fair-protocol run; Adam for the losses the MAE page also trains with Adam",
               "weight_decay": "5e-4 with SGD; none with Adam, as on the MAE page",
               "batch_size": "as in the other experiments; with a fifth of the training data held out, about 25 steps "
                             "per epoch",
               "imbalance_ratio": "1 for every loss; 100 too for the imbalance experiment's losses, which are tuned on "
                                  "the most long-tailed set they train on",
               "validation_fraction": "the share of each class held out of training to choose on"}
    return write_per_dataset("tune", runs, out_dir, outputs) | write_setup("tune", runs, out_dir, reasons)


REPORT = ExperimentReport(render=render)
