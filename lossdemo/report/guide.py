"""The decision guide: which loss to use in which situation, read off the stored runs.

Each situation is a set of conditions the experiments already train under the fair protocol (the
clean runs, the label-noise runs at 40 % symmetric noise, the long-tailed runs at ratio 100, the
short budget) and one metric, which ranks the candidate losses on the validation split and is then
reported on the test split (for calibration, the NLL: a proper score, so ranking on it rewards honest
probabilities). The guide names the validation pick, its level, and its paired gain on the test split
over the runner-up and over plain CE, the practitioner's default. Each gain is tested as "the pick is
ahead by more than the metric's margin" against "it is not", with the rules and the one family of
the claims table (``lossdemo.report.family``); the intervals are that family's simultaneous ones.
Nothing here is typed by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..experiments import EXPERIMENTS, IMBALANCE_LOSSES, NOISE_LOSSES, REPORT_LOSSES
from ..protocol import FAIR, SHORT_BUDGET, Recipe, epochs_of, long_tail_pool, pool_validation_fraction
from ..run_config import RunConfig
from . import measures as m
from .family import Family, site_family
from .inference import Comparison
from .measures import RunIndex
from .stats import format_interval, format_p, mean_ci
from .tables import cell_text
from .verdicts import FAILS, HOLDS, MIN_SEEDS, Finding, decide, paired_values, reference

GUIDE_FILE = "guide_table.md"
BASELINE = "ce"  # the practitioner's default, which every pick is also compared with


@dataclass(frozen=True)
class Situation:
    """One row of the guide.

    Attributes:
        name: the situation, as a reader would describe theirs.
        experiment: the experiment whose runs answer it (its grid on ``dataset`` names the configs).
        fields: the config fields that pick the condition within that grid.
        candidates: the losses compared.
        rank_by: the metric on the validation split, which ranks (the test split never chooses).
        measure: the same metric on the test split, which the row reports and tests.
        measure_name: the metric in words, for the table.
        metric: the metric's key in ``lossdemo.protocol.MARGINS`` (its margin).
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
    metric: str
    evidence: str
    dataset: str = "mnist1d"
    lower_is_better: bool = False
    recipe: Recipe | None = None


_FAIR = {"validation_fraction": FAIR.validation_fraction}
_CLEAN_CANDIDATES = tuple(dict.fromkeys(REPORT_LOSSES[:1] + REPORT_LOSSES[2:] + NOISE_LOSSES))  # l1-logits trains at no rate
_CLEAN = {**_FAIR, "label_noise": 0.0}
_NOISY = {**_FAIR, "label_noise": 0.4, "label_noise_kind": "symmetric"}
_LONG_TAIL = long_tail_pool("mnist1d")

SITUATIONS = (
    Situation("Clean, balanced labels", "label-noise", _CLEAN, _CLEAN_CANDIDATES,
              m.selected_validation_accuracy, m.selected_accuracy, "test accuracy at the epoch validation chose",
              "accuracy", "claims/label-noise.md#accuracy-against-the-noise-rate"),
    Situation("Clean, balanced labels", "compare", _FAIR, REPORT_LOSSES, m.selected_validation_accuracy,
              m.selected_accuracy, "test accuracy at the epoch validation chose", "accuracy", "experiment.md",
              dataset="mnist5k", recipe=FAIR),
    Situation("40 % of labels wrong, trained to the end", "label-noise", _NOISY, NOISE_LOSSES,
              m.final_validation_accuracy, m.final_accuracy, "test accuracy at the last epoch", "accuracy",
              "claims/label-noise.md"),
    Situation("40 % of labels wrong, a clean validation set to stop on", "label-noise", _NOISY, NOISE_LOSSES,
              m.selected_validation_accuracy, m.selected_accuracy, "test accuracy at the best validation epoch",
              "accuracy", "claims/label-noise.md"),
    Situation("Long tail (imbalance ratio 100)", "imbalance",
              {"validation_fraction": pool_validation_fraction(_LONG_TAIL), "imbalance_ratio": 100.0},
              IMBALANCE_LOSSES, m.selected_validation_balanced_accuracy, m.selected_balanced_accuracy,
              "balanced test accuracy at the epoch validation chose", "balanced accuracy", "claims/imbalance.md",
              dataset=_LONG_TAIL),
    Situation("A short budget (a fifth of the epochs)", "compare", _FAIR, REPORT_LOSSES, m.selected_validation_accuracy,
              m.selected_accuracy, "test accuracy at the epoch validation chose", "accuracy", "experiment.md",
              recipe=SHORT_BUDGET),
    Situation("Calibrated probabilities, as trained", "label-noise", _CLEAN, _CLEAN_CANDIDATES,
              m.final_validation_nll, m.final_nll, "test NLL at the last epoch (lower is better)", "nll",
              "claims/gamma-sweep.md#calibration", lower_is_better=True),
    Situation("Calibrated probabilities, after temperature scaling", "label-noise", _CLEAN, _CLEAN_CANDIDATES,
              m.final_validation_nll_scaled, m.final_nll_scaled,
              "test NLL at the last epoch, temperature fitted on validation (lower is better)", "nll",
              "claims/gamma-sweep.md#calibration", lower_is_better=True),
)


