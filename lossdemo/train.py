"""Train one network with one loss and record what every epoch looks like.

A run is fully described by a frozen :class:`RunConfig`; :func:`train_run` returns a
:class:`RunOutcome` holding plain per-epoch numbers, which ``lossdemo.results`` stores as JSON.

What a run does is set by its config (``RunConfig``'s defaults are the report's recipe; the fair
protocol of ``lossdemo.protocol`` changes the learning rate, the length and the validation split):

* **SGD with momentum** by default — plain SGD exposes how much gradient each loss really delivers.
  Adam rescales every step by a running gradient norm, which partly hides a loss whose gradients
  are small; it stays available for the ``mae-anatomy`` experiment. Each experiment's generated
  setup table gives the reason for every value it uses.
* **weight decay** — coupled to the gradient, as in ``torch.optim.SGD``; it keeps logits bounded.
* **cosine decay of the learning rate to 0 over the run, per step** — it removes the end-of-run noise
  of a constant rate, so "final accuracy" is a stable number to compare between seeds.

Every epoch the model is evaluated in eval mode on the full test split and on the training split
(all of it, or the fixed random subset ``train_metrics_samples`` asks for: the train metrics are
curves to read and a collapse check, and a subset of the test split's size measures them well for
a fraction of the cost): the run's own loss, accuracy, cross-entropy (a yardstick shared by all
losses), per-class test accuracy, and the test set's expected calibration error (15 bins,
``lossdemo.metrics``; the last epoch's reliability histogram is kept as ``final_test_reliability``).
With ``validation_fraction`` above 0 a stratified validation split is held out of the training
data and evaluated the same way (``val_*`` entries): choices such as the stopping epoch are made on
it, never on the test split, and at the last epoch a temperature is fitted on it (``temperature``;
the test split's ``test_ece_scaled`` and ``test_ce_scaled`` at that temperature), the standard
post-hoc calibration baseline.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .checkpoints import restore_checkpoint, save_checkpoint
from .corruption import apply_label_noise, long_tail_indices
from .cpu_speed import cpu_micro_batch_for, eval_batch_size, fast_forward, flush_denormals
from .data import Dataset, load_dataset
from .losses import get_loss
from .metrics import ECE_BINS, expected_calibration_error, histogram_from_sums, reliability_sums, temperature_scaled
from .models import build_model, memory_format_for, resolve_model_name
from .row_softmax import cross_entropy_rows
from .run_config import RunConfig, RunOutcome, RunStatus
from .splits import validation_split

__all__ = ["RunConfig", "RunOutcome", "RunStatus", "train_run", "predict_logits", "prepare_training_set"]

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
# One intra-op thread per run on CPU: ATen and oneDNN split reductions by thread count, so the
# numbers of a run would otherwise depend on the machine's core count. Parallelism comes from
# training runs side by side (``--workers``; benchmarks/workers_scaling.py measures it).
CPU_THREADS_PER_RUN = 1
# Corruptions draw from their own stream, so changing them never changes init or batch order.
_CORRUPTION_SEED_OFFSET = 1_000_003
_VALIDATION_SEED_OFFSET = 2_000_029
_TRAIN_METRICS_SEED_OFFSET = 3_000_017


def resolve_device(device: str) -> torch.device:
    """Map ``auto|cpu|cuda|mps`` to an available device; asking for an absent GPU is an error."""
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; allowed: {', '.join(DEVICES)}")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but no CUDA GPU is available; allowed here: auto, cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' requested but Apple's MPS backend is not available; allowed here: auto, cpu")
    return torch.device(device)


@dataclass(frozen=True)
class TrainingSet:
    """The (possibly corrupted) training split a run actually sees, plus what was corrupted."""

    x: torch.Tensor
    y: torch.Tensor  # the labels trained on (noisy where label noise is on)
    flipped: torch.Tensor | None  # bool mask of samples whose label was changed, or None without noise
    class_counts: list[int]
    x_val: torch.Tensor | None = None  # the validation split (clean, stratified), or None without one
    y_val: torch.Tensor | None = None
    metrics_index: torch.Tensor | None = None  # the samples the train metrics read (sorted), or None for all

    def metrics_part(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(x, y, flipped)`` of the samples the per-epoch train metrics read."""
        if self.metrics_index is None:
            return self.x, self.y, self.flipped
        index = self.metrics_index
        return self.x[index], self.y[index], None if self.flipped is None else self.flipped[index]


