"""Pure metrics of a classifier's outputs: calibration, and accuracy summaries for long-tailed data.

Calibration follows Guo et al. (2017, "On Calibration of Modern Neural Networks"): the confidence
of a prediction is its top softmax probability; predictions are put into equal-width confidence
bins, and the expected calibration error (ECE) is the sample-weighted mean gap between each bin's
accuracy and its mean confidence. Mukhoti et al. (2020) use the same 15-bin ECE to compare focal
loss with cross-entropy, so the numbers here are measured the same way.

    histogram = reliability_histogram(confidences, correct)   # 15 bins
    ece = expected_calibration_error(histogram)

In the training loop the same histogram is built from :func:`reliability_sums` (a device tensor,
so an epoch still copies its numbers to the host once) and :func:`histogram_from_sums`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

ECE_BINS = 15  # Guo et al. 2017 and Mukhoti et al. 2020 both report 15-bin ECE


@dataclass(frozen=True)
class ReliabilityHistogram:
    """Per-bin statistics of a reliability diagram; bin b covers confidences in (b/B, (b+1)/B].

    Attributes:
        count: number of predictions in each bin.
        accuracy: fraction of those predictions that were right (0 for an empty bin).
        confidence: their mean confidence (0 for an empty bin).
    """

    count: tuple[int, ...]
    accuracy: tuple[float, ...]
    confidence: tuple[float, ...]

    def to_dict(self) -> dict[str, list]:
        return {"count": list(self.count), "accuracy": list(self.accuracy), "confidence": list(self.confidence)}

    @classmethod
    def from_dict(cls, data: dict) -> ReliabilityHistogram:
        return cls(tuple(data["count"]), tuple(data["accuracy"]), tuple(data["confidence"]))


def reliability_histogram(confidences: torch.Tensor, correct: torch.Tensor, num_bins: int = ECE_BINS) -> ReliabilityHistogram:
    """Bin predictions by confidence.

    Args:
        confidences: (N,) top-class probabilities in [0, 1].
        correct: (N,) bool or 0/1 tensor, whether each prediction was right.
        num_bins: number of equal-width bins on [0, 1].

    Returns:
        The per-bin counts, accuracies and mean confidences.
    """
    if not (isinstance(num_bins, int) and num_bins >= 1):
        raise ValueError(f"num_bins {num_bins!r} is invalid; allowed: an integer >= 1")
    if confidences.shape != correct.shape or confidences.dim() != 1:
        raise ValueError(f"confidences {tuple(confidences.shape)} and correct {tuple(correct.shape)} "
                         "must be equal-length 1-D tensors")
    confidences = confidences.detach().double().cpu()
    if len(confidences) and not bool(((confidences >= 0) & (confidences <= 1)).all()):
        raise ValueError("confidences must lie in [0, 1]; got values outside it")
    correct = correct.detach().double().cpu()
    bins = _bin_index(confidences, num_bins)
    count = torch.bincount(bins, minlength=num_bins)
    divisor = count.clamp_min(1).double()
    accuracy = torch.bincount(bins, weights=correct, minlength=num_bins) / divisor
    mean_confidence = torch.bincount(bins, weights=confidences, minlength=num_bins) / divisor
    return ReliabilityHistogram(tuple(count.tolist()), tuple(accuracy.tolist()), tuple(mean_confidence.tolist()))


def _bin_index(confidences: torch.Tensor, num_bins: int) -> torch.Tensor:
    # ceil(c * B) - 1 puts c in (b/B, (b+1)/B]; a confidence of exactly 0 joins the first bin.
    return (torch.ceil(confidences * num_bins).long() - 1).clamp(0, num_bins - 1)


def reliability_sums(logits: torch.Tensor, labels: torch.Tensor, num_bins: int = ECE_BINS) -> torch.Tensor:
    """Per-bin [counts, correct counts, confidence sums] of softmax predictions, as one (3·B,) tensor.

    Stays on the logits' device; :func:`histogram_from_sums` turns the numbers into a histogram.
    """
    probabilities = torch.softmax(logits.float(), dim=1)
    confidences, predictions = probabilities.max(dim=1)
    bins = _bin_index(confidences, num_bins)
    correct = (predictions == labels).float()
    return torch.cat([
        torch.bincount(bins, minlength=num_bins).float(),
        torch.bincount(bins, weights=correct, minlength=num_bins).float(),
        torch.bincount(bins, weights=confidences, minlength=num_bins).float(),
    ])


def histogram_from_sums(sums: Sequence[float]) -> ReliabilityHistogram:
    """The histogram from :func:`reliability_sums`' numbers (a list of 3·B floats)."""
    if len(sums) % 3:
        raise ValueError(f"reliability sums must have 3 * num_bins values; got {len(sums)}")
    num_bins = len(sums) // 3
    count = [int(round(value)) for value in sums[:num_bins]]
    correct, confidence_sum = sums[num_bins : 2 * num_bins], sums[2 * num_bins :]
    return ReliabilityHistogram(
        tuple(count),
        tuple(correct[b] / max(count[b], 1) for b in range(num_bins)),
        tuple(confidence_sum[b] / max(count[b], 1) for b in range(num_bins)),
    )


def expected_calibration_error(histogram: ReliabilityHistogram) -> float:
    """ECE = sum_b (n_b / N) |accuracy_b - confidence_b|; 0 for no predictions."""
    total = sum(histogram.count)
    if total == 0:
        return 0.0
    return sum(n * abs(a - c) for n, a, c in zip(histogram.count, histogram.accuracy, histogram.confidence)) / total


