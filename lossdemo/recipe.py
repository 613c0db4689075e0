"""The training recipe's optimizer and learning-rate schedule, as ``RunConfig`` names them.

* **SGD with momentum** by default — plain SGD exposes how much gradient each loss really delivers.
  Adam rescales every step by a running gradient norm, which partly hides a loss whose gradients
  are small; it stays available for the ``mae-anatomy`` experiment.
* **weight decay** — coupled to the gradient, as in ``torch.optim.SGD``; it keeps logits bounded.
* **cosine decay of the learning rate to 0 over the run, per step** — it removes the end-of-run noise
  of a constant rate, so "final accuracy" is a stable number to compare between seeds.
* **gradient-norm clipping** only where a config asks for it (``grad_clip_norm``): NCE+MAE trains with
  it, as in Ma et al.'s reference code.

:func:`build_optimizer` and :func:`build_scheduler` are the definition; the stacked optimizers of
:mod:`lossdemo.engines.optimizers` compute the same updates for many runs at once.
"""

from __future__ import annotations

import math

import torch

from .run_config import RunConfig


def build_optimizer(config: RunConfig, params) -> torch.optim.Optimizer:
    """The recipe's optimizer over ``params``."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def learning_rate_factor(config: RunConfig, step: int, steps_per_epoch: int) -> float:
    """The schedule's multiplier of ``config.lr`` at SGD step ``step`` (0-based): cosine to 0 over the run, or 1."""
    if config.schedule == "constant":
        return 1.0
    total_steps = steps_per_epoch * config.epochs
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def build_scheduler(config: RunConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """The recipe's learning-rate schedule (:func:`learning_rate_factor`), stepped once per SGD step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(config, step, steps_per_epoch))


def clip_gradient(config: RunConfig, params) -> None:
    """Rescale the gradient of ``params`` to norm ``config.grad_clip_norm`` when it is larger (no-op at 0)."""
    if config.grad_clip_norm:
        torch.nn.utils.clip_grad_norm_(params, config.grad_clip_norm)


def clip_stacked_gradients(max_norm: float, tensors: list[torch.Tensor]) -> None:
    """:func:`clip_gradient` for stacked tensors, whose row k belongs to run k: each run's gradient is
    rescaled by its own norm, with ``clip_grad_norm_``'s coefficient ``max_norm / (norm + 1e-6)``."""
    grads = [tensor.grad for tensor in tensors if tensor.grad is not None]
    if not max_norm or not grads:
        return
    squares = torch.stack([grad.flatten(1).float().pow(2).sum(dim=1) for grad in grads]).sum(dim=0)  # (K,)
    coefficient = (max_norm / (squares.sqrt() + 1e-6)).clamp(max=1.0)
    for grad in grads:
        grad.mul_(coefficient.to(grad.dtype).view(-1, *([1] * (grad.dim() - 1))))


def steps_per_epoch(config: RunConfig, training_samples: int) -> int:
    """SGD steps in one epoch. A ragged last batch is dropped: batch norm cannot train on a batch of
    one, and equal-size batches keep steps comparable."""
    return max(1, training_samples // config.batch_size)
