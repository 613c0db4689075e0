"""What every softmax loss does with its inputs before and after its formula: checks, shapes, masks.

A loss is written for rows: logits (M, C) and class indices (M,). :func:`as_rows` turns what a
caller passes into rows: (N, C) logits as they are, (N, C, d1, ...) logits (segmentation maps,
sequences) with the class axis moved last and the rest flattened, and targets equal to
``ignore_index`` (unlabelled pixels, padding) masked out. :func:`reduced` reduces the per-row
losses back: the mean over the rows that count, like ``F.cross_entropy``, and a batch whose rows
are all ignored gives 0 with a gradient of zeros rather than 0/0. Plain (N, C) inputs without
``ignore_index`` pass through untouched, so the experiments compute exactly what they always did.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

Reduction = Literal["mean", "sum", "none"]
ClassWeights = Sequence[float] | Tensor | None


@dataclass(frozen=True)
class Rows:
    """A loss's inputs as rows, with what :func:`reduced` needs to undo the flattening."""

    logits: Tensor  # (M, C)
    targets: Tensor  # (M,), ignored rows pointing at class 0 so every formula stays finite
    keep: Tensor | None  # (M,) bool: the rows that count; None when no target can be ignored
    shape: tuple[int, ...]  # the targets' shape as given, for reduction="none"

    @property
    def plain(self) -> bool:
        """(N, C) logits with nothing ignored: a loss may hand its reduction to PyTorch as it always did."""
        return self.keep is None and len(self.shape) == 1


def check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be one of 'mean', 'sum', 'none'; got {reduction!r}")


def check_inputs(logits: Tensor, targets: Tensor, ignore_index: int | None = None) -> None:
    """Raise ValueError naming the first bad input; the target range check costs one sync."""
    if not (isinstance(logits, Tensor) and logits.is_floating_point() and logits.dim() >= 2):
        got = type(logits).__name__
        if isinstance(logits, Tensor):
            got = f"{logits.dtype} {tuple(logits.shape)}"
        raise ValueError(f"logits must be a floating-point tensor of shape [N, C] or [N, C, d1, ...]; got {got}")
    num_samples, num_classes = logits.shape[:2]
    if num_samples == 0 or num_classes < 2:
        raise ValueError(f"logits need N >= 1 rows and C >= 2 classes; got {tuple(logits.shape)}")
    if not (isinstance(targets, Tensor) and targets.dtype == torch.int64):
        got = targets.dtype if isinstance(targets, Tensor) else type(targets).__name__
        raise ValueError(f"targets must be an int64 tensor of class indices; got {got}")
    expected = (num_samples, *logits.shape[2:])
    if targets.shape != expected:
        raise ValueError(f"targets must have shape {expected} to match logits "
                         f"{tuple(logits.shape)}; got {tuple(targets.shape)}")
    counted = targets if ignore_index is None else targets[targets != ignore_index]
    if counted.numel():
        for value in torch.stack(torch.aminmax(counted)).tolist():
            if not 0 <= value < num_classes:
                allowed = f"[0, {num_classes - 1}]" + ("" if ignore_index is None else f" or {ignore_index}")
                raise ValueError(f"targets contain {value} but logits have {num_classes} classes; "
                                 f"targets must be in {allowed}")


def as_rows(logits: Tensor, targets: Tensor, ignore_index: int | None, validate: bool) -> Rows:
    """``logits`` and ``targets`` as rows (see the module docstring), checked when ``validate``."""
    if validate:
        check_inputs(logits, targets, ignore_index)
    shape = tuple(targets.shape)
    if logits.dim() > 2:
        logits = logits.movedim(1, -1).reshape(-1, logits.shape[1])
        targets = targets.reshape(-1)
    keep = None
    if ignore_index is not None:
        keep = targets != ignore_index
        targets = targets.masked_fill(~keep, 0)
    return Rows(logits, targets, keep, shape)


def reduced(per_row: Tensor, reduction: str, rows: Rows) -> Tensor:
    """The per-row losses reduced; "none" gives them in the targets' shape, 0 where ignored."""
    if rows.plain:
        return reduce_plain(per_row, reduction)
    if rows.keep is not None:
        per_row = torch.where(rows.keep, per_row, torch.zeros_like(per_row))
    if reduction == "none":
        return per_row.reshape(rows.shape)
    if reduction == "sum":
        return per_row.sum()
    counted = per_row.new_tensor(float(per_row.numel())) if rows.keep is None else rows.keep.sum().to(per_row.dtype)
    return per_row.sum() / counted.clamp_min(1)


def reduce_plain(per_sample: Tensor, reduction: str) -> Tensor:
    if reduction == "none":
        return per_sample
    return per_sample.mean() if reduction == "mean" else per_sample.sum()


def class_weights(alpha: ClassWeights, logits: Tensor, validate: bool) -> Tensor | None:
    """``alpha`` as a [C] tensor on the logits' device and dtype; None stays None."""
    if alpha is None:
        return None
    weights = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
    if weights.shape != (logits.shape[1],):
        raise ValueError(f"alpha must hold one weight per class ({logits.shape[1]}); "
                         f"got shape {tuple(weights.shape)}")
    if validate and not bool(torch.all(torch.isfinite(weights) & (weights >= 0))):
        raise ValueError(f"alpha must be finite and >= 0; got {weights.tolist()}")
    return weights


def at_least_float32(logits: Tensor) -> Tensor:
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits


def check_parameter(name: str, value: float, low: float, high: float, low_open: bool = False,
                    high_open: bool = False) -> None:
    """One-line error for a loss parameter outside its range, in the project's "allowed" form.

    Any real number counts (Python's, NumPy's); a bool does not.
    """
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool) and not math.isnan(value)
          and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
          and (math.isfinite(value) or high == math.inf and value != math.inf))
    if not ok:
        left = "(" if low_open or low == -math.inf else "["
        right = ")" if high_open or high == math.inf else "]"
        lower = "-∞" if low == -math.inf else f"{low:g}"
        upper = "∞" if high == math.inf else f"{high:g}"
        raise ValueError(f"{name} {value!r} is invalid; allowed: a number in {left}{lower}, {upper}{right}")


def check_class_counts(class_counts, num_classes: int | None = None) -> list[float]:
    """``class_counts`` (a list, tuple, NumPy array or tensor) as floats, each finite and > 0."""
    try:
        counts = [float(count) for count in class_counts]
    except (TypeError, ValueError):
        counts = []
    if not counts or not all(0 < count < math.inf for count in counts) \
            or (num_classes is not None and len(counts) != num_classes):
        shown = class_counts.tolist() if hasattr(class_counts, "tolist") else class_counts
        per_class = "" if num_classes is None else f" ({num_classes})"
        raise ValueError(f"class_counts {shown!r} is invalid; allowed: one finite count > 0 per class{per_class}")
    return counts
