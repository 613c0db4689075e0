"""Softmax and log-softmax over the classes of (N, C) logits, fast on a CPU when C is small.

PyTorch's CPU kernel for a softmax along a short last axis (C = 10 here) works one row of ten
numbers at a time, and spends most of its time outside arithmetic. The same function along the
*first* axis of the transposed (C, N) view vectorises across the N samples instead, which is
several times faster for the shapes of this project (a training batch, an evaluation split). The
result is the same function; its float additions run in another order, so values agree to float
rounding, not bit for bit (``tests/test_engine_row_softmax.py``).

The losses and metrics are written with PyTorch's own ``F.log_softmax``, ``torch.softmax`` and
``F.cross_entropy``. The fast engine runs them under :class:`RowSoftmaxMode`, which sends exactly
those calls, for (N, C) float logits on a CPU, here; everything else passes through untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.overrides import TorchFunctionMode

# The one private operator of this module, with its public formula as the fallback (a torch
# without it, or a test comparing the two: tests/test_engine_row_softmax.py).
_PRIVATE_LOG_SOFTMAX_BACKWARD = getattr(torch, "_log_softmax_backward_data", None)


def _transposed(logits: Tensor) -> bool:
    return logits.device.type == "cpu" and logits.dim() == 2 and logits.dtype in (torch.float32, torch.float64)


def log_softmax_backward(grad: Tensor, log_probs: Tensor, dim: int, use_private: bool = True) -> Tensor:
    """The gradient of ``log_softmax`` along ``dim``: grad − softmax · Σ grad.

    ``use_private`` runs ATen's fused kernel when this torch has it; the public formula is the
    fallback and the reference it is tested against.
    """
    if use_private and _PRIVATE_LOG_SOFTMAX_BACKWARD is not None:
        return _PRIVATE_LOG_SOFTMAX_BACKWARD(grad, log_probs, dim, log_probs.dtype)
    return grad - log_probs.exp() * grad.sum(dim, keepdim=True)


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
        return log_softmax_backward(grad.t(), log_probs.t(), 0).t().contiguous()


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


def _class_dim(args: tuple, kwargs: dict) -> int | None:
    dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
    return dim if isinstance(dim, int) else None


_PLAIN_CE_OPTIONS = {"weight": None, "size_average": None, "ignore_index": -100, "reduce": None,
                     "label_smoothing": 0.0}


class RowSoftmaxMode(TorchFunctionMode):
    """Inside this mode, PyTorch's softmax calls over the classes of 2-D CPU logits run as the row
    functions above: ``F.log_softmax(x, dim=1)``, ``torch.softmax(x, dim=1)`` (and ``dim=-1``), and
    ``F.cross_entropy(logits, targets)`` with no options beyond ``reduction``. Any other call, dtype,
    shape or device runs as written."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if args and isinstance(args[0], Tensor) and _transposed(args[0]):
            if func is F.log_softmax and _class_dim(args, kwargs) in (1, -1) and kwargs.get("dtype") is None:
                return log_softmax_rows(args[0])
            if func is torch.softmax and _class_dim(args, kwargs) in (1, -1) and kwargs.get("dtype") is None:
                return softmax_rows(args[0])
            if func is F.cross_entropy and len(args) == 2 and args[1].dim() == 1 \
                    and all(kwargs.get(name, plain) == plain for name, plain in _PLAIN_CE_OPTIONS.items()):
                return cross_entropy_rows(args[0], args[1], kwargs.get("reduction", "mean"))
        return func(*args, **kwargs)
