"""Pure, seeded corruptions of a training set: label noise and long-tailed class imbalance.

Each function takes labels and a seed and returns new tensors; nothing is modified in place, and the
same arguments always give the same result, so a run's corruption is fully described by its config.
"""

from __future__ import annotations

import math

import torch

NOISE_KINDS = ("symmetric", "asymmetric")


def _check_rate(rate: float) -> None:
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and 0.0 <= rate < 1.0):
        raise ValueError(f"label noise rate {rate!r} is invalid; allowed: a number in [0, 1)")


def _flip_indices_per_class(labels: torch.Tensor, rate: float, num_classes: int, generator: torch.Generator):
    """Yield (class, indices to flip): exactly floor(rate * n_c) samples of each class c, chosen at random."""
    for class_index in range(num_classes):
        members = torch.nonzero(labels == class_index).flatten()
        n_flip = math.floor(rate * len(members))
        chosen = members[torch.randperm(len(members), generator=generator)[:n_flip]]
        yield class_index, chosen


def symmetric_label_noise(labels: torch.Tensor, rate: float, num_classes: int, seed: int) -> torch.Tensor:
    """Flip exactly ``floor(rate * n_c)`` labels of every class c to a uniformly chosen *different* class.

    This is the "symmetric" noise of the robust-loss literature (e.g. Ghosh et al. 2017), with the
    fraction held exact per class so that noise never changes the class balance by chance.
    """
    _check_rate(rate)
    generator = torch.Generator().manual_seed(seed)
    noisy = labels.clone()
    for class_index, chosen in _flip_indices_per_class(labels, rate, num_classes, generator):
        # An offset in 1..C-1 added modulo C is uniform over the other classes.
        offsets = torch.randint(1, num_classes, (len(chosen),), generator=generator)
        noisy[chosen] = (class_index + offsets) % num_classes
    return noisy


def asymmetric_label_noise(labels: torch.Tensor, rate: float, num_classes: int, seed: int) -> torch.Tensor:
    """Class-pair noise: exactly ``floor(rate * n_c)`` labels of class c become class (c + 1) mod C.

    Systematic confusions like this (a 7 labelled as 8) are harder for robust losses than symmetric
    noise, because the wrong label is consistent rather than spread out.
    """
    _check_rate(rate)
    generator = torch.Generator().manual_seed(seed)
    noisy = labels.clone()
    for class_index, chosen in _flip_indices_per_class(labels, rate, num_classes, generator):
        noisy[chosen] = (class_index + 1) % num_classes
    return noisy


def apply_label_noise(labels: torch.Tensor, rate: float, kind: str, num_classes: int, seed: int) -> torch.Tensor:
    """Dispatch on ``kind`` (one of ``NOISE_KINDS``); rate 0 returns the labels unchanged."""
    if kind not in NOISE_KINDS:
        raise ValueError(f"unknown label noise kind {kind!r}; allowed: {', '.join(NOISE_KINDS)}")
    if rate == 0:
        _check_rate(rate)
        return labels.clone()
    corrupt = symmetric_label_noise if kind == "symmetric" else asymmetric_label_noise
    return corrupt(labels, rate, num_classes, seed)


def long_tail_counts(n_max: int, ratio: float, num_classes: int) -> list[int]:
    """Exponential profile: class i keeps ``floor(n_max * ratio ** (-i / (C - 1)))`` samples (Cui et al. 2019)."""
    if not (isinstance(ratio, (int, float)) and math.isfinite(ratio) and ratio >= 1):
        raise ValueError(f"imbalance ratio {ratio!r} is invalid; allowed: a finite number >= 1")
    return [max(1, math.floor(n_max * ratio ** (-i / (num_classes - 1)))) for i in range(num_classes)]


def long_tail_indices(labels: torch.Tensor, ratio: float, num_classes: int, seed: int) -> torch.Tensor:
    """Indices of a long-tailed subset: class 0 is the head, class C-1 the tail (``ratio`` times rarer).

    ``n_max`` is the size of the smallest class, so every class can supply its quota. Ratio 1 keeps a
    balanced subset. The returned indices are sorted so the subset keeps the original sample order.
    """
    class_sizes = torch.bincount(labels, minlength=num_classes)
    counts = long_tail_counts(int(class_sizes.min()), ratio, num_classes)
    generator = torch.Generator().manual_seed(seed)
    kept = []
    for class_index, count in enumerate(counts):
        members = torch.nonzero(labels == class_index).flatten()
        kept.append(members[torch.randperm(len(members), generator=generator)[:count]])
    return torch.sort(torch.cat(kept)).values
