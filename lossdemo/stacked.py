"""Train several runs of one recipe at once, as one stacked model, so that small runs fill a GPU.

A run of the small networks here keeps a modern GPU busy for a few per cent of each step; the rest
is kernel-launch and Python overhead. Stacking K runs (Krizhevsky's trick of one model per group of
a grouped convolution, done here by :func:`torch.func.vmap` over stacked parameters) issues one
kernel where K runs would issue K, so K runs cost little more than one::

    outcomes = train_stacked(configs, dataset, device="cuda")   # list of RunOutcome, in config order

Every run keeps its own seed (initial weights and batch order, exactly as :func:`train_run` draws
them), its own loss, label noise and imbalance subset; the summed loss of the stack has, for each
run's weights, exactly that run's gradient, and the optimizers of the recipe update each weight on
its own (:class:`StackedSGD` and :class:`StackedAdam` give each run its own learning rate), so one
optimizer over the stacked tensors equals K separate ones. The numbers therefore match
:func:`train_run`'s up to the order of float additions (``tests/test_speed_paths.py`` checks this on
CPU). Runs can share a stack when they differ only in ``PER_RUN_FIELDS``; :func:`plan_stacks` groups a
plan accordingly.

Two ways to compute a stack:

* on a CPU, a plain 1-D CNN (``cnn1d``) runs as batched matrix products with a hand-written
  backward (:mod:`lossdemo.cnn1d_gemm`): a step of K runs costs about as many operator calls as a
  step of one, which is where a small run's CPU time goes. ``reproduce`` stacks these runs by
  default (:func:`lossdemo.cpu_speed.stack_size_for`);
* everywhere else, ``torch.func.vmap`` over the module. On a CPU that is slower than one run after
  another (activations outgrow the cache), so there it is used only when asked (``--stack N``).

The runner (:func:`lossdemo.runner.execute` with ``stack``) claims, trains and stores the stacks.
Each run's ``wall_time_s`` is its share of the stack's wall time, and ``compute_path`` says which
way it was computed. Stacked runs are not checkpointed (the runs of a stack would have to be saved
and resumed together); an interrupted stack trains again from the start.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Sequence

import torch
from torch.func import functional_call, stack_module_state, vmap

from . import cnn1d_gemm
from .cpu_speed import eval_batch_size
from .data import Dataset, load_dataset
from .losses import get_loss, parse_loss_spec
from .metrics import temperature_scaled
from .models import build_model, memory_format_for, resolve_model_name
from .run_config import RunConfig, RunOutcome, RunStatus
from .train import (
    CPU_THREADS_PER_RUN,
    EpochLayout,
    autocast_for,
    device_settings,
    learning_rate_factor,
    noise_indices,
    place_inputs,
    place_model,
    prepare_training_set,
    record_epoch,
    resolve_device,
    resolve_precision,
)

# What may differ between the runs of one stack; every other config field must be equal (the
# optimizers below give each run its own learning rate).
PER_RUN_FIELDS = ("loss", "seed", "label_noise", "label_noise_kind", "lr")


def stack_key(config: RunConfig) -> tuple:
    """Configs with equal keys can be trained in one stack."""
    return tuple((f.name, getattr(config, f.name)) for f in dataclasses.fields(config) if f.name not in PER_RUN_FIELDS)


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


def train_stacked(
    configs: Sequence[RunConfig],
    dataset: Dataset | None = None,
    device: str = "cpu",
    on_epoch: Callable[[RunConfig, int, dict], None] | None = None,
    data_dir=None,
    *,
    precision: str = "auto",
    threads: int | None = CPU_THREADS_PER_RUN,
) -> list[RunOutcome]:
    """Train ``configs`` (one stack: equal :func:`stack_key`) together; outcomes in config order.

    Args:
        configs: the runs; they may differ only in :func:`per_run_fields`.
        dataset: preloaded data matching the configs' dataset; loaded when None.
        device: ``auto|cpu|cuda|mps``.
        on_epoch: called as ``on_epoch(config, epoch, metrics)`` for each run still training.
        data_dir: where torchvision datasets are cached.
        precision: as for :func:`lossdemo.train.train_run`.
        threads: as for :func:`lossdemo.train.train_run`.
    """
    configs = list(configs)
    if not configs:
        return []
    keys = {stack_key(config) for config in configs}
    if len(keys) != 1:
        raise ValueError(f"configs differ in more than {', '.join(PER_RUN_FIELDS)}; "
                         "allowed: one stack_key per call")
    if len({config.run_id for config in configs}) != len(configs):
        raise ValueError("the same run appears twice in one stack; allowed: distinct configs")
    torch_device = resolve_device(device)
    if dataset is None:
        dataset = load_dataset(configs[0].dataset, data_dir=data_dir)
    elif dataset.name != configs[0].dataset:
        raise ValueError(f"dataset {dataset.name!r} does not match the configs' dataset {configs[0].dataset!r}")
    with device_settings(torch_device, threads):
        return _train_stack(configs, dataset, torch_device, on_epoch, resolve_precision(precision, torch_device))


@dataclasses.dataclass
class _Engine:
    """How a stack computes: its trained leaves, its forward pass, run k's parameters, its train/eval switch."""

    leaves: list[torch.Tensor]  # what the optimizer updates, each with the runs along dim 0
    forward: Callable[[torch.Tensor, bool], torch.Tensor]  # (x, x_is_stacked) -> (K, B, classes)
    run_parameters: Callable[[int], list[torch.Tensor]]
    train_mode: Callable[[bool], None]
    path: str  # RunOutcome.compute_path
    eval_chunk: int | None = None  # samples per evaluation call on a CPU; None: the device's default


