"""Checks for the coding tasks: a learner's GCE, ECE and early-stopping rule against the package's.

Each check runs the learner's function on inputs it builds itself and compares with the package's
reference (``generalized_cross_entropy_loss``; ``expected_calibration_error`` of a
``reliability_histogram``; ``lossdemo.report.measures.selected_epoch``). A stub that still raises
``NotImplementedError`` is "not implemented yet", not an error, so a notebook committed with its
stubs runs from top to bottom. When an answer is wrong, the check tries the usual slips (a sum
for a mean, the true class's probability for the top one, the test split for the validation
split, ...) and names the one it recognises; otherwise it says which case failed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

import torch
import torch.nn.functional as F

from ..losses import generalized_cross_entropy_loss
from ..metrics import ECE_BINS, expected_calibration_error, reliability_histogram
from .feedback import Feedback, correct, not_implemented, not_yet, say

_STUB = "replace the `raise NotImplementedError` with your code, then run this cell again"


class _Failed(Exception):
    """The learner's function raised: carries the feedback to return."""

    def __init__(self, feedback: Feedback):
        super().__init__(str(feedback))
        self.feedback = feedback


def _call(function: Callable, *args, **kwargs):
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise _Failed(not_implemented(_STUB)) from None
    except Exception as error:  # a learner's bug of any kind is feedback, not a crash
        raise _Failed(not_yet(f"your function raised {type(error).__name__}: {error}")) from None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-7)


# ---------------------------------------------------------------------------------------------
# Generalized cross-entropy

def _gce_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(32, 10, generator=generator, dtype=torch.float64) * 3
    return logits, torch.randint(0, 10, (32,), generator=generator)


def _gce_slip(value: float, logits: torch.Tensor, targets: torch.Tensor, q: float) -> str | None:
    """The usual mistake that gives ``value``, if one does."""
    log_p = F.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    per_example = (1 - torch.exp(q * log_p)) / q
    slips = {
        "return the batch mean, not the sum": float(per_example.sum()),
        "divide 1 - p_y^q by q": float((1 - torch.exp(q * log_p)).mean()),
        "that is cross-entropy: the loss is (1 - p_y^q) / q": float(-log_p.mean()),
        "p_y is the softmax probability over the classes (dim=1) of each example's own class":
            float(((1 - F.softmax(logits, dim=0).gather(1, targets[:, None]) ** q) / q).mean()),
    }
    return next((hint for hint, slip in slips.items() if _close(value, slip)), None)


def assess_gce(function: Callable) -> Feedback:
    """``function(logits, targets, q)`` against ``generalized_cross_entropy_loss``: values and gradients."""
    try:
        for seed, q in enumerate((0.7, 0.3, 1.0)):
            logits, targets = _gce_batch(seed)
            mine_logits = logits.clone().requires_grad_(True)
            mine = _call(function, mine_logits, targets, q)
            if not isinstance(mine, torch.Tensor) or mine.dim() != 0:
                shape = tuple(mine.shape) if isinstance(mine, torch.Tensor) else type(mine).__name__
                return not_yet(f"return one number for the batch (a 0-d tensor, the batch mean); got {shape}")
            reference_logits = logits.clone().requires_grad_(True)
            reference = generalized_cross_entropy_loss(reference_logits, targets, q=q)
            value = float(mine.detach())
            if not _close(value, float(reference.detach())):
                return not_yet(_gce_slip(value, logits, targets, q)
                               or f"the value differs from the package's at q = {q}; the loss of one example is "
                                  "(1 - p_y^q) / q with p_y its softmax probability, and the batch takes the mean")
            if not mine.requires_grad:
                return not_yet("the value is right but autograd cannot differentiate it: compute it with torch "
                               "operations on the logits (no .item(), .detach() or NumPy)")
            (my_gradient,) = torch.autograd.grad(mine, mine_logits)
            (reference_gradient,) = torch.autograd.grad(reference, reference_logits)
            if not torch.allclose(my_gradient, reference_gradient, rtol=1e-5, atol=1e-8):
                return not_yet(f"the value is right at q = {q} but the gradient is not: is something detached?")
    except _Failed as failed:
        return failed.feedback
    return correct("the values and the gradients match the package's generalized_cross_entropy_loss at q = 0.3, 0.7 and 1")


def check_gce(function: Callable) -> None:
    """Print whether ``function`` computes generalized cross-entropy as the package does."""
    say(assess_gce(function))


# ---------------------------------------------------------------------------------------------
# Expected calibration error

