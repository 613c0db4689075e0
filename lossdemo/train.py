"""Train networks with their losses and record what every epoch looks like: the one training loop.

A run is fully described by a frozen :class:`RunConfig`; :func:`train_run` returns a
:class:`RunOutcome` holding plain per-epoch numbers, which ``lossdemo.results`` stores as JSON.
:func:`train_runs` trains several runs of one recipe side by side (they may differ in
``lossdemo.engines.PER_RUN_FIELDS``) and returns one outcome per run.

What a run does is set by its config (``RunConfig``'s defaults are the report's recipe; the fair
protocol of ``lossdemo.protocol`` changes the learning rate, the length and the validation split):
the recipe's optimizer and schedule are :mod:`lossdemo.recipe`'s, the training split it sees is
:mod:`lossdemo.training_set`'s, and what an epoch records is :mod:`lossdemo.epoch_record`'s. With
``validation_fraction`` above 0, choices such as the stopping epoch are made on the validation
split, never on the test split, and at the last epoch a temperature is fitted on it
(``temperature``; the test split's ``test_ece_scaled`` and ``test_ce_scaled`` at that temperature),
the standard post-hoc calibration baseline.

This module says *what* happens each epoch; how a step is computed (one module or a stack of
runs, plain PyTorch or the fast CPU paths) is the engine's business (:mod:`lossdemo.engines`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence

import torch

from .checkpoints import Resumed, restore_checkpoint, save_checkpoint
from .data import Dataset, load_dataset
from .devices import CPU_THREADS_PER_RUN, resolve_device, resolve_precision
from .engines import PER_RUN_FIELDS, Engine, StackSpec, build_engine, engine_settings, resolve_engine, stack_key
from .epoch_record import EpochLayout, record_epoch
from .losses import get_loss
from .metrics import temperature_scaled
from .recipe import steps_per_epoch
from .run_config import RunConfig, RunOutcome, RunStatus
from .training_set import noise_indices, prepare_training_set

__all__ = ["RunConfig", "RunOutcome", "RunStatus", "train_run", "train_runs"]


def train_run(
    config: RunConfig,
    dataset: Dataset | None = None,
    device: str = "cpu",
    on_epoch: Callable[[int, dict], None] | None = None,
    data_dir: str | os.PathLike | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    *,
    engine: str = "auto",
    precision: str = "auto",
    threads: int | None = CPU_THREADS_PER_RUN,
) -> RunOutcome:
    """Train ``config`` from scratch and evaluate after every epoch.

    Args:
        config: the run. Same config and seed give identical numbers on one CPU with one engine.
        dataset: preloaded data (must match ``config.dataset`` by name); loaded when None.
        device: ``auto|cpu|cuda|mps``.
        on_epoch: called as ``on_epoch(epoch, metrics)`` after each epoch (progress bars).
        data_dir: where torchvision datasets are cached (see ``lossdemo.data``).
        checkpoint_path: when given, the full training state is saved there after every epoch but
            the last, and a checkpoint of this run found there is resumed from (``lossdemo.checkpoints``).
        engine: ``auto``, ``fast`` or ``reference`` (``lossdemo.engines``).
        precision: ``auto`` (bf16 autocast on CUDA, float32 elsewhere), ``fp32`` or ``bf16``.
        threads: intra-op CPU threads for this run (restored afterwards); None leaves torch's
            setting. The default of one makes a run's numbers independent of the core count.

    Returns:
        The outcome; ``status`` is ``"diverged"`` (with ``diverged_epoch``) when the loss or the
        weights became non-finite, in which case training stopped at that epoch.
    """
    callback = (lambda _config, epoch, metrics: on_epoch(epoch, metrics)) if on_epoch else None
    [outcome] = train_runs([config], dataset, device, callback, data_dir, checkpoint_path=checkpoint_path,
                           engine=engine, stacked=False, precision=precision, threads=threads)
    return outcome


def train_runs(
    configs: Sequence[RunConfig],
    dataset: Dataset | None = None,
    device: str = "cpu",
    on_epoch: Callable[[RunConfig, int, dict], None] | None = None,
    data_dir: str | os.PathLike | None = None,
    *,
    checkpoint_path: str | os.PathLike | None = None,
    engine: str = "auto",
    stacked: bool = True,
    precision: str = "auto",
    threads: int | None = CPU_THREADS_PER_RUN,
) -> list[RunOutcome]:
    """Train ``configs`` (one recipe: they may differ only in ``PER_RUN_FIELDS``) side by side.

    Each run draws its initial weights and batch order from its own seed, exactly as it would alone,
    so its numbers do not depend on which runs share the call beyond the order of float additions.

    Args:
        configs: the runs, distinct.
        dataset: as for :func:`train_run`.
        device: as for :func:`train_run`.
        on_epoch: called as ``on_epoch(config, epoch, metrics)`` for each run still training.
        data_dir: as for :func:`train_run`.
        checkpoint_path: as for :func:`train_run`; only for a single run.
        engine: ``auto``, ``fast`` or ``reference`` (``lossdemo.engines``).
        stacked: on the fast engine, compute the runs as one stacked model even when there is one.
        precision: as for :func:`train_run`.
        threads: as for :func:`train_run`.

    Returns:
        One outcome per config, in config order.
    """
    configs = list(configs)
    if not configs:
        return []
    _check_one_recipe(configs, checkpoint_path)
    torch_device = resolve_device(device)
    resolve_engine(engine, torch_device)  # an unknown engine fails before any data is loaded
    if dataset is None:
        dataset = load_dataset(configs[0].dataset, data_dir=data_dir)
    elif dataset.name != configs[0].dataset:
        raise ValueError(f"dataset {dataset.name!r} does not match the config's dataset {configs[0].dataset!r}")
    with engine_settings(engine, torch_device, threads):
        started = time.perf_counter()
        training_sets = [prepare_training_set(config, dataset) for config in configs]
        if len({len(training_set.y) for training_set in training_sets}) != 1:
            raise ValueError("the runs' training sets differ in size; allowed: runs of one imbalance ratio")
        loss_fns = [get_loss(c.loss, class_counts=t.class_counts) for c, t in zip(configs, training_sets)]
        spec = StackSpec(configs, training_sets, loss_fns, dataset, torch_device,
                         resolve_precision(precision, torch_device),
                         steps_per_epoch(configs[0], len(training_sets[0].y)))
        outcomes = _train(build_engine(engine, spec, stacked), spec, on_epoch, checkpoint_path)
        share = (time.perf_counter() - started) / len(configs)
        for outcome in outcomes:
            outcome.wall_time_s += share
        return outcomes


def _check_one_recipe(configs: list[RunConfig], checkpoint_path) -> None:
    if len({stack_key(config) for config in configs}) != 1:
        raise ValueError(f"configs differ in more than {', '.join(PER_RUN_FIELDS)}; allowed: one recipe per call")
    if len({config.run_id for config in configs}) != len(configs):
        raise ValueError("the same run appears twice in one call; allowed: distinct configs")
    if checkpoint_path is not None and len(configs) > 1:
        raise ValueError(f"a checkpoint with {len(configs)} runs is not supported; allowed: one run per checkpoint")


def _train(engine: Engine, spec: StackSpec, on_epoch, checkpoint_path) -> list[RunOutcome]:
    """The epoch loop over ``engine``'s runs; their outcomes in config order."""
    configs, device = spec.configs, spec.device
    outcomes = [RunOutcome(config=config, device=str(device), precision=spec.precision,
                           stacked_runs=engine.stacked_runs, compute_path=engine.path) for config in configs]
    # Batch order from CPU generators, so CPU and GPU runs see the same batches: the same for every loss.
    generators = [torch.Generator().manual_seed(config.seed) for config in configs]
    fit_indices = [noise_indices(training_set.metrics_part()[2], device) for training_set in spec.training_sets]
    has_validation = spec.training_sets[0].x_val is not None  # validation_fraction is part of the shared recipe
    test_labels = spec.dataset.y_test.tolist()
    layouts = [EpochLayout(spec.dataset.num_classes, noisy=indices[0] is not None, validation=has_validation,
                           test_samples=len(test_labels)) for indices in fit_indices]
    resumed = _resume(engine, checkpoint_path, configs[0], generators[0], outcomes[0])
    started = time.perf_counter()
    training = list(range(len(configs)))  # runs not yet diverged
    n_train, batch_size = len(spec.training_sets[0].y), spec.recipe.batch_size
    step = (resumed.first_epoch - 1) * spec.steps_per_epoch
    for epoch in range(resumed.first_epoch, spec.recipe.epochs + 1):
        engine.train_mode()
        orders = torch.stack([torch.randperm(n_train, generator=generator) for generator in generators]).to(device)
        for index in range(spec.steps_per_epoch):  # no host round-trip in here: nothing is read back per step
            engine.train_step(orders[:, index * batch_size : (index + 1) * batch_size], step)
            step += 1
        logits = {split: engine.predict(split) for split in ("metrics", "test", "val") if has_validation or split != "val"}
        labels = {split: engine.labels(split) for split in logits}
        with engine.numerics():
            values = torch.cat([
                layouts[k].encode(logits["metrics"][k], logits["test"][k], labels["metrics"][k], labels["test"][k],
                                  spec.loss_fns[k], *fit_indices[k], engine.run_parameters(k),
                                  logits["val"][k] if has_validation else None,
                                  labels["val"][k] if has_validation else None)
                for k in training]).tolist()  # the epoch's one host sync, for all runs
        training = _record(outcomes, training, layouts, values, epoch, on_epoch, test_labels)
        if not training:
            break
        if checkpoint_path and epoch < spec.recipe.epochs:
            model, optimizer, scheduler = engine.checkpoint_parts()
            save_checkpoint(checkpoint_path, configs[0].run_id, epoch, model, optimizer, scheduler, generators[0],
                            outcomes[0].history, outcomes[0].wall_time_s + time.perf_counter() - started)
    if has_validation:
        # Post-hoc calibration, fitted on validation at the last epoch and applied to the test split;
        # the last epoch's logits, as the model has not changed since they were computed.
        with engine.numerics():
            for k, outcome in enumerate(outcomes):
                if outcome.status == RunStatus.COMPLETE:
                    outcome.history.update(temperature_scaled(logits["val"][k], labels["val"][k],
                                                              logits["test"][k], labels["test"][k]))
    return outcomes


