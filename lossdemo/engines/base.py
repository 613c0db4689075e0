"""What every engine offers the training loop (:mod:`lossdemo.train`), and the data it is built from.

The loop decides *what* happens: which samples each step reads (the batch order), when to
evaluate, what an epoch records, when a run has diverged. An engine decides *how* that is
computed for K runs at once (K >= 1): where the data and weights live, how a step's forward,
loss, backward and update run, and how a split's logits are predicted.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..data import Dataset
from ..run_config import RunConfig
from ..training_set import TrainingSet

SPLITS = ("metrics", "test", "val")  # the samples the train metrics read, the test split, the validation split


@dataclass(frozen=True)
class StackSpec:
    """The runs an engine computes, with what the loop prepared for each of them."""

    configs: Sequence[RunConfig]  # equal in every field but lossdemo.engines.stacks.PER_RUN_FIELDS
    training_sets: Sequence[TrainingSet]
    loss_fns: Sequence[Callable]
    dataset: Dataset
    device: torch.device
    precision: str  # "fp32" or "bf16" (resolved)
    steps_per_epoch: int

    @property
    def recipe(self) -> RunConfig:
        """The settings every run shares (the first run's config)."""
        return self.configs[0]


class Engine:
    """How K runs compute. Subclasses fill in every method; the attributes name the computation."""

    path = "modules"  # RunOutcome.compute_path
    stacked_runs = 1  # RunOutcome.stacked_runs

    def train_mode(self) -> None:
        """Put every run's model in training mode (before an epoch's steps)."""
        raise NotImplementedError

    def train_step(self, batch: torch.Tensor, step: int) -> None:
        """One SGD step of every run: ``batch`` (K, B) holds each run's sample indices into its own
        training split; ``step`` is the 0-based step count of the run (the schedule's position)."""
        raise NotImplementedError

    def predict(self, split: str) -> Sequence[torch.Tensor]:
        """Per run, float32 logits (N, C) of ``split`` (one of :data:`SPLITS`) in eval mode."""
        raise NotImplementedError

    def labels(self, split: str) -> Sequence[torch.Tensor]:
        """Per run, the labels of ``split`` on the device (what :meth:`predict` predicts)."""
        raise NotImplementedError

    def run_parameters(self, k: int) -> list[torch.Tensor]:
        """Run k's trained tensors (for the loop's finiteness check)."""
        raise NotImplementedError

    def numerics(self) -> contextlib.AbstractContextManager:
        """The context the losses and metrics run in: none for plain PyTorch."""
        return contextlib.nullcontext()

    def checkpoint_parts(self) -> tuple | None:
        """``(model, optimizer, scheduler)`` of a single run that can be checkpointed, else None."""
        return None
