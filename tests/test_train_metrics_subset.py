"""Train metrics on a subset (``RunConfig.train_metrics_samples``): a fixed, seeded subset of the
training split that only the per-epoch train metrics read. It must never change what a run trains
on, so the validation and test curves stay those of the run without it, bit for bit."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from support import assert_histories_close, tiny_dataset

from lossdemo import reproduce
from lossdemo.experiments import EXPERIMENTS, plan_runs
from lossdemo.protocol import TRAIN_METRICS_SAMPLES
from lossdemo.run_config import RunConfig
from lossdemo.train import train_run, train_runs
from lossdemo.training_set import prepare_training_set

SUBSET = 37  # prime: an accuracy over the subset times 37 is a whole number of samples


def test_the_subset_is_fixed_per_seed_sorted_distinct_and_inside_the_training_split():
    dataset = tiny_dataset()
    config = RunConfig(train_metrics_samples=SUBSET, validation_fraction=0.2, label_noise=0.4, seed=3)
    training = prepare_training_set(config, dataset)
    index = training.metrics_index
    assert len(index) == SUBSET and len(set(index.tolist())) == SUBSET
    assert torch.equal(index, index.sort().values)
    assert int(index.min()) >= 0 and int(index.max()) < len(training.y)
    assert torch.equal(prepare_training_set(config, dataset).metrics_index, index), "the same seed, the same subset"
    assert not torch.equal(prepare_training_set(replace(config, seed=4), dataset).metrics_index, index)
    x, y, flipped = training.metrics_part()
    assert torch.equal(x, training.x[index]) and torch.equal(y, training.y[index])
    assert torch.equal(flipped, training.flipped[index])


@pytest.mark.parametrize("samples", [0, 10_000])
def test_no_subset_when_asked_for_none_or_for_more_than_the_split_holds(samples):
    training = prepare_training_set(RunConfig(train_metrics_samples=samples), tiny_dataset())
    assert training.metrics_index is None
    assert training.metrics_part()[0] is training.x


def test_the_subset_changes_only_the_train_metrics_and_they_are_read_on_it():
    dataset = tiny_dataset()
    config = RunConfig(epochs=3, batch_size=64, validation_fraction=0.2, label_noise=0.3, seed=1)
    whole, part = train_run(config, dataset), train_run(replace(config, train_metrics_samples=SUBSET), dataset)
    for key in whole.history:
        if not key.startswith("train_"):
            assert part.history[key] == whole.history[key], key
    flipped = int(prepare_training_set(part.config, dataset).metrics_part()[2].sum())
    for accuracy, on_flipped in zip(part.history["train_accuracy"], part.history["train_accuracy_on_flipped"]):
        assert accuracy * SUBSET == pytest.approx(round(accuracy * SUBSET), abs=1e-4)
        assert on_flipped * flipped == pytest.approx(round(on_flipped * flipped), abs=1e-4)
    assert part.history["train_accuracy"] != whole.history["train_accuracy"]


def test_stacked_runs_with_subsets_match_single_runs():
    dataset = tiny_dataset()
    configs = [RunConfig(loss=loss, seed=seed, epochs=2, batch_size=64, validation_fraction=0.2, label_noise=noise,
                         train_metrics_samples=SUBSET)
               for loss, seed, noise in (("ce", 0, 0.0), ("mae", 1, 0.3), ("focal:2", 2, 0.3))]
    for single, together in zip([train_run(config, dataset) for config in configs], train_runs(configs, dataset)):
        assert_histories_close(single.history, together.history, SUBSET)


@pytest.mark.parametrize("samples", [-1, 2.5, True, "1000"])
def test_a_bad_subset_size_is_a_one_line_error(samples):
    with pytest.raises(ValueError, match=r"train_metrics_samples .* is invalid; allowed: an integer >= 0"):
        RunConfig(train_metrics_samples=samples)


def test_runs_without_a_subset_keep_their_ids_and_every_experiment_uses_one():
    config = RunConfig()
    assert replace(config, train_metrics_samples=0).run_id == config.run_id
    assert replace(config, train_metrics_samples=TRAIN_METRICS_SAMPLES).run_id != config.run_id
    for experiment in EXPERIMENTS.values():
        configs = plan_runs(experiment, ("mnist1d",), None, 1, None)
        assert {c.train_metrics_samples for c in configs} == {TRAIN_METRICS_SAMPLES}, experiment.name


def test_the_time_estimate_counts_the_smaller_evaluation():
    config = RunConfig(dataset="mnist1d", validation_fraction=0.2)
    with_subset = replace(config, train_metrics_samples=TRAIN_METRICS_SAMPLES)
    assert reproduce._epoch_share(with_subset) < reproduce._epoch_share(config)
    larger_than_the_split = replace(config, train_metrics_samples=10 * reproduce.TRAINING_SPLIT_SIZES["mnist1d"])
    assert reproduce._epoch_share(larger_than_the_split) == reproduce._epoch_share(config)
