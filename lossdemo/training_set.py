"""The training split a run actually sees: its validation split held out, then its imbalance and
label noise applied, and the subset its per-epoch train metrics read.

Every corruption draws from its own seeded stream, so changing one never changes a run's initial
weights or batch order, and runs of the same seed stay paired across losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .corruption import apply_label_noise, long_tail_indices
from .data import Dataset
from .run_config import RunConfig
from .splits import validation_split

# Corruptions draw from their own stream, so changing them never changes init or batch order.
_CORRUPTION_SEED_OFFSET = 1_000_003
_VALIDATION_SEED_OFFSET = 2_000_029
_TRAIN_METRICS_SEED_OFFSET = 3_000_017


@dataclass(frozen=True)
class TrainingSet:
    """The (possibly corrupted) training split a run actually sees, plus what was corrupted."""

    x: torch.Tensor
    y: torch.Tensor  # the labels trained on (noisy where label noise is on)
    flipped: torch.Tensor | None  # bool mask of samples whose label was changed, or None without noise
    class_counts: list[int]
    x_val: torch.Tensor | None = None  # the validation split (clean, stratified), or None without one
    y_val: torch.Tensor | None = None
    metrics_index: torch.Tensor | None = None  # the samples the train metrics read (sorted), or None for all

    def metrics_part(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(x, y, flipped)`` of the samples the per-epoch train metrics read."""
        if self.metrics_index is None:
            return self.x, self.y, self.flipped
        index = self.metrics_index
        return self.x[index], self.y[index], None if self.flipped is None else self.flipped[index]


def prepare_training_set(config: RunConfig, dataset: Dataset) -> TrainingSet:
    """Hold out the config's validation split, then apply its imbalance and label noise to the rest.

    The validation split is carved first, from the clean, balanced training split, so it is clean
    and balanced like the test split: choices made on it (stopping epoch, learning rate) judge the
    same task the test split does. The test split is never touched.
    """
    x, y = dataset.x_train, dataset.y_train
    # Label range and dtypes were checked when the Dataset was built (Dataset.__post_init__).
    x_val = y_val = None
    if config.validation_fraction > 0:
        kept, held_out = validation_split(y, config.validation_fraction, dataset.num_classes,
                                          config.seed + _VALIDATION_SEED_OFFSET)
        x_val, y_val = x[held_out], y[held_out]
        x, y = x[kept], y[kept]
    corruption_seed = config.seed + _CORRUPTION_SEED_OFFSET
    if config.imbalance_ratio != 1:
        kept = long_tail_indices(y, config.imbalance_ratio, dataset.num_classes, corruption_seed)
        x, y = x[kept], y[kept]
    flipped = None
    if config.label_noise > 0:
        noisy = apply_label_noise(y, config.label_noise, config.label_noise_kind, dataset.num_classes, corruption_seed)
        flipped = noisy != y
        y = noisy
    class_counts = torch.bincount(y, minlength=dataset.num_classes).tolist()
    metrics_index = None
    if 0 < config.train_metrics_samples < len(y):
        generator = torch.Generator().manual_seed(config.seed + _TRAIN_METRICS_SEED_OFFSET)
        metrics_index = torch.randperm(len(y), generator=generator)[: config.train_metrics_samples].sort().values
    return TrainingSet(x=x, y=y, flipped=flipped, class_counts=class_counts, x_val=x_val, y_val=y_val,
                       metrics_index=metrics_index)


def noise_indices(flipped: torch.Tensor | None, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Positions of the flipped and of the clean samples in ``flipped`` (None, None without noise):
    indices, not masks, because a masked selection would sync with the device every epoch."""
    if flipped is None:
        return None, None
    return flipped.nonzero().squeeze(1).to(device), (~flipped).nonzero().squeeze(1).to(device)
