"""Turn stored runs into the site's generated files, one experiment at a time.

The registry :data:`REPORTS` maps each experiment of ``lossdemo.experiments`` to its report module's
:class:`~lossdemo.report.experiment_report.ExperimentReport`. To add an experiment, define its
grid with ``lossdemo.experiments.register_experiment`` and its report with :func:`register_report`
(``docs/architecture.md`` walks through it).
"""

from __future__ import annotations

from pathlib import Path

from ..results import StoredRun
from . import compare, gamma_sweep, imbalance, label_noise, mae_anatomy, tune
from .experiment_report import ExperimentReport, RenderContext

REPORTS: dict[str, ExperimentReport] = {
    "compare": compare.REPORT,
    "label-noise": label_noise.REPORT,
    "imbalance": imbalance.REPORT,
    "gamma-sweep": gamma_sweep.REPORT,
    "tune": tune.REPORT,
    "mae-anatomy": mae_anatomy.REPORT,
}


def register_report(name: str, report: ExperimentReport) -> None:
    """Make ``reproduce`` draw experiment ``name``'s pages with ``report`` (and check its claims)."""
    if not isinstance(report, ExperimentReport):
        raise TypeError(f"report {report!r} is invalid; allowed: an ExperimentReport")
    REPORTS[name] = report


def render_experiment(name: str, runs: list[StoredRun], out_dir: Path,
                      context: RenderContext | None = None) -> dict[str, str]:
    """Draw one experiment's figures and tables from its stored runs; returns {file name: fingerprint}."""
    if name not in REPORTS:
        raise ValueError(f"experiment {name!r} has no report; allowed: {', '.join(REPORTS)}")
    return REPORTS[name].render(runs, out_dir, context or RenderContext())
