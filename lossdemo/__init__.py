"""lossdemo: how the choice of classification loss shapes training, measured and reproducible.

What a user imports lives here (``__all__``); ``from lossdemo import focal_loss, RunConfig, train_run``.
The names are loaded on first use, so ``import lossdemo`` stays cheap (the command line checks its
flags before torch is imported). Stages, each a small module passing plain data to the next:
``losses`` → ``data`` (+ ``corruption``) → ``models`` → ``train`` (over an ``engines`` engine) →
``results`` (JSON) → ``report`` → ``reproduce`` (the command line).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    **{name: "lossdemo.losses" for name in (
        "mae_loss", "l1_logits_loss", "cross_entropy_loss", "focal_loss", "label_smoothing_loss",
        "generalized_cross_entropy_loss", "nce_mae_loss", "logit_adjusted_loss", "class_balanced_weights",
        "get_loss", "parse_loss_spec", "LossSpec", "LOSS_SPEC_FORMS", "LossKind", "LossParameter",
        "register_loss", "poly1_loss", "symmetric_cross_entropy_loss", "sigmoid_focal_loss",
        "MAELoss", "FocalLoss", "ClassBalancedLoss", "LabelSmoothingLoss", "GeneralizedCrossEntropyLoss",
        "NCEMAELoss", "LogitAdjustedLoss", "SymmetricCrossEntropyLoss", "Poly1Loss", "SigmoidFocalLoss")},
    **{name: "lossdemo.data" for name in ("Dataset", "load_dataset", "DATASETS")},
    **{name: "lossdemo.run_config" for name in ("RunConfig", "RunOutcome", "RunStatus")},
    **{name: "lossdemo.train" for name in ("train_run", "train_runs")},
    **{name: "lossdemo.results" for name in ("save_run", "load_run", "load_runs")},
    "ENGINES": "lossdemo.engines",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lossdemo' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
