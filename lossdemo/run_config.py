"""A run's identity: the frozen config that determines its numbers, and what training returns.

Kept apart from the training loop so that the results store, the runner and the report package can
all read a run without importing training code. ``RunConfig.run_id`` hashes the config's canonical
JSON: it names the results file, lets experiments share runs and makes a stored run resumable.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from dataclasses import dataclass, field
from enum import Enum

from .corruption import NOISE_KINDS
from .losses import parse_loss_spec
from .models import MODELS, default_model_for

OPTIMIZERS = ("sgd", "adam")
SCHEDULES = ("cosine", "constant")


class RunStatus(str, Enum):
    """How a run ended, or (the last two) why this process did not train it.

    A ``str`` enum, so stored JSON and comparisons with plain strings keep working.
    """

    COMPLETE = "complete"
    DIVERGED = "diverged"  # the loss or the weights became non-finite; training stopped there
    LOCKED = "locked"  # another process holds the run's lock (runner only; never stored)
    STORED_ELSEWHERE = "stored-elsewhere"  # another process stored it meanwhile (runner only)

    def __str__(self) -> str:
        return self.value


STORED_STATUSES = (RunStatus.COMPLETE.value, RunStatus.DIVERGED.value)
# Fields added to RunConfig after runs were published, with the value every earlier run had.
_ADDED_FIELDS = {"validation_fraction": 0.0, "train_metrics_samples": 0, "grad_clip_norm": 0.0}


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
    # Share of each class of the training split held out for validation (lossdemo.splits). 0: none,
    # as in the runs stored before validation splits existed.
    validation_fraction: float = 0.0
    # How many samples of the training split the per-epoch train metrics read: 0 for all of them;
    # n > 0 for a fixed random subset of n (drawn once per run from its own seeded stream, so it never
    # changes what the run trains on), or all when the split is smaller. The memorisation fits under
    # label noise read the same subset.
    train_metrics_samples: int = 0
    # Before each update, rescale the run's gradient so that its norm over all weights is at most this
    # (torch.nn.utils.clip_grad_norm_); 0: no clipping, the recipe of every run but NCE+MAE's
    # (lossdemo.protocol.GRAD_CLIP_NORM).
    grad_clip_norm: float = 0.0

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
        _require(_is_int(self.train_metrics_samples) and self.train_metrics_samples >= 0,
                 f"train_metrics_samples {self.train_metrics_samples!r} is invalid; allowed: an integer >= 0 (0: all)")
        _require(_is_int(self.seed) and self.seed >= 0, f"seed {self.seed!r} is invalid; allowed: an integer >= 0")
        for name in ("lr", "momentum", "weight_decay", "grad_clip_norm"):
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
        _require(
            _is_finite_number(self.validation_fraction) and 0 <= self.validation_fraction < 0.5,
            f"validation fraction {self.validation_fraction!r} is invalid; allowed: a number in [0, 0.5)",
        )

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        _require(not unknown, f"unknown run config field(s) {unknown}; allowed: {', '.join(sorted(known))}")
        return cls(**data)

    @functools.cached_property
    def run_id(self) -> str:
        """Stable name of the run: a hash of the canonical JSON of the config.

        A field added after runs were stored is left out of the hash while it has the value those
        runs implicitly had (:data:`_ADDED_FIELDS`), so their ids, and file names, stay valid.
        """
        fields = {name: value for name, value in self.to_dict().items()
                  if not (name in _ADDED_FIELDS and value == _ADDED_FIELDS[name])}
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass
class RunOutcome:
    """What a run produced: per-epoch history plus how it ended."""

    config: RunConfig
    history: dict[str, list] = field(default_factory=dict)
    status: RunStatus = RunStatus.COMPLETE
    diverged_epoch: int | None = None  # 1-based epoch whose loss or weights became non-finite
    wall_time_s: float = 0.0
    device: str = "cpu"
    precision: str = "fp32"  # "bf16": forward passes under bfloat16 autocast (losses stay float32)
    stacked_runs: int = 1  # runs trained together in one stack (lossdemo.engines.stacks); wall_time_s is a share
    # "modules": the nn.Module layers (fast engine); "cnn1d-gemm": lossdemo.engines.cnn1d_gemm's matrix
    # products; "reference": the reference engine's plain modules and torch.optim.
    compute_path: str = "modules"


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
