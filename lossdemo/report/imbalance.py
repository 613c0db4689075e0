"""The ``imbalance`` experiment's report: does CE favour the majority classes, and what helps?

Figures (accuracy, balanced accuracy and head/tail accuracy against the imbalance ratio; per-class
accuracy at the largest ratio), the tables (results; class counts per ratio), and the verdicts of
the report's two imbalance claims, Cui et al. 2019's two and Menon et al. 2021's. Every run is read
at its best epoch on the (balanced, clean) validation split. The grid is ``EXPERIMENTS["imbalance"]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..corruption import long_tail_counts
from ..data import class_names_of
from ..experiments import CB_BETA_SWEEP, EXPERIMENTS
from ..losses import class_balanced_weights, loss_title, parse_loss_spec
from ..protocol import long_tail_pool
from ..results import StoredRun
from ..run_config import RunConfig
from . import captions
from . import measures as m
from .captions import with_captions
from .experiment_report import ExperimentReport, RenderContext, write_per_dataset, write_setup
from .figures import draw_per_class_figure, per_class_matrix, point
from .inference import Comparison
from .measures import RunIndex, group_runs
from .output import save_figure
from .stats import format_difference, mean_ci
from .style import NEUTRAL_COLOUR, loss_colour_in, new_figure, plt
from .tables import FOOTER, cell, complete_count, ordered_losses, stability_markdown
from .tune import COLLAPSE_MARGIN
from .verdicts import MIN_SEEDS, Claim, Finding, beats, fair, level_measure, paired_measure, paired_values

Runs = list[StoredRun]
_COUNT_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _count_word(count: int) -> str:
    return _COUNT_WORDS[count] if count < len(_COUNT_WORDS) else str(count)


def head_and_tail(runs: Runs) -> tuple[list[int], list[int]]:
    """The head and tail classes (``measures.head_classes`` / ``tail_classes``) of the runs' datasets."""
    num_classes = len(runs[0].history["test_per_class_accuracy"][0]) if runs else 10
    return m.head_classes(num_classes), m.tail_classes(num_classes)