def _resume(engine: Engine, checkpoint_path, config: RunConfig, generator: torch.Generator,
            outcome: RunOutcome) -> Resumed:
    """Load a checkpoint of the (single) run into the engine, its generator and its outcome, if there is one."""
    if not checkpoint_path:
        return Resumed()
    model, optimizer, scheduler = engine.checkpoint_parts()
    resumed = restore_checkpoint(checkpoint_path, config.run_id, config.epochs, model, optimizer, scheduler,
                                 generator, outcome.history)
    outcome.wall_time_s = resumed.wall_time_s  # train_runs adds this session's share
    return resumed


def _record(outcomes: list[RunOutcome], training: list[int], layouts: list[EpochLayout], values: list[float],
            epoch: int, on_epoch, test_labels: list[int]) -> list[int]:
    """Decode each training run's share of ``values`` into its history; the runs still training after it.

    A diverged run stops being recorded; on a stack its weights keep being updated (NaNs stay in
    its own slice), unrecorded.
    """
    offset, still = 0, []
    for k in training:
        record = layouts[k].decode(values[offset : offset + layouts[k].width])
        offset += layouts[k].width
        if record_epoch(outcomes[k], epoch, record, test_labels):
            still.append(k)
        if on_epoch is not None:
            on_epoch(outcomes[k].config, epoch, record.metrics)
    return still
