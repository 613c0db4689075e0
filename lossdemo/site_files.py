"""Generated files for the site that are not tied to one experiment.

* the analytic loss-shape figures of the loss pages (from ``lossdemo.loss_shapes``),
* ``cli_help.md`` — the CLI's ``--help``, so the Reproduce page can never list a stale flag,
* ``timings.md`` — how long stored runs took, per dataset and device, read from their metadata.
"""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from .loss_shapes import draw_loss_shape_figures
from .render import runs_fingerprint
from .results import StoredRun
from .stats import mean_ci

HELP_WIDTH = "100"  # fixed so the generated page does not depend on the terminal it was made in


@contextmanager
def _columns(width: str):
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = width
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous


def cli_help_markdown(parser: argparse.ArgumentParser) -> str:
    with _columns(HELP_WIDTH):
        text = parser.format_help()
    return f"```text\n{text.rstrip()}\n```\n"


def timings_markdown(runs: list[StoredRun]) -> str:
    """Mean wall time per run and per epoch, by dataset, model and device, from the runs' own metadata."""
    groups: dict[tuple[str, str, str], list[StoredRun]] = defaultdict(list)
    for run in runs:
        groups[(run.config.dataset, run.config.model, run.record["metadata"]["device"])].append(run)
    lines = [
        "| dataset | model | device | runs | seconds per run (mean) | seconds per epoch (mean) | where measured |",
        "|---|---|---|---:|---:|---:|---|",
    ]
    for (dataset, model, device), group in sorted(groups.items()):
        per_run = mean_ci([run.record["metadata"]["wall_time_s"] for run in group]).mean
        per_epoch = mean_ci([run.record["metadata"]["wall_time_s"] / len(run.history["test_accuracy"]) for run in group]).mean
        platforms = sorted({run.record["metadata"].get("platform", "unknown").split("-with-")[0] for run in group})
        lines.append(f"| `{dataset}` | `{model}` | {device} | {len(group)} | {per_run:.1f} | {per_epoch:.2f} | {', '.join(platforms)} |")
    lines.append("")
    lines.append("Wall time includes the full-set evaluation after every epoch. Read from the stored runs' metadata; "
                 "the machine that produced them may have been busy with other work.")
    return "\n".join(lines) + "\n"


def write_site_files(out_dir: Path, parser: argparse.ArgumentParser, runs: list[StoredRun]) -> dict[str, str]:
    """Write the experiment-independent generated files; returns {file name: fingerprint} for the manifest."""
    written = {path.name: "analytic" for path in draw_loss_shape_figures(out_dir)}
    (out_dir / "cli_help.md").write_text(cli_help_markdown(parser))
    written["cli_help.md"] = "cli"
    (out_dir / "timings.md").write_text(timings_markdown(runs))
    written["timings.md"] = runs_fingerprint(runs)
    return written
