"""Markdown tables of the four claims experiments, from stored runs (``lossdemo.render`` writes them).

Cells are "mean ± half-width of the 95 % t-interval over seeds", in percent unless a column says
otherwise; a condition without complete runs shows "—".
"""

from __future__ import annotations

from typing import Callable, Sequence

from . import measures as m
from .corruption import long_tail_counts
from .experiments import EXPERIMENTS, Experiment
from .losses import class_balanced_weights
from .results import StoredRun
from .stats import format_interval, mean_ci
from .train import RunConfig

Runs = list[StoredRun]
FOOTER = "Mean ± half-width of the 95 % t-interval over seeds (n = seeds with a complete run)."


def cell(runs: Runs, measure: Callable[[StoredRun], float], scale: float = 100.0, digits: int = 1) -> str:
    values = [value for value in (measure(run) for run in runs if run.status == "complete") if value == value]  # drop NaN
    return format_interval(mean_ci(values), scale=scale, digits=digits) if values else "—"


def _complete(runs: Runs) -> int:
    return sum(run.status == "complete" for run in runs)


def label_noise_table(runs: dict[tuple[float, str, str], Runs], losses: Sequence[str]) -> str:
    lines = ["| noise | loss | n | final test acc. (%) | best test acc. (%) | best epoch | best − final (points) "
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
                f"| {rate * 100:.0f} % {'symmetric' if kind == 'symmetric' else 'class-pair'} | `{loss}` | {_complete(group)} | "
                f"{cell(group, m.final_accuracy)} | {cell(group, m.best_accuracy)} | "
                f"{cell(group, lambda run: float(m.best_epoch(run)), scale=1, digits=0)} | {cell(group, m.memorisation_gap)} | "
                f"{cell(group, m.final_flipped_fit) if noisy else '—'} | {cell(group, m.final_clean_fit) if noisy else '—'} |")
    lines += ["", FOOTER + " \"Fits\" is training accuracy measured against the labels trained on, at the last "
              "epoch: on the flipped subset that means predicting the wrong label."]
    return "\n".join(lines) + "\n"