def _ece_case(seed: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(100 + seed)
    labels = torch.randint(0, 10, (500,), generator=generator)
    logits = torch.randn(500, 10, generator=generator) * scale
    logits[torch.arange(500), labels] += scale  # better than chance, so the bins hold both right and wrong
    return logits, labels


def _reference_ece(confidences: torch.Tensor, correct_: torch.Tensor, num_bins: int) -> float:
    return expected_calibration_error(reliability_histogram(confidences, correct_, num_bins))


def _ece_slip(value: float, logits: torch.Tensor, labels: torch.Tensor, num_bins: int) -> str | None:
    probabilities = torch.softmax(logits, dim=1)
    confidences, predictions = probabilities.max(dim=1)
    right = (predictions == labels).float()
    histogram = reliability_histogram(confidences, right, num_bins)
    filled = [(a, c) for n, a, c in zip(histogram.count, histogram.accuracy, histogram.confidence) if n]
    slips = {
        "weight each bin's gap by the share of samples in it, not equally":
            sum(abs(a - c) for a, c in filled) / len(filled),
        "take each bin's gap as an absolute value before you add them up":
            abs(sum(n * (a - c) for n, a, c in zip(histogram.count, histogram.accuracy, histogram.confidence))
                / sum(histogram.count)),
        "the confidence is the probability of the predicted (top) class, whether or not it is right":
            _reference_ece(probabilities.gather(1, labels[:, None]).squeeze(1), right, num_bins),
    }
    return next((hint for hint, slip in slips.items() if _close(value, slip)), None)


def assess_ece(function: Callable) -> Feedback:
    """``function(logits, labels, num_bins)`` against the package's 15-bin ECE (and a 10-bin one)."""
    try:
        for seed, (scale, num_bins) in enumerate(((1.0, ECE_BINS), (3.0, ECE_BINS), (2.0, 10))):
            logits, labels = _ece_case(seed, scale)
            mine = _call(function, logits.clone(), labels.clone(), num_bins)
            try:
                value = float(mine.detach() if isinstance(mine, torch.Tensor) else mine)
            except (TypeError, ValueError, RuntimeError):
                return not_yet(f"return one number; got {type(mine).__name__}")
            confidences, predictions = torch.softmax(logits, dim=1).max(dim=1)
            reference = _reference_ece(confidences, (predictions == labels).float(), num_bins)
            if not _close(value, reference):
                return not_yet(_ece_slip(value, logits, labels, num_bins)
                               or f"the value differs from the package's with {num_bins} bins: softmax the logits, "
                                  "take the top probability as the confidence, put it in bin b when it lies in "
                                  "(b/B, (b+1)/B], and add |accuracy - confidence| of each bin weighted by its share")
    except _Failed as failed:
        return failed.feedback
    return correct("your ECE matches the package's expected_calibration_error with 15 and with 10 bins")


def check_ece(function: Callable) -> None:
    """Print whether ``function`` computes the expected calibration error as the package does."""
    say(assess_ece(function))


# ---------------------------------------------------------------------------------------------
# Early stopping on validation

# Histories where the usual slips give different epochs: the test split peaks elsewhere, ties, a
# peak at either end.
_HISTORIES = (
    {"val_accuracy": [0.50, 0.62, 0.71, 0.69, 0.70, 0.68], "test_accuracy": [0.49, 0.60, 0.70, 0.70, 0.73, 0.69]},
    {"val_accuracy": [0.40, 0.55, 0.61, 0.61, 0.58], "test_accuracy": [0.41, 0.52, 0.60, 0.59, 0.62]},
    {"val_accuracy": [0.30, 0.45, 0.52, 0.58], "test_accuracy": [0.31, 0.47, 0.55, 0.54]},
    {"val_accuracy": [0.66, 0.64, 0.60, 0.62], "test_accuracy": [0.61, 0.65, 0.60, 0.62]},
)


def _reference_epoch(history: dict) -> int:
    from ..report.measures import selected_epoch  # the report's rule; imported late, as it imports the report

    return selected_epoch(SimpleNamespace(history=history))


def _epoch_slip(value: int, history: dict) -> str | None:
    validation, test = history["val_accuracy"], history["test_accuracy"]
    best = max(validation)
    slips = {
        "count epochs from 1, as the history's first entry is epoch 1": validation.index(best),
        "choose the epoch with the validation split: the test split may be read once, at the epoch chosen":
            test.index(max(test)) + 1,
        "on a tie, keep the first epoch that reached the best validation accuracy":
            len(validation) - validation[::-1].index(best),
        "that is the last epoch: stop where validation accuracy was highest": len(validation),
    }
    return next((hint for hint, slip in slips.items() if value == slip), None)


def assess_best_epoch(function: Callable) -> Feedback:
    """``function(history)`` against the report's ``selected_epoch``: the first epoch (1-based) with the
    best validation accuracy."""
    try:
        for number, history in enumerate(_HISTORIES, start=1):
            mine = _call(function, {key: list(values) for key, values in history.items()})
            if isinstance(mine, bool) or not isinstance(mine, int):
                return not_yet(f"return the epoch as an int; got {type(mine).__name__}")
            if mine != _reference_epoch(history):
                return not_yet(_epoch_slip(mine, history) or f"history {number} of {len(_HISTORIES)} gets a "
                               "different epoch: the first epoch, counted from 1, with the highest val_accuracy")
    except _Failed as failed:
        return failed.feedback
    return correct(f"your rule picks the same epoch as the report's on all {len(_HISTORIES)} test histories")


def check_best_epoch(function: Callable) -> None:
    """Print whether ``function`` picks the epoch the report's early stopping picks."""
    say(assess_best_epoch(function))