@dataclass(frozen=True)
class Row:
    """A situation's validation pick and its paired gains on the test split (positive favours the pick)."""

    situation: Situation
    best: str
    level: str
    gains: tuple[tuple[str, Comparison], ...]  # (the loss compared with, the pick's gain over it)


def _config(situation: Situation, loss: str) -> RunConfig | None:
    if loss not in EXPERIMENTS[situation.experiment].losses:  # not trained for this situation
        return None
    fields = dict(situation.fields)
    if situation.recipe is not None:
        fields["epochs"] = epochs_of(situation.recipe, situation.dataset, loss, None)
    return reference(situation.experiment, situation.dataset, loss=loss, **fields)


def _row(index: RunIndex, situation: Situation) -> Row | None:
    """The pick by its mean on validation, and its paired gains on the test split."""
    sign = -1 if situation.lower_is_better else 1
    configs, chosen_by = {}, {}
    for loss in situation.candidates:
        config = _config(situation, loss)
        if config is None:
            continue
        validation = {s: v for s, v in index.measure(config, situation.rank_by).items() if v == v}
        if len(validation) >= MIN_SEEDS:
            configs[loss], chosen_by[loss] = config, validation
    if len(chosen_by) < 2:
        return None
    ranked = sorted(chosen_by, key=lambda loss: -sign * mean_ci(list(chosen_by[loss].values())).mean)
    best = ranked[0]
    others = [ranked[1]] + ([BASELINE] if BASELINE in configs and BASELINE not in ranked[:2] else [])
    gains = []
    for other in others:
        values = paired_values(index, configs[best], configs[other], situation.measure)
        if values is None:
            continue
        gains.append((other, Comparison(f"`{best}` − `{other}`", values if sign > 0 else -values, metric=situation.metric)))
    if not gains:
        return None
    level = {s: v for s, v in index.measure(configs[best], situation.measure).items() if v == v}
    scale = 100 if situation.metric != "nll" else 1
    interval = mean_ci(list(level.values()))
    text = (f"{format_interval(interval)} %" if scale == 100 else
            f"{interval.mean:.3f} ± {interval.half_width:.3f}")
    return Row(situation, best, text, tuple(gains))


def _rows(index: RunIndex) -> list[Row]:
    return [row for situation in SITUATIONS if (row := _row(index, situation)) is not None]


def guide_comparisons(runs) -> list[Comparison]:
    """Every gain the guide tests, for the site's family of tests."""
    index = runs if isinstance(runs, RunIndex) else RunIndex(runs)
    return [comparison for row in _rows(index) for _, comparison in row.gains]


def guide_rows(runs, family: Family | None = None) -> list[tuple[Row, list[tuple[str, Comparison, str, float, float]]]]:
    """Per row, per gain: (the loss compared with, the comparison, its outcome, raw p, adjusted p)."""
    index = runs if isinstance(runs, RunIndex) else RunIndex(runs)
    family = family or site_family(index)
    result = []
    for row in _rows(index):
        judged = []
        for other, comparison in row.gains:
            adjusted_for, adjusted_against = family.p_values(comparison)
            decision = decide(Finding((comparison,), "", ""), [comparison.p_for], [adjusted_for],
                              [comparison.p_against], [adjusted_against], family.confidence)
            judged.append((other, comparison, decision.verdict.outcome, decision.p_value, decision.p_adjusted))
        result.append((row, judged))
    return result


