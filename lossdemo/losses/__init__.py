"""Classification losses as pure functions of logits and int64 class indices, and as ``nn.Module``s.

Logits are (N, C) or (N, C, d1, ...) with targets (N,) or (N, d1, ...); ``ignore_index`` marks
targets that count for nothing. Every loss takes ``reduction`` in ``{"mean", "sum", "none"}``;
"mean" is always the plain mean over the targets that count, even with class weights, so losses
stay comparable across specs. Losses built on
the softmax run in float32 for half-precision logits (bf16 keeps ~3 significant digits, too few
for log-probabilities) and return float32; gradients still flow back to the half-precision logits.

    loss_fn = get_loss("focal:2")
    loss = loss_fn(logits, targets)               # validates inputs (one device sync)
    loss = loss_fn(logits, targets, validate=False)  # hot loop, after checking the dataset once

The functions live in :mod:`lossdemo.losses.functions` (softmax losses) and
:mod:`lossdemo.losses.multilabel` (sigmoid focal loss), the same losses as ``nn.Module``s in
:mod:`lossdemo.losses.modules`, and the table of every loss the experiments can name, with the
spec text that names one, in :mod:`lossdemo.losses.registry`.
"""

from .functions import (
    DEFAULT_CB_BETA,
    class_balanced_weights,
    cross_entropy_loss,
    focal_loss,
    generalized_cross_entropy_loss,
    l1_logits_loss,
    label_smoothing_loss,
    logit_adjusted_loss,
    mae_loss,
    nce_mae_loss,
    poly1_loss,
    symmetric_cross_entropy_loss,
)
from .inputs import ClassWeights, Reduction
from .modules import (
    ClassBalancedLoss,
    FocalLoss,
    GeneralizedCrossEntropyLoss,
    LabelSmoothingLoss,
    LogitAdjustedLoss,
    MAELoss,
    NCEMAELoss,
    Poly1Loss,
    SigmoidFocalLoss,
    SymmetricCrossEntropyLoss,
)
from .multilabel import sigmoid_focal_loss
from .registry import (
    KINDS_BY_NAME,
    LOSS_COLOURS,
    LOSS_KINDS,
    LOSS_SPEC_FORMS,
    LossKind,
    LossParameter,
    LossSpec,
    get_loss,
    loss_spec_forms,
    loss_title,
    parse_loss_spec,
    register_loss,
)

__all__ = [
    "ClassBalancedLoss", "FocalLoss", "GeneralizedCrossEntropyLoss", "LabelSmoothingLoss", "LogitAdjustedLoss",
    "MAELoss", "NCEMAELoss", "Poly1Loss", "SigmoidFocalLoss", "SymmetricCrossEntropyLoss", "poly1_loss",
    "sigmoid_focal_loss", "symmetric_cross_entropy_loss",
    "DEFAULT_CB_BETA", "KINDS_BY_NAME", "LOSS_COLOURS", "LOSS_KINDS", "LOSS_SPEC_FORMS", "ClassWeights", "LossKind",
    "LossParameter", "LossSpec", "Reduction", "class_balanced_weights", "cross_entropy_loss", "focal_loss",
    "generalized_cross_entropy_loss", "get_loss", "l1_logits_loss", "label_smoothing_loss", "logit_adjusted_loss",
    "loss_spec_forms", "loss_title", "mae_loss", "nce_mae_loss", "parse_loss_spec", "register_loss",
]
