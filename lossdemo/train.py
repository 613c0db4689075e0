"""Train one network with one loss and record what every epoch looks like.

A run is fully described by a frozen :class:`RunConfig`; :func:`train_run` returns a
:class:`RunOutcome` holding plain per-epoch numbers, which ``lossdemo.results`` stores as JSON.

The recipe is the same for every loss, so that only the loss differs between runs:

* **SGD, momentum 0.9, lr 0.1** — plain SGD exposes how much gradient each loss really delivers.
  Adam rescales every step by a running gradient norm, which partly hides a loss whose gradients
  are small (in a prototype on mnist5k it lifted MAE to within a point of CE), so it would blur the
  very difference the report is about. Adam is still available for the ``mae-anatomy`` experiment.
* **weight decay 5e-4** — the usual value for small CNNs trained with SGD; it keeps logits bounded.
* **batch 128** — small enough for ~30 steps per epoch on 4,000 samples, large enough for batch norm.
* **cosine decay of the learning rate to 0 over the run, per step** — it removes the end-of-run noise
  of a constant rate, so "final accuracy" is a stable number to compare between seeds.
* **25 epochs** — the length of the report's runs.

Every epoch the model is evaluated in eval mode on the *full* train and test sets: the run's own
loss, accuracy, cross-entropy (a yardstick shared by all losses) and per-class test accuracy.
"""

from __future__ import annotations

import dataclasses
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
from .models import MODELS, build_model, default_model_for

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "constant")
DEVICES = ("auto", "cpu", "cuda", "mps")
EVAL_BATCH_SIZE = 2048  # evaluation needs no gradients, so larger chunks just mean fewer kernel launches
# Corruptions draw from their own stream, so changing them never changes init or batch order.
_CORRUPTION_SEED_OFFSET = 1_000_003


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a run's numbers (on CPU, bit for bit)."""

    dataset: str = "mnist1d"
    model: str = ""  # "" = the default model for the dataset (see lossdemo.models)
    loss: str = "ce"
    optimizer: str = "sgd"
    lr: float = 0.1
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
    for split, labels in (("train", y), ("test", dataset.y_test)):
        low, high = (int(value) for value in torch.aminmax(labels))
        if low < 0 or high >= dataset.num_classes:
            bad = low if low < 0 else high
            raise ValueError(f"{split} labels contain {bad}; allowed: 0..{dataset.num_classes - 1} for {dataset.num_classes} classes")
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


def _build_optimizer(config: RunConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def _learning_rate_factor(config: RunConfig, total_steps: int) -> Callable[[int], float]:
    if config.schedule == "constant":
        return lambda step: 1.0
    return lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps))


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Logits for a whole split in eval mode, in a few large chunks (no per-sample Python)."""
    model.eval()
    return torch.cat([model(chunk).float() for chunk in torch.split(x, EVAL_BATCH_SIZE)])


def _split_metrics(logits: torch.Tensor, labels: torch.Tensor, loss_fn, num_classes: int) -> dict:
    predictions = logits.argmax(dim=1)
    correct = (predictions == labels).float()
    per_class_total = torch.bincount(labels, minlength=num_classes).clamp_min(1)
    per_class_correct = torch.bincount(labels, weights=correct, minlength=num_classes)
    return {
        "loss": float(loss_fn(logits, labels)),
        "accuracy": float(correct.mean()),
        "ce": float(torch.nn.functional.cross_entropy(logits, labels)),
        "per_class_accuracy": (per_class_correct / per_class_total).tolist(),
        "correct": correct,
    }


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _weights_finite(model: torch.nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def train_run(
    config: RunConfig,
    dataset: Dataset | None = None,
    device: str = "cpu",
    on_epoch: Callable[[int, dict], None] | None = None,
    data_dir: str | os.PathLike | None = None,
    checkpoint_path=None,
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

    Returns:
        The outcome; ``status`` is ``"diverged"`` (with ``diverged_epoch``) when the loss or the
        weights became non-finite, in which case training stopped at that epoch.
    """
    started = time.perf_counter()
    torch_device = resolve_device(device)
    if dataset is None:
        dataset = load_dataset(config.dataset, data_dir=data_dir)
    elif dataset.name != config.dataset:
        raise ValueError(f"dataset {dataset.name!r} does not match the config's dataset {config.dataset!r}")

    training_set = prepare_training_set(config, dataset)
    loss_fn = get_loss(config.loss, class_counts=training_set.class_counts)
    x_train, y_train = training_set.x.to(torch_device), training_set.y.to(torch_device)
    x_test, y_test = dataset.x_test.to(torch_device), dataset.y_test.to(torch_device)
    flipped = training_set.flipped.to(torch_device) if training_set.flipped is not None else None

    torch.manual_seed(config.seed)  # same seed -> same initial weights for every loss (paired runs)
    model = build_model(config.model, dataset.input_shape, dataset.num_classes).to(torch_device)
    optimizer = _build_optimizer(config, model)
    n_train = len(y_train)
    # Drop a ragged last batch: batch norm cannot train on a batch of one, and equal-size batches keep steps comparable.
    steps_per_epoch = max(1, n_train // config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, _learning_rate_factor(config, steps_per_epoch * config.epochs)
    )
    shuffle_generator = torch.Generator().manual_seed(config.seed)  # batch order: same for every loss

    outcome = RunOutcome(config=config, device=str(torch_device))
    history = outcome.history
    resumed = restore_checkpoint(checkpoint_path, config.run_id, config.epochs, model, optimizer, scheduler,
                                 shuffle_generator, history) if checkpoint_path else None
    started -= resumed.wall_time_s if resumed else 0.0
    for epoch in range(resumed.first_epoch if resumed else 1, config.epochs + 1):
        model.train()
        order = torch.randperm(n_train, generator=shuffle_generator).to(torch_device)
        for step in range(steps_per_epoch):
            batch = order[step * config.batch_size : (step + 1) * config.batch_size]
            loss = loss_fn(model(x_train[batch]), y_train[batch], validate=False)  # labels checked once above
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()

        train = _split_metrics(predict_logits(model, x_train), y_train, loss_fn, dataset.num_classes)
        test = _split_metrics(predict_logits(model, x_test), y_test, loss_fn, dataset.num_classes)
        metrics = {
            "train_loss": _finite_or_none(train["loss"]),
            "test_loss": _finite_or_none(test["loss"]),
            "train_accuracy": train["accuracy"],
            "test_accuracy": test["accuracy"],
            "train_ce": _finite_or_none(train["ce"]),
            "test_ce": _finite_or_none(test["ce"]),
            "test_per_class_accuracy": test["per_class_accuracy"],
        }
        if flipped is not None:
            # Fitting the flipped labels is memorisation; the clean subset shows what is really learned.
            metrics["train_accuracy_on_flipped"] = float(train["correct"][flipped].mean()) if flipped.any() else None
            metrics["train_accuracy_on_clean"] = float(train["correct"][~flipped].mean())
        for key, value in metrics.items():
            history.setdefault(key, []).append(value)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if metrics["train_loss"] is None or not _weights_finite(model):
            outcome.status, outcome.diverged_epoch = "diverged", epoch
            break
        if checkpoint_path and epoch < config.epochs:
            save_checkpoint(checkpoint_path, config.run_id, epoch, model, optimizer, scheduler, shuffle_generator,
                            history, time.perf_counter() - started)

    outcome.wall_time_s = time.perf_counter() - started
    return outcome