def draw_imbalance(runs: dict[tuple[float, str], Runs], losses: Sequence[str], title: str, path: Path) -> Path:
    """Against the imbalance ratio: test accuracy, balanced accuracy, and head (solid) vs tail (dashed);
    the fourth panel holds the legends."""
    figure, grid = new_figure(6.6, rows=2, columns=2)
    axes, legend_panel = [grid[0, 0], grid[0, 1], grid[1, 0]], grid[1, 1]
    ratios = sorted({ratio for ratio, _ in runs})
    head, tail = head_and_tail([run for group in runs.values() for run in group])
    panels = ((axes[0], [(m.selected_accuracy, "-")], "test accuracy"),
              (axes[1], [(m.selected_balanced_accuracy, "-")], "balanced accuracy"),
              (axes[2], [(m.selected_head_accuracy, "-"), (m.selected_tail_accuracy, "--")],
               f"{len(head)} most frequent vs {len(tail)} rarest classes"))
    for axis, series, panel_title in panels:
        for loss in losses:
            colour = loss_colour_in(loss, losses)
            for measure, style in series:
                points = [point(runs.get((ratio, loss), []), measure) for ratio in ratios]
                axis.errorbar(ratios, [p[0] * 100 for p in points], yerr=[p[1] * 100 for p in points], color=colour,
                              linestyle=style, marker="o", capsize=3, label=loss_title(loss))
        axis.set_xscale("log")
        axis.set_xticks(ratios, [f"{ratio:g}" for ratio in ratios])
        axis.set_xlabel("imbalance ratio (largest / smallest class)")
        axis.set_title(panel_title)
    for axis in (axes[0], axes[2]):
        axis.set_ylabel("test accuracy (%)")
    axes[1].sharey(axes[0])
    legend_panel.axis("off")
    handles, labels = axes[0].get_legend_handles_labels()
    losses_legend = legend_panel.legend(handles, labels, title="loss", loc="upper left")
    legend_panel.add_artist(losses_legend)
    legend_panel.legend([plt.Line2D([], [], color=NEUTRAL_COLOUR), plt.Line2D([], [], color=NEUTRAL_COLOUR, linestyle="--")],
                        [f"head (classes {m.class_span(head)})", f"tail (classes {m.class_span(tail)})"],
                        title="bottom-left panel", loc="lower left")
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def imbalance_table(runs: dict[tuple[float, str], Runs], losses: Sequence[str]) -> str:
    lines = ["| ratio | loss | lr | n | test acc. (%) | balanced acc. (%) | head classes (%) | tail classes (%) "
             "| training acc. (%) |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for ratio in sorted({ratio for ratio, _ in runs}):
        for loss in losses:
            group = runs.get((ratio, loss), [])
            if group:
                rates = ", ".join(f"{lr:g}" for lr in sorted({run.config.lr for run in group}))
                lines.append(f"| {ratio:g} | `{loss}` | {rates} | {complete_count(group)} | {cell(group, m.selected_accuracy)} | "
                             f"{cell(group, m.selected_balanced_accuracy)} | {cell(group, m.selected_head_accuracy)} | "
                             f"{cell(group, m.selected_tail_accuracy)} | {cell(group, m.final_train_accuracy)} |")
    head, tail = head_and_tail([run for group in runs.values() for run in group])
    fallen = [f"`{loss}` at ratio {ratio:g}, seed {run.config.seed}" for (ratio, loss), group in sorted(runs.items())
              for run in m.complete(group) if m.collapsed(run, COLLAPSE_MARGIN)]
    collapse_note = (f" Runs that ended predicting (almost) only the most frequent class (a final training accuracy "
                     f"within {COLLAPSE_MARGIN * 100:g} points of that class's share): {'; '.join(fallen)}. They are kept "
                     "in the means: a rate that fails on some seeds is part of what the loss costs at that rate."
                     if fallen else "")
    lines += ["", FOOTER + f" Test columns at the epoch with the best validation accuracy (the validation split is "
              f"held out before the long tail is cut, so it is balanced like the test set); training accuracy at the last "
              f"epoch. Head: the {_count_word(len(head))} most frequent classes ({m.class_span(head)}); tail: the "
              f"{_count_word(len(tail))} rarest ({m.class_span(tail)}). Each loss trains at the rate tuned for it at "
              "ratio 100, the same at every ratio. The test set is not resampled, so every class counts the same in "
              "balanced accuracy." + collapse_note]
    return "\n".join(lines) + "\n"


def imbalance_setup_table(configs: list[RunConfig], class_sizes: tuple[int, int, int] | None) -> str:
    """Per ratio: training-set class counts, the realised ratio, epochs and SGD steps, and the
    class-balanced weights (``lossdemo.losses.class_balanced_weights``) of the rarest and commonest class.

    ``class_sizes`` is (smallest class, number of classes, samples) of the balanced training data
    the runs cut the long tail from (after their validation split), None if unknown.
    """
    if class_sizes is None:
        return "Class counts not shown: the dataset is not available on the machine that drew this page.\n"
    smallest_class, num_classes, balanced_total = class_sizes
    lines = ["| ratio | training samples per class (class 0 … 9) | total | largest / smallest | epochs | SGD steps "
             "| class-balanced weight, commonest / rarest class |",
             "|---:|---|---:|---:|---:|---:|---:|"]
    for ratio in sorted({config.imbalance_ratio for config in configs}):
        counts = (long_tail_counts(smallest_class, ratio, num_classes) if ratio != 1 else None)
        at_ratio = [config for config in configs if config.imbalance_ratio == ratio]
        epochs = sorted({config.epochs for config in at_ratio})
        shown = ", ".join(map(str, counts)) if counts else "all (the full training set)"
        total = sum(counts) if counts else "all"
        realised = f"{max(counts) / min(counts):.0f}" if counts else "—"
        # Steps per run as train_run takes them: whole batches only, every epoch.
        steps = ", ".join(str(epoch * max(1, (sum(counts) if counts else balanced_total) // at_ratio[0].batch_size))
                          for epoch in epochs)
        weights = class_balanced_weights(counts) if counts else None
        weight = f"{weights[0]:.2f} / {weights[-1]:.2f}" if weights else "1 / 1"
        lines.append(f"| {ratio:g} | {shown} | {total} | {realised} | {', '.join(map(str, epochs))} | {steps} | {weight} |")
    lines += ["", "\"Ratio\" names the condition; the class sizes are rounded down to whole samples from the smallest "
              "class up, so the realised largest / smallest ratio can differ from it. "
              "Class-balanced weights (Cui et al. 2019, at cb-ce's default β = 0.999; the β sweep's table has the "
              "others) are scaled so that their mean over the training "
              "samples is 1: a class-balanced loss takes steps of CE's size and only moves weight from head to tail. "
              "The counts are those the runs train on: their validation split is held out of each class first."]
    return "\n".join(lines) + "\n"


def _beta(spec: str) -> float:
    return parse_loss_spec(spec).beta


def chosen_class_balanced(runs: dict[str, Runs]) -> str | None:
    """The ``cb-ce`` β (as its spec) with the best mean validation balanced accuracy over the complete
    seeds of ``runs`` (spec -> runs, one imbalance ratio), among specs with at least MIN_SEEDS; the test
    split plays no part. None when no spec has enough seeds."""
    scores = {}
    for spec, group in runs.items():
        values = [m.selected_validation_balanced_accuracy(run) for run in m.complete(group)]
        values = [value for value in values if value == value]
        if len(values) >= MIN_SEEDS:
            scores[spec] = sum(values) / len(values)
    return max(scores, key=lambda spec: (scores[spec], -_beta(spec))) if scores else None


def class_balanced_beta_table(runs: dict[tuple[float, str], Runs], ratio: float) -> str:
    """``cb-ce`` at each β of Cui et al.'s grid at ``ratio``: tuned rate, validation and test balanced
    accuracy; the β the verdict uses is the one with the best validation score."""
    at_ratio = {spec: runs[(ratio, spec)] for spec in CB_BETA_SWEEP if (ratio, spec) in runs}
    chosen = chosen_class_balanced(at_ratio)
    lines = ["| β | loss | lr | n | validation balanced acc. (%) | test balanced acc. (%) | chosen on validation |",
             "|---:|---|---:|---:|---:|---:|:---:|"]
    for spec, group in at_ratio.items():
        rates = ", ".join(f"{lr:g}" for lr in sorted({run.config.lr for run in group}))
        lines.append(f"| {_beta(spec):g} | `{spec}` | {rates} | {complete_count(group)} | "
                     f"{cell(group, m.selected_validation_balanced_accuracy)} | {cell(group, m.selected_balanced_accuracy)} | "
                     f"{'✓' if spec == chosen else ''} |")
    lines += ["", FOOTER + f" Imbalance ratio {ratio:g}; each β at its own rate tuned at this ratio; both columns at "
              "the epoch with the best validation accuracy. The verdict on class-balanced weighting uses the β with "
              "the best mean validation balanced accuracy; the test column is shown, not used, for the choice."]
    return "\n".join(lines) + "\n"


def imbalance_caption(runs: dict[tuple[float, str], Runs], losses: Sequence[str], reference: str = "ce") -> str:
    """The accuracy figure's takeaway at the largest ratio, with the table's cells: how far CE's rarest
    classes fall behind its most frequent, and the loss with the best balanced accuracy."""
    largest = max(ratio for ratio, _ in runs)
    at_largest = {loss: runs[(largest, loss)] for loss in losses if m.counted(runs.get((largest, loss), []))}
    if reference not in at_largest:
        return f"No complete runs of {loss_title(reference)} at imbalance ratio {largest:g}."
    head, tail = head_and_tail([run for group in at_largest.values() for run in group])
    ce = at_largest[reference]
    text = (f"At imbalance ratio {largest:g}, {loss_title(reference)} reaches {cell(ce, m.selected_tail_accuracy)} % "
            f"test accuracy on its {_count_word(len(tail))} rarest classes against {cell(ce, m.selected_head_accuracy)} % "
            f"on its {_count_word(len(head))} most frequent, {cell(ce, m.selected_balanced_accuracy)} % balanced.")
    balanced = {loss: mean_ci([m.selected_balanced_accuracy(run) for run in m.counted(group)]).mean
                for loss, group in at_largest.items()}
    best = max(balanced, key=balanced.get)
    if best != reference:
        text += (f" {loss_title(best)} has the highest balanced accuracy there, "
                 f"{cell(at_largest[best], m.selected_balanced_accuracy)} %.")
    return text


def render(runs: Runs, out_dir: Path, context: RenderContext) -> dict[str, str]:
    """Accuracy, balanced accuracy and head/tail accuracy against the ratio; per-class heatmap at the largest ratio;
    the β sweep of class-balanced CE at the largest ratio."""
    losses = ordered_losses(EXPERIMENTS["imbalance"], runs)
    # The figures show cb-ce at its default β only; the β sweep has a table of its own.
    drawn = [loss for loss in losses if loss not in CB_BETA_SWEEP or loss == "cb-ce"]

    def outputs(dataset, dataset_runs):
        grouped = group_runs(dataset_runs, key=lambda r: (r.config.imbalance_ratio, r.config.loss))
        largest = max(ratio for ratio, _ in grouped)
        at_largest = {loss: grouped[(largest, loss)] for loss in drawn if (largest, loss) in grouped}
        configs = [run.config for run in dataset_runs]
        return with_captions({
            "accuracy.png": lambda p: draw_imbalance(grouped, drawn, f"Long-tailed training sets on {dataset}", p),
            "per_class.png": lambda p: draw_per_class_figure(
                at_largest, class_names_of(dataset),
                f"Final per-class test accuracy at imbalance ratio {largest:g} on {dataset}", p),
            "table.md": lambda p: p.write_text(imbalance_table(grouped, losses)),
            "cb_beta.md": lambda p: p.write_text(class_balanced_beta_table(grouped, largest)),
            "stability.md": lambda p: p.write_text(stability_markdown(
                {(loss, f"{ratio:g}"): grouped.get((ratio, loss), []) for ratio in sorted({r for r, _ in grouped})
                 for loss in drawn}, "imbalance ratio", m.selected_balanced_accuracy, "balanced test acc.")),
            "counts.md": lambda p: p.write_text(imbalance_setup_table(
                configs, _class_sizes(dataset, context, max(config.validation_fraction for config in configs)))),
        }, {"accuracy.png": lambda: imbalance_caption(grouped, drawn),
            "per_class.png": lambda: captions.per_class_caption(per_class_matrix(at_largest), class_names_of(dataset),
                                                                m.ABANDONED_BELOW)})

    return write_per_dataset("imbalance", runs, out_dir, outputs) | write_setup("imbalance", runs, out_dir)


def _class_sizes(dataset: str, context: RenderContext, validation_fraction: float) -> tuple[int, int, int] | None:
    """(smallest class, number of classes, samples) of the training data the runs actually cut the
    long tail from, after their validation split is held out, or None when the dataset is not on this
    machine.

    The validation split holds ``floor(fraction * n_c)`` samples of each class out first
    (``lossdemo.splits``), and the long-tail profile starts from the smallest class of what is left.
    """
    counts = context.train_class_counts.get(dataset)
    if not counts:
        return None
    kept = [count - math.floor(validation_fraction * count) for count in counts]
    return min(kept), len(kept), sum(kept)


def _on_the_pool(rule):
    """The rule judged once, under the name of the dataset the long tails are drawn from: a dataset with a
    larger pool (``lossdemo.protocol.LONG_TAIL_POOLS``) reads the pool's runs, so it is judged there."""
    def judged(index: RunIndex, dataset: str) -> Finding | None:
        return None if long_tail_pool(dataset) != dataset else rule(index, dataset)

    return judged


def _at(dataset: str, loss: str, ratio: float):
    return fair("imbalance", dataset, loss=loss, imbalance_ratio=ratio)


def _ce_favours_majority(index: RunIndex, dataset: str) -> Finding | None:
    skewed, balanced = _at(dataset, "ce", 100.0), _at(dataset, "ce", 1.0)
    extra_gap = paired_measure(index, skewed, balanced, m.selected_head_tail_gap)
    gap = level_measure(index, skewed, m.selected_head_tail_gap)
    if extra_gap is None or gap is None:
        return None
    head, tail = head_and_tail(list(index.seeds_of(skewed).values()))
    comparisons = (Comparison("head − tail gap, ratio 100 − ratio 1",
                              paired_values(index, skewed, balanced, m.selected_head_tail_gap), metric="balanced accuracy"),)
    detail = (f"At imbalance ratio 100, CE's mean test accuracy on the {_count_word(len(head))} most frequent classes "
              f"exceeds that on the {_count_word(len(tail))} rarest by {format_difference(gap)}; that is "
              f"{format_difference(extra_gap)} more than the same classes' gap "
              "with balanced training data (classes differ in difficulty, so the balanced gap is the baseline).")
    return Finding(comparisons, f"head − tail, ratio 100 vs 1: {format_difference(extra_gap, short=True)}", detail)


def _focal_fixes_imbalance(index: RunIndex, dataset: str) -> Finding | None:
    # Led by the report's own γ = 0.5 (its best focal loss); γ = 2 is the literature's default. Each γ is
    # one regime whose two ratios must both hold.
    results = {(loss, ratio): paired_measure(index, _at(dataset, loss, ratio), _at(dataset, "ce", ratio),
                                             m.selected_balanced_accuracy)
               for loss in ("focal:0.5", "focal:2") for ratio in (10.0, 100.0)}
    if any(d is None for d in results.values()):
        return None
    comparisons = tuple(Comparison(f"`{loss}` − `ce` at ratio {ratio:g}", paired_values(
        index, _at(dataset, loss, ratio), _at(dataset, "ce", ratio), m.selected_balanced_accuracy),
        metric="balanced accuracy") for loss, ratio in results)
    detail = "Balanced test accuracy (mean of per-class accuracies), focal − CE, paired by seed: " + "; ".join(
        f"ratio {ratio:g}, {beats(loss, 'ce', d)} ({format_difference(d)})" for (loss, ratio), d in results.items()) + "."
    groups = tuple(f"γ = {loss.split(':')[1]}" for loss, _ in results)
    return Finding(comparisons, "", detail, regime="γ", groups=groups)


_CUI_PUBLISHED = ("For scale: Cui et al. (2019, Table 2) report top-1 error on long-tailed CIFAR-10 at ratio 100 "
                  "(ResNet-32) of 29.64 % for softmax CE, 30.41 % for focal loss with γ = 2 (29.62 % at γ = 1) and "
                  "25.43 % for their best class-balanced loss (focal, β = 0.9999, γ = 1); their network, data and "
                  "schedule differ from these.")


def _versus_ce_at_100(index: RunIndex, dataset: str, loss: str, kind: str = "sign") -> tuple | None:
    other, ce = _at(dataset, loss, 100.0), _at(dataset, "ce", 100.0)
    interval = paired_measure(index, other, ce, m.selected_balanced_accuracy)
    if interval is None:
        return None
    return interval, Comparison(f"`{loss}` − `ce`", paired_values(index, other, ce, m.selected_balanced_accuracy), kind=kind,
                                metric="balanced accuracy")


def _cui_class_balanced(index: RunIndex, dataset: str) -> Finding | None:
    sweep = {spec: list(index.seeds_of(_at(dataset, spec, 100.0)).values()) for spec in CB_BETA_SWEEP}
    chosen = chosen_class_balanced(sweep)
    if chosen is None:
        return None
    found = _versus_ce_at_100(index, dataset, chosen)
    if found is None:
        return None
    cb, comparison = found
    detail = (f"At ratio 100, balanced test accuracy, each loss at its rate tuned at that ratio, class-balanced CE at "
              f"the β of Cui et al.'s grid with the best validation balanced accuracy (β = {_beta(chosen):g}): "
              f"{beats(chosen, 'ce', cb)} ({format_difference(cb)}). {_CUI_PUBLISHED}")
    return Finding((comparison,), f"`{chosen}` − `ce`: {format_difference(cb, short=True)}", detail)


def _cui_focal_alone(index: RunIndex, dataset: str) -> Finding | None:
    # "Does not beat": non-superiority, shown (not assumed) by focal − CE staying below the margin.
    found = _versus_ce_at_100(index, dataset, "focal:2", kind="at-most")
    if found is None:
        return None
    focal, comparison = found
    detail = (f"At ratio 100, balanced test accuracy: {beats('focal:2', 'ce', focal)} ({format_difference(focal)}); the "
              f"claim holds when the data show focal − CE below +{comparison.margin * 100:g} points, and fails when they show "
              f"focal loss ahead by more. "
              f"{_CUI_PUBLISHED}")
    return Finding((comparison,), f"`focal:2` − `ce`: {format_difference(focal, short=True)}", detail)


def _menon_logit_adjustment(index: RunIndex, dataset: str) -> Finding | None:
    found = _versus_ce_at_100(index, dataset, "la-ce:1")
    if found is None:
        return None
    adjusted, comparison = found
    detail = (f"At ratio 100, balanced test accuracy, each loss at its rate tuned at that ratio: "
              f"{beats('la-ce:1', 'ce', adjusted)} ({format_difference(adjusted)}). Logit adjustment adds τ·log of each "
              "class's training prior to its logit inside the loss, so the network must give rare classes a larger "
              "margin (Menon et al. 2021).")
    return Finding((comparison,), f"`la-ce:1` − `ce`: {format_difference(adjusted, short=True)}", detail)


CLAIMS = (
    Claim("ce-favours-majority", "Under class imbalance, CE favours the majority classes.",
          "report", ("imbalance",), "imbalance.md#head-and-tail", "imbalance", _on_the_pool(_ce_favours_majority)),
    Claim("focal-fixes-imbalance", "Focal loss solves class imbalance.",
          "report", ("imbalance",), "imbalance.md#accuracy-against-the-imbalance-ratio", "imbalance",
          _on_the_pool(_focal_fixes_imbalance)),
    Claim("cui-focal-alone", "At imbalance ratio 100, focal loss alone does not beat plain CE.",
          "Cui et al. 2019", ("imbalance",), "imbalance.md#compared-with-cui-et-al-2019", "imbalance",
          _on_the_pool(_cui_focal_alone)),
    Claim("cui-class-balanced", "At imbalance ratio 100, class-balanced weighting beats plain CE.",
          "Cui et al. 2019", ("imbalance",), "imbalance.md#compared-with-cui-et-al-2019", "imbalance",
          _on_the_pool(_cui_class_balanced)),
    Claim("menon-logit-adjustment", "At imbalance ratio 100, logit-adjusted CE (τ = 1) beats plain CE in balanced "
          "accuracy.", "Menon et al. 2021", ("imbalance",), "imbalance.md#the-remedies", "imbalance",
          _on_the_pool(_menon_logit_adjustment)),
)

REPORT = ExperimentReport(render=render, claims=CLAIMS)