def prepare_training_set(config: RunConfig, dataset: Dataset) -> TrainingSet:
    """Hold out the config's validation split, then apply its imbalance and label noise to the rest.

    The validation split is carved first, from the clean, balanced training split, so it is clean
    and balanced like the test split: choices made on it (stopping epoch, learning rate) judge the
    same task the test split does. The test split is never touched.
    """
    x, y = dataset.x_train, dataset.y_train
    # Label range and dtypes were checked when the Dataset was built (Dataset.__post_init__).
    x_val = y_val = None
    if config.validation_fraction > 0:
        kept, held_out = validation_split(y, config.validation_fraction, dataset.num_classes,
                                          config.seed + _VALIDATION_SEED_OFFSET)
        x_val, y_val = x[held_out], y[held_out]
        x, y = x[kept], y[kept]
    corruption_seed = config.seed + _CORRUPTION_SEED_OFFSET
    if config.imbalance_ratio != 1:
        kept = long_tail_indices(y, config.imbalance_ratio, dataset.num_classes, corruption_seed)
        x, y = x[kept], y[kept]
    flipped = None
    if config.label_noise > 0:
        noisy = apply_label_noise(y, config.label_noise, config.label_noise_kind, dataset.num_classes, corruption_seed)
        flipped = noisy != y
        y = noisy
    class_counts = torch.bincount(y, minlength=dataset.num_classes).tolist()
    metrics_index = None
    if 0 < config.train_metrics_samples < len(y):
        generator = torch.Generator().manual_seed(config.seed + _TRAIN_METRICS_SEED_OFFSET)
        metrics_index = torch.randperm(len(y), generator=generator)[: config.train_metrics_samples].sort().values
    return TrainingSet(x=x, y=y, flipped=flipped, class_counts=class_counts, x_val=x_val, y_val=y_val,
                       metrics_index=metrics_index)


