"""Label noise and class imbalance as properties: exact counts, real flips, pure and seeded.

Run: pytest tests/test_corruption.py -q
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from support import tiny_dataset

from lossdemo.corruption import (
    apply_label_noise,
    asymmetric_label_noise,
    long_tail_counts,
    long_tail_indices,
    symmetric_label_noise,
)
from lossdemo.run_config import RunConfig
from lossdemo.training_set import prepare_training_set

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def labelled(draw, max_classes=12, max_samples=400):
    """(labels int64 [N], num_classes) with every class possibly empty or tiny."""
    num_classes = draw(st.integers(2, max_classes))
    seed = draw(st.integers(0, 2**31 - 1))
    size = draw(st.integers(0, max_samples))
    labels = torch.randint(num_classes, (size,), generator=torch.Generator().manual_seed(seed))
    return labels, num_classes


rates = st.floats(0.0, 0.999, allow_nan=False)
seeds = st.integers(0, 2**31 - 1)


@SETTINGS
@given(data=labelled(), rate=rates, seed=seeds, corrupt=st.sampled_from([symmetric_label_noise, asymmetric_label_noise]))
def test_noise_flips_exactly_floor_rate_times_class_size_per_class_and_every_flip_changes_the_label(
        data, rate, seed, corrupt):
    labels, num_classes = data
    original = labels.clone()
    noisy = corrupt(labels, rate, num_classes, seed)
    assert torch.equal(labels, original), "the input is not modified"
    assert noisy.dtype == torch.int64 and noisy.shape == labels.shape
    assert bool(((noisy >= 0) & (noisy < num_classes)).all())
    flipped = noisy != labels
    for class_index in range(num_classes):
        members = labels == class_index
        assert int(flipped[members].sum()) == math.floor(rate * int(members.sum()))


@SETTINGS
@given(data=labelled(), rate=rates, seed=seeds)
def test_asymmetric_noise_sends_class_c_to_c_plus_1(data, rate, seed):
    labels, num_classes = data
    noisy = asymmetric_label_noise(labels, rate, num_classes, seed)
    flipped = noisy != labels
    assert torch.equal(noisy[flipped], (labels[flipped] + 1) % num_classes)


@SETTINGS
@given(data=labelled(), rate=rates, seed=seeds, kind=st.sampled_from(["symmetric", "asymmetric"]))
def test_noise_is_a_pure_function_of_its_seed(data, rate, seed, kind):
    labels, num_classes = data
    first = apply_label_noise(labels, rate, kind, num_classes, seed)
    assert torch.equal(first, apply_label_noise(labels, rate, kind, num_classes, seed))


def test_different_seeds_flip_different_samples():
    labels = torch.arange(1000) % 10
    first = symmetric_label_noise(labels, 0.4, 10, seed=0)
    second = symmetric_label_noise(labels, 0.4, 10, seed=1)
    assert not torch.equal(first != labels, second != labels)


def test_symmetric_noise_reaches_every_other_class():
    labels = torch.zeros(5000, dtype=torch.int64)
    noisy = symmetric_label_noise(labels, 0.9, 10, seed=0)
    counts = torch.bincount(noisy[noisy != 0], minlength=10)[1:]
    assert (counts > 0.8 * 4500 / 9).all(), counts  # roughly uniform over the 9 other classes


def test_rate_zero_returns_an_unchanged_copy():
    labels = torch.arange(20) % 4
    noisy = apply_label_noise(labels, 0.0, "symmetric", 4, seed=0)
    assert torch.equal(noisy, labels) and noisy.data_ptr() != labels.data_ptr()


@pytest.mark.parametrize("rate", [1.0, -0.1, float("nan"), float("inf"), "0.2"])
def test_bad_rates_are_value_errors(rate):
    with pytest.raises(ValueError, match=r"allowed: a number in \[0, 1\)"):
        symmetric_label_noise(torch.zeros(4, dtype=torch.int64), rate, 2, seed=0)


def test_unknown_noise_kind_is_a_value_error_naming_the_kinds():
    with pytest.raises(ValueError, match="allowed: symmetric, asymmetric"):
        apply_label_noise(torch.zeros(4, dtype=torch.int64), 0.1, "pairwise", 2, seed=0)


@settings(max_examples=100, deadline=None)
@given(n_max=st.integers(1, 5000), ratio=st.floats(1.0, 1000.0), num_classes=st.integers(2, 20))
def test_long_tail_counts_follow_the_exponential_profile(n_max, ratio, num_classes):
    counts = long_tail_counts(n_max, ratio, num_classes)
    expected = [max(1, math.floor(n_max * ratio ** (-i / (num_classes - 1)))) for i in range(num_classes)]
    assert counts == expected
    assert counts[0] == n_max
    assert counts == sorted(counts, reverse=True)


@pytest.mark.parametrize("ratio", [0.5, 0.0, -2.0, float("inf"), float("nan")])
def test_bad_imbalance_ratios_are_value_errors(ratio):
    with pytest.raises(ValueError, match="allowed: a finite number >= 1"):
        long_tail_counts(100, ratio, 10)


@SETTINGS
@given(ratio=st.floats(1.0, 100.0), seed=seeds)
def test_long_tail_indices_keep_exactly_the_profile_counts_in_order(ratio, seed):
    labels = tiny_dataset().y_train
    kept = long_tail_indices(labels, ratio, 10, seed)
    n_max = int(torch.bincount(labels, minlength=10).min())
    assert torch.bincount(labels[kept], minlength=10).tolist() == long_tail_counts(n_max, ratio, 10)
    assert torch.equal(kept, torch.sort(kept).values) and len(set(kept.tolist())) == len(kept)
    assert torch.equal(kept, long_tail_indices(labels, ratio, 10, seed)), "seeded"


@pytest.mark.parametrize("fields", [
    {"label_noise": 0.4},
    {"label_noise": 0.3, "label_noise_kind": "asymmetric"},
    {"imbalance_ratio": 10.0},
    {"imbalance_ratio": 10.0, "label_noise": 0.2},
])
def test_corruptions_touch_the_training_split_only(fields):
    dataset = tiny_dataset()
    test_before = (dataset.x_test.clone(), dataset.y_test.clone())
    train_before = (dataset.x_train.clone(), dataset.y_train.clone())
    training_set = prepare_training_set(RunConfig(**fields), dataset)
    assert torch.equal(dataset.x_test, test_before[0]) and torch.equal(dataset.y_test, test_before[1])
    assert torch.equal(dataset.x_train, train_before[0]) and torch.equal(dataset.y_train, train_before[1])
    if "label_noise" in fields:
        assert training_set.flipped is not None and training_set.flipped.any()
    assert training_set.class_counts == torch.bincount(training_set.y, minlength=10).tolist()


def test_corruption_does_not_depend_on_anything_but_the_seed():
    """Same config, same corrupted training set; the run's init seed stream is not consumed by it."""
    dataset = tiny_dataset()
    config = RunConfig(label_noise=0.3, imbalance_ratio=5.0, seed=4)
    torch.manual_seed(123)
    first = prepare_training_set(config, dataset)
    torch.manual_seed(456)
    second = prepare_training_set(config, dataset)
    assert torch.equal(first.y, second.y) and torch.equal(first.x, second.x)
