"""Several runs of one recipe computed as one stacked model, so that a step costs about one run's
operator calls.

A run of the small networks here keeps a modern GPU busy for a few per cent of each step, and a
CPU core mostly dispatching operators; the rest is overhead. Stacking K runs (Krizhevsky's trick of
one model per group of a grouped convolution, done here by :func:`torch.func.vmap` over stacked
parameters) issues one kernel where K runs would issue K, so K runs cost little more than one.

Every run keeps its own seed (initial weights and batch order, drawn exactly as a run alone draws
them), its own loss, label noise and imbalance subset; the summed loss of the stack has, for each
run's weights, exactly that run's gradient, and the optimizers of :mod:`lossdemo.engines.optimizers`
update each weight on its own, each run at its own learning rate. The numbers therefore match a
run computed alone up to the order of float additions (``tests/test_speed_paths.py``). Runs can
share a stack when they differ only in ``PER_RUN_FIELDS``; :func:`plan_stacks` groups a plan.

Two ways to compute a stack:

* on a CPU, a plain 1-D CNN (``cnn1d``) runs as batched matrix products with a hand-written
  backward (:mod:`lossdemo.engines.cnn1d_gemm`); ``reproduce`` stacks these runs by default
  (:func:`lossdemo.engines.cpu.stack_size_for`);
* everywhere else, ``torch.func.vmap`` over the module. On a CPU that is slower than one run after
  another (activations outgrow the cache), so there it is used only when asked (``--stack N``).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence

import torch
from torch.func import functional_call, stack_module_state, vmap

from ..data import Dataset
from ..devices import autocast_for, place_inputs, place_model
from ..losses import parse_loss_spec
from ..models import build_model, memory_format_for, resolve_model_name
from ..recipe import clip_stacked_gradients, learning_rate_factor
from ..run_config import RunConfig
from . import cnn1d_gemm
from .base import Engine, StackSpec
from .cpu import eval_batch_size
from .optimizers import StackedAdam, StackedSGD
from .row_softmax import RowSoftmaxMode

# What may differ between the runs of one stack; every other config field must be equal (the
# optimizers of lossdemo.engines.optimizers give each run its own learning rate).
PER_RUN_FIELDS = ("loss", "seed", "label_noise", "label_noise_kind", "lr")


def stack_key(config: RunConfig) -> tuple:
    """Configs with equal keys can be trained in one stack."""
    return tuple((f.name, getattr(config, f.name)) for f in dataclasses.fields(config) if f.name not in PER_RUN_FIELDS)


def plan_stacks(configs: Sequence[RunConfig], max_runs: int) -> list[list[RunConfig]]:
    """Split a plan into stacks of at most ``max_runs`` compatible runs, keeping the plan's order."""
    if not (isinstance(max_runs, int) and max_runs >= 1):
        raise ValueError(f"max_runs {max_runs!r} is invalid; allowed: an integer >= 1")
    groups: dict[tuple, list[RunConfig]] = {}
    for config in configs:
        groups.setdefault(stack_key(config), []).append(config)
    return [stack for group in groups.values() for stack in _even_chunks(group, max_runs)]


