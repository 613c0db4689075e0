"""Softmax and log-softmax over the classes of (N, C) logits, fast on a CPU when C is small.

PyTorch's CPU kernel for a softmax along a short last axis (C = 10 here) works one row of ten
numbers at a time, and spends most of its time outside arithmetic. The same function along the
*first* axis of the transposed (C, N) view vectorises across the N samples instead, which is
several times faster for the shapes of this project (a training batch, an evaluation split). The
result is the same function; its float additions run in another order, so values agree to float
rounding, not bit for bit (``tests/test_row_softmax.py``).

Everything that takes a softmax of logits (the losses, the metrics, temperature scaling) goes
through here; on other devices, and for other shapes and dtypes, the plain ``dim=1`` kernels run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _transposed(logits: Tensor) -> bool:
    return logits.device.type == "cpu" and logits.dim() == 2 and logits.dtype in (torch.float32, torch.float64)


class _LogSoftmaxRows(torch.autograd.Function):
    """log_softmax along dim 1, computed (forward and backward) along dim 0 of the transpose."""

    @staticmethod
    def forward(ctx, logits: Tensor) -> Tensor:
        log_probs = F.log_softmax(logits.t(), dim=0).t().contiguous()
        ctx.save_for_backward(log_probs)
        return log_probs

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (log_probs,) = ctx.saved_tensors
        return torch._log_softmax_backward_data(grad.t(), log_probs.t(), 0, log_probs.dtype).t().contiguous()


def log_softmax_rows(logits: Tensor) -> Tensor:
    """``F.log_softmax(logits, dim=1)`` for (N, C) logits, differentiable; a contiguous (N, C) result."""
    if not _transposed(logits):
        return F.log_softmax(logits, dim=1)
    return _LogSoftmaxRows.apply(logits)


def softmax_rows(logits: Tensor) -> Tensor:
    """``torch.softmax(logits, dim=1)`` for (N, C) logits (not for gradients: metrics read it)."""
    if not _transposed(logits):
        return torch.softmax(logits, dim=1)
    return torch.softmax(logits.t(), dim=0).t().contiguous()


def cross_entropy_rows(logits: Tensor, targets: Tensor, reduction: str = "mean") -> Tensor:
    """``F.cross_entropy(logits, targets, reduction=reduction)`` through :func:`log_softmax_rows`."""
    if not _transposed(logits):
        return F.cross_entropy(logits, targets, reduction=reduction)
    return F.nll_loss(log_softmax_rows(logits), targets, reduction=reduction)
