"""What an experiment's report module provides, and the helpers every one of them writes its files with.

One experiment lives in one place: its grid in ``lossdemo.experiments``, and one module here
(``compare``, ``label_noise``, ``imbalance``, ``gamma_sweep``, ``mae_anatomy``) holding its figures,
tables and verdict rules, exported as one :class:`ExperimentReport` that ``render`` registers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..experiments import EXPERIMENTS
from ..results import StoredRun
from .measures import RunIndex, group_runs
from .output import runs_fingerprint
from .tables import experiment_setup, setup_markdown
from .verdicts import Claim

Runs = list[StoredRun]


@dataclass(frozen=True)
class RenderContext:
    """Facts a page needs that stored runs do not hold, gathered by the caller (the CLI).

    Attributes:
        train_class_counts: per dataset, the training split's class sizes; a dataset that is not on
            this machine is absent, and pages that need it say so instead of showing numbers.
        family: the site's family of tests over every stored run (``lossdemo.report.family``), so a page
            that repeats a verdict's comparison shows its adjusted p-value; None: pages test on their own.
    """

    train_class_counts: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    family: object | None = None


@dataclass(frozen=True)
class ExperimentReport:
    """One experiment's report.

    Attributes:
        render: (the experiment's stored runs, output directory, context) -> {file name: fingerprint}.
        claims: the verdict rules whose verdicts this experiment's page lists.
        files_from_all_runs: index of every stored run -> {file name: Markdown}, for tables that read
            runs of other experiments too (e.g. 25 against 100 epochs); None when there are none.
    """

    render: Callable[[Runs, Path, RenderContext], dict[str, str]]
    claims: tuple[Claim, ...] = ()
    files_from_all_runs: Callable[[RunIndex], dict[str, str]] | None = None


def file_prefix(experiment: str) -> str:
    """``"label-noise"`` -> ``"label_noise"``: the prefix of an experiment's generated files."""
    return experiment.replace("-", "_")


def write_per_dataset(experiment: str, runs: Runs, out_dir: Path, outputs) -> dict[str, str]:
    """Call ``outputs(dataset, dataset_runs)`` -> {suffix: draw(path)} per dataset; record fingerprints.

    A file is named ``<prefix>_<dataset>_<suffix>``, or ``<prefix>_<dataset><suffix>`` for a bare
    extension such as ``".png"`` (the experiment's main figure).
    """
    written: dict[str, str] = {}
    for dataset, dataset_runs in group_runs(runs, key=lambda run: run.config.dataset).items():
        fingerprint = runs_fingerprint(dataset_runs)
        for suffix, draw in outputs(dataset, dataset_runs).items():
            separator = "" if suffix.startswith(".") else "_"
            file_name = f"{file_prefix(experiment)}_{dataset}{separator}{suffix}"
            draw(out_dir / file_name)
            written[file_name] = fingerprint
    return written


def write_setup(experiment: str, runs: Runs, out_dir: Path, reasons: dict[str, str] | None = None) -> dict[str, str]:
    """The experiment's question, grid and recipe (with the reason for each setting) as ``<prefix>_setup.md``."""
    configs = [run.config for run in runs]
    reasons = {"epochs": EXPERIMENTS[experiment].epochs_reason, **(reasons or {})}
    file_name = f"{file_prefix(experiment)}_setup.md"
    (out_dir / file_name).write_text(experiment_setup(EXPERIMENTS[experiment], configs) + "\n"
                                     + setup_markdown(configs, reasons))
    return {file_name: runs_fingerprint(runs)}
