"""Runs computed as ``nn.Module``s with ``torch.optim``, one after another within a step.

The reference engine is exactly that, in plain PyTorch: the model's own forward, PyTorch's
softmax, NCHW tensors, ``torch.optim`` and its ``LambdaLR`` schedule. The fast engine computes a
run that cannot join a stack the same way, with the CPU pieces of :mod:`lossdemo.engines.cpu`
(fused convolution + ReLU, cache-sized micro-batches, channels-last images) and
:class:`~lossdemo.engines.row_softmax.RowSoftmaxMode` for the losses and metrics.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ..devices import autocast_for, place_inputs, place_model
from ..models import build_model, memory_format_for, resolve_model_name
from ..recipe import build_optimizer, build_scheduler, clip_gradient
from .base import Engine, StackSpec
from .cpu import cpu_micro_batch_for, eval_batch_size, fast_forward
from .row_softmax import RowSoftmaxMode


@dataclass
class _ModuleRun:
    """One run's model, optimizer, schedule and data on the device."""

    model: torch.nn.Module
    forward: object  # the model's forward (fused on the fast engine)
    optimizer: torch.optim.Optimizer
    scheduler: object
    loss_fn: object
    x_train: torch.Tensor
    y_train: torch.Tensor
    inputs: dict  # split -> (x, y) for predict()


class ModuleEngine(Engine):
    """K runs as K ``nn.Module``s; ``fast`` selects the fast engine's CPU pieces (see the module docstring)."""

    def __init__(self, spec: StackSpec, fast: bool):
        self.spec, self.fast = spec, fast
        self.path = "modules" if fast else "reference"
        self.stacked_runs = len(spec.configs)
        model_name = resolve_model_name(spec.recipe.model, spec.dataset.input_shape)
        self.memory_format = memory_format_for(model_name, spec.device) if fast else torch.contiguous_format
        self.micro_batch = (cpu_micro_batch_for(model_name, spec.device) if fast else None) or spec.recipe.batch_size
        x_test = place_inputs(spec.dataset.x_test, spec.device, self.memory_format)
        self.test = (x_test, spec.dataset.y_test.to(spec.device))
        self.runs = [self._build_run(k) for k in range(len(spec.configs))]

    def _build_run(self, k: int) -> _ModuleRun:
        spec, config, training_set = self.spec, self.spec.configs[k], self.spec.training_sets[k]
        device, memory_format = spec.device, self.memory_format
        # The whole dataset lives on the device, in the model's layout: a step is an index, not a copy loop.
        x_train, y_train = place_inputs(training_set.x, device, memory_format), training_set.y.to(device)
        if training_set.metrics_index is None:  # the training split itself, already placed: no second copy
            metrics = (x_train, y_train)
        else:
            x_metrics, y_metrics, _ = training_set.metrics_part()
            metrics = (place_inputs(x_metrics, device, memory_format), y_metrics.to(device))
        inputs = {"metrics": metrics, "test": self.test}
        if training_set.x_val is not None:
            inputs["val"] = (place_inputs(training_set.x_val, device, memory_format), training_set.y_val.to(device))
        torch.manual_seed(config.seed)  # same seed -> same initial weights for every loss (paired runs)
        model = place_model(build_model(config.model, spec.dataset.input_shape, spec.dataset.num_classes),
                            device, memory_format)
        optimizer = build_optimizer(config, model.parameters())
        scheduler = build_scheduler(config, optimizer, spec.steps_per_epoch)
        forward = fast_forward(model) if self.fast else model
        return _ModuleRun(model, forward, optimizer, scheduler, spec.loss_fns[k], x_train, y_train, inputs)

    def numerics(self):
        return RowSoftmaxMode() if self.fast else contextlib.nullcontext()

    def train_mode(self) -> None:
        for run in self.runs:
            run.model.train()

    def train_step(self, batch: torch.Tensor, step: int) -> None:
        device, precision = self.spec.device, self.spec.precision
        for run, indices in zip(self.runs, batch):
            run.optimizer.zero_grad(set_to_none=True)
            for part in torch.split(indices, self.micro_batch):  # one part unless cpu_micro_batch_for splits it
                with autocast_for(device, precision):
                    logits = run.forward(run.x_train[part])
                with self.numerics():
                    loss = run.loss_fn(logits, run.y_train[part], validate=False)  # labels checked once
                if len(part) < len(indices):  # the batch mean, as a sum of the parts' weighted means
                    loss = loss * (len(part) / len(indices))
                loss.backward()
            clip_gradient(self.spec.recipe, run.model.parameters())
            run.optimizer.step()
            run.scheduler.step()

    @torch.inference_mode()
    def _predict_one(self, run: _ModuleRun, x: torch.Tensor) -> torch.Tensor:
        run.model.eval()
        with autocast_for(x.device, self.spec.precision):
            return torch.cat([run.forward(chunk).float() for chunk in torch.split(x, eval_batch_size(x.device))])

    def predict(self, split: str) -> list[torch.Tensor]:
        return [self._predict_one(run, run.inputs[split][0]) for run in self.runs]

    def labels(self, split: str) -> list[torch.Tensor]:
        return [run.inputs[split][1] for run in self.runs]

    def run_parameters(self, k: int) -> list[torch.Tensor]:
        return list(self.runs[k].model.parameters())

    def checkpoint_parts(self) -> tuple | None:
        if len(self.runs) != 1:
            return None
        run = self.runs[0]
        return run.model, run.optimizer, run.scheduler
