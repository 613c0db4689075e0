"""The validation split: stratified and seeded, clean and balanced, recorded every epoch, and the
only thing a run's "selected" epoch is chosen on. Runs stored before it existed keep their ids."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from support import PUBLISHED_DIR, stored_run, tiny_dataset

from lossdemo.report import measures as m
from lossdemo.results import ResultsFileError, validate_record
from lossdemo.run_config import RunConfig
from lossdemo.splits import validation_split
from lossdemo.train import train_run, train_runs
from lossdemo.training_set import prepare_training_set


@settings(max_examples=50, deadline=None)
@given(sizes=st.lists(st.integers(0, 40), min_size=2, max_size=6), fraction=st.floats(0, 0.49), seed=st.integers(0, 99))
def test_the_split_holds_out_floor_fraction_of_each_class_and_partitions_the_set(sizes, fraction, seed):
    labels = torch.cat([torch.full((size,), index) for index, size in enumerate(sizes)])[torch.randperm(sum(sizes))]
    kept, held_out = validation_split(labels, fraction, len(sizes), seed)
    assert sorted(kept.tolist() + held_out.tolist()) == list(range(len(labels)))
    assert torch.equal(kept, kept.sort().values) and torch.equal(held_out, held_out.sort().values)
    counts = torch.bincount(labels[held_out], minlength=len(sizes)).tolist()
    assert counts == [int(fraction * size) for size in sizes]
    again = validation_split(labels, fraction, len(sizes), seed)
    assert torch.equal(again[1], held_out), "the same seed holds out the same samples"


@pytest.mark.parametrize("fraction", [-0.1, 0.5, 1.0, float("nan"), True])
def test_a_fraction_outside_zero_to_one_half_is_a_one_line_error(fraction):
    with pytest.raises(ValueError, match=r"validation fraction .* is invalid; allowed: a number in \[0, 0.5\)"):
        validation_split(torch.zeros(4, dtype=torch.long), fraction, 1, 0)
    with pytest.raises(ValueError, match=r"validation fraction .* is invalid; allowed: a number in \[0, 0.5\)"):
        RunConfig(validation_fraction=fraction)


def test_runs_stored_before_validation_splits_keep_their_ids():
    """A record written before the field existed (its config has no validation_fraction) reads back
    as the same run: the field's default leaves the id's hash unchanged."""
    records = (json.loads(path.read_text()) for path in sorted((PUBLISHED_DIR / "runs").glob("*.json")))
    record = next(record for record in records if record["config"]["validation_fraction"] == 0)
    older = {key: value for key, value in record["config"].items() if key != "validation_fraction"}
    config = RunConfig.from_dict(older)
    assert config.run_id == record["run_id"]
    assert replace(config, validation_fraction=0.2).run_id != config.run_id


def test_the_validation_split_is_clean_and_balanced_under_noise_and_imbalance():
    dataset = tiny_dataset()
    config = RunConfig(validation_fraction=0.25, label_noise=0.4, imbalance_ratio=10.0, seed=3)
    training = prepare_training_set(config, dataset)
    original = {tuple(row.tolist()): int(label) for row, label in zip(dataset.x_train.flatten(1), dataset.y_train)}
    assert all(original[tuple(row.tolist())] == int(label)
               for row, label in zip(training.x_val.flatten(1), training.y_val)), "validation labels are the true ones"
    per_class = torch.bincount(training.y_val, minlength=dataset.num_classes)
    expected = (torch.bincount(dataset.y_train, minlength=dataset.num_classes) * 0.25).floor().long()
    assert torch.equal(per_class, expected)
    train_rows = {tuple(row.tolist()) for row in training.x.flatten(1)}
    assert not train_rows & {tuple(row.tolist()) for row in training.x_val.flatten(1)}, "no sample in both"


def test_a_run_with_a_validation_split_records_it_every_epoch_and_a_stack_records_the_same():
    dataset = tiny_dataset()
    configs = [RunConfig(loss=loss, seed=seed, epochs=3, batch_size=64, validation_fraction=0.2)
               for loss in ("ce", "focal:2") for seed in (0, 1)]
    singles = [train_run(config, dataset) for config in configs]
    for outcome in singles:
        assert len(outcome.history["val_accuracy"]) == 3 and len(outcome.history["val_per_class_accuracy"][0]) == 10
    for single, stacked in zip(singles, train_runs(configs, dataset)):
        assert stacked.history["val_accuracy"] == pytest.approx(single.history["val_accuracy"], abs=1 / 100)
        assert stacked.history["val_loss"] == pytest.approx(single.history["val_loss"], rel=1e-4)


def test_the_selected_epoch_is_chosen_on_validation_never_on_test():
    config = RunConfig(epochs=4, validation_fraction=0.2)
    run = stored_run(config, {"val_accuracy": [0.5, 0.8, 0.8, 0.7], "test_accuracy": [0.55, 0.6, 0.9, 0.95]})
    assert m.selected_epoch(run) == 2, "the first epoch with the best validation accuracy"
    assert m.selected_accuracy(run) == 0.6, "the test accuracy there, not the best test accuracy"
    legacy = stored_run(replace(config, validation_fraction=0.0), {"test_accuracy": [0.5, 0.9, 0.7]})
    assert m.selected_epoch(legacy) == 3 and m.selected_accuracy(legacy) == 0.7, "without validation: the last epoch"


def test_a_stored_validation_history_is_checked_like_the_test_one():
    config = RunConfig(epochs=2, validation_fraction=0.2)
    history = {key: [0.5, 0.5] for key in ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "train_ce",
                                            "test_ce")}
    history["test_per_class_accuracy"] = [[0.5] * 10] * 2
    record = {"schema_version": 1, "run_id": config.run_id, "config": config.to_dict(), "status": "complete",
              "metadata": {}, "history": {**history, "val_accuracy": [0.5, 1.5]}}
    with pytest.raises(ResultsFileError, match="'val_accuracy' holds a value that is not a number in \\[0, 1\\]"):
        validate_record(record, "run.json")
    record["history"]["val_accuracy"] = [0.5]
    with pytest.raises(ResultsFileError, match="'val_accuracy' has 1 epochs"):
        validate_record(record, "run.json")
    record["history"]["val_accuracy"] = [0.5, 0.6]
    assert validate_record(record, "run.json") == config


def test_a_run_with_validation_records_a_temperature_fitted_on_it_and_a_stack_the_same():
    dataset = tiny_dataset()
    plain = train_run(RunConfig(epochs=2, batch_size=64), dataset)
    assert "temperature" not in plain.history, "no validation split, nothing to fit a temperature on"
    configs = [RunConfig(loss=loss, epochs=3, batch_size=64, validation_fraction=0.2) for loss in ("ce", "mae")]
    singles = [train_run(config, dataset).history for config in configs]
    for single, stacked in zip(singles, train_runs(configs, dataset)):
        assert single["temperature"] > 0 and 0 <= single["test_ece_scaled"] <= 1
        assert stacked.history["temperature"] == pytest.approx(single["temperature"], rel=1e-3)
