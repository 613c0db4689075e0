"""Matched-rate checks: does a verdict between two losses that train at different tuned rates turn on
the rates?

Each loss trains at its own tuned rate, which is fair, but when two losses' rates differ, a reader
may ask how much of their gap is the rate's. The tuning runs answer it without any new training:
they train every loss at every rate of the grid on the tuning seeds, so the two losses can be
compared at the same rate, once at each one's pick. The check is descriptive (two seeds, which no
verdict reads); a gap that keeps its sign at both rates does not turn on the rate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..experiments import IMBALANCE_LOSSES, NOISE_LOSSES, REPORT_LOSSES, TUNED_LOSSES
from ..protocol import LONG_TAIL_TUNING_RATIO, long_tail_pool, tuning_seeds
from ..results import StoredRun
from . import measures as m
from .measures import group_runs
from .tune import picks

BASELINE = "ce"


def _tuning_runs(runs: Sequence[StoredRun], dataset: str, ratio: float) -> dict[tuple[str, float], list[StoredRun]]:
    seeds = set(tuning_seeds())
    chosen = [run for run in runs if run.config.seed in seeds and run.config.dataset == dataset
              and run.config.imbalance_ratio == ratio and run.config.optimizer == "sgd" and m.has_validation(run)]
    return group_runs(chosen, key=lambda run: (run.config.loss, run.config.lr))


def _gap(by_loss_and_rate, loss: str, other: str, rate: float, measure: Callable) -> float | None:
    a = {run.config.seed: measure(run) for run in by_loss_and_rate.get((loss, rate), [])}
    b = {run.config.seed: measure(run) for run in by_loss_and_rate.get((other, rate), [])}
    shared = sorted(set(a) & set(b))
    return sum(a[s] - b[s] for s in shared) / len(shared) if shared else None


def matched_rate_rows(runs: Sequence[StoredRun], dataset: str, ratio: float, losses: Sequence[str],
                      measure: Callable) -> list[tuple[str, float, float, float | None, float | None]]:
    """(loss, its pick, CE's pick, loss − CE at the loss's pick, at CE's pick) for each loss whose pick differs."""
    by_loss_and_rate = _tuning_runs(runs, dataset, ratio)
    chosen = picks(by_loss_and_rate)
    if BASELINE not in chosen:
        return []
    rows = []
    for loss in losses:
        if loss == BASELINE or loss not in chosen or chosen[loss] == chosen[BASELINE]:
            continue
        rows.append((loss, chosen[loss], chosen[BASELINE], _gap(by_loss_and_rate, loss, BASELINE, chosen[loss], measure),
                     _gap(by_loss_and_rate, loss, BASELINE, chosen[BASELINE], measure)))
    return rows


def _points(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f}"


def matched_rate_markdown(runs: Sequence[StoredRun], dataset: str, ratio: float, losses: Sequence[str],
                          measure: Callable, measure_name: str) -> str:
    """The check as a table, with a sentence on the losses that share CE's rate."""
    by_loss_and_rate = _tuning_runs(runs, dataset, ratio)
    chosen = picks(by_loss_and_rate)
    if BASELINE not in chosen:
        return f"No tuning runs of `{BASELINE}` on {dataset} are stored.\n"
    rows = matched_rate_rows(runs, dataset, ratio, losses, measure)
    same = [f"`{loss}`" for loss in losses if loss != BASELINE and chosen.get(loss) == chosen[BASELINE]]
    where = dataset if ratio == 1 else f"{dataset}, imbalance ratio {ratio:g}"
    lines = [f"On {where}, `{BASELINE}` trains at {chosen[BASELINE]:g}. "
             + (f"{', '.join(same)} {'shares' if len(same) == 1 else 'share'} that rate, so "
                f"{'its comparison' if len(same) == 1 else 'their comparisons'} with it cannot turn on the rate. "
                if same else "")
             + (f"For the others, {measure_name} of the loss minus `{BASELINE}`, mean over the tuning seeds "
                f"({', '.join(str(seed) for seed in tuning_seeds())}), at each one's pick:" if rows else "")]
    if rows:
        lines += ["", f"| loss | its rate | `{BASELINE}`'s rate | loss − `{BASELINE}` at its rate (points) | "
                      f"at `{BASELINE}`'s rate (points) |", "|---|---:|---:|---:|---:|"]
        lines += [f"| `{loss}` | {own:g} | {base:g} | {_points(at_own)} | {_points(at_base)} |"
                  for loss, own, base, at_own, at_base in rows]
        lines += ["", "Descriptive: two seeds that no verdict reads. A gap with the same sign at both rates does not "
                  "turn on the rate; one that changes sign does, most often because one loss's rate is unstable for "
                  "the other, which is why each loss trains at its own."]
    return "\n".join(lines) + "\n"


# Per claims page: (dataset, imbalance ratio, losses compared with CE, measure, its name), from the
# tuning conditions that page's verdicts read.
PAGE_CHECKS = {
    "gamma-sweep": (("mnist1d", 1.0, tuple(loss for loss in TUNED_LOSSES if loss.startswith("focal"))),
                    ("mnist5k", 1.0, REPORT_LOSSES)),
    "label-noise": (("mnist1d", 1.0, NOISE_LOSSES),),
    "imbalance": ((long_tail_pool("mnist1d"), LONG_TAIL_TUNING_RATIO, IMBALANCE_LOSSES),),
    "mae-anatomy": (("mnist1d", 1.0, ("mae",)), ("mnist5k", 1.0, ("mae",))),
}


def page_matched_rates_markdown(runs: Sequence[StoredRun], page: str) -> str:
    """Every matched-rate check of one claims page."""
    parts = []
    for dataset, ratio, losses in PAGE_CHECKS.get(page, ()):
        balanced = ratio != 1
        measure = m.selected_balanced_accuracy if balanced else m.selected_accuracy
        name = "balanced test accuracy at the epoch validation chose" if balanced else \
            "test accuracy at the epoch validation chose"
        if any(run.config.dataset == dataset for run in runs):
            parts.append(matched_rate_markdown(runs, dataset, ratio, losses, measure, name))
    return "\n".join(parts) if parts else "No tuning runs for this page's losses are stored.\n"

