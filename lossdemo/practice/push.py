"""The push on the true logit, -∂ℓ/∂z_y: how hard one gradient step raises the correct class's score.

Every formula question is about this one number, so the learner gets the tool the checks use:
an example whose true class has probability ``p_true`` and whose other classes share the rest
evenly, differentiated by autograd in float64 through the package's own loss.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..losses import get_loss

NUM_CLASSES = 10  # as in the site's datasets


def push(spec: str, p_true: float, *, true_class: int = 0, num_classes: int = NUM_CLASSES,
         class_counts: Sequence[int] | None = None) -> float:
    """-∂ℓ/∂z_y of loss ``spec`` on one example at ``p_true`` (positive: the true logit goes up).

    ``class_counts`` is passed to losses that need the training set's class sizes (logit adjustment).
    """
    if not 0 < p_true < 1:
        raise ValueError(f"p_true {p_true!r} is invalid; allowed: a probability strictly between 0 and 1")
    probabilities = [(1 - p_true) / (num_classes - 1)] * num_classes
    probabilities[true_class] = p_true
    logits = torch.log(torch.tensor([probabilities], dtype=torch.float64)).requires_grad_(True)
    loss = get_loss(spec, class_counts=class_counts)(logits, torch.tensor([true_class]))
    (gradient,) = torch.autograd.grad(loss, logits)
    return -float(gradient[0, true_class])
