"""The decision guide: which loss to use in which situation, read off the stored runs.

Each situation is a set of conditions the experiments already train under the fair protocol (the
clean runs, the label-noise runs at 40 % symmetric noise, the long-tailed runs at ratio 100), a
validation measure that ranks the candidate losses, and a test measure that reports them; the
short-budget row reads the comparison's runs of a fifth of the fair common length. The
guide names the best loss by its validation mean, its margin over the runner-up on the test split
as a paired difference with its interval, and whether the seeds separate the two: a one-sided test
of "best beats runner-up" per situation, Holm-adjusted over the guide's situations. Where they do
not, the row says so and names the margin the data rule out. Nothing here is typed by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..experiments import EXPERIMENTS, IMBALANCE_LOSSES, NOISE_LOSSES, REPORT_LOSSES
from ..protocol import FAIR, SHORT_BUDGET, Recipe, epochs_of, long_tail_pool, pool_validation_fraction
from ..run_config import RunConfig
from . import measures as m
from .inference import ALPHA, EQUIVALENCE_MARGIN, Comparison, equivalence_p, holm_one_test_per_statement, one_sided_p
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
        rank_by: what "best" means, read on the validation split (the test split never chooses).
        measure: what the row reports and tests on the test split; ``lower_is_better`` flips both.
        measure_name: the measure in words, for the table.
        evidence: the page (relative to ``docs/``) that shows the runs.
        recipe: where the experiment trains a loss at more than one length with a validation split,
            the recipe whose length (per loss, ``lossdemo.protocol.epochs_of``) picks the runs.
    """

    name: str
    experiment: str
    fields: dict
    candidates: tuple[str, ...]
    rank_by: Callable
    measure: Callable
    measure_name: str
    evidence: str
    dataset: str = "mnist1d"
    lower_is_better: bool = False
    recipe: Recipe | None = None


_FAIR = {"validation_fraction": FAIR.validation_fraction}
_CLEAN_CANDIDATES = tuple(dict.fromkeys(REPORT_LOSSES[:1] + REPORT_LOSSES[2:] + NOISE_LOSSES))  # l1-logits trains at no rate
_NOISY = {**_FAIR, "label_noise": 0.4, "label_noise_kind": "symmetric"}

SITUATIONS = (
    Situation("Clean, balanced labels", "label-noise", {**_FAIR, "label_noise": 0.0}, _CLEAN_CANDIDATES,
              m.selected_validation_accuracy, m.selected_accuracy, "test accuracy at the epoch validation chose",
              "claims/label-noise.md#accuracy-against-the-noise-rate"),
    Situation("Clean, balanced labels", "compare", _FAIR, REPORT_LOSSES, m.selected_validation_accuracy,
              m.selected_accuracy, "test accuracy at the epoch validation chose", "experiment.md", dataset="mnist5k",
              recipe=FAIR),
    Situation("40 % of labels wrong, no clean validation set", "label-noise", _NOISY, NOISE_LOSSES,
              m.final_validation_accuracy, m.final_accuracy, "test accuracy at the last epoch", "claims/label-noise.md"),
    Situation("40 % of labels wrong, a clean validation set to stop on", "label-noise", _NOISY, NOISE_LOSSES,
              m.selected_validation_accuracy, m.selected_accuracy, "test accuracy at the best validation epoch",
              "claims/label-noise.md"),
    Situation("Long tail (imbalance ratio 100)", "imbalance",
              {"validation_fraction": pool_validation_fraction(long_tail_pool("mnist1d")), "imbalance_ratio": 100.0},
              IMBALANCE_LOSSES, m.selected_validation_balanced_accuracy, m.selected_balanced_accuracy,
              "balanced test accuracy at the epoch validation chose", "claims/imbalance.md",
              dataset=long_tail_pool("mnist1d")),
    Situation("A short budget (a fifth of the epochs)", "compare",
              _FAIR, REPORT_LOSSES, m.selected_validation_accuracy,
              m.selected_accuracy, "test accuracy at the epoch validation chose", "experiment.md", recipe=SHORT_BUDGET),
    Situation("Calibrated probabilities", "label-noise", {**_FAIR, "label_noise": 0.0}, _CLEAN_CANDIDATES,
              m.final_validation_nll, m.final_ece, "test ECE at the last epoch (lower is better)", "claims/gamma-sweep.md",
              lower_is_better=True),
)


@dataclass(frozen=True)
class Row:
    situation: Situation
    best: str
    runner_up: str
    comparison: Comparison
    best_level: str


def _config(situation: Situation, loss: str) -> RunConfig | None:
    if loss not in EXPERIMENTS[situation.experiment].losses:  # not trained for this situation
        return None
    fields = dict(situation.fields)
    if situation.recipe is not None:
        fields["epochs"] = epochs_of(situation.recipe, situation.dataset, loss, None)
    return reference(situation.experiment, situation.dataset, loss=loss, **fields)