def noise_indices(flipped: torch.Tensor | None, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Positions of the flipped and of the clean samples in ``flipped`` (None, None without noise):
    indices, not masks, because a masked selection would sync with the device every epoch."""
    if flipped is None:
        return None, None
    return flipped.nonzero().squeeze(1).to(device), (~flipped).nonzero().squeeze(1).to(device)


def build_optimizer(config: RunConfig, params) -> torch.optim.Optimizer:
    """The recipe's optimizer over ``params`` (one run's, or a stack's stacked tensors)."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``auto`` means bf16 autocast on a CUDA GPU that supports it, float32 everywhere else.

    bf16 only changes the forward pass's matrix products (the losses upcast logits to float32),
    so every loss still gets the same recipe; on a CPU it would change the published numbers.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; allowed: {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
    return precision


def autocast_for(device: torch.device, precision: str):
    """A context in which forward passes run at ``precision`` (from :func:`resolve_precision`)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def cpu_threads(count: int | None):
    """Run the block with ``count`` intra-op threads (None: leave torch's setting), then restore it."""
    previous = torch.get_num_threads()
    if count is not None and count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


@contextlib.contextmanager
def device_settings(device: torch.device, threads: int | None):
    """The settings a run trains under, restored afterwards: on a CPU ``threads`` intra-op threads and
    denormals flushed; on a GPU cuDNN's autotuner (a run's shapes never change, so it tunes once)."""
    if device.type == "cuda":
        previous = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = previous
    elif device.type == "cpu":
        with cpu_threads(threads), flush_denormals():
            yield
    else:
        yield


def place_model(model: torch.nn.Module, device: torch.device, memory_format: torch.memory_format) -> torch.nn.Module:
    """``model`` on ``device`` with its 4-D weights in ``memory_format``."""
    if memory_format == torch.contiguous_format:  # also the only choice before a lazy layer is built
        return model.to(device)
    return model.to(device, memory_format=memory_format)


def place_inputs(x: torch.Tensor, device: torch.device, memory_format: torch.memory_format) -> torch.Tensor:
    """``x`` on ``device`` in the model's layout (4-D image batches only; other ranks as they are)."""
    x = x.to(device)
    return x.contiguous(memory_format=memory_format) if x.dim() == 4 else x


def learning_rate_factor(config: RunConfig, step: int, steps_per_epoch: int) -> float:
    """The schedule's multiplier of ``config.lr`` at SGD step ``step`` (0-based): cosine to 0 over the run, or 1."""
    if config.schedule == "constant":
        return 1.0
    total_steps = steps_per_epoch * config.epochs
    return 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def build_scheduler(config: RunConfig, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
    """The recipe's learning-rate schedule (:func:`learning_rate_factor`), stepped once per SGD step."""
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate_factor(config, step, steps_per_epoch))


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """Float32 logits for a whole split in eval mode, in a few chunks (no per-sample Python)."""
    model.eval()
    forward = fast_forward(model)
    with autocast_for(x.device, precision):
        return torch.cat([forward(chunk).float() for chunk in torch.split(x, eval_batch_size(x.device))])


def _split_values(logits: torch.Tensor, labels: torch.Tensor, loss_fn, num_classes: int):
    """``[loss, accuracy, ce, *per_class_accuracy]`` of one split as one float32 device tensor, plus
    per-sample correctness (0/1)."""
    predictions = logits.argmax(dim=1)
    correct = (predictions == labels).float()
    per_class_total = torch.bincount(labels, minlength=num_classes).clamp_min(1)
    per_class_correct = torch.bincount(labels, weights=correct, minlength=num_classes)
    scalars = torch.stack([loss_fn(logits, labels, validate=False).float(), correct.mean(),
                           cross_entropy_rows(logits, labels)])
    return torch.cat([scalars, per_class_correct / per_class_total]), correct


def _weights_finite(params) -> torch.Tensor:
    """``1.0`` if every parameter is finite, else ``0.0``, as a device scalar (no host sync)."""
    return torch.stack([torch.isfinite(p).all() for p in params]).all().float().reshape(1)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch of one run records, decoded on the host."""

    metrics: dict  # history entries of this epoch (non-finite losses as None)
    reliability: dict | None  # the test set's reliability histogram, None when the logits were not finite
    weights_finite: bool


@dataclass(frozen=True)
class EpochLayout:
    """The one place that knows where each number sits in an epoch's flat record.

    Everything an epoch records — both splits' metrics, the flipped/clean fits under label noise,
    the test set's reliability sums, whether the weights are finite — is computed on the device into
    one float32 tensor (:meth:`encode`), copied to the host once (one sync per epoch, which matters
    on a GPU), and split up again by :meth:`decode`. A stack of runs concatenates their records.
    """

    num_classes: int
    noisy: bool  # whether the run has label noise (two more numbers: fit on flipped and on clean samples)
    validation: bool = False  # whether the run has a validation split (one more split's numbers)

    @property
    def split_width(self) -> int:
        return 3 + self.num_classes

    @property
    def width(self) -> int:
        return (2 + self.validation) * self.split_width + (2 if self.noisy else 0) + 3 * ECE_BINS + 1

    def encode_metrics(self, train_logits, test_logits, y_train, y_test, loss_fn,
                       flipped_index=None, clean_index=None, val_logits=None, y_val=None) -> torch.Tensor:
        """The splits' metrics (and, with noise, the fits on flipped and clean samples) as one device tensor."""
        train, train_correct = _split_values(train_logits, y_train, loss_fn, self.num_classes)
        test, _ = _split_values(test_logits, y_test, loss_fn, self.num_classes)
        parts = [train, test]
        if self.noisy:
            empty = torch.full((1,), math.nan, device=train.device)
            flipped_accuracy = train_correct[flipped_index].mean().reshape(1) if len(flipped_index) else empty
            parts += [flipped_accuracy, train_correct[clean_index].mean().reshape(1)]
        if self.validation:
            parts.append(_split_values(val_logits, y_val, loss_fn, self.num_classes)[0])
        return torch.cat(parts)

    def encode(self, train_logits, test_logits, y_train, y_test, loss_fn, flipped_index, clean_index,
               params, val_logits=None, y_val=None) -> torch.Tensor:
        """The whole record (``width`` numbers) as one float32 device tensor."""
        return torch.cat([
            self.encode_metrics(train_logits, test_logits, y_train, y_test, loss_fn, flipped_index, clean_index,
                                val_logits, y_val),
            reliability_sums(test_logits, y_test),  # (3 * ECE_BINS,) for the test set's ECE
            _weights_finite(params),
        ])

    def decode_metrics(self, values: list[float]) -> dict:
        """The history entries of one epoch from :meth:`encode_metrics`' numbers."""
        width = self.split_width
        train, test = values[:width], values[width : 2 * width]
        metrics = {
            "train_loss": _finite_or_none(train[0]),
            "test_loss": _finite_or_none(test[0]),
            "train_accuracy": train[1],
            "test_accuracy": test[1],
            "train_ce": _finite_or_none(train[2]),
            "test_ce": _finite_or_none(test[2]),
            "test_per_class_accuracy": test[3:],
        }
        if self.noisy:
            # Fitting the flipped labels is memorisation; the clean subset shows what is really learned.
            flipped_accuracy, clean_accuracy = values[2 * width : 2 * width + 2]
            metrics["train_accuracy_on_flipped"] = None if math.isnan(flipped_accuracy) else flipped_accuracy
            metrics["train_accuracy_on_clean"] = clean_accuracy
        if self.validation:
            start = 2 * width + (2 if self.noisy else 0)
            val = values[start : start + width]
            metrics.update({"val_loss": _finite_or_none(val[0]), "val_accuracy": val[1],
                            "val_ce": _finite_or_none(val[2]), "val_per_class_accuracy": val[3:]})
        return metrics

    def decode(self, values: list[float]) -> EpochRecord:
        """The record from :meth:`encode`'s numbers, copied to the host."""
        calibration_width = 3 * ECE_BINS
        metrics = self.decode_metrics(values[: -calibration_width - 1])
        reliability = histogram_from_sums(values[-calibration_width - 1 : -1])
        metrics["test_ece"] = _finite_or_none(expected_calibration_error(reliability))
        return EpochRecord(metrics, reliability.to_dict() if metrics["test_ece"] is not None else None,
                           bool(values[-1]))


def record_epoch(outcome: RunOutcome, epoch: int, record: EpochRecord) -> bool:
    """Append the epoch to ``outcome``'s history; mark the run diverged and return False when its loss
    or weights are no longer finite (then training stops)."""
    for key, value in record.metrics.items():
        outcome.history.setdefault(key, []).append(value)
    # Not per epoch (15 bins x 3 numbers each would bloat every results file): the last epoch's wins.
    outcome.history["final_test_reliability"] = record.reliability
    if record.metrics["train_loss"] is None or not record.weights_finite:
        outcome.status, outcome.diverged_epoch = RunStatus.DIVERGED, epoch
        return False
    return True


def train_run(
    config: RunConfig,
    dataset: Dataset | None = None,
    device: str = "cpu",
    on_epoch: Callable[[int, dict], None] | None = None,
    data_dir: str | os.PathLike | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    *,
    precision: str = "auto",
    threads: int | None = CPU_THREADS_PER_RUN,
) -> RunOutcome:
    """Train ``config`` from scratch and evaluate after every epoch.

    Args:
        config: the run. Same config and seed give identical numbers on CPU.
        dataset: preloaded data (must match ``config.dataset`` by name); loaded when None.
        device: ``auto|cpu|cuda|mps``.
        on_epoch: called as ``on_epoch(epoch, metrics)`` after each epoch (progress bars).
        data_dir: where torchvision datasets are cached (see ``lossdemo.data``).
        checkpoint_path: when given, the full training state is saved there after every epoch but
            the last, and a checkpoint of this run found there is resumed from (``lossdemo.checkpoints``).
        precision: ``auto`` (bf16 autocast on CUDA, float32 elsewhere), ``fp32`` or ``bf16``.
        threads: intra-op CPU threads for this run (restored afterwards); None leaves torch's
            setting. The default of one makes a run's numbers independent of the core count.

    Returns:
        The outcome; ``status`` is ``"diverged"`` (with ``diverged_epoch``) when the loss or the
        weights became non-finite, in which case training stopped at that epoch.
    """
    torch_device = resolve_device(device)
    with device_settings(torch_device, threads):
        return _train_run(config, dataset, torch_device, on_epoch, data_dir, checkpoint_path,
                          resolve_precision(precision, torch_device))


def _train_run(config: RunConfig, dataset: Dataset | None, torch_device: torch.device, on_epoch, data_dir,
               checkpoint_path, precision: str) -> RunOutcome:
    started = time.perf_counter()
    if dataset is None:
        dataset = load_dataset(config.dataset, data_dir=data_dir)
    elif dataset.name != config.dataset:
        raise ValueError(f"dataset {dataset.name!r} does not match the config's dataset {config.dataset!r}")

    training_set = prepare_training_set(config, dataset)
    loss_fn = get_loss(config.loss, class_counts=training_set.class_counts)
    model_name = resolve_model_name(config.model, dataset.input_shape)
    memory_format = memory_format_for(model_name, torch_device)
    micro_batch = cpu_micro_batch_for(model_name, torch_device) or config.batch_size
    # The whole dataset lives on the device, in the model's layout: a step is an index, not a copy loop.
    x_train, y_train = place_inputs(training_set.x, torch_device, memory_format), training_set.y.to(torch_device)
    x_test, y_test = place_inputs(dataset.x_test, torch_device, memory_format), dataset.y_test.to(torch_device)
    x_metrics, y_metrics, flipped = training_set.metrics_part()
    if training_set.metrics_index is None:  # the training split itself, already placed: no second copy
        x_metrics, y_metrics = x_train, y_train
    else:
        x_metrics, y_metrics = place_inputs(x_metrics, torch_device, memory_format), y_metrics.to(torch_device)
    flipped_index, clean_index = noise_indices(flipped, torch_device)

    torch.manual_seed(config.seed)  # same seed -> same initial weights for every loss (paired runs)
    model = place_model(build_model(config.model, dataset.input_shape, dataset.num_classes), torch_device, memory_format)
    optimizer = build_optimizer(config, model.parameters())
    forward = fast_forward(model)
    n_train = len(y_train)
    # Drop a ragged last batch: batch norm cannot train on a batch of one, and equal-size batches keep steps comparable.
    steps_per_epoch = max(1, n_train // config.batch_size)
    scheduler = build_scheduler(config, optimizer, steps_per_epoch)
    layout = EpochLayout(dataset.num_classes, noisy=training_set.flipped is not None,
                         validation=training_set.x_val is not None)
    x_val = y_val = None
    if training_set.x_val is not None:
        x_val = place_inputs(training_set.x_val, torch_device, memory_format)
        y_val = training_set.y_val.to(torch_device)
    shuffle_generator = torch.Generator().manual_seed(config.seed)  # batch order: same for every loss

    outcome = RunOutcome(config=config, device=str(torch_device), precision=precision)
    history = outcome.history
    resumed = restore_checkpoint(checkpoint_path, config.run_id, config.epochs, model, optimizer, scheduler,
                                 shuffle_generator, history) if checkpoint_path else None
    started -= resumed.wall_time_s if resumed else 0.0
    for epoch in range(resumed.first_epoch if resumed else 1, config.epochs + 1):
        model.train()
        # Batch order from a CPU generator, so CPU and GPU runs see the same batches; one copy per epoch.
        order = torch.randperm(n_train, generator=shuffle_generator).to(torch_device)
        for step in range(steps_per_epoch):  # no host round-trip in here: nothing is read back per step
            batch = order[step * config.batch_size : (step + 1) * config.batch_size]
            optimizer.zero_grad(set_to_none=True)
            for part in torch.split(batch, micro_batch):  # one part unless cpu_micro_batch_for splits it
                with autocast_for(torch_device, precision):
                    logits = forward(x_train[part])
                loss = loss_fn(logits, y_train[part], validate=False)  # labels checked once above
                if len(part) < len(batch):  # the batch mean, as a sum of the parts' weighted means
                    loss = loss * (len(part) / len(batch))
                loss.backward()
            optimizer.step()
            scheduler.step()

        val_logits = predict_logits(model, x_val, precision) if x_val is not None else None
        test_logits = predict_logits(model, x_test, precision)
        record = layout.decode(layout.encode(
            predict_logits(model, x_metrics, precision), test_logits, y_metrics, y_test,
            loss_fn, flipped_index, clean_index, model.parameters(), val_logits, y_val).tolist())  # one host sync
        still_training = record_epoch(outcome, epoch, record)
        if on_epoch is not None:
            on_epoch(epoch, record.metrics)
        if not still_training:
            break
        if checkpoint_path and epoch < config.epochs:
            save_checkpoint(checkpoint_path, config.run_id, epoch, model, optimizer, scheduler, shuffle_generator,
                            history, time.perf_counter() - started)

    if x_val is not None and outcome.status == RunStatus.COMPLETE:
        # Post-hoc calibration, fitted on validation at the last epoch and applied to the test split.
        # The last epoch's logits: the model has not changed since they were computed.
        history.update(temperature_scaled(val_logits, y_val, test_logits, y_test))
    outcome.wall_time_s = time.perf_counter() - started
    return outcome
