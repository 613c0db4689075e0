"""The claims experiments' renderers draw every file from synthetic stored runs, and record them in the manifest."""

from __future__ import annotations

import random

import pytest
from support import stored_run

from lossdemo.experiments import default_configs
from lossdemo.report.captions import caption_name
from lossdemo.report.claims_pages import TABLE_NAME, claim_pages, render_claims, verdicts_file_name
from lossdemo.report.render import REPORTS, render_experiment
from lossdemo.results import StoredRun

EPOCHS_SHOWN = 4  # histories are shortened: the renderers must not assume a run's length


def synthetic_run(config, rng: random.Random) -> StoredRun:
    accuracy = [min(0.95, 0.2 + 0.2 * epoch + rng.uniform(-0.05, 0.05)) for epoch in range(EPOCHS_SHOWN)]
    per_class = [[min(1.0, value + rng.uniform(-0.1, 0.1)) for _ in range(10)] for value in accuracy]
    history = {
        "test_accuracy": accuracy,
        "train_accuracy": [value + 0.02 for value in accuracy],
        "test_per_class_accuracy": per_class,
        "test_ece": [rng.uniform(0.01, 0.1) for _ in accuracy],
        "final_test_reliability": {"count": [0] * 5 + [100] * 10, "accuracy": [0.0] * 5 + [0.5 + i / 25 for i in range(10)],
                                   "confidence": [0.0] * 5 + [0.4 + i / 25 for i in range(10)]},
    }
    if config.label_noise > 0:
        history["train_accuracy_on_flipped"] = [0.05 * epoch for epoch in range(EPOCHS_SHOWN)]
        history["train_accuracy_on_clean"] = accuracy
    return stored_run(config, history)


@pytest.fixture(scope="module")
def runs_by_experiment():
    rng = random.Random(0)
    return {name: [synthetic_run(config, rng) for config in default_configs(name, seeds=2)]
            for name in ("label-noise", "imbalance", "gamma-sweep", "mae-anatomy")}


EXPECTED = {
    "label-noise": {"label_noise_mnist1d_accuracy.png", "label_noise_mnist1d_memorisation.png",
                    "label_noise_mnist1d_table.md", "label_noise_mnist1d_matrix.md", "label_noise_mnist1d_stability.md",
                    "label_noise_setup.md"},
    "imbalance": {"imbalance_mnist1d-40k_accuracy.png", "imbalance_mnist1d-40k_per_class.png", "imbalance_mnist1d-40k_table.md",
                  "imbalance_mnist1d-40k_counts.md", "imbalance_mnist1d-40k_cb_beta.md", "imbalance_mnist1d-40k_stability.md",
                  "imbalance_setup.md"},
    "gamma-sweep": {"gamma_sweep_mnist1d_accuracy_ece.png", "gamma_sweep_mnist1d_reliability.png",
                    "gamma_sweep_mnist1d_table.md", "gamma_sweep_setup.md"},
    "mae-anatomy": {"mae_anatomy_mnist1d_per_class.png", "mae_anatomy_mnist1d_recipes.png", "mae_anatomy_mnist1d_table.md",
                    "mae_anatomy_push.png", "mae_anatomy_setup.md"},
}
# Every figure comes with its caption file.
EXPECTED = {name: files | {caption_name(file) for file in files if file.endswith(".png")} for name, files in EXPECTED.items()}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_claims_experiment_draws_its_files(name, runs_by_experiment, tmp_path):
    assert name in REPORTS
    written = render_experiment(name, runs_by_experiment[name], tmp_path)
    assert set(written) == EXPECTED[name]
    for file_name in written:
        assert (tmp_path / file_name).stat().st_size > 0, file_name
    tables = [tmp_path / f for f in written if f.endswith("_table.md")]
    for table in tables:
        first_row = table.read_text().split("\n")[2]
        assert first_row.startswith("| ") and "`" in first_row, f"{table.name}: no data row"


def test_the_claims_files_are_written_for_every_page(runs_by_experiment, tmp_path):
    runs = [run for runs in runs_by_experiment.values() for run in runs]
    written = render_claims(runs, tmp_path)
    assert TABLE_NAME in written
    assert {verdicts_file_name(page) for page in claim_pages()} <= set(written)
    table = (tmp_path / TABLE_NAME).read_text()
    assert table.count("\n| ") >= 13, "one row per claim"
