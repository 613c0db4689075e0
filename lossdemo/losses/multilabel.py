"""Focal loss for multi-label targets: one sigmoid per class, not one softmax over the classes.

Each element of the logits is its own binary question (is this label present? is this anchor an
object?), as in RetinaNet's detection head, where Lin et al. introduced focal loss.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from .inputs import Reduction, check_parameter, check_reduction


def sigmoid_focal_loss(logits: Tensor, targets: Tensor, gamma: float = 2.0, alpha: float | None = 0.25,
                       reduction: Reduction = "mean", *, validate: bool = True) -> Tensor:
    """Sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017).

    Per element, with p = sigmoid(z) and t the target: p_t = p t + (1 − p)(1 − t) and
    ℓ = −α_t (1 − p_t)^γ log p_t, where α_t = α t + (1 − α)(1 − t). It equals
    ``torchvision.ops.sigmoid_focal_loss`` (whose ``alpha=-1`` is ``alpha=None`` here) wherever the two
    are finite, and unlike it stays finite at γ < 1: the factor (1 − p_t)^γ is computed as
    exp(γ log(1 − p_t)) from log-sigmoids, where the textbook power has an infinite slope once
    1 − p_t rounds to 0. Targets that carry gradients (a teacher's probabilities) get finite ones,
    also at exactly 0 or 1.

    Args:
        logits: Unnormalised scores of any shape; each element is one binary label.
        targets: Floats in [0, 1] of the same shape (1 present, 0 absent; soft targets allowed).
        gamma: Focusing parameter γ, finite and >= 0.
        alpha: Weight of the positive labels in [0, 1] (negatives get 1 − α), or None for none.
        reduction: "mean" over all elements (as torchvision), "sum", or "none" (the logits' shape).
        validate: Check that the targets lie in [0, 1] (one device sync); False in hot loops.

    Returns:
        The reduced loss, in the logits' dtype promoted to at least float32.
    """
    check_reduction(reduction)
    check_parameter("sigmoid focal gamma", gamma, low=0.0, high=math.inf)
    if alpha is not None:
        check_parameter("sigmoid focal alpha", alpha, low=0.0, high=1.0)
    if not (isinstance(logits, Tensor) and logits.is_floating_point()):
        raise ValueError(f"logits must be a floating-point tensor; got {type(logits).__name__}")
    if not (isinstance(targets, Tensor) and targets.shape == logits.shape):
        got = tuple(targets.shape) if isinstance(targets, Tensor) else type(targets).__name__
        raise ValueError(f"targets must be a tensor of the logits' shape {tuple(logits.shape)}; got {got}")
    if validate and targets.numel():
        low, high = (float(value) for value in torch.aminmax(targets.detach().float()))
        if not (low >= 0 and high <= 1):  # NaN fails both
            raise ValueError(f"targets contain {low if not low >= 0 else high!r}; allowed: values in [0, 1]")
    compute_dtype = torch.promote_types(logits.dtype, torch.float32)
    z, t = logits.to(compute_dtype), targets.to(compute_dtype)
    log_p, log_not_p = F.logsigmoid(z), F.logsigmoid(-z)  # log p, log(1 − p)
    cross_entropy = F.binary_cross_entropy_with_logits(z, t, reduction="none")  # −log p_t for 0/1 targets
    # log(1 − p_t) = log((1 − p) t + p (1 − t)), exact for soft targets too. The logs of t and 1 − t
    # start at the dtype's smallest normal number, so a target of exactly 0 or 1 has a finite slope.
    tiny = torch.finfo(compute_dtype).tiny
    log_miss = torch.logaddexp(log_not_p + torch.log(t.clamp_min(tiny)), log_p + torch.log((1 - t).clamp_min(tiny)))
    per_element = cross_entropy * torch.exp(gamma * log_miss) if gamma else cross_entropy
    if alpha is not None:
        per_element = (alpha * t + (1 - alpha) * (1 - t)) * per_element
    if reduction == "none":
        return per_element
    return per_element.mean() if reduction == "mean" else per_element.sum()
