"""The losses as ``nn.Module``s, for a training loop of your own: ``criterion = FocalLoss(gamma=2)``.

Each class holds its parameters and calls its function in :mod:`lossdemo.losses.functions` (or
:mod:`~lossdemo.losses.multilabel`), so module and function compute the same numbers. Parameters
are checked when the module is built, so a bad value fails at construction, not at the first step.

Every softmax loss takes (N, C) or (N, C, d1, ...) logits with (N,) or (N, d1, ...) targets, and
these keyword options besides its own parameters:

* ``reduction`` — "mean" (over the targets that count), "sum", or "none";
* ``ignore_index`` — a target value that counts for nothing; None (the default) counts every
  target, unlike ``nn.CrossEntropyLoss``, whose default ignores -100;
* ``validate`` — check the targets on every call (one device sync); False in a hot loop.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from . import functions
from .functions import DEFAULT_CB_BETA, SCE_LOG_ZERO
from .inputs import check_class_counts, check_parameter, check_reduction
from .multilabel import sigmoid_focal_loss


class _SoftmaxLoss(nn.Module):
    """What every softmax loss module shares: its reduction, ``ignore_index`` and input checks."""

    def __init__(self, reduction: str = "mean", ignore_index: int | None = None, validate: bool = True):
        super().__init__()
        check_reduction(reduction)
        if ignore_index is not None and not (isinstance(ignore_index, numbers.Integral) and not isinstance(ignore_index, bool)):
            raise ValueError(f"ignore_index {ignore_index!r} is invalid; allowed: an integer or None")
        self.reduction, self.validate = reduction, validate
        self.ignore_index = None if ignore_index is None else int(ignore_index)

    def _options(self) -> dict:
        return {"reduction": self.reduction, "validate": self.validate, "ignore_index": self.ignore_index}

    def _parameters_repr(self) -> str:
        return ""

    def extra_repr(self) -> str:
        own = self._parameters_repr()
        return (own + ", " if own else "") + f"reduction={self.reduction!r}, ignore_index={self.ignore_index!r}"


class MAELoss(_SoftmaxLoss):
    """MAE between the softmax and the one-hot target, 2 (1 − p_y) (Ghosh et al., AAAI 2017):
    :func:`~lossdemo.losses.functions.mae_loss`."""

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return functions.mae_loss(logits, targets, **self._options())


class FocalLoss(_SoftmaxLoss):
    """Softmax focal loss −α_y (1 − p_y)^γ log p_y (Lin et al., ICCV 2017), finite at γ < 1:
    :func:`~lossdemo.losses.functions.focal_loss`. ``alpha``: None, or one weight per class."""

    def __init__(self, gamma: float = 2.0, alpha: Sequence[float] | Tensor | None = None, **options):
        super().__init__(**options)
        check_parameter("focal gamma", gamma, low=0.0, high=math.inf)
        self.gamma = float(gamma)
        self.register_buffer("alpha", None if alpha is None else _class_weight_vector(alpha))

    def _parameters_repr(self) -> str:
        alpha = None if self.alpha is None else [round(value, 4) for value in self.alpha.tolist()]
        return f"gamma={self.gamma:g}, alpha={alpha}"

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return functions.focal_loss(logits, targets, self.gamma, self.alpha, **self._options())


def _class_weight_vector(alpha) -> Tensor:
    """``alpha`` as a 1-D float64 tensor of finite weights >= 0 (its length is checked at the first call)."""
    try:
        weights = torch.as_tensor(alpha, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        weights = None
    if weights is None or weights.dim() != 1 or not bool(torch.all(torch.isfinite(weights) & (weights >= 0))):
        shown = alpha.tolist() if hasattr(alpha, "tolist") else alpha
        raise ValueError(f"alpha {shown!r} is invalid; allowed: None, or one finite weight >= 0 per class "
                         f"(a single weight for the positive label is SigmoidFocalLoss's alpha)")
    return weights


class ClassBalancedLoss(FocalLoss):
    """Focal loss (γ = 0: cross-entropy) weighted by the effective number of samples (Cui et al.,
    CVPR 2019): :func:`~lossdemo.losses.functions.class_balanced_weights` of ``class_counts``."""

    def __init__(self, class_counts: Sequence[int], beta: float = DEFAULT_CB_BETA, gamma: float = 0.0, **options):
        check_parameter("class-balanced beta", beta, low=0.0, high=1.0, high_open=True)
        counts = check_class_counts(class_counts)
        super().__init__(gamma=gamma, alpha=functions.class_balanced_weights(counts, float(beta)), **options)
        self.beta = float(beta)

    def _parameters_repr(self) -> str:
        return f"beta={self.beta:g}, " + super()._parameters_repr()


class LabelSmoothingLoss(_SoftmaxLoss):
    """Cross-entropy against a target with ε spread over the classes (Szegedy et al. 2016):
    :func:`~lossdemo.losses.functions.label_smoothing_loss`."""

    def __init__(self, epsilon: float = 0.1, **options):
        super().__init__(**options)
        check_parameter("label smoothing epsilon", epsilon, low=0.0, high=1.0, high_open=True)
        self.epsilon = float(epsilon)

    def _parameters_repr(self) -> str:
        return f"epsilon={self.epsilon:g}"

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return functions.label_smoothing_loss(logits, targets, self.epsilon, **self._options())


class GeneralizedCrossEntropyLoss(_SoftmaxLoss):
    """Generalized cross-entropy (1 − p_y^q) / q (Zhang & Sabuncu, NeurIPS 2018):
    :func:`~lossdemo.losses.functions.generalized_cross_entropy_loss`."""

    def __init__(self, q: float = 0.7, **options):
        super().__init__(**options)
        check_parameter("generalized cross-entropy q", q, low=0.0, high=1.0, low_open=True)
        self.q = float(q)

    def _parameters_repr(self) -> str:
        return f"q={self.q:g}"

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return functions.generalized_cross_entropy_loss(logits, targets, self.q, **self._options())


class NCEMAELoss(_SoftmaxLoss):
    """α·NCE + β·(1 − p_y), the active-passive loss (Ma et al., ICML 2020):
    :func:`~lossdemo.losses.functions.nce_mae_loss`."""

    def __init__(self, alpha: float = functions.NCE_MAE_ALPHA, beta: float = functions.NCE_MAE_BETA, **options):
        super().__init__(**options)
        for name, value in (("NCE weight alpha", alpha), ("MAE weight beta", beta)):
            check_parameter(name, value, low=0.0, high=math.inf)
        self.alpha, self.beta = float(alpha), float(beta)

    def _parameters_repr(self) -> str:
        return f"alpha={self.alpha:g}, beta={self.beta:g}"

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return functions.nce_mae_loss(logits, targets, self.alpha, self.beta, **self._options())


class LogitAdjustedLoss(_SoftmaxLoss):
    """Cross-entropy of the logits shifted by τ log(prior) while training (Menon et al., ICLR 2021):
    :func:`~lossdemo.losses.functions.logit_adjusted_loss`."""

    def __init__(self, class_counts: Sequence[int], tau: float = 1.0, **options):
        super().__init__(**options)
        check_parameter("logit adjustment tau", tau, low=0.0, high=math.inf)
        self.register_buffer("class_counts", torch.tensor(check_class_counts(class_counts), dtype=torch.float64))
        self.tau = float(tau)

    def _parameters_repr(self) -> str:
        return f"tau={self.tau:g}, classes={len(self.class_counts)}"

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return functions.logit_adjusted_loss(logits, targets, self.class_counts.tolist(), self.tau, **self._options())


class SymmetricCrossEntropyLoss(_SoftmaxLoss):
    """α·CE + β·reverse CE (Wang et al., ICCV 2019):
    :func:`~lossdemo.losses.functions.symmetric_cross_entropy_loss`."""

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, log_zero: float = SCE_LOG_ZERO, **options):
        super().__init__(**options)
        for name, value in (("symmetric cross-entropy alpha", alpha), ("symmetric cross-entropy beta", beta)):
            check_parameter(name, value, low=0.0, high=math.inf)
        check_parameter("symmetric cross-entropy log_zero", log_zero, low=-math.inf, high=0.0, high_open=True)
        self.alpha, self.beta, self.log_zero = float(alpha), float(beta), float(log_zero)

    def _parameters_repr(self) -> str:
        return f"alpha={self.alpha:g}, beta={self.beta:g}, log_zero={self.log_zero:g}"

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return functions.symmetric_cross_entropy_loss(logits, targets, self.alpha, self.beta, self.log_zero,
                                                      **self._options())


class Poly1Loss(_SoftmaxLoss):
    """Cross-entropy + ε (1 − p_y) (Leng et al., ICLR 2022): :func:`~lossdemo.losses.functions.poly1_loss`."""

    def __init__(self, epsilon: float = 1.0, **options):
        super().__init__(**options)
        check_parameter("poly-1 epsilon", epsilon, low=-1.0, high=math.inf)
        self.epsilon = float(epsilon)

    def _parameters_repr(self) -> str:
        return f"epsilon={self.epsilon:g}"

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return functions.poly1_loss(logits, targets, self.epsilon, **self._options())


class SigmoidFocalLoss(nn.Module):
    """Focal loss over independent sigmoids, for multi-label targets (Lin et al., ICCV 2017):
    :func:`~lossdemo.losses.multilabel.sigmoid_focal_loss`."""

    def __init__(self, gamma: float = 2.0, alpha: float | None = 0.25, reduction: str = "mean", validate: bool = True):
        super().__init__()
        check_reduction(reduction)
        check_parameter("sigmoid focal gamma", gamma, low=0.0, high=math.inf)
        if alpha is not None:
            check_parameter("sigmoid focal alpha", alpha, low=0.0, high=1.0)
        self.gamma, self.alpha = float(gamma), None if alpha is None else float(alpha)
        self.reduction, self.validate = reduction, validate

    def extra_repr(self) -> str:
        return f"gamma={self.gamma:g}, alpha={self.alpha}, reduction={self.reduction!r}"

    def forward(self, logits: Tensor, targets: Tensor) -> Tensor:
        return sigmoid_focal_loss(logits, targets, self.gamma, self.alpha, self.reduction, validate=self.validate)
