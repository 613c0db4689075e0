"""SGD and Adam over stacked tensors, each run (row) at its own learning rate.

A stack keeps run k's parameters in row k of every tensor; one update over the stacked tensors
equals K updates of ``torch.optim.SGD`` or ``torch.optim.Adam``, one per run, element by element
(``tests/test_speed_paths.py`` checks both against torch).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _rows(values: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-run ``values`` (K,) shaped to broadcast over the rows of ``like`` (K, ...)."""
    return values.to(like.device).view(-1, *([1] * (like.dim() - 1)))


class _StackedOptimizer:
    """What the stacked optimizers share: the stacked tensors, one learning rate per run (row)."""

    def __init__(self, tensors: list[torch.Tensor], lrs: Sequence[float]):
        self.tensors = tensors
        self.lrs = torch.tensor(lrs, dtype=torch.float64)

    def zero_grad(self) -> None:
        for tensor in self.tensors:
            tensor.grad = None


class StackedSGD(_StackedOptimizer):
    """SGD with momentum and (coupled) weight decay over stacked tensors, each run at its own learning rate.

    Row k of every tensor belongs to run k; the update is ``torch.optim.SGD``'s, element by element,
    with the step size of row k equal to ``lrs[k]`` times the schedule's factor (:meth:`step`).
    """

    def __init__(self, tensors: list[torch.Tensor], lrs: Sequence[float], momentum: float, weight_decay: float):
        super().__init__(tensors, lrs)
        self.momentum, self.weight_decay = momentum, weight_decay
        self.buffers: list[torch.Tensor | None] = [None] * len(tensors)

    @torch.no_grad()
    def step(self, factor: float) -> None:
        """One update at the schedule's ``factor`` of each run's learning rate."""
        step_sizes = (self.lrs * factor).float()
        for index, tensor in enumerate(self.tensors):
            grad = tensor.grad
            if self.weight_decay:
                grad = grad.add(tensor, alpha=self.weight_decay)
            if self.momentum:
                if self.buffers[index] is None:
                    self.buffers[index] = grad.clone()
                else:
                    self.buffers[index].mul_(self.momentum).add_(grad)
                grad = self.buffers[index]
            tensor.addcmul_(grad, _rows(step_sizes, tensor), value=-1)


class StackedAdam(_StackedOptimizer):
    """Adam with (coupled) weight decay over stacked tensors, each run at its own learning rate.

    Row k of every tensor belongs to run k; the update is ``torch.optim.Adam``'s (its single-tensor
    CPU path, operation for operation), with row k's step size ``lrs[k]`` times the schedule's factor
    (:meth:`step`). The moments and the bias corrections are per element and per step, the same for
    every run, so only the step size needs a row of its own.
    """

    def __init__(self, tensors: list[torch.Tensor], lrs: Sequence[float], weight_decay: float,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        super().__init__(tensors, lrs)
        self.weight_decay, self.betas, self.eps = weight_decay, betas, eps
        self.moments = [(torch.zeros_like(tensor), torch.zeros_like(tensor)) for tensor in tensors]
        self.steps = 0

    @torch.no_grad()
    def step(self, factor: float) -> None:
        """One update at the schedule's ``factor`` of each run's learning rate."""
        beta1, beta2 = self.betas
        self.steps += 1
        step = float(self.steps)
        bias_correction1, bias_correction2 = 1 - beta1**step, 1 - beta2**step
        negative_step_sizes = (-(self.lrs * factor / bias_correction1)).float()
        for tensor, (exp_avg, exp_avg_sq) in zip(self.tensors, self.moments):
            grad = tensor.grad
            if self.weight_decay:
                grad = grad.add(tensor, alpha=self.weight_decay)
            exp_avg.lerp_(grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2**0.5).add_(self.eps)
            tensor.add_(exp_avg * _rows(negative_step_sizes, tensor) / denom)  # addcdiv's (value · t1) / t2