def imbalance_table(runs: dict[tuple[float, str], Runs], losses: Sequence[str]) -> str:
    lines = ["| ratio | loss | n | test acc. (%) | balanced acc. (%) | head classes (%) | tail classes (%) "
             "| training acc. (%) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for ratio in sorted({ratio for ratio, _ in runs}):
        for loss in losses:
            group = runs.get((ratio, loss), [])
            if group:
                lines.append(f"| {ratio:g} | `{loss}` | {_complete(group)} | {cell(group, m.final_accuracy)} | "
                             f"{cell(group, m.final_balanced_accuracy)} | {cell(group, m.final_head_accuracy)} | "
                             f"{cell(group, m.final_tail_accuracy)} | {cell(group, m.final_train_accuracy)} |")
    lines += ["", FOOTER + " Head: the three most frequent classes (0-2); tail: the three rarest (7-9). The test "
              "set is not resampled, so every class counts the same in balanced accuracy."]
    return "\n".join(lines) + "\n"


def mean_class_balanced_weight(dataset_class_sizes: int, ratio: float, num_classes: int) -> float:
    """Average per-sample weight of class-balanced losses on the long-tailed set (1 for plain CE).

    The weights are normalised to sum to C over classes (Cui et al. 2019), but the loss is a plain
    mean over samples, so when most samples sit in down-weighted head classes the average weight
    (and with it the effective learning rate) shrinks.
    """
    counts = long_tail_counts(dataset_class_sizes, ratio, num_classes)
    weights = class_balanced_weights(counts)
    return sum(n * w for n, w in zip(counts, weights)) / sum(counts)


def imbalance_setup_table(configs: list[RunConfig], class_sizes: tuple[int, int] | None) -> str:
    """Per ratio: training-set class counts, epochs, and the mean class-balanced weight per sample.

    ``class_sizes`` is (smallest training class, number of classes) of the dataset, None if unknown.
    """
    if class_sizes is None:
        return "Class counts not shown: the dataset is not available on the machine that drew this page.\n"
    smallest_class, num_classes = class_sizes
    lines = ["| ratio | training samples per class (class 0 … 9) | total | epochs | mean class-balanced weight per sample |",
             "|---:|---|---:|---:|---:|"]
    for ratio in sorted({config.imbalance_ratio for config in configs}):
        counts = (long_tail_counts(smallest_class, ratio, num_classes) if ratio != 1 else None)
        epochs = sorted({config.epochs for config in configs if config.imbalance_ratio == ratio})
        shown = ", ".join(map(str, counts)) if counts else "all (the full training set)"
        total = sum(counts) if counts else "all"
        weight = f"{mean_class_balanced_weight(smallest_class, ratio, num_classes):.2f}" if counts else "≈ 1"
        lines.append(f"| {ratio:g} | {shown} | {total} | {', '.join(map(str, epochs))} | {weight} |")
    lines += ["", "Class-balanced weights (Cui et al. 2019, β = 0.999) sum to the number of classes over classes; the "
              "loss is a plain mean over samples, so a weight below 1 per sample is a proportionally smaller step."]
    return "\n".join(lines) + "\n"


def gamma_sweep_table(runs_by_gamma: dict[float, Runs]) -> str:
    lines = ["| γ | loss | n | final test acc. (%) | best test acc. (%) | final test ECE (%) "
             "| confidence − accuracy (points) | training acc. (%) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for gamma in sorted(runs_by_gamma):
        group = runs_by_gamma[gamma]
        lines.append(f"| {gamma:g} | `{group[0].config.loss}` | {_complete(group)} | {cell(group, m.final_accuracy)} | "
                     f"{cell(group, m.best_accuracy)} | {cell(group, m.final_ece)} | "
                     f"{cell(group, m.final_overconfidence)} | {cell(group, m.final_train_accuracy)} |")
    lines += ["", FOOTER + " ECE: expected calibration error over 15 equal-width confidence bins (Guo et al. 2017); "
              "confidence − accuracy > 0 means over-confident."]
    return "\n".join(lines) + "\n"


def mae_anatomy_table(runs: dict[tuple[str, int, str], Runs]) -> str:
    lines = ["| optimiser | epochs | loss | n | final test acc. (%) | balanced acc. (%) | classes below 10 % "
             "| training acc. (%) |",
             "|---|---:|---|---:|---:|---:|---:|---:|"]
    for (optimizer, epochs, loss), group in sorted(runs.items(), key=lambda item: (item[0][0] != "sgd", item[0][1], item[0][2])):
        lr = group[0].config.lr
        lines.append(f"| {'SGD' if optimizer == 'sgd' else 'Adam'} (lr {lr:g}) | {epochs} | `{loss}` | {_complete(group)} | "
                     f"{cell(group, m.final_accuracy)} | {cell(group, m.final_balanced_accuracy)} | "
                     f"{cell(group, lambda run: float(m.abandoned_classes(run)), scale=1)} | "
                     f"{cell(group, m.final_train_accuracy)} |")
    lines += ["", FOOTER + " \"Classes below 10 %\": classes whose final test accuracy is under a uniform guess's."]
    return "\n".join(lines) + "\n"


def experiment_setup(experiment: Experiment, configs: list[RunConfig]) -> str:
    """What the experiment varies, its question, and why its runs are as long as they are."""
    datasets = sorted({config.dataset for config in configs})
    seeds = sorted({config.seed for config in configs})
    present = {config.loss for config in configs}
    losses = [loss for loss in experiment.losses if loss in present] + sorted(present - set(experiment.losses))
    return (f"**Question.** {experiment.question}\n\n"
            f"**Grid.** {len({m.key(c) for c in configs})} conditions, {len(seeds)} seeds, {len(configs)} stored runs on "
            f"{', '.join(f'`{d}`' for d in datasets)}; losses {', '.join(f'`{loss}`' for loss in losses)}. "
            f"Epochs: {', '.join(map(str, sorted({c.epochs for c in configs})))}"
            f"{' (default ' + str(EXPERIMENTS[experiment.name].epochs) + ': ' + experiment.epochs_reason + ')' if experiment.epochs_reason else ''}.\n")
