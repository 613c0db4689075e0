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

from . import claims_figures as figures
from . import claims_tables as tables
from .data import class_names_of
from .experiments import EXPERIMENTS, MAE_RECIPES, spec_gamma
from .plots import draw_curves_figure, draw_per_class_figure, group_runs
from .results import StoredRun, write_json_atomic
from .tables import results_table, summary_markdown
from .train import RunConfig

MANIFEST_NAME = "manifest.json"

_RECIPE_REASONS = {
    "optimizer": "plain SGD shows how much gradient each loss delivers; Adam's per-step rescaling hides small gradients",
    "lr": "the largest tried rate that trained every seed of the batch-norm-free CNNs (at 0.1 some mnist5k runs collapsed or fell far back early on)",
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


def setup_markdown(configs: list[RunConfig], reasons: dict[str, str] | None = None) -> str:
    """The training recipe actually used by the runs, as a table with the reason for each value.

    ``reasons`` replaces the default reason of a setting (e.g. an experiment's own epochs).
    """
    reasons = {**_RECIPE_REASONS, **(reasons or {})}
    lines = ["| setting | value | why |", "|---|---|---|"]
    for spec in fields(RunConfig):
        if spec.name in reasons:
            values = sorted({str(getattr(config, spec.name)) for config in configs})
            lines.append(f"| {spec.name} | {', '.join(values)} | {reasons[spec.name]} |")
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


# --------------------------------------------------------------------------------------------
# The claims experiments (issue 4). Verdicts, which read runs of several experiments, are written by
# ``lossdemo.claims_pages``; here each experiment draws its own figures and tables.


def _ordered_losses(name: str, runs: list[StoredRun]) -> list[str]:
    """The experiment's losses in its own order, then any others the runs used (``--losses``)."""
    present = list(dict.fromkeys(run.config.loss for run in runs))
    return [loss for loss in EXPERIMENTS[name].losses if loss in present] + [
        loss for loss in present if loss not in EXPERIMENTS[name].losses]


def _setup(name: str, runs: list[StoredRun], out_dir: Path, reasons: dict[str, str] | None = None) -> dict[str, str]:
    configs = [run.config for run in runs]
    reasons = {"epochs": EXPERIMENTS[name].epochs_reason, **(reasons or {})}
    file_name = f"{name.replace('-', '_')}_setup.md"
    (out_dir / file_name).write_text(tables.experiment_setup(EXPERIMENTS[name], configs) + "\n"
                                     + setup_markdown(configs, reasons))
    return {file_name: runs_fingerprint(runs)}


def _write_per_dataset(name: str, runs: list[StoredRun], out_dir: Path, outputs) -> dict[str, str]:
    """Call ``outputs(dataset, dataset_runs)`` -> {file name: draw(path)} per dataset; record fingerprints."""
    written: dict[str, str] = {}
    prefix = name.replace("-", "_")
    for dataset, dataset_runs in group_runs(runs, key=lambda run: run.config.dataset).items():
        fingerprint = runs_fingerprint(dataset_runs)
        for suffix, draw in outputs(dataset, dataset_runs).items():
            file_name = f"{prefix}_{dataset}_{suffix}"
            draw(out_dir / file_name)
            written[file_name] = fingerprint
    return written


def render_label_noise(runs: list[StoredRun], out_dir: Path) -> dict[str, str]:
    """Accuracy against the noise rate, memorisation curves and the table, per dataset."""
    losses = _ordered_losses("label-noise", runs)

    def outputs(dataset, dataset_runs):
        grouped = group_runs(dataset_runs, key=lambda r: (r.config.label_noise, r.config.label_noise_kind, r.config.loss))
        return {
            "accuracy.png": lambda p: figures.draw_noise_accuracy(
                grouped, losses, f"Label noise on {dataset}: final and best-epoch test accuracy", p),
            "memorisation.png": lambda p: figures.draw_noise_memorisation(
                grouped, losses, f"Label noise on {dataset}: what the network fits, epoch by epoch", p),
            "table.md": lambda p: p.write_text(tables.label_noise_table(grouped, losses)),
        }

    return _write_per_dataset("label-noise", runs, out_dir, outputs) | _setup("label-noise", runs, out_dir)


def render_imbalance(runs: list[StoredRun], out_dir: Path) -> dict[str, str]:
    """Accuracy, balanced accuracy and head/tail accuracy against the ratio; per-class heatmap at the largest ratio."""
    losses = _ordered_losses("imbalance", runs)

    def outputs(dataset, dataset_runs):
        grouped = group_runs(dataset_runs, key=lambda r: (r.config.imbalance_ratio, r.config.loss))
        largest = max(ratio for ratio, _ in grouped)
        at_largest = {loss: grouped[(largest, loss)] for loss in losses if (largest, loss) in grouped}
        configs = [run.config for run in dataset_runs]
        return {
            "accuracy.png": lambda p: figures.draw_imbalance(grouped, losses, f"Long-tailed training sets on {dataset}", p),
            "per_class.png": lambda p: draw_per_class_figure(
                at_largest, class_names_of(dataset), f"Final per-class test accuracy at imbalance ratio {largest:g} on {dataset}", p),
            "table.md": lambda p: p.write_text(tables.imbalance_table(grouped, losses)),
            "counts.md": lambda p: p.write_text(tables.imbalance_setup_table(configs, _class_sizes(dataset))),
        }

    return _write_per_dataset("imbalance", runs, out_dir, outputs) | _setup("imbalance", runs, out_dir)


def _class_sizes(dataset: str) -> tuple[int, int] | None:
    """(smallest training class, number of classes), or None when the dataset is not on this machine.

    The long-tail profile starts from the smallest class; only the labels are read, never downloaded.
    """
    import torch

    from .data import DatasetUnavailableError, load_dataset

    try:
        labels = load_dataset(dataset, download=False).y_train
    except DatasetUnavailableError:
        return None
    counts = torch.bincount(labels)
    return int(counts.min()), len(counts)


def render_gamma_sweep(runs: list[StoredRun], out_dir: Path) -> dict[str, str]:
    """Accuracy and ECE against γ, reliability diagrams and the table, per dataset."""

    def outputs(dataset, dataset_runs):
        by_gamma = group_runs(dataset_runs, key=lambda r: spec_gamma(r.config.loss))
        return {
            "accuracy_ece.png": lambda p: figures.draw_gamma_sweep(
                by_gamma, f"Focal loss γ on {dataset}: accuracy and calibration after 25 epochs", p),
            "reliability.png": lambda p: figures.draw_reliability(
                by_gamma, f"Reliability diagrams on {dataset}'s test set, seeds pooled", p),
            "table.md": lambda p: p.write_text(tables.gamma_sweep_table(by_gamma)),
        }

    return _write_per_dataset("gamma-sweep", runs, out_dir, outputs) | _setup("gamma-sweep", runs, out_dir)


def render_mae_anatomy(runs: list[StoredRun], out_dir: Path) -> dict[str, str]:
    """Per-class curves under the report's recipe, the recipes compared, and the analytic push figure."""
    shortest = min((run.config.epochs for run in runs), default=0)

    def outputs(dataset, dataset_runs):
        by_recipe = group_runs(dataset_runs, key=lambda r: (r.config.optimizer, r.config.epochs, r.config.loss))
        report_recipe = {loss: group for (optimizer, epochs, loss), group in by_recipe.items()
                         if optimizer == "sgd" and epochs == shortest}
        return {
            "per_class.png": lambda p: figures.draw_per_class_over_epochs(
                report_recipe, f"Per-class test accuracy on {dataset}, SGD for {shortest} epochs (one panel per seed)", p),
            "recipes.png": lambda p: figures.draw_recipes(
                by_recipe, f"Does MAE catch up on {dataset}? Adam, and four times the epochs", p),
            "table.md": lambda p: p.write_text(tables.mae_anatomy_table(by_recipe)),
        }

    written = _write_per_dataset("mae-anatomy", runs, out_dir, outputs)
    figures.draw_true_logit_push(out_dir / "mae_anatomy_push.png")
    written["mae_anatomy_push.png"] = "analytic"
    reasons = {"optimizer": "SGD is the report's recipe; Adam rescales each step by a running gradient size, "
                            "which tests whether MAE is stuck or only slow",
               "lr": f"{RunConfig().lr:g} for SGD; {MAE_RECIPES[2][1]:g} for Adam, its usual default"}
    return written | _setup("mae-anatomy", runs, out_dir, reasons)


# experiment name -> function(runs of that experiment, output dir) -> {file name: fingerprint}
RENDERERS = {
    "compare": render_compare,
    "label-noise": render_label_noise,
    "imbalance": render_imbalance,
    "gamma-sweep": render_gamma_sweep,
    "mae-anatomy": render_mae_anatomy,
}


def render_experiment(name: str, runs: list[StoredRun], out_dir: Path) -> dict[str, str]:
    """Draw one experiment's figures and tables from its stored runs."""
    return RENDERERS[name](runs, out_dir)


def update_manifest(out_dir: Path, written: dict[str, str]) -> None:
    """Merge ``{file: fingerprint}`` into the manifest (other experiments' entries are kept)."""
    path = out_dir / MANIFEST_NAME
    manifest = json.loads(path.read_text()) if path.exists() else {}
    manifest.update(written)
    write_json_atomic(path, dict(sorted(manifest.items())))