def _gain_cell(comparison: Comparison, outcome: str, p_raw: float, p_adjusted: float, confidence: float, unit: str) -> str:
    interval = comparison.interval_at(confidence)
    scale, digits = (100, 1) if unit == "points" else (1, 3)
    numbers = (f"{interval.mean * scale:+.{digits}f} ({interval.low * scale:+.{digits}f} to "
               f"{interval.high * scale:+.{digits}f})")
    word = {HOLDS: "ahead", FAILS: "not ahead by the margin"}.get(outcome, "not separated")
    return f"{numbers}: **{word}** (p {format_p(p_raw)} → {format_p(p_adjusted)})"


def guide_markdown(runs, family: Family | None = None) -> str:
    """The guide's table: one row per situation whose runs are stored (``family``: the site's family of
    tests over ``runs``, when the caller already has it)."""
    index = runs if isinstance(runs, RunIndex) else RunIndex(runs)
    family = family or site_family(index)
    rows = guide_rows(index, family)
    if not rows:
        return "Not measured yet: the guide needs the stored runs of the experiments it reads (`--full`).\n"
    lines = ["| situation, and the metric on the test split | validation pick | its level | gain over the runner-up | "
             f"gain over `{BASELINE}` |",
             "|---|---|---:|---|---|"]
    for row, judged in rows:
        situation = row.situation
        unit = "nats" if situation.metric == "nll" else "points"
        cells = {other: f"over `{other}`: {_gain_cell(comparison, outcome, p_raw, p_adjusted, family.confidence, unit)}"
                 for other, comparison, outcome, p_raw, p_adjusted in judged}
        runner_up = judged[0][0]
        over_runner_up = cells[runner_up]
        over_baseline = ("the pick is the default" if row.best == BASELINE else
                         "the runner-up is the default" if runner_up == BASELINE else cells.get(BASELINE, "—"))
        lines.append(f"| [{cell_text(situation.name)} ({situation.dataset})]({situation.evidence}): "
                     f"{situation.measure_name} | `{row.best}` | {row.level} | {over_runner_up} | {over_baseline} |")
    lines += ["", _clean_pick_calibration(index, rows), "",
              "Every run follows the fair protocol (each loss at its tuned rate; the short-budget row at a fifth of its "
              "length). Each row ranks its candidates, the losses its experiment trains (the report's losses and the "
              "remedies; the other values of focal loss's γ are on the γ sweep's page), by their mean over seeds **on the "
              "validation split** and reports the same metric **on the test split**, so the test split never chooses. A "
              "gain is the "
              "paired difference between the pick and the other loss, signed so that a positive gain favours the pick "
              "(points of accuracy; nats of NLL, where lower is better). It is tested as \"the pick is ahead by more "
              "than the metric's margin\" (**ahead**) against \"it is not\" (**not ahead by the margin**: behind, or "
              "level within the margin), with the claims table's rules, in the same Holm family; p raw → adjusted. "
              f"The intervals are the family's simultaneous {family.confidence * 100:.2f} % intervals, with the test "
              "split's sampling noise included; the level is mean ± half-width of the 95 % t-interval over seeds. "
              "Margins: the protocol page."]
    return "\n".join(lines) + "\n"


def _clean_pick_calibration(index: RunIndex, rows) -> str:
    """A sentence on the clean-label pick's calibration, so the accuracy row links to the calibration rows."""
    clean = next((row for row, _ in rows if row.situation is SITUATIONS[0]), None)
    if clean is None:
        return ""
    config = _config(clean.situation, clean.best)
    ece = [v for v in index.measure(config, m.final_ece).values() if v == v]
    nll = [v for v in index.measure(config, m.final_nll).values() if v == v]
    if len(ece) < MIN_SEEDS or len(nll) < MIN_SEEDS:
        return ""
    return (f"The clean-label pick on {clean.situation.dataset}, `{clean.best}`, has a raw test ECE of "
            f"{format_interval(mean_ci(ece))} % and a test NLL of {mean_ci(nll).mean:.3f} at its last epoch: accuracy "
            "and calibration can call for different losses (the calibration rows, and the calibration section of the "
            "γ sweep).")
