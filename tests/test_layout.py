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
def poly1_registered(monkeypatch):
    """Poly-1 registered as docs/architecture.md "Adding a loss" says; the registry restored afterwards."""
    import math

    import torch

    from lossdemo.losses import functions, registry

    def poly1_loss(logits, targets, epsilon=1.0, reduction="mean", *, validate=True):
        ce = functions.cross_entropy_loss(logits, targets, reduction="none", validate=validate)
        p_true = torch.exp(-ce)
        return functions._reduce(ce + epsilon * (1 - p_true), reduction)

    monkeypatch.setattr(registry, "KINDS_BY_NAME", dict(registry.KINDS_BY_NAME))
    monkeypatch.setattr(registry, "LOSS_COLOURS", dict(registry.LOSS_COLOURS))
    from lossdemo.report import style
    monkeypatch.setattr(style, "FIXED_LOSS_COLOURS", registry.LOSS_COLOURS)
    kind = registry.LossKind("poly", poly1_loss, "Poly-1",
                             registry.LossParameter("epsilon", "poly-1 epsilon", {"low": -1.0, "high": math.inf}),
                             colours={"poly:1": "#7F7F7F"})
    registry.register_loss(kind)
    return kind


def test_a_loss_registered_as_the_walkthrough_says_trains_draws_and_has_its_own_colour(poly1_registered):
    import numpy as np
    from support import tiny_dataset

    from lossdemo.losses import get_loss, loss_spec_forms, parse_loss_spec
    from lossdemo.report.loss_shapes import push_on_true_logit
    from lossdemo.report.style import loss_colour
    from lossdemo.train import train_run

    assert parse_loss_spec("poly:1").kind is poly1_registered and "poly:<epsilon>" in loss_spec_forms()
    outcome = train_run(RunConfig(loss="poly:1", epochs=3, batch_size=64, lr=0.1), tiny_dataset())
    assert outcome.status == "complete" and outcome.history["train_loss"][-1] < outcome.history["train_loss"][0]
    for p in (0.05, 0.5, 0.9):  # −∂ℓ/∂z_y of CE + ε(1 − p_y) is (1 − p_y)(1 + ε p_y)
        assert push_on_true_logit("poly:1", p) == pytest.approx((1 - p) * (1 + p), rel=1e-6)
    assert loss_colour("poly:1") == "#7F7F7F"
    assert loss_colour("poly:2") not in {loss_colour(name) for name in ("ce", "mae", "l1-logits", "focal:0.5", "focal:2")}
    assert np.isfinite(float(get_loss("poly:0")(*_batch())))


def _batch():
    import torch

    generator = torch.Generator().manual_seed(0)
    return torch.randn(8, 10, generator=generator), torch.randint(0, 10, (8,), generator=generator)


def test_registering_a_loss_under_a_taken_or_bad_name_is_a_one_line_error(poly1_registered):
    from lossdemo.losses import LossKind, register_loss

    for name in ("ce", "poly", "a:b", ""):
        with pytest.raises(ValueError, match=f"loss kind name {name!r} is invalid; allowed: a new name"):
            register_loss(LossKind(name, poly1_registered.function, "x"))
    with pytest.raises(TypeError, match="allowed: a LossKind"):
        register_loss("poly")
