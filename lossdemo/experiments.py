"""The experiments ``reproduce`` knows, as grids of run configs, and the profiles that size them.

An experiment is a pure function from (datasets, losses, seeds, epochs) to run configs; the
runs themselves are shared between experiments through their config hash, so a run needed by two
experiments is trained once.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from .data import DATASETS
from .losses import parse_loss_spec
from .train import RunConfig

REPORT_LOSSES = ("mae", "l1-logits", "ce", "focal:0.5", "focal:2")


@dataclass(frozen=True)
class Profile:
    """How big a reproduce is. Profiles differ only in these fields, each with a reason."""

    name: str
    datasets: tuple[str, ...]
    seeds: int
    epochs: int | None  # None: each experiment's own length
    reason: str


PROFILES = {
    "default": Profile(
        "default", ("mnist1d", "mnist5k"), seeds=5, epochs=None,
        reason="the report's four losses (plus nn.L1Loss on logits) on both embedded datasets, 5 seeds",
    ),
    "quick": Profile(
        "quick", ("mnist1d",), seeds=2, epochs=3,
        reason="a smoke test for CI and the test suite: every stage runs, nothing is meant to be learned",
    ),
}


@dataclass(frozen=True)
class Experiment:
    """A named grid of runs plus the defaults that make it answer its question."""

    name: str
    question: str
    losses: tuple[str, ...]
    epochs: int
    grid: Callable[[tuple[str, ...], tuple[str, ...], int, int], list[RunConfig]]


def _compare_grid(datasets, losses, seeds, epochs) -> list[RunConfig]:
    return [
        RunConfig(dataset=dataset, loss=loss, seed=seed, epochs=epochs)
        for dataset in datasets
        for loss in losses
        for seed in range(seeds)
    ]


EXPERIMENTS: dict[str, Experiment] = {
    "compare": Experiment(
        name="compare",
        question="The report's experiment: one network, one recipe, four losses; which trains best?",
        losses=REPORT_LOSSES,
        epochs=25,
        grid=_compare_grid,
    ),
}


def validate_names(experiments, datasets, losses) -> None:
    """Raise ValueError for the first unknown experiment, dataset or loss spec."""
    for name in experiments:
        if name not in EXPERIMENTS:
            raise ValueError(f"unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")
    for name in datasets:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    for spec in losses:
        parse_loss_spec(spec)


def plan_runs(
    experiment: Experiment,
    datasets: tuple[str, ...],
    losses: tuple[str, ...] | None,
    seeds: int,
    epochs: int | None,
) -> list[RunConfig]:
    """The experiment's configs for the chosen datasets, losses, seed count and length."""
    return experiment.grid(datasets, tuple(losses or experiment.losses), seeds, epochs or experiment.epochs)


def with_epochs(configs: list[RunConfig], epochs: int) -> list[RunConfig]:
    return [replace(config, epochs=epochs) for config in configs]