def _even_chunks(group: list[RunConfig], max_runs: int) -> list[list[RunConfig]]:
    """``group`` in as few consecutive stacks of at most ``max_runs`` as possible, their sizes differing
    by at most one: 25 runs in stacks of up to 8 are 7 + 6 + 6 + 6, not 8 + 8 + 8 + 1 (a stack of one
    run pays a whole stack's per-step overhead alone)."""
    count = -(-len(group) // max_runs)
    size, larger = divmod(len(group), count)
    bounds = [0]
    for index in range(count):
        bounds.append(bounds[-1] + size + (index < larger))
    return [group[start:end] for start, end in zip(bounds, bounds[1:])]


def _seeded_model(config: RunConfig, dataset: Dataset) -> torch.nn.Module:
    """The initial model of ``train_run``: same seed, same draws."""
    torch.manual_seed(config.seed)
    return build_model(config.model, dataset.input_shape, dataset.num_classes)


@dataclasses.dataclass
class _StackCompute:
    """How a stack computes: its trained leaves, its forward pass, run k's parameters, its train/eval switch."""

    leaves: list[torch.Tensor]  # what the optimizer updates, each with the runs along dim 0
    forward: Callable[[torch.Tensor, bool], torch.Tensor]  # (x, x_is_stacked) -> (K, B, classes)
    run_parameters: Callable[[int], list[torch.Tensor]]
    train_mode: Callable[[bool], None]
    path: str  # RunOutcome.compute_path
    eval_chunk: int | None = None  # samples per evaluation call on a CPU; None: the device's default


def _gemm_engine(models: list[torch.nn.Module], layout: cnn1d_gemm.Cnn1dLayout) -> _StackCompute:
    flat = cnn1d_gemm.flat_parameters(models).requires_grad_()  # (K, P), run k's parameters in row k
    return _StackCompute([flat], lambda x, x_is_stacked: cnn1d_gemm.stack_forward(layout, flat, x),
                   lambda k: [flat[k]], lambda training: None, "cnn1d-gemm", cnn1d_gemm.EVAL_CHUNK)


def _vmap_engine(models: list[torch.nn.Module]) -> _StackCompute:
    params, buffers = stack_module_state(models)  # {name: (K, ...)}; params are new leaves
    # The architecture; its own tensors are never used. Called directly, never through
    # cpu_speed.fast_forward: the fused oneDNN kernel has no vmap rule.
    template = copy.deepcopy(models[0]).to("meta")

    def forward(one_params, one_buffers, x):
        return functional_call(template, (one_params, one_buffers), (x,))

    def stacked_forward(x, x_is_stacked: bool):  # (K, B, ...) or shared (B, ...) -> (K, B, classes)
        return vmap(forward, in_dims=(0, 0, 0 if x_is_stacked else None))(params, buffers, x)

    return _StackCompute(list(params.values()), stacked_forward, lambda k: [tensor[k] for tensor in params.values()],
                   template.train, "modules")


def _loss_groups(configs: list[RunConfig], training_sets, loss_fns: list[Callable]) -> list[tuple[list[int], Callable]]:
    """Runs whose losses are the same function (same spec, and same class counts where the loss reads
    them), with that function (the first run's of ``loss_fns``): one loss call per group, not per run."""
    groups: dict[tuple, tuple[list[int], Callable]] = {}
    for k, (config, training_set) in enumerate(zip(configs, training_sets)):
        counts = tuple(training_set.class_counts) if parse_loss_spec(config.loss).needs_class_counts else None
        groups.setdefault((config.loss, counts), ([], loss_fns[k]))[0].append(k)
    return list(groups.values())


def _stack_loss(groups, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The sum of the runs' batch-mean losses, one loss call per group. Run k's term depends on run k's
    weights alone, so each run's weights get exactly its own gradient; and each run's mean is taken
    over its own samples, so a run computes the same numbers whichever runs share its stack."""
    runs_total, batch, classes = logits.shape
    total = 0
    for runs, loss_fn in groups:
        rows = slice(runs[0], runs[-1] + 1) if runs == list(range(runs[0], runs[-1] + 1)) else runs
        per_sample = loss_fn(logits[rows].reshape(-1, classes), labels[rows].reshape(-1), validate=False,
                             reduction="none")
        total = total + per_sample.view(len(runs), batch).mean(1).sum()
    return total




class StackEngine(Engine):
    """The fast engine's K runs as one stacked model: matrix products for ``cnn1d`` on a CPU, vmap elsewhere."""

    def __init__(self, spec: StackSpec):
        self.spec = spec
        configs, training_sets, dataset, device = spec.configs, spec.training_sets, spec.dataset, spec.device
        self.loss_groups = _loss_groups(list(configs), training_sets, list(spec.loss_fns))
        memory_format = memory_format_for(resolve_model_name(spec.recipe.model, dataset.input_shape), device)
        self._place_data(memory_format)
        models = [place_model(_seeded_model(config, dataset), device, memory_format) for config in configs]
        layout = cnn1d_gemm.layout_of(models[0], tuple(dataset.input_shape))
        use_gemm = spec.precision == "fp32" and cnn1d_gemm.supports(models[0], tuple(dataset.input_shape), device)
        self.compute = _gemm_engine(models, layout) if use_gemm else _vmap_engine(models)
        self.path, self.stacked_runs = self.compute.path, len(configs)
        lrs = [config.lr for config in configs]
        if spec.recipe.optimizer == "sgd":
            self.optimizer = StackedSGD(self.compute.leaves, lrs, spec.recipe.momentum, spec.recipe.weight_decay)
        else:
            self.optimizer = StackedAdam(self.compute.leaves, lrs, spec.recipe.weight_decay)
        # Each call evaluates a chunk for all K runs at once: on an accelerator, whose evaluation chunks
        # are large, K runs share one chunk's memory (12 resnets × 8,192 CIFAR images would need tens
        # of GB per layer); the CPU's small chunks stay as they are.
        if device.type == "cpu":
            self.samples_per_call = self.compute.eval_chunk or eval_batch_size(device)
        else:
            self.samples_per_call = max(1, eval_batch_size(device) // len(configs))

    def _place_data(self, memory_format) -> None:
        """The runs' splits on the device: inputs shared by every run where they can be, else (K, N, ...)."""
        spec, device, training_sets = self.spec, self.spec.device, self.spec.training_sets
        # One copy of the inputs when every run trains on the full split (no validation or imbalance subset).
        self.shared_inputs = all(training_set.x is spec.dataset.x_train for training_set in training_sets)
        if self.shared_inputs:
            self.x_train = place_inputs(spec.dataset.x_train, device, memory_format)  # (N, ...)
        else:
            self.x_train = torch.stack([training_set.x for training_set in training_sets]).to(device)  # (K, N, ...)
        self.y_train = torch.stack([training_set.y for training_set in training_sets]).to(device)  # (K, N)
        y_test = spec.dataset.y_test.to(device)
        self.inputs = {"test": (place_inputs(spec.dataset.x_test, device, memory_format), False,
                                [y_test] * len(training_sets))}
        # What the train metrics read: the training split itself, or each run's own subset of it.
        if training_sets[0].metrics_index is not None:  # the same size for every run of a stack
            parts = [training_set.metrics_part() for training_set in training_sets]
            self.inputs["metrics"] = (torch.stack([x for x, _, _ in parts]).to(device), True,
                                      torch.stack([y for _, y, _ in parts]).to(device))
        else:
            self.inputs["metrics"] = (self.x_train, not self.shared_inputs, self.y_train)
        if training_sets[0].x_val is not None:  # each seed holds out its own samples (same count per class)
            self.inputs["val"] = (torch.stack([training_set.x_val for training_set in training_sets]).to(device), True,
                                  torch.stack([training_set.y_val for training_set in training_sets]).to(device))
        self.run_axis = torch.arange(len(training_sets), device=device).unsqueeze(1)  # (K, 1)

    def numerics(self):
        return RowSoftmaxMode()

    def train_mode(self) -> None:
        self.compute.train_mode(True)

    def train_step(self, batch: torch.Tensor, step: int) -> None:
        inputs = self.x_train[batch] if self.shared_inputs else self.x_train[self.run_axis, batch]  # (K, B, ...)
        labels = torch.gather(self.y_train, 1, batch)  # (K, B)
        with autocast_for(self.spec.device, self.spec.precision):
            logits = self.compute.forward(inputs, True)  # (K, B, classes)
        with self.numerics():
            loss = _stack_loss(self.loss_groups, logits, labels)
        self.optimizer.zero_grad()
        loss.backward()
        clip_stacked_gradients(self.spec.recipe.grad_clip_norm, self.optimizer.tensors)
        self.optimizer.step(learning_rate_factor(self.spec.recipe, step, self.spec.steps_per_epoch))

    def predict(self, split: str) -> torch.Tensor:
        """Float32 logits (K, N, classes) in eval mode."""
        x, x_is_stacked, _ = self.inputs[split]
        self.compute.train_mode(False)
        with torch.no_grad(), autocast_for(self.spec.device, self.spec.precision):
            chunks = torch.split(x, self.samples_per_call, dim=1 if x_is_stacked else 0)
            return torch.cat([self.compute.forward(chunk, x_is_stacked).float() for chunk in chunks], dim=1)

    def labels(self, split: str):
        return self.inputs[split][2]

    def run_parameters(self, k: int) -> list[torch.Tensor]:
        return self.compute.run_parameters(k)
