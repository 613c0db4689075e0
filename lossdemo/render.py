"""Turn stored runs into the site's generated files: figures, Markdown tables and sentences.

Everything here reads results and writes into one output directory (``docs/generated`` by
default). ``manifest.json`` records, per generated file, a fingerprint of the runs it was drawn
from, so a test can tell when a figure is older than its results.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import fields
from pathlib import Path

from .data import class_names_of
from .plots import draw_curves_figure, draw_per_class_figure, group_runs
from .results import StoredRun, write_json_atomic
from .tables import results_table, summary_markdown
from .train import RunConfig

MANIFEST_NAME = "manifest.json"

_RECIPE_REASONS = {
    "optimizer": "plain SGD shows how much gradient each loss delivers; Adam's per-step rescaling hides small gradients",
    "lr": "a standard rate for small CNNs with SGD and momentum",
    "momentum": "the usual 0.9",
    "weight_decay": "the usual value for small CNNs; keeps the logits bounded",
    "batch_size": "about 30 steps per epoch on 4,000 samples",
    "epochs": "25 is the report's run length; shorter only in the quick smoke-test profile",
    "schedule": "cosine decay to 0 per step: final accuracy is stable enough to compare between seeds",
}


def runs_fingerprint(runs: list[StoredRun]) -> str:
    """sha256 over the runs' ids and histories: changes whenever the data behind a figure changes."""
    digest = hashlib.sha256()
    for run in sorted(runs, key=lambda r: r.config.run_id):
        digest.update(run.config.run_id.encode())
        digest.update(json.dumps(run.record["history"], sort_keys=True).encode())
        digest.update(run.record["status"].encode())
    return digest.hexdigest()


def setup_markdown(configs: list[RunConfig]) -> str:
    """The training recipe actually used by the runs, as a table with the reason for each value."""
    lines = ["| setting | value | why |", "|---|---|---|"]
    for spec in fields(RunConfig):
        if spec.name in _RECIPE_REASONS:
            values = sorted({str(getattr(config, spec.name)) for config in configs})
            lines.append(f"| {spec.name} | {', '.join(values)} | {_RECIPE_REASONS[spec.name]} |")
    models = sorted({f"`{c.model}` on `{c.dataset}`" for c in configs})
    seeds = sorted({c.seed for c in configs})
    lines.append("")
    lines.append(f"Models: {', '.join(models)} (see `lossdemo.models`). Seeds: {len(seeds)} "
                 f"({', '.join(map(str, seeds))}); runs with the same seed share initial weights and batch order.")
    return "\n".join(lines) + "\n"


def render_compare(runs: list[StoredRun], out_dir: Path) -> dict[str, str]:
    """Figures, tables and summaries of the ``compare`` experiment, per dataset. Returns {file: fingerprint}."""
    written: dict[str, str] = {}
    by_dataset = group_runs(runs, key=lambda run: run.config.dataset)
    for dataset, dataset_runs in by_dataset.items():
        by_loss = {loss: grouped for (_, loss), grouped in group_runs(dataset_runs).items()}
        fingerprint = runs_fingerprint(dataset_runs)
        class_names = class_names_of(dataset)
        outputs = {
            f"compare_{dataset}.png": lambda p: draw_curves_figure(by_loss, f"Four losses on {dataset}: mean ± 95 % CI over seeds", p),
            f"compare_{dataset}_per_class.png": lambda p: draw_per_class_figure(by_loss, class_names, f"Final per-class test accuracy on {dataset}", p),
            f"compare_{dataset}_table.md": lambda p: p.write_text(results_table(by_loss)),
            f"compare_{dataset}_summary.md": lambda p: p.write_text(summary_markdown(dataset, by_loss)),
        }
        for name, draw in outputs.items():
            draw(out_dir / name)
            written[name] = fingerprint
    if runs:
        (out_dir / "compare_setup.md").write_text(setup_markdown([run.config for run in runs]))
        written["compare_setup.md"] = runs_fingerprint(runs)
    return written


# experiment name -> function(runs of that experiment, output dir) -> {file name: fingerprint}
RENDERERS = {"compare": render_compare}


def render_experiment(name: str, runs: list[StoredRun], out_dir: Path) -> dict[str, str]:
    """Draw one experiment's figures and tables from its stored runs."""
    return RENDERERS[name](runs, out_dir)


def update_manifest(out_dir: Path, written: dict[str, str]) -> None:
    """Merge ``{file: fingerprint}`` into the manifest (other experiments' entries are kept)."""
    path = out_dir / MANIFEST_NAME
    manifest = json.loads(path.read_text()) if path.exists() else {}
    manifest.update(written)
    write_json_atomic(path, dict(sorted(manifest.items())))
