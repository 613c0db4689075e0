"""Train one network with one loss and record what every epoch looks like.

A run is fully described by a frozen :class:`RunConfig`; :func:`train_run` returns a
:class:`RunOutcome` holding plain per-epoch numbers, which ``lossdemo.results`` stores as JSON.

The recipe is the same for every loss, so that only the loss differs between runs:

* **SGD, momentum 0.9, lr 0.05** — plain SGD exposes how much gradient each loss really delivers.
  Adam rescales every step by a running gradient norm, which partly hides a loss whose gradients
  are small (in a prototype on mnist5k it lifted MAE to within a point of CE), so it would blur the
  very difference the report is about. Adam is still available for the ``mae-anatomy`` experiment.
  lr 0.1 was tried first: on mnist5k the batch-norm-free ``cnn2d`` (the earlier image model)
  collapsed to chance in 2 of 5 seeds for CE (and for both focal losses) within the first epochs,
  warm-up or not. ``cnn2d-stem`` at 0.1 did not collapse, but one CE seed of five fell to 17 % test
  accuracy in its second epoch and was still 15 points behind the others after six. 0.05 trained
  every seed of both, so the comparison measures the losses rather than the recipe's instability.
* **weight decay 5e-4** — the usual value for small CNNs trained with SGD; it keeps logits bounded.
* **batch 128** — about 30 steps per epoch on 4,000 samples; large enough for the ResNet's batch norm.
* **cosine decay of the learning rate to 0 over the run, per step** — it removes the end-of-run noise
  of a constant rate, so "final accuracy" is a stable number to compare between seeds.
* **25 epochs** — the length of the report's runs.

Every epoch the model is evaluated in eval mode on the *full* train and test sets: the run's own
loss, accuracy, cross-entropy (a yardstick shared by all losses), per-class test accuracy, and the
test set's expected calibration error (15 bins, ``lossdemo.metrics``; the last epoch's reliability
histogram is kept as ``final_test_reliability``).
"""

from __future__ import annotations

