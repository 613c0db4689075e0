"""The decision guide: which loss to use in which situation, read off the stored runs.

Each situation is a set of conditions the experiments already train (the fair protocol's clean
runs, the label-noise runs at 40 % symmetric noise, the long-tailed runs at ratio 100, the shared
recipe's short runs) and a measure to rank the candidate losses by. The guide names the best loss
by its mean, its margin over the runner-up as a paired difference with its interval, and whether
the seeds separate the two: a one-sided test of "best beats runner-up" per situation, Holm-adjusted
over the guide's situations. Where they do not, the row says so and names the margin the data
rule out. Nothing here is typed by hand: change the runs and the guide changes with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..experiments import IMBALANCE_LOSSES, NOISE_LOSSES, REPORT_LOSSES
from ..protocol import FAIR, SHARED_RECIPE
from ..run_config import RunConfig
from . import measures as m
from .inference import ALPHA, Comparison, holm_one_test_per_statement
from .measures import RunIndex
from .stats import format_difference, format_interval, format_p, mean_ci
from .tables import cell_text
from .verdicts import MIN_SEEDS, reference

GUIDE_FILE = "guide_table.md"


@dataclass(frozen=True)
class Situation:
    """One row of the guide.

    Attributes:
        name: the situation, as a reader would describe theirs.
        experiment: the experiment whose runs answer it (its grid on ``dataset`` names the configs).
        fields: the config fields that pick the condition within that grid.
        candidates: the losses compared.
        measure: what "best" means here; ``lower_is_better`` flips it (calibration error).
        measure_name: the measure in words, for the table.
        evidence: the page (relative to ``docs/``) that shows the runs.
    """

    name: str
    experiment: str
    fields: dict
    candidates: tuple[str, ...]
    measure: Callable
    measure_name: str
    evidence: str
    dataset: str = "mnist1d"
    lower_is_better: bool = False


_FAIR = {"validation_fraction": FAIR.validation_fraction}
_CLEAN_CANDIDATES = tuple(dict.fromkeys(REPORT_LOSSES[:1] + REPORT_LOSSES[2:] + NOISE_LOSSES))  # l1-logits trains at no rate

SITUATIONS = (
    Situation("Clean, balanced labels", "label-noise", {**_FAIR, "label_noise": 0.0}, _CLEAN_CANDIDATES,
              m.selected_accuracy, "test accuracy at the epoch validation chose", "experiment.md"),
    Situation("Clean, balanced labels", "compare", _FAIR, REPORT_LOSSES, m.selected_accuracy,
              "test accuracy at the epoch validation chose", "experiment.md", dataset="mnist5k"),
    Situation("40 % of labels wrong, no clean validation set", "label-noise",
              {**_FAIR, "label_noise": 0.4, "label_noise_kind": "symmetric"}, NOISE_LOSSES, m.final_accuracy,
              "test accuracy at the last epoch", "claims/label-noise.md"),
    Situation("40 % of labels wrong, a clean validation set to stop on", "label-noise",
              {**_FAIR, "label_noise": 0.4, "label_noise_kind": "symmetric"}, NOISE_LOSSES, m.selected_accuracy,
              "test accuracy at the best validation epoch", "claims/label-noise.md"),
    Situation("Long tail (imbalance ratio 100)", "imbalance", {**_FAIR, "imbalance_ratio": 100.0}, IMBALANCE_LOSSES,
              m.selected_balanced_accuracy, "balanced test accuracy at the epoch validation chose",
              "claims/imbalance.md"),
    Situation("Calibrated probabilities, as trained", "label-noise", {**_FAIR, "label_noise": 0.0}, _CLEAN_CANDIDATES,
              m.final_ece, "test ECE at the last epoch (lower is better)", "claims/gamma-sweep.md", lower_is_better=True),
    Situation("Calibrated probabilities, after temperature scaling", "label-noise", {**_FAIR, "label_noise": 0.0},
              _CLEAN_CANDIDATES, m.final_ece_scaled, "test ECE after temperature scaling (lower is better)",
              "claims/gamma-sweep.md", lower_is_better=True),
    Situation("A short budget: 25 epochs at one shared rate", "compare",
              {"validation_fraction": SHARED_RECIPE.validation_fraction}, REPORT_LOSSES, m.final_accuracy,
              "test accuracy after the report's 25 epochs at lr 0.05", "experiment.md"),
)


@dataclass(frozen=True)
class Row:
    situation: Situation
    best: str
    runner_up: str
    comparison: Comparison
    best_level: str


def _config(situation: Situation, loss: str) -> RunConfig | None:
    try:
        return reference(situation.experiment, situation.dataset, loss=loss, **situation.fields)
    except ValueError:  # the loss is not in this grid (e.g. narrowed by --losses)
        return None


def _row(index: RunIndex, situation: Situation) -> Row | None:
    sign = -1 if situation.lower_is_better else 1
    values = {}
    for loss in situation.candidates:
        config = _config(situation, loss)
        if config is None:
            continue
        by_seed = {seed: value for seed, value in index.measure(config, situation.measure).items() if value == value}
        if len(by_seed) >= MIN_SEEDS:
            values[loss] = by_seed
    if len(values) < 2:
        return None
    ranked = sorted(values, key=lambda loss: -sign * mean_ci(list(values[loss].values())).mean)
    best, runner_up = ranked[:2]
    seeds = sorted(set(values[best]) & set(values[runner_up]))
    if len(seeds) < MIN_SEEDS:
        return None
    margin = tuple(sign * (values[best][s] - values[runner_up][s]) for s in seeds)
    return Row(situation, best, runner_up, Comparison(f"`{best}` − `{runner_up}`", margin),
               format_interval(mean_ci(list(values[best].values()))))


def guide_rows(runs) -> list[tuple[Row, str, float, float]]:
    """(row, outcome, raw p, Holm-adjusted p) for every situation whose runs are stored."""
    index = runs if isinstance(runs, RunIndex) else RunIndex(runs)
    rows = [row for situation in SITUATIONS if (row := _row(index, situation)) is not None]
    raw_for = [row.comparison.p_for for row in rows]
    raw_against = [row.comparison.p_against for row in rows]
    adjusted_for, _ = holm_one_test_per_statement(raw_for, raw_against, list(range(len(rows))))
    result = []
    for row, p_raw, p_adjusted in zip(rows, raw_for, adjusted_for):
        outcome = "separated" if p_adjusted < ALPHA else "not separated"
        result.append((row, outcome, p_raw, p_adjusted))
    return result


def guide_markdown(runs) -> str:
    """The guide's table: one row per situation whose runs are stored."""
    rows = guide_rows(runs)
    if not rows:
        return "Not measured yet: the guide needs the stored runs of the experiments it reads (`--full`).\n"
    lines = ["| situation | measured best | its level | margin over the runner-up (points, 95 % CI) | does the data "
             "separate them? | evidence |",
             "|---|---|---:|---:|---|---|"]
    for row, outcome, p_raw, p_adjusted in rows:
        situation = row.situation
        interval = row.comparison.interval
        margin = format_difference(interval, short=True)
        if outcome == "separated":
            verdict = f"yes (p {format_p(p_raw)} → Holm {format_p(p_adjusted)})"
            best = f"`{row.best}`"
        else:
            verdict = (f"no: `{row.best}` and `{row.runner_up}` are not separated; the data rule out a margin above "
                       f"{interval.high * 100:+.1f} (p {format_p(p_raw)} → Holm {format_p(p_adjusted)})")
            best = f"`{row.best}` or `{row.runner_up}`"
        lines.append(f"| {cell_text(situation.name)} ({situation.dataset}) | {best} | {row.best_level} % "
                     f"| over `{row.runner_up}`: {margin} | {verdict} | [{situation.measure_name}]({situation.evidence}) |")
    lines += ["", "Each row ranks the losses trained for that situation by their mean over seeds, under the fair protocol "
              "(each loss at its tuned rate, chosen on validation) unless the row says otherwise. The margin is the "
              "paired difference between the best and the runner-up (for calibration error, runner-up minus best, so "
              "a positive margin favours the best); the test is one-sided, \"the best beats the runner-up\", "
              "Holm-adjusted over the rows of this table. Choosing the best and the runner-up by their means first "
              "flatters the margin a little, so a row that is barely separated deserves the same caution as one that "
              "is not. The level is mean ± half-width of the 95 % t-interval."]
    return "\n".join(lines) + "\n"