def _by_seed(index: RunIndex, config: RunConfig, measure) -> dict[int, float]:
    return {seed: value for seed, value in index.measure(config, measure).items() if value == value}


def _row(index: RunIndex, situation: Situation) -> Row | None:
    """The best and runner-up by their mean on validation, and their paired gap on the test split."""
    sign = -1 if situation.lower_is_better else 1
    chosen_by, tested = {}, {}
    for loss in situation.candidates:
        config = _config(situation, loss)
        if config is None:
            continue
        validation, test = _by_seed(index, config, situation.rank_by), _by_seed(index, config, situation.measure)
        if len(validation) >= MIN_SEEDS and len(test) >= MIN_SEEDS:
            chosen_by[loss], tested[loss] = validation, test
    if len(chosen_by) < 2:
        return None
    ranked = sorted(chosen_by, key=lambda loss: -sign * mean_ci(list(chosen_by[loss].values())).mean)
    best, runner_up = ranked[:2]
    seeds = sorted(set(tested[best]) & set(tested[runner_up]))
    if len(seeds) < MIN_SEEDS:
        return None
    margin = tuple(sign * (tested[best][s] - tested[runner_up][s]) for s in seeds)
    return Row(situation, best, runner_up, Comparison(f"`{best}` − `{runner_up}`", margin),
               format_interval(mean_ci(list(tested[best].values()))))


SEPARATED, EQUIVALENT, REVERSED, OPEN = "separated", "practically equal", "reversed on test", "not separated"


def guide_rows(runs) -> list[tuple[Row, str, float, float]]:
    """(row, outcome, raw p, Holm-adjusted p) for every situation whose runs are stored.

    Each row is one statement, "the validation pick beats the runner-up on test", tested for (one-sided)
    and against (the other sign, or a gap within the equivalence margin), one test per row,
    Holm-adjusted over the rows.
    """
    index = runs if isinstance(runs, RunIndex) else RunIndex(runs)
    rows = [row for situation in SITUATIONS if (row := _row(index, situation)) is not None]
    raw_for = [row.comparison.p_for for row in rows]
    raw_against = [row.comparison.p_against for row in rows]
    adjusted_for, adjusted_against = holm_one_test_per_statement(raw_for, raw_against, list(range(len(rows))))
    result = []
    for row, p_for, p_against, a_for, a_against in zip(rows, raw_for, raw_against, adjusted_for, adjusted_against):
        if a_for < ALPHA:
            result.append((row, SEPARATED, p_for, a_for))
        elif a_against < ALPHA:
            reversed_p = one_sided_p(row.comparison.values, -1)
            outcome = REVERSED if reversed_p <= equivalence_p(row.comparison.values, EQUIVALENCE_MARGIN) else EQUIVALENT
            result.append((row, outcome, p_against, a_against))
        else:
            result.append((row, OPEN, min(p_for, p_against), min(a_for, a_against)))
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
        tests = f"p {format_p(p_raw)} → Holm {format_p(p_adjusted)}"
        if outcome == SEPARATED:
            verdict, best = f"yes ({tests})", f"`{row.best}`"
        elif outcome == EQUIVALENT:
            verdict = (f"they are practically equal: the gap is within ±{EQUIVALENCE_MARGIN * 100:g} point ({tests})")
            best = f"`{row.best}` or `{row.runner_up}`"
        elif outcome == REVERSED:
            verdict = f"no: on the test split the runner-up is ahead ({tests})"
            best = f"`{row.best}` or `{row.runner_up}`"
        else:
            verdict = (f"no: `{row.best}` and `{row.runner_up}` are not separated; the data rule out a margin above "
                       f"{interval.high * 100:+.1f} ({tests})")
            best = f"`{row.best}` or `{row.runner_up}`"
        lines.append(f"| {cell_text(situation.name)} ({situation.dataset}) | {best} | {row.best_level} % "
                     f"| over `{row.runner_up}`: {margin} | {verdict} | [{situation.measure_name}]({situation.evidence}) |")
    lines += ["", "Every run follows the fair protocol (each loss at its tuned rate; the short-budget row at a fifth of "
              "its length). Each row ranks the losses trained "
              "for that situation by their mean over seeds **on the validation split** (accuracy, or balanced accuracy, "
              "at the chosen epoch; for calibration, the validation NLL, a proper score), so the test split never "
              "chooses; the level and the margin are then read on the test split. The margin is the paired difference "
              "between the best and the runner-up (for calibration error, runner-up minus best, so a positive margin "
              "favours the best); the test is one-sided, \"the best beats the runner-up\", against the other sign or "
              f"a gap within ±{EQUIVALENCE_MARGIN * 100:g} point, Holm-adjusted over the rows of this table. \"The runner-up "
              "is ahead\" means the test split reverses the validation split's order, firmly enough to pass that "
              "test the other way: either loss is a defensible choice, and the p-value is the reversed test's. The "
              "level is mean ± half-width of the 95 % t-interval."]
    return "\n".join(lines) + "\n"