def _gemm_engine(models: list[torch.nn.Module], layout: cnn1d_gemm.Cnn1dLayout) -> _Engine:
    flat = cnn1d_gemm.flat_parameters(models).requires_grad_()  # (K, P), run k's parameters in row k
    return _Engine([flat], lambda x, x_is_stacked: cnn1d_gemm.stack_forward(layout, flat, x),
                   lambda k: [flat[k]], lambda training: None, "cnn1d-gemm", cnn1d_gemm.EVAL_CHUNK)


def _vmap_engine(models: list[torch.nn.Module]) -> _Engine:
    params, buffers = stack_module_state(models)  # {name: (K, ...)}; params are new leaves
    # The architecture; its own tensors are never used. Called directly, never through
    # cpu_speed.fast_forward: the fused oneDNN kernel has no vmap rule.
    template = copy.deepcopy(models[0]).to("meta")

    def forward(one_params, one_buffers, x):
        return functional_call(template, (one_params, one_buffers), (x,))

    def stacked_forward(x, x_is_stacked: bool):  # (K, B, ...) or shared (B, ...) -> (K, B, classes)
        return vmap(forward, in_dims=(0, 0, 0 if x_is_stacked else None))(params, buffers, x)

    return _Engine(list(params.values()), stacked_forward, lambda k: [tensor[k] for tensor in params.values()],
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


def _train_stack(configs: list[RunConfig], dataset: Dataset, device: torch.device, on_epoch, precision: str):
    started = time.perf_counter()
    recipe, runs = configs[0], len(configs)
    training_sets = [prepare_training_set(config, dataset) for config in configs]
    if len({len(training_set.y) for training_set in training_sets}) != 1:
        raise ValueError("the runs' training sets differ in size; allowed: runs of one imbalance ratio")
    loss_fns = [get_loss(c.loss, class_counts=t.class_counts) for c, t in zip(configs, training_sets)]
    loss_groups = _loss_groups(configs, training_sets, loss_fns)
    memory_format = memory_format_for(resolve_model_name(recipe.model, dataset.input_shape), device)
    # One copy of the inputs when every run trains on the full split (no imbalance subset).
    shared_inputs = all(training_set.x is dataset.x_train for training_set in training_sets)
    if shared_inputs:
        x_train = place_inputs(dataset.x_train, device, memory_format)  # (N, ...)
    else:
        x_train = torch.stack([training_set.x for training_set in training_sets]).to(device)  # (K, N, ...)
    y_train = torch.stack([training_set.y for training_set in training_sets]).to(device)  # (K, N)
    x_test, y_test = place_inputs(dataset.x_test, device, memory_format), dataset.y_test.to(device)
    # What the train metrics read: the training split itself, or each run's own subset of it.
    metrics_parts = [training_set.metrics_part() for training_set in training_sets]
    subsets = training_sets[0].metrics_index is not None  # the same size for every run of a stack
    if subsets:
        x_metrics = torch.stack([x for x, _, _ in metrics_parts]).to(device)  # (K, n, ...)
        y_metrics = torch.stack([y for _, y, _ in metrics_parts]).to(device)  # (K, n)
    else:
        x_metrics, y_metrics = x_train, y_train
    fit_indices = [noise_indices(flipped, device) for _, _, flipped in metrics_parts]

    models = [place_model(_seeded_model(config, dataset), device, memory_format) for config in configs]
    layout = cnn1d_gemm.layout_of(models[0], tuple(dataset.input_shape))
    use_gemm = precision == "fp32" and cnn1d_gemm.supports(models[0], tuple(dataset.input_shape), device)
    engine = _gemm_engine(models, layout) if use_gemm else _vmap_engine(models)
    del models

    n_train = y_train.shape[1]
    steps_per_epoch = max(1, n_train // recipe.batch_size)
    lrs = [config.lr for config in configs]
    if recipe.optimizer == "sgd":
        optimizer = StackedSGD(engine.leaves, lrs, recipe.momentum, recipe.weight_decay)
    else:
        optimizer = StackedAdam(engine.leaves, lrs, recipe.weight_decay)
    has_validation = training_sets[0].x_val is not None  # validation_fraction is part of the shared recipe
    layouts = [EpochLayout(dataset.num_classes, noisy=indices[0] is not None, validation=has_validation)
               for indices in fit_indices]
    if has_validation:  # each seed holds out its own samples (same count per class, so one shape)
        x_val = torch.stack([training_set.x_val for training_set in training_sets]).to(device)  # (K, Nv, ...)
        y_val = torch.stack([training_set.y_val for training_set in training_sets]).to(device)  # (K, Nv)
    generators = [torch.Generator().manual_seed(config.seed) for config in configs]  # train_run's batch orders
    run_axis = torch.arange(runs, device=device).unsqueeze(1)  # (K, 1)

    # Each call evaluates a chunk for all K runs at once: on an accelerator, whose evaluation chunks
    # are large, K runs share one chunk's memory (12 resnets × 8,192 CIFAR images would need tens
    # of GB per layer); the CPU's small chunks stay as they are.
    if device.type == "cpu":
        samples_per_call = engine.eval_chunk or eval_batch_size(device)
    else:
        samples_per_call = max(1, eval_batch_size(device) // runs)

    def predict(x, x_is_stacked: bool) -> torch.Tensor:  # float32 logits (K, N, classes) in eval mode
        engine.train_mode(False)
        with torch.no_grad(), autocast_for(device, precision):
            chunks = torch.split(x, samples_per_call, dim=1 if x_is_stacked else 0)
            return torch.cat([engine.forward(chunk, x_is_stacked).float() for chunk in chunks], dim=1)

    outcomes = [RunOutcome(config=config, device=str(device), precision=precision, stacked_runs=runs,
                           compute_path=engine.path) for config in configs]
    training = list(range(runs))  # runs not yet diverged
    step_count = 0
    for epoch in range(1, recipe.epochs + 1):
        engine.train_mode(True)
        orders = torch.stack([torch.randperm(n_train, generator=generator) for generator in generators]).to(device)
        for step in range(steps_per_epoch):
            batch = orders[:, step * recipe.batch_size : (step + 1) * recipe.batch_size]  # (K, B)
            inputs = x_train[batch] if shared_inputs else x_train[run_axis, batch]  # (K, B, ...)
            labels = torch.gather(y_train, 1, batch)  # (K, B)
            with autocast_for(device, precision):
                logits = engine.forward(inputs, True)  # (K, B, classes)
            loss = _stack_loss(loss_groups, logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step(learning_rate_factor(recipe, step_count, steps_per_epoch))
            step_count += 1

        train_logits = predict(x_metrics, subsets or not shared_inputs)
        test_logits = predict(x_test, False)
        val_logits = predict(x_val, True) if has_validation else None
        values = torch.cat([
            layouts[k].encode(train_logits[k], test_logits[k], y_metrics[k], y_test, loss_fns[k], *fit_indices[k],
                              engine.run_parameters(k),
                              val_logits[k] if has_validation else None, y_val[k] if has_validation else None)
            for k in training
        ]).tolist()  # the epoch's one host sync, for all runs
        offset = 0
        for k in list(training):
            record = layouts[k].decode(values[offset : offset + layouts[k].width])
            offset += layouts[k].width
            still_training = record_epoch(outcomes[k], epoch, record)
            if on_epoch is not None:
                on_epoch(configs[k], epoch, record.metrics)
            if not still_training:  # its weights keep being updated (NaNs stay in its own slice), unrecorded
                training.remove(k)
        if not training:
            break

    if has_validation:  # as train_run: a temperature fitted on validation at the last epoch
        for k, outcome in enumerate(outcomes):
            if outcome.status == RunStatus.COMPLETE:
                outcome.history.update(temperature_scaled(val_logits[k], y_val[k], test_logits[k], y_test))
    share = (time.perf_counter() - started) / runs
    for outcome in outcomes:
        outcome.wall_time_s = share
    return outcomes
