"""The package's layout holds: an experiment is added in one place, and the report never imports training.

The walk-through in docs/architecture.md ("Adding an experiment") is exercised here step by step.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO_ROOT

from lossdemo import experiments, reproduce
from lossdemo.experiments import Experiment, register_experiment
from lossdemo.report import render as render_module
from lossdemo.report.experiment_report import ExperimentReport, write_per_dataset, write_setup
from lossdemo.report.inference import Comparison
from lossdemo.report.measures import final_accuracy, group_runs
from lossdemo.report.render import register_report
from lossdemo.report.tables import cell
from lossdemo.report.verdicts import Claim, Finding, level_values, reference
from lossdemo.run_config import RunConfig

TRAINING_MODULES = ("lossdemo.train", "lossdemo.engines", "lossdemo.runner", "lossdemo.checkpoints")


def _tiny_grid(datasets, losses, seeds, epochs) -> list[RunConfig]:
    return [RunConfig(dataset=dataset, loss=loss, seed=seed, epochs=epochs, batch_size=256)
            for dataset in datasets for loss in losses for seed in range(seeds)]


def _render_tiny(runs, out_dir: Path, context) -> dict[str, str]:
    def outputs(dataset, dataset_runs):
        by_loss = group_runs(dataset_runs, key=lambda run: run.config.loss)
        rows = [f"| `{loss}` | {cell(group, final_accuracy)} |" for loss, group in by_loss.items()]
        return {"table.md": lambda path: path.write_text("| loss | final test accuracy (%) |\n|---|---:|\n"
                                                         + "\n".join(rows) + "\n")}

    return write_per_dataset("tiny", runs, out_dir, outputs) | write_setup("tiny", runs, out_dir)


def _above_chance(index, dataset: str) -> Finding | None:
    below_chance = level_values(index, reference("tiny", dataset, loss="ce"), final_accuracy, 0.1)
    if below_chance is None:
        return None
    comparison = Comparison("accuracy − chance", tuple(-value for value in below_chance))
    return Finding((comparison,), f"{comparison.interval.mean * 100:+.1f} points", "CE after one epoch, against 1/C.")


@pytest.fixture
def tiny_experiment():
    """Registers the "tiny" experiment and its report, as docs/architecture.md says; removed afterwards."""
    register_experiment(Experiment(name="tiny", question="Does CE beat chance after one epoch?", losses=("ce",),
                                   epochs=1, grid=_tiny_grid, datasets=("mnist1d",), epochs_reason="a smoke test"))
    claim = Claim("tiny-above-chance", "CE beats chance after one epoch.", "report", ("tiny",), "", "tiny", _above_chance)
    register_report("tiny", ExperimentReport(render=_render_tiny, claims=(claim,)))
    try:
        yield "tiny"
    finally:
        experiments.EXPERIMENTS.pop("tiny", None)
        render_module.REPORTS.pop("tiny", None)


@pytest.mark.slow
def test_an_experiment_registered_as_the_walkthrough_says_trains_and_renders(tiny_experiment, tmp_path):
    figures = tmp_path / "figures"
    code = reproduce.run(["--experiments", tiny_experiment, "--seeds", "2", "--workers", "1", "--no-progress",
                          "--results-dir", str(tmp_path / "runs"), "--figures-dir", str(figures)])
    assert code == 0
    table = (figures / "tiny_mnist1d_table.md").read_text()
    assert "| `ce` |" in table and "±" in table, table
    assert "**Question.** Does CE beat chance after one epoch?" in (figures / "tiny_setup.md").read_text()
    verdicts = (figures / "tiny_verdicts.md").read_text()
    assert "**CE beats chance after one epoch.**" in verdicts
    assert "tiny-above-chance" not in (figures / "claims_table.md").read_text()  # ids are anchors, not shown
    assert "CE beats chance after one epoch." in (figures / "claims_table.md").read_text()


def test_registering_something_that_is_not_an_experiment_is_a_one_line_error():
    with pytest.raises(TypeError, match="is invalid; allowed: an Experiment"):
        register_experiment("tiny")
    with pytest.raises(TypeError, match="is invalid; allowed: an ExperimentReport"):
        register_report("tiny", lambda runs, out_dir, context: {})


def test_every_experiment_has_a_report_and_every_report_an_experiment():
    assert list(render_module.REPORTS) == list(experiments.EXPERIMENTS)


def test_the_report_package_imports_no_training_code():
    """Drawing the site from stored runs must not need the training loop (nor its torch state)."""
    code = ("import sys; import lossdemo.report.render, lossdemo.report.claims_pages, lossdemo.report.site_files; "
            f"print(sorted(m for m in {TRAINING_MODULES!r} if m in sys.modules))")
    completed = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]", completed.stdout


# ----------------------------------------------------------------------------- adding a loss (the walk-through)

@pytest.fixture()
def brier_registered(monkeypatch):
    """The Brier score registered as docs/architecture.md "Adding a loss" says; the registry restored afterwards."""
    import torch
    import torch.nn.functional as F

    from lossdemo.losses import registry

    def brier_loss(logits, targets, reduction="mean", *, validate=True):
        one_hot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
        per_sample = (torch.softmax(logits, dim=1) - one_hot).pow(2).sum(dim=1)
        return per_sample.mean() if reduction == "mean" else per_sample.sum() if reduction == "sum" else per_sample

    monkeypatch.setattr(registry, "KINDS_BY_NAME", dict(registry.KINDS_BY_NAME))
    monkeypatch.setattr(registry, "LOSS_COLOURS", dict(registry.LOSS_COLOURS))
    from lossdemo.report import style
    monkeypatch.setattr(style, "FIXED_LOSS_COLOURS", registry.LOSS_COLOURS)
    kind = registry.LossKind("brier", brier_loss, "Brier score", colours={"brier": "#7F7F7F"})
    registry.register_loss(kind)
    return kind


def test_a_loss_registered_as_the_walkthrough_says_trains_draws_and_has_its_own_colour(brier_registered):
    from support import tiny_dataset

    from lossdemo.losses import get_loss, loss_spec_forms, parse_loss_spec
    from lossdemo.report.loss_shapes import NUM_CLASSES, push_on_true_logit
    from lossdemo.report.style import loss_colour
    from lossdemo.train import train_run

    assert parse_loss_spec("brier").kind is brier_registered and "brier" in loss_spec_forms().split(", ")
    outcome = train_run(RunConfig(loss="brier", epochs=3, batch_size=64, lr=0.1), tiny_dataset())
    assert outcome.status == "complete" and outcome.history["train_loss"][-1] < outcome.history["train_loss"][0]
    classes = NUM_CLASSES
    for p in (0.05, 0.5, 0.9):  # −∂ℓ/∂z_y of Σ_k (p_k − 1[k=y])², the other classes sharing 1 − p_y equally
        assert push_on_true_logit("brier", p) == pytest.approx(2 * p * (1 - p) ** 2 * classes / (classes - 1), rel=1e-6)
    assert loss_colour("brier") == "#7F7F7F"
    unregistered_colour = loss_colour("focal:3")
    assert unregistered_colour not in {loss_colour(name) for name in ("ce", "mae", "l1-logits", "focal:0.5", "focal:2")}
    assert get_loss("brier")(*_batch()).item() > 0


def _batch():
    import torch

    generator = torch.Generator().manual_seed(0)
    return torch.randn(8, 10, generator=generator), torch.randint(0, 10, (8,), generator=generator)


def test_registering_a_loss_under_a_taken_or_bad_name_is_a_one_line_error(brier_registered):
    from lossdemo.losses import LossKind, register_loss

    for name in ("ce", "brier", "a:b", ""):
        with pytest.raises(ValueError, match=f"loss kind name {name!r} is invalid; allowed: a new name"):
            register_loss(LossKind(name, brier_registered.function, "x"))
    with pytest.raises(TypeError, match="allowed: a LossKind"):
        register_loss("brier")
