"""What one epoch of one run records, computed on the device and copied to the host once.

Every epoch the model is evaluated in eval mode on the full test split and on the training split
(all of it, or the fixed random subset ``train_metrics_samples`` asks for): the run's own loss,
accuracy, cross-entropy (a yardstick shared by all losses), per-class test accuracy, and the test
set's expected calibration error (15 bins, ``lossdemo.metrics``; the last epoch's reliability
histogram is kept as ``final_test_reliability``). With a validation split the same is recorded
for it (``val_*`` entries). :class:`EpochLayout` is the one place that knows where each number
sits in the epoch's flat record.

The test split's per-sample predictions are kept at two epochs only, as ``test_predictions``: the
epoch a run is read at (the first with the best validation accuracy; the last without a validation
split) and the last one, with the labels they are scored against. They let the report put the
test set's own sampling noise into its intervals (a 1,000-sample test set is one draw of many), and
pair two runs' answers sample by sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .metrics import ECE_BINS, expected_calibration_error, histogram_from_sums, reliability_sums
from .run_config import RunOutcome, RunStatus


def _split_values(logits: torch.Tensor, labels: torch.Tensor, loss_fn, num_classes: int):
    """``[loss, accuracy, ce, *per_class_accuracy]`` of one split as one float32 device tensor, plus
    per-sample correctness (0/1)."""
    predictions = logits.argmax(dim=1)
    correct = (predictions == labels).float()
    per_class_total = torch.bincount(labels, minlength=num_classes).clamp_min(1)
    per_class_correct = torch.bincount(labels, weights=correct, minlength=num_classes)
    scalars = torch.stack([loss_fn(logits, labels, validate=False).float(), correct.mean(),
                           F.cross_entropy(logits, labels)])
    return torch.cat([scalars, per_class_correct / per_class_total]), correct


def _weights_finite(params) -> torch.Tensor:
    """``1.0`` if every parameter is finite, else ``0.0``, as a device scalar (no host sync)."""
    return torch.stack([torch.isfinite(p).all() for p in params]).all().float().reshape(1)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of one run records, decoded on the host."""

    metrics: dict  # history entries of this epoch (non-finite losses as None)
    reliability: dict | None  # the test set's reliability histogram, None when the logits were not finite
    weights_finite: bool
    test_predictions: tuple[int, ...] = ()  # the predicted class of every test sample


def encode_classes(classes) -> str | list[int]:
    """Class indices as one compact string of base-36 digits ("3071…") when every index is below 36,
    else as a list; :func:`decode_classes` reverses it."""
    classes = [int(c) for c in classes]
    if all(0 <= c < 36 for c in classes):
        return "".join("0123456789abcdefghijklmnopqrstuvwxyz"[c] for c in classes)
    return classes


def decode_classes(encoded: str | list[int]) -> list[int]:
    """The class indices :func:`encode_classes` stored."""
    return [int(c, 36) for c in encoded] if isinstance(encoded, str) else list(encoded)


