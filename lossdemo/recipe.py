"""The training recipe's optimizer and learning-rate schedule, as ``RunConfig`` names them.

* **SGD with momentum** by default — plain SGD exposes how much gradient each loss really delivers.
  Adam rescales every step by a running gradient norm, which partly hides a loss whose gradients
  are small; it stays available for the ``mae-anatomy`` experiment.
* **weight decay** — coupled to the gradient, as in ``torch.optim.SGD``; it keeps logits bounded.
* **cosine decay of the learning rate to 0 over the run, per step** — it removes the end-of-run noise
  of a constant rate, so "final accuracy" is a stable number to compare between seeds.

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


def steps_per_epoch(config: RunConfig, training_samples: int) -> int:
    """SGD steps in one epoch. A ragged last batch is dropped: batch norm cannot train on a batch of
    one, and equal-size batches keep steps comparable."""
    return max(1, training_samples // config.batch_size)