import dataclasses
import contextlib
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from .checkpoints import restore_checkpoint, save_checkpoint
from .corruption import NOISE_KINDS, apply_label_noise, long_tail_indices
from .data import Dataset, load_dataset
from .losses import get_loss, parse_loss_spec
from .metrics import ECE_BINS, expected_calibration_error, histogram_from_sums, reliability_sums
from .models import MODELS, build_model, cpu_micro_batch_for, default_model_for, memory_format_for, resolve_model_name

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("auto", "fp32", "bf16")
# Evaluation needs no gradients: on a GPU one large chunk means few kernel launches. On a CPU,
# chunks of 256 images measured fastest: an mnist5k epoch of cnn2d-stem ran 7 % faster than with
# chunks of 128 and 5 % faster than with 512 or 1024 (mnist1d did not care). At one thread, chunks
# of 64 images or more give the same logits bit for bit (tests/test_speed_paths.py), so retuning
# this leaves published histories reproducible.
EVAL_BATCH_SIZE = {"cpu": 256}
EVAL_BATCH_SIZE_ACCELERATOR = 8192
# One intra-op thread per run on CPU: ATen and oneDNN split reductions by thread count, so the
# numbers of a run would otherwise depend on the machine's core count. Parallelism comes from
# training runs side by side (``--workers``), which measured faster than threads inside one run.
CPU_THREADS_PER_RUN = 1
# Corruptions draw from their own stream, so changing them never changes init or batch order.
_CORRUPTION_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's numbers (on CPU, bit for bit)."""

    dataset: str = "mnist1d"
    model: str = ""  # "" = the default model for the dataset (see lossdemo.models)
    loss: str = "ce"
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    epochs: int = 25
    schedule: str = "cosine"
    seed: int = 0
    label_noise: float = 0.0
    label_noise_kind: str = "symmetric"
    imbalance_ratio: float = 1.0

    def __post_init__(self):
        _require(isinstance(self.loss, str), f"loss spec {self.loss!r} must be a string")
        parse_loss_spec(self.loss)  # raises ValueError naming the allowed forms
        if not self.model:
            object.__setattr__(self, "model", default_model_for(self.dataset))
        _require(self.model in MODELS + ("",), f"unknown model {self.model!r}; allowed: {', '.join(MODELS)}")
        _require(self.optimizer in OPTIMIZERS, f"unknown optimizer {self.optimizer!r}; allowed: {', '.join(OPTIMIZERS)}")
        _require(self.schedule in SCHEDULES, f"unknown schedule {self.schedule!r}; allowed: {', '.join(SCHEDULES)}")
        for name in ("epochs", "batch_size"):
            value = getattr(self, name)
            _require(_is_int(value) and value > 0, f"{name} {value!r} is invalid; allowed: an integer > 0")
        _require(_is_int(self.seed) and self.seed >= 0, f"seed {self.seed!r} is invalid; allowed: an integer >= 0")
        for name in ("lr", "momentum", "weight_decay"):
            value = getattr(self, name)
            _require(_is_finite_number(value) and value >= 0, f"{name} {value!r} is invalid; allowed: a finite number >= 0")
        _require(self.lr > 0, f"lr {self.lr!r} is invalid; allowed: a finite number > 0")
        _require(
            _is_finite_number(self.label_noise) and 0 <= self.label_noise < 1,
            f"label noise rate {self.label_noise!r} is invalid; allowed: a number in [0, 1)",
        )
        _require(
            self.label_noise_kind in NOISE_KINDS,
            f"unknown label noise kind {self.label_noise_kind!r}; allowed: {', '.join(NOISE_KINDS)}",
        )
        _require(
            _is_finite_number(self.imbalance_ratio) and self.imbalance_ratio >= 1,
            f"imbalance ratio {self.imbalance_ratio!r} is invalid; allowed: a finite number >= 1",
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        _require(not unknown, f"unknown run config field(s) {unknown}; allowed: {', '.join(sorted(known))}")
        return cls(**data)

    @property
    def run_id(self) -> str:
        """Stable name of the run: a hash of the canonical JSON of the config."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class RunOutcome:
    """What a run produced: per-epoch history plus how it ended."""

    config: RunConfig
    history: dict[str, list] = field(default_factory=dict)
    status: str = "complete"  # or "diverged"
    diverged_epoch: int | None = None  # 1-based epoch whose loss or weights became non-finite
    wall_time_s: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"  # "bf16": forward passes under bfloat16 autocast (losses stay float32)
    stacked_runs: int = 1  # runs trained together in one stack (lossdemo.stacked); wall_time_s is a share


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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


def prepare_training_set(config: RunConfig, dataset: Dataset) -> TrainingSet:
    """Apply the config's imbalance and label noise to the training split (the test split stays clean)."""
    x, y = dataset.x_train, dataset.y_train
    # Label range and dtypes were checked when the Dataset was built (Dataset.__post_init__).
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
    return TrainingSet(x=x, y=y, flipped=flipped, class_counts=class_counts)


def _build_optimizer(config: RunConfig, params) -> torch.optim.Optimizer:
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
def flush_denormals():
    """Compute with float32 numbers below 1.2e-38 ("denormals") as zero on the CPU; off again afterwards.

    Vanishing gradients — MAE's on confidently wrong samples, the very effect the report is about —
    pass through denormals, which x86 cores process many times slower than normal numbers: an MAE
    epoch on mnist5k took 2.3x as long as with them flushed. A denormal lies far below the rounding
    unit of every weight, activation and sum it meets, so flushing leaves the recorded numbers as
    they were (whole 25-epoch runs compared bit for bit; ``tests/test_speed_paths.py`` checks a short one).
    """
    supported = torch.set_flush_denormal(True)  # False on CPUs without the SSE3 flags; nothing changes then
    try:
        yield
    finally:
        if supported:
            torch.set_flush_denormal(False)


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


def _learning_rate_factor(config: RunConfig, total_steps: int) -> Callable[[int], float]:
    if config.schedule == "constant":
        return lambda step: 1.0
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


def eval_batch_size(device: torch.device) -> int:
    return EVAL_BATCH_SIZE.get(device.type, EVAL_BATCH_SIZE_ACCELERATOR)


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, x: torch.Tensor, precision: str = "fp32") -> torch.Tensor:
    """Float32 logits for a whole split in eval mode, in a few chunks (no per-sample Python)."""
    model.eval()
    with autocast_for(x.device, precision):
        return torch.cat([model(chunk).float() for chunk in torch.split(x, eval_batch_size(x.device))])


def split_metric_values(logits: torch.Tensor, labels: torch.Tensor, loss_fn, num_classes: int):
    """``[loss, accuracy, ce, *per_class_accuracy]`` as one float32 tensor, plus per-sample correctness.

    Kept on the device: the caller copies all of an epoch's numbers to the host at once, so a GPU
    epoch waits for the host once instead of once per number.
    """
    predictions = logits.argmax(dim=1)
    correct = (predictions == labels).float()
    per_class_total = torch.bincount(labels, minlength=num_classes).clamp_min(1)
    per_class_correct = torch.bincount(labels, weights=correct, minlength=num_classes)
    scalars = torch.stack([loss_fn(logits, labels, validate=False).float(), correct.mean(),
                           torch.nn.functional.cross_entropy(logits, labels)])
    return torch.cat([scalars, per_class_correct / per_class_total]), correct


def epoch_metric_values(train_logits, test_logits, y_train, y_test, loss_fn, num_classes: int,
                        flipped_index=None, clean_index=None) -> torch.Tensor:
    """All numbers one epoch records, as one float32 device tensor (decoded by :func:`epoch_metrics`)."""
    train, train_correct = split_metric_values(train_logits, y_train, loss_fn, num_classes)
    test, _ = split_metric_values(test_logits, y_test, loss_fn, num_classes)
    parts = [train, test]
    if clean_index is not None:
        empty = torch.full((1,), math.nan, device=train.device)
        flipped_accuracy = train_correct[flipped_index].mean().reshape(1) if len(flipped_index) else empty
        parts += [flipped_accuracy, train_correct[clean_index].mean().reshape(1)]
    return torch.cat(parts)