@dataclass(frozen=True)
class EpochLayout:
    """The one place that knows where each number sits in an epoch's flat record.

    Everything an epoch records — both splits' metrics, the flipped/clean fits under label noise,
    the test set's reliability sums, whether the weights are finite — is computed on the device into
    one float32 tensor (:meth:`encode`), copied to the host once (one sync per epoch, which matters
    on a GPU), and split up again by :meth:`decode`. A stack of runs concatenates their records.
    """

    num_classes: int
    noisy: bool  # whether the run has label noise (two more numbers: fit on flipped and on clean samples)
    validation: bool = False  # whether the run has a validation split (one more split's numbers)
    test_samples: int = 0  # the test split's size: its per-sample predictions close the record (0: none)

    @property
    def split_width(self) -> int:
        return 3 + self.num_classes

    @property
    def width(self) -> int:
        return (2 + self.validation) * self.split_width + (2 if self.noisy else 0) + 3 * ECE_BINS + 1 + self.test_samples

    def encode_metrics(self, train_logits, test_logits, y_train, y_test, loss_fn,
                       flipped_index=None, clean_index=None, val_logits=None, y_val=None) -> torch.Tensor:
        """The splits' metrics (and, with noise, the fits on flipped and clean samples) as one device tensor."""
        train, train_correct = _split_values(train_logits, y_train, loss_fn, self.num_classes)
        test, _ = _split_values(test_logits, y_test, loss_fn, self.num_classes)
        parts = [train, test]
        if self.noisy:
            empty = torch.full((1,), math.nan, device=train.device)
            flipped_accuracy = train_correct[flipped_index].mean().reshape(1) if len(flipped_index) else empty
            parts += [flipped_accuracy, train_correct[clean_index].mean().reshape(1)]
        if self.validation:
            parts.append(_split_values(val_logits, y_val, loss_fn, self.num_classes)[0])
        return torch.cat(parts)

    def encode(self, train_logits, test_logits, y_train, y_test, loss_fn, flipped_index, clean_index,
               params, val_logits=None, y_val=None) -> torch.Tensor:
        """The whole record (``width`` numbers) as one float32 device tensor."""
        return torch.cat([
            self.encode_metrics(train_logits, test_logits, y_train, y_test, loss_fn, flipped_index, clean_index,
                                val_logits, y_val),
            reliability_sums(test_logits, y_test),  # (3 * ECE_BINS,) for the test set's ECE
            _weights_finite(params),
            *([test_logits.argmax(dim=1).float()] if self.test_samples else []),
        ])

    def decode_metrics(self, values: list[float]) -> dict:
        """The history entries of one epoch from :meth:`encode_metrics`' numbers."""
        width = self.split_width
        train, test = values[:width], values[width : 2 * width]
        metrics = {
            "train_loss": _finite_or_none(train[0]),
            "test_loss": _finite_or_none(test[0]),
            "train_accuracy": train[1],
            "test_accuracy": test[1],
            "train_ce": _finite_or_none(train[2]),
            "test_ce": _finite_or_none(test[2]),
            "test_per_class_accuracy": test[3:],
        }
        if self.noisy:
            # Fitting the flipped labels is memorisation; the clean subset shows what is really learned.
            flipped_accuracy, clean_accuracy = values[2 * width : 2 * width + 2]
            metrics["train_accuracy_on_flipped"] = None if math.isnan(flipped_accuracy) else flipped_accuracy
            metrics["train_accuracy_on_clean"] = clean_accuracy
        if self.validation:
            start = 2 * width + (2 if self.noisy else 0)
            val = values[start : start + width]
            metrics.update({"val_loss": _finite_or_none(val[0]), "val_accuracy": val[1],
                            "val_ce": _finite_or_none(val[2]), "val_per_class_accuracy": val[3:]})
        return metrics

    def decode(self, values: list[float]) -> EpochRecord:
        """The record from :meth:`encode`'s numbers, copied to the host."""
        predictions = tuple(int(v) for v in values[len(values) - self.test_samples:]) if self.test_samples else ()
        values = values[: len(values) - self.test_samples]
        calibration_width = 3 * ECE_BINS
        metrics = self.decode_metrics(values[: -calibration_width - 1])
        reliability = histogram_from_sums(values[-calibration_width - 1 : -1])
        metrics["test_ece"] = _finite_or_none(expected_calibration_error(reliability))
        return EpochRecord(metrics, reliability.to_dict() if metrics["test_ece"] is not None else None,
                           bool(values[-1]), predictions)


def record_epoch(outcome: RunOutcome, epoch: int, record: EpochRecord, test_labels=None) -> bool:
    """Append the epoch to ``outcome``'s history; mark the run diverged and return False when its loss
    or weights are no longer finite (then training stops).

    With per-sample test predictions in ``record``, ``history["test_predictions"]`` keeps those of the
    epoch the run is read at (the first with the best validation accuracy so far; every epoch without
    a validation split) and of the last epoch, with ``test_labels``.
    """
    for key, value in record.metrics.items():
        outcome.history.setdefault(key, []).append(value)
    # Not per epoch (15 bins x 3 numbers each would bloat every results file): the last epoch's wins.
    outcome.history["final_test_reliability"] = record.reliability
    if record.test_predictions:
        _keep_test_predictions(outcome.history, epoch, record.test_predictions, test_labels)
    if record.metrics["train_loss"] is None or not record.weights_finite:
        outcome.status, outcome.diverged_epoch = RunStatus.DIVERGED, epoch
        return False
    return True


def _keep_test_predictions(history: dict, epoch: int, predictions: tuple[int, ...], test_labels) -> None:
    kept = history.setdefault("test_predictions", {"labels": encode_classes(test_labels)})
    validation = history.get("val_accuracy")
    if not validation or validation[-1] > max(validation[:-1], default=-1.0):
        kept["selected_epoch"], kept["selected"] = epoch, encode_classes(predictions)
    kept["last"] = encode_classes(predictions)
