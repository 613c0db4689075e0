"""A few seeds per loss at the tuned learning rates, and what a notebook says about them.

One seed cannot rank losses, and one learning rate shared by all of them ranks the rate as much as
the loss (the site's tuning page shows how far apart the losses' best rates are). So the notebooks
train every loss at the rate ``lossdemo.protocol.tuned_lr`` reads from the package's
``learning_rates.json`` (the shared recipe's rate where none was tuned), on two or three seeds,
all in one ``train_runs`` call, and report the mean with the spread over seeds.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ..data import Dataset
from ..losses import loss_title
from ..protocol import SHARED_RECIPE, tuned_lr
from ..run_config import RunConfig, RunOutcome
from ..train import train_runs


def learning_rates(losses: Iterable[str], dataset: str = "mnist1d") -> dict[str, tuple[float, bool]]:
    """Each loss's rate on ``dataset`` and whether it was tuned (False: the shared recipe's rate)."""
    rates = {}
    for loss in losses:
        picked = tuned_lr(dataset, loss)
        rates[loss] = (picked, True) if picked is not None else (SHARED_RECIPE.lr, False)
    return rates


def train_seeds(losses: Sequence[str], seeds: Iterable[int], dataset: Dataset, **fields) -> dict[str, list[RunOutcome]]:
    """Train every loss on every seed at its rate (:func:`learning_rates`); ``fields`` go to each
    ``RunConfig`` (epochs, label_noise, validation_fraction, ...). Outcomes by loss, in seed order."""
    rates = learning_rates(losses, dataset.name)
    configs = [RunConfig(dataset=dataset.name, loss=loss, lr=rates[loss][0], seed=seed, **fields)
               for loss in losses for seed in seeds]
    by_loss: dict[str, list[RunOutcome]] = {loss: [] for loss in losses}
    for outcome in train_runs(configs, dataset):
        by_loss[outcome.config.loss].append(outcome)
    return by_loss


@dataclass(frozen=True)
class SeedSummary:
    """One loss's measure over seeds: the values, their mean and their standard deviation."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def spread(self) -> float:
        """Sample standard deviation over seeds (0 for one seed)."""
        return statistics.stdev(self.values) if len(self.values) > 1 else 0.0


def summarise(outcomes: dict[str, list[RunOutcome]], measure: Callable[[RunOutcome], float]) -> dict[str, SeedSummary]:
    """``measure`` of every run, grouped by loss."""
    return {loss: SeedSummary(tuple(float(measure(run)) for run in runs)) for loss, runs in outcomes.items()}


def clearly_apart(a: SeedSummary, b: SeedSummary) -> bool:
    """Whether two means differ by more than twice the standard error of their difference.

    With two or three seeds this is a rough line, not a test: "too close to call" means more seeds
    would be needed to tell, not that the two are equal.
    """
    standard_error = math.sqrt(a.spread ** 2 / len(a.values) + b.spread ** 2 / len(b.values))
    return abs(a.mean - b.mean) > 2 * standard_error


def ranked(summaries: dict[str, SeedSummary]) -> list[str]:
    """The losses by mean, highest first."""
    return sorted(summaries, key=lambda loss: -summaries[loss].mean)


def seed_table(columns: dict[str, dict[str, SeedSummary]], *, percent: bool = True, digits: int = 1) -> str:
    """A plain-text table: one row per loss (its reader's name), one "mean ± sd" column per measure.

    ``columns`` maps a column heading to the summaries of that measure; rows follow the first
    column's order. Percent multiplies by 100 (accuracies, ECE).
    """
    scale = 100 if percent else 1
    headings = list(columns)
    losses = list(next(iter(columns.values())))
    cells = [[f"{columns[h][loss].mean * scale:.{digits}f} ± {columns[h][loss].spread * scale:.{digits}f}"
              for h in headings] for loss in losses]
    names = [loss_title(loss) for loss in losses]
    name_width = max(len("loss"), *map(len, names))
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headings)]
    lines = ["loss".ljust(name_width) + "".join(f"   {h:>{w}}" for h, w in zip(headings, widths))]
    lines += [name.ljust(name_width) + "".join(f"   {c:>{w}}" for c, w in zip(row, widths)) for name, row in zip(names, cells)]
    return "\n".join(lines)
