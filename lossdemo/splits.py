"""Carving a validation split out of a training split: stratified, seeded, pure.

Every choice a comparison makes — a learning rate, a stopping epoch, anything called "best" — is
made on a validation split carved from the training data, so the test split is read only at the
chosen point. The split is stratified (each class gives the same share), so a validation set carved
from a balanced training set is balanced too, like the test set.
"""

from __future__ import annotations

import math

import torch


def validation_split(labels: torch.Tensor, fraction: float, num_classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(training indices, validation indices) with ``floor(fraction * n_c)`` samples of each class held out.

    Classes too small to give a sample give none. Both index tensors are sorted, so each subset
    keeps the original sample order; the draw depends only on ``seed`` and the labels.

    Raises:
        ValueError: ``fraction`` outside [0, 0.5).
    """
    if not (isinstance(fraction, (int, float)) and not isinstance(fraction, bool) and math.isfinite(fraction)
            and 0 <= fraction < 0.5):
        raise ValueError(f"validation fraction {fraction!r} is invalid; allowed: a number in [0, 0.5)")
    generator = torch.Generator().manual_seed(seed)
    held_out = []
    for class_index in range(num_classes):
        members = torch.nonzero(labels == class_index).flatten()
        count = math.floor(fraction * len(members))
        held_out.append(members[torch.randperm(len(members), generator=generator)[:count]])
    validation = torch.cat(held_out).sort().values
    keep = torch.ones(len(labels), dtype=torch.bool)
    keep[validation] = False
    return torch.nonzero(keep).flatten(), validation