def epoch_record_values(train_logits, test_logits, y_train, y_test, loss_fn, num_classes: int,
                        flipped_index, clean_index, params) -> torch.Tensor:
    """Everything an epoch records — metrics, the test set's reliability sums, whether the weights
    are finite — as one float32 device tensor, for one host copy (see :func:`decode_epoch_record`)."""
    values = epoch_metric_values(train_logits, test_logits, y_train, y_test, loss_fn, num_classes,
                                 flipped_index, clean_index)
    calibration = reliability_sums(test_logits, y_test)  # (3 * ECE_BINS,) for the test set's ECE
    return torch.cat([values, calibration, weights_finite(params)])


def epoch_record_width(num_classes: int, noisy: bool) -> int:
    """How many numbers :func:`epoch_record_values` returns."""
    return 2 * (3 + num_classes) + (2 if noisy else 0) + 3 * ECE_BINS + 1


def decode_epoch_record(values: list[float], num_classes: int, noisy: bool) -> tuple[dict, dict | None, bool]:
    """(the epoch's metrics, its reliability histogram as a dict or None, whether the weights are finite)."""
    calibration_width = 3 * ECE_BINS
    metrics = epoch_metrics(values[: -calibration_width - 1], num_classes, noisy=noisy)
    reliability = histogram_from_sums(values[-calibration_width - 1 : -1])
    metrics["test_ece"] = _finite_or_none(expected_calibration_error(reliability))
    return metrics, (reliability.to_dict() if metrics["test_ece"] is not None else None), bool(values[-1])


def epoch_metrics(values: list[float], num_classes: int, noisy: bool) -> dict:
    """The history entries of one epoch from :func:`epoch_metric_values`' numbers (on the host)."""
    width = 3 + num_classes
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
    if noisy:
        # Fitting the flipped labels is memorisation; the clean subset shows what is really learned.
        flipped_accuracy, clean_accuracy = values[2 * width : 2 * width + 2]
        metrics["train_accuracy_on_flipped"] = None if math.isnan(flipped_accuracy) else flipped_accuracy
        metrics["train_accuracy_on_clean"] = clean_accuracy
    return metrics


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def weights_finite(params) -> torch.Tensor:
    """1.0 if every parameter is finite, else 0.0, as a device scalar (no host sync)."""
    return torch.stack([torch.isfinite(p).all() for p in params]).all().float().reshape(1)


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
    flipped_index = clean_index = None
    if training_set.flipped is not None:  # indices, not masks: masked selection would sync every epoch
        flipped_index = training_set.flipped.nonzero().squeeze(1).to(torch_device)
        clean_index = (~training_set.flipped).nonzero().squeeze(1).to(torch_device)

    torch.manual_seed(config.seed)  # same seed -> same initial weights for every loss (paired runs)
    model = place_model(build_model(config.model, dataset.input_shape, dataset.num_classes), torch_device, memory_format)
    optimizer = _build_optimizer(config, model.parameters())
    n_train = len(y_train)
    # Drop a ragged last batch: batch norm cannot train on a batch of one, and equal-size batches keep steps comparable.
    steps_per_epoch = max(1, n_train // config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _learning_rate_factor(config, steps_per_epoch * config.epochs)
    )
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
                    logits = model(x_train[part])
                loss = loss_fn(logits, y_train[part], validate=False)  # labels checked once above
                if len(part) < len(batch):  # the batch mean, as a sum of the parts' weighted means
                    loss = loss * (len(part) / len(batch))
                loss.backward()
            optimizer.step()
            scheduler.step()

        values = epoch_record_values(predict_logits(model, x_train, precision), predict_logits(model, x_test, precision),
                                     y_train, y_test, loss_fn, dataset.num_classes, flipped_index, clean_index,
                                     model.parameters()).tolist()  # the epoch's one host sync
        metrics, reliability, weights_ok = decode_epoch_record(values, dataset.num_classes, clean_index is not None)
        for key, value in metrics.items():
            history.setdefault(key, []).append(value)
        # Not per epoch (15 bins x 3 numbers each would bloat every results file): the last epoch's wins.
        history["final_test_reliability"] = reliability
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if metrics["train_loss"] is None or not weights_ok:
            outcome.status, outcome.diverged_epoch = "diverged", epoch
            break
        if checkpoint_path and epoch < config.epochs:
            save_checkpoint(checkpoint_path, config.run_id, epoch, model, optimizer, scheduler, shuffle_generator,
                            history, time.perf_counter() - started)

    outcome.wall_time_s = time.perf_counter() - started
    return outcome