def merge_histograms(histograms: Sequence[ReliabilityHistogram]) -> ReliabilityHistogram:
    """Pool several histograms with the same bins (e.g. one per seed) into one, weighting by count."""
    if not histograms:
        raise ValueError("merge_histograms needs at least one histogram; got none")
    num_bins = len(histograms[0].count)
    if any(len(h.count) != num_bins for h in histograms):
        raise ValueError("merge_histograms needs histograms with the same number of bins")
    count = [sum(h.count[b] for h in histograms) for b in range(num_bins)]
    accuracy = [sum(h.count[b] * h.accuracy[b] for h in histograms) / max(count[b], 1) for b in range(num_bins)]
    confidence = [sum(h.count[b] * h.confidence[b] for h in histograms) / max(count[b], 1) for b in range(num_bins)]
    return ReliabilityHistogram(tuple(count), tuple(accuracy), tuple(confidence))


# The range a fitted temperature is kept in. At a bound the validation NLL still falls beyond it:
# near-constant logits (a run at chance) want T → ∞, logits that already separate the classes
# with a margin want T → 0; either way the bound stands for "as far as it goes".
TEMPERATURE_RANGE = (1e-6, 1e6)


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor, steps: int = 100) -> float:
    """The temperature T > 0 that minimises the cross-entropy of ``softmax(logits / T)`` (Guo et al. 2017).

    Temperature scaling is the standard post-hoc calibration baseline: one scalar fitted on held-out
    data (a validation split, never the test split), which changes confidences but not a single
    prediction. The NLL is convex in β = 1/T, with derivative mean(E_p[z] − z_y) (p = softmax(βz))
    and second derivative mean(Var_p[z]) ≥ 0, so the root of the derivative is found in float64
    by Newton steps on log β inside a bracket that halves when a step would leave it: a few
    passes over the logits, exact to rounding. The result lies in ``TEMPERATURE_RANGE``.

    Raises:
        ValueError: empty inputs or non-finite logits (a diverged run has nothing to calibrate).
    """
    if len(labels) == 0 or logits.shape[0] != len(labels):
        raise ValueError(f"logits {tuple(logits.shape)} and labels {tuple(labels.shape)} are invalid; "
                         f"allowed: (N, C) and (N,) with N > 0")
    logits = logits.detach().double().cpu()
    if not bool(torch.isfinite(logits).all()):
        raise ValueError("logits with non-finite values are invalid; allowed: finite logits")
    true_logit = logits.gather(1, labels.detach().cpu()[:, None]).squeeze(1)

    def slope_and_curvature(log_beta: float) -> tuple[float, float]:
        """d NLL / d log β and its derivative, at β = exp(log_beta)."""
        beta = math.exp(log_beta)
        probabilities = torch.softmax(logits * beta, dim=1)
        mean_logit = (probabilities * logits).sum(1)
        variance = (probabilities * (logits - mean_logit[:, None]) ** 2).sum(1)
        slope = float((mean_logit - true_logit).mean())  # d NLL / d β
        return beta * slope, beta * slope + beta * beta * float(variance.mean())

    low, high = -math.log(TEMPERATURE_RANGE[1]), -math.log(TEMPERATURE_RANGE[0])  # the bracket on log β
    if slope_and_curvature(low)[0] >= 0:
        return TEMPERATURE_RANGE[1]
    if slope_and_curvature(high)[0] <= 0:
        return TEMPERATURE_RANGE[0]
    log_beta = 0.0  # T = 1
    for _ in range(steps):
        slope, curvature = slope_and_curvature(log_beta)
        if slope > 0:
            high = log_beta
        else:
            low = log_beta
        step = slope / curvature if curvature > 0 else math.inf
        following = log_beta - step
        if not low < following < high:
            following = (low + high) / 2
        if abs(following - log_beta) < 1e-12 or high - low < 1e-12:
            log_beta = following
            break
        log_beta = following
    return math.exp(-log_beta)


def temperature_scaled(val_logits: torch.Tensor, y_val: torch.Tensor, test_logits: torch.Tensor,
                       y_test: torch.Tensor) -> dict:
    """Temperature fitted on validation, and the test split's calibration at that temperature.

    Returns the history entries a run records at its last epoch: ``temperature``, ``val_ce_scaled``
    (the validation NLL the temperature reached, what a choice among scaled models ranks on),
    ``test_ece_scaled``, ``test_ce_scaled`` and ``test_reliability_scaled`` (a histogram as a dict).
    """
    temperature = fit_temperature(val_logits, y_val)
    val_scaled = val_logits.detach().double().cpu() / temperature
    scaled = test_logits.detach().double().cpu() / temperature
    labels = y_test.detach().cpu()
    histogram = histogram_from_sums(reliability_sums(scaled.float(), labels).tolist())
    return {
        "temperature": temperature,
        "val_ce_scaled": float(F.cross_entropy(val_scaled, y_val.detach().cpu())),
        "test_ece_scaled": expected_calibration_error(histogram),
        "test_ce_scaled": float(F.cross_entropy(scaled, labels)),
        "test_reliability_scaled": histogram.to_dict(),
    }


def balanced_accuracy(per_class_accuracy: Sequence[float]) -> float:
    """Mean of per-class accuracies (recalls): every class counts the same, however many samples it has."""
    if not per_class_accuracy:
        raise ValueError("balanced_accuracy needs at least one class; got none")
    return sum(per_class_accuracy) / len(per_class_accuracy)


def group_accuracy(per_class_accuracy: Sequence[float], classes: Sequence[int]) -> float:
    """Mean per-class accuracy over ``classes`` (e.g. the head or the tail of a long-tailed set)."""
    if not classes:
        raise ValueError("group_accuracy needs at least one class; got none")
    return sum(per_class_accuracy[c] for c in classes) / len(classes)
