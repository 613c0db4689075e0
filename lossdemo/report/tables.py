"""Markdown building blocks shared by the experiments' report modules: cells, footers, the setup tables.

Cells are "mean ± half-width of the 95 % t-interval over seeds", in percent unless a column says
otherwise; a condition without complete runs shows "—".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

from ..experiments import Experiment
from ..results import StoredRun
from ..run_config import RunConfig
from .measures import counted, key
from .stats import format_interval, format_mean_range, mean_ci

Runs = list[StoredRun]
FOOTER = ("Mean ± half-width of the 95 % t-interval over seeds (n = the seeds counted: every complete run, and a run "
          "that diverged after a validation split chose an epoch, read there); a quantity that cannot be negative whose "
          "interval would reach below zero shows its mean (range) instead.")

# Why each setting of the shared recipe has its value (the setup table of every experiment page).
RECIPE_REASONS = {
    "optimizer": "plain SGD shows how much gradient each loss delivers; Adam's per-step rescaling hides small gradients",
    "lr": "fair protocol: each loss's own rate, picked on validation accuracy by the tune experiment; shared "
          "recipe: lr 0.05 for every loss, the report's set-up",
    "momentum": "the usual value",
    "weight_decay": "the usual value for small CNNs; keeps the logits bounded",
    "batch_size": "about 30 steps per epoch on mnist1d's full training split, 25 with a validation split held out",
    "epochs": "fair protocol: long enough for validation accuracy to plateau, per dataset, and longer for the losses "
              "that learn slowly (`lossdemo.protocol.SLOW_LOSS_EPOCHS`); shared recipe: the report's 25",
    "validation_fraction": "fair protocol: the share of each class held out of training to choose the rate and the "
                           "epoch on (clean and balanced); 0 under the shared recipe, which reads the last epoch",
    "schedule": "cosine decay to 0 per step: final accuracy is stable enough to compare between seeds",
    "train_metrics_samples": "the training split's per-epoch loss and accuracy (and, under label noise, the fits to "
                             "the flipped and clean labels) are read on a fixed random subset of this many training "
                             "samples (the whole training split where it is smaller), the test split's size: they "
                             "are curves to read, and the tuning's check that a run did not collapse, none of which "
                             "needs every sample; a subset measures them well for much less evaluation per epoch",
}


def cell(runs: Runs, measure: Callable[[StoredRun], float], scale: float = 100.0, digits: int = 1) -> str:
    """One table cell: ``measure`` over the counted runs (``measures.counted``; NaN values dropped), or "—"."""
    values = [value for value in (measure(run) for run in counted(runs)) if value == value]  # drop NaN
    if not values:
        return "—"
    interval = mean_ci(values)
    if min(values) >= 0 and interval.n >= 2 and interval.low < 0:
        # A quantity that cannot be negative (an error rate, a count) near 0: a t-interval would reach
        # below zero, so the cell shows the mean and the range over seeds instead.
        return format_mean_range([value * scale for value in values], digits)
    return format_interval(interval, scale=scale, digits=digits)


# A seed whose number ends this far below its condition's median failed to train as the others did.
FAILED_SEED_GAP = 0.10


def stability_markdown(runs_by_condition: dict[tuple[str, str], Runs], condition_name: str,
                       measure: Callable[[StoredRun], float], measure_name: str) -> str:
    """How reliably each loss trains, seed by seed: per (loss, condition), the lowest and highest value of
    ``measure`` over the counted runs and how many seeds end far below the median. A mean can hide a
    few failed seeds (a rate at the edge of stability for some of them); that is a finding of its own."""
    lines = [f"| loss | {condition_name} | seeds | {measure_name} at the chosen epoch, lowest–highest (%) | seeds "
             f"{FAILED_SEED_GAP * 100:g}+ points below the median |", "|---|---|---:|---:|---:|"]
    for (loss, condition), runs in runs_by_condition.items():
        values = sorted(measure(run) for run in counted(runs))
        if not values:
            continue
        median = values[len(values) // 2] if len(values) % 2 else (values[len(values) // 2 - 1] + values[len(values) // 2]) / 2
        failed = sum(value < median - FAILED_SEED_GAP for value in values)
        lines.append(f"| `{loss}` | {condition} | {len(values)} | {values[0] * 100:.1f}–{values[-1] * 100:.1f} | {failed} |")
    return "\n".join(lines) + "\n"


def complete_count(runs: Runs) -> int:
    """The seeds a cell counts (``measures.counted``)."""
    return len(counted(runs))


def cell_text(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def setup_markdown(configs: list[RunConfig], reasons: dict[str, str] | None = None) -> str:
    """The training recipe actually used by the runs, as a table with the reason for each value.

    ``reasons`` replaces the default reason of a setting (e.g. an experiment's own epochs).
    """
    reasons = {**RECIPE_REASONS, **(reasons or {})}
    lines = ["| setting | value | why |", "|---|---|---|"]
    for spec in fields(RunConfig):
        if spec.name in reasons:
            values = sorted({getattr(config, spec.name) for config in configs})  # numbers in numeric order
            lines.append(f"| {spec.name} | {', '.join(map(str, values))} | {reasons[spec.name]} |")
    models = sorted({f"`{c.model}` on `{c.dataset}`" for c in configs})
    seeds = sorted({c.seed for c in configs})
    lines.append("")
    lines.append(f"Models: {', '.join(models)} (see `lossdemo.models`). Seeds: {seeds_per_condition(configs)} per "
                 f"condition ({', '.join(map(str, seeds))}); runs with the same seed share initial weights and batch "
                 "order.")
    return "\n".join(lines) + "\n"


def seeds_per_condition(configs: list[RunConfig]) -> str:
    """How many seeds a condition has: "N", or "N/2 or N" where the conditions only figures read train
    half (``lossdemo.experiments.noise_condition_seeds``)."""
    seeds_of: dict = {}
    for config in configs:
        seeds_of.setdefault(key(config), set()).add(config.seed)
    counts = sorted({len(seeds) for seeds in seeds_of.values()})
    return " or ".join(map(str, counts))


def experiment_setup(experiment: Experiment, configs: list[RunConfig]) -> str:
    """What the experiment varies, its question, and why its runs are as long as they are."""
    datasets = sorted({config.dataset for config in configs})
    seeds = sorted({config.seed for config in configs})
    present = {config.loss for config in configs}
    losses = [loss for loss in experiment.losses if loss in present] + sorted(present - set(experiment.losses))
    default = f"default {experiment.epochs}: " if experiment.epochs is not None else "default: "
    default_epochs = f" ({default}{experiment.epochs_reason})" if experiment.epochs_reason else ""
    return (f"**Question.** {experiment.question}\n\n"
            f"**Grid.** {len({key(c) for c in configs})} conditions, {seeds_per_condition(configs)} seeds each "
            f"(seeds {seeds[0]} to {seeds[-1]}), {len(configs)} stored runs on "
            f"{', '.join(f'`{d}`' for d in datasets)}; losses {', '.join(f'`{loss}`' for loss in losses)}. "
            f"Epochs: {', '.join(map(str, sorted({c.epochs for c in configs})))}{default_epochs}.\n")


def ordered_losses(experiment: Experiment, runs: Runs) -> list[str]:
    """The experiment's losses in its own order, then any others the runs used (``--losses``)."""
    present = list(dict.fromkeys(run.config.loss for run in runs))
    return ([loss for loss in experiment.losses if loss in present]
            + [loss for loss in present if loss not in experiment.losses])
