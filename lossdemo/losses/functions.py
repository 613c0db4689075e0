"""The softmax losses as pure functions of logits and class indices, in plain PyTorch.

Logits are (N, C) or (N, C, d1, ...), targets (N,) or (N, d1, ...), and ``ignore_index`` marks
targets that count for nothing (:mod:`lossdemo.losses.inputs`). Every loss takes ``reduction`` in
``{"mean", "sum", "none"}``; "mean" is always the plain mean over the targets that count, even with
class weights, so losses stay comparable across specs. Losses built on
the softmax run in float32 for half-precision logits (bf16 keeps ~3 significant digits, too few
for log-probabilities) and return float32; gradients still flow back to the half-precision logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .inputs import (
    ClassWeights,
    Reduction,
    as_rows,
    at_least_float32,
    check_parameter,
    check_reduction,
    class_weights,
    reduced,
)

# Cui et al. (2019)'s β of the effective number of samples when a cb-* spec names none.
DEFAULT_CB_BETA = 0.999


def mae_loss(logits: Tensor, targets: Tensor, reduction: Reduction = "mean", *,
             validate: bool = True, ignore_index: int | None = None) -> Tensor:
    """Mean absolute error between the softmax and the one-hot target.

    ℓ = Σ_k |p_k − 1[k=y]| = 2 (1 − p_y), p = softmax(z), computed as −2·expm1(log p_y).
    Gradient: ∂ℓ/∂z_k = 2 p_y (p_k − 1[k=y]), i.e. weight 2 p_y (1 − p_y) on the true logit.
    That weight vanishes as p_y → 0: robust to mislabelled examples, but also slow to fix
    examples it gets badly wrong (Ghosh, Kumar & Sastry, "Robust loss functions under label
    noise for deep neural networks", AAAI 2017).

    Args:
        logits: Unnormalised scores, shape [N, C] or [N, C, d1, ...] (the class axis second).
        targets: Class indices, int64, shape [N] or [N, d1, ...].
        reduction: "mean" (over the targets that count), "sum", or "none" (the targets\' shape).
        validate: Check shapes, dtypes and target range (one device sync); False in hot loops.
        ignore_index: A target value that counts for nothing (unlabelled pixels, padding), as in
            ``F.cross_entropy``; None: every target is a class.

    Returns:
        The reduced loss (float32 for half-precision logits).
    """
    check_reduction(reduction)
    rows = as_rows(logits, targets, ignore_index, validate)
    logits, targets = rows.logits, rows.targets
    log_probs = F.log_softmax(at_least_float32(logits), dim=1)  # (N, C)
    log_p_true = log_probs.gather(1, targets[:, None]).squeeze(1)  # (N,)
    return reduced(-2.0 * torch.expm1(log_p_true), reduction, rows)


def l1_logits_loss(logits: Tensor, targets: Tensor, reduction: Reduction = "mean", *,
                   validate: bool = True, ignore_index: int | None = None) -> Tensor:
    """Naive L1 on raw logits: ℓ = (1/C) Σ_k |z_k − 1[k=y]|, i.e. MAE without the softmax.

    With reduction "mean" this is bit-identical to ``nn.L1Loss()(logits, one_hot)``, the
    mistake it demonstrates. Gradient: ∂ℓ/∂z_k = sign(z_k − 1[k=y]) / C, a fixed-size push
    toward the one-hot vector that ignores how the classes compare (contrast ``mae_loss``).
    Computed in the logits' own dtype, like nn.L1Loss. Args and Returns as in ``mae_loss``.
    """
    check_reduction(reduction)
    rows = as_rows(logits, targets, ignore_index, validate)
    logits, targets = rows.logits, rows.targets
    one_hot = F.one_hot(targets, logits.shape[1]).to(logits.dtype)
    if reduction == "mean" and rows.plain:  # the mean over all N·C elements is the batch mean of class means
        return F.l1_loss(logits, one_hot, reduction="mean")
    return reduced((logits - one_hot).abs().mean(dim=1), reduction, rows)


def cross_entropy_loss(logits: Tensor, targets: Tensor, alpha: ClassWeights = None,
                       reduction: Reduction = "mean", *, validate: bool = True, ignore_index: int | None = None) -> Tensor:
    """Softmax cross-entropy with optional per-class weights.

    ℓ = −α_y log p_y, p = softmax(z); gradient ∂ℓ/∂z_k = α_y (p_k − 1[k=y]). Without ``alpha``
    this equals ``F.cross_entropy``. With ``alpha``, "mean" is the plain batch mean Σ_i ℓ_i / N,
    NOT torch's weighted mean Σ_i ℓ_i / Σ_i α_{y_i}, so the loss scale does not depend on which
    classes happen to be in the batch.

    Args:
        logits: Unnormalised scores, shape [N, C] or [N, C, d1, ...] (the class axis second).
        targets: Class indices, int64, shape [N] or [N, d1, ...].
        alpha: None, or one finite non-negative weight per class (length C).
        reduction: "mean" (over the targets that count), "sum", or "none" (the targets\' shape).
        validate: Check inputs and alpha values (device syncs); False in hot loops.
        ignore_index: A target value that counts for nothing (unlabelled pixels, padding), as in
            ``F.cross_entropy``; None: every target is a class.

    Returns:
        The reduced loss (float32 for half-precision logits).
    """
    check_reduction(reduction)
    rows = as_rows(logits, targets, ignore_index, validate)
    logits, targets = rows.logits, rows.targets
    logits = at_least_float32(logits)
    weights = class_weights(alpha, logits, validate)
    if weights is None and rows.plain:
        return F.cross_entropy(logits, targets, reduction=reduction)
    per_sample = F.cross_entropy(logits, targets, reduction="none")
    if weights is not None:
        per_sample = per_sample * weights[targets]
    return reduced(per_sample, reduction, rows)


def focal_loss(logits: Tensor, targets: Tensor, gamma: float = 2.0, alpha: ClassWeights = None,
               reduction: Reduction = "mean", *, validate: bool = True, ignore_index: int | None = None) -> Tensor:
    """Softmax focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017).

    ℓ = −α_y (1 − p_y)^γ log p_y. With w = (1 − p_y)^γ the gradient is
    ∂ℓ/∂z_k = α_y w [(p_k − 1[k=y]) − γ log p_y · ∂log(1 − p_y)/∂z_k], where
    ∂log(1 − p_y)/∂z_k = p_k / (1 − p_y) − p_k for k ≠ y and −p_y for k = y.
    All of it is computed in log space: log(1 − p_y) = logsumexp_{k≠y} log p_k, finite for
    finite logits, and w = exp(γ log(1 − p_y)). The textbook ``(1 - p) ** gamma`` gives NaN
    gradients for γ < 1 once 1 − p_y rounds to 0 (a logit margin of ~17 in float32), because
    x^γ has an infinite slope at 0. γ = 0 calls ``cross_entropy_loss``, so it is exactly CE.
    With ``alpha``, "mean" is still the plain batch mean; libraries disagree here (torchvision's
    ``sigmoid_focal_loss`` averages over all N·C elements, others divide by Σ_i α_{y_i}).

    Args:
        logits: Unnormalised scores, shape [N, C] or [N, C, d1, ...] (the class axis second).
        targets: Class indices, int64, shape [N] or [N, d1, ...].
        gamma: Focusing parameter γ, finite and >= 0; larger γ down-weights easy examples more.
        alpha: None, or one finite non-negative weight per class (length C).
        reduction: "mean" (over the targets that count), "sum", or "none" (the targets\' shape).
        validate: Check inputs and alpha values (device syncs); False in hot loops.
        ignore_index: A target value that counts for nothing (unlabelled pixels, padding), as in
            ``F.cross_entropy``; None: every target is a class.

    Returns:
        The reduced loss (float32 for half-precision logits).
    """
    check_reduction(reduction)
    if not (math.isfinite(gamma) and gamma >= 0):
        raise ValueError(f"focal gamma must be finite and >= 0; got {gamma!r}")
    if gamma == 0:
        return cross_entropy_loss(logits, targets, alpha, reduction, validate=validate, ignore_index=ignore_index)
    rows = as_rows(logits, targets, ignore_index, validate)
    logits, targets = rows.logits, rows.targets
    log_probs = F.log_softmax(at_least_float32(logits), dim=1)  # (N, C)
    is_true_class = F.one_hot(targets, log_probs.shape[1]).bool()  # (N, C)
    log_p_true = log_probs.gather(1, targets[:, None]).squeeze(1)  # (N,)
    log_p_others = log_probs.masked_fill(is_true_class, -math.inf)  # C >= 2, so rows stay finite
    log_p_rest = torch.logsumexp(log_p_others, dim=1)  # log(1 - p_y), (N,)
    per_sample = -torch.exp(gamma * log_p_rest) * log_p_true
    weights = class_weights(alpha, log_probs, validate)
    if weights is not None:
        per_sample = per_sample * weights[targets]
    return reduced(per_sample, reduction, rows)


def label_smoothing_loss(logits: Tensor, targets: Tensor, epsilon: float = 0.1, reduction: Reduction = "mean", *,
                         validate: bool = True, ignore_index: int | None = None) -> Tensor:
    """Cross-entropy against a smoothed target (Szegedy et al. 2016; Müller, Kornblith & Hinton 2019).

    The target puts 1 − ε on the true class and ε/C on every class: ℓ = −Σ_k q_k log p_k with
    q_k = (1 − ε) 1[k=y] + ε/C, i.e. (1 − ε)·CE + ε·(mean over classes of −log p_k).
    Gradient: ∂ℓ/∂z_k = p_k − q_k, so the push on the true logit stops at p_y = 1 − ε + ε/C: the
    loss no longer rewards certainty, which tempers over-confidence. ε = 0 is cross-entropy.

    Args:
        logits: Unnormalised scores, shape [N, C] or [N, C, d1, ...] (the class axis second).
        targets: Class indices, int64, shape [N] or [N, d1, ...].
        reduction: "mean" (over the targets that count), "sum", or "none" (the targets\' shape).
        validate: Check inputs (one device sync); False in hot loops.
        ignore_index: A target value that counts for nothing (unlabelled pixels, padding), as in
            ``F.cross_entropy``; None: every target is a class.
        epsilon: Smoothing ε in [0, 1).

    Returns:
        The reduced loss (float32 for half-precision logits).
    """
    check_reduction(reduction)
    check_parameter("label smoothing epsilon", epsilon, low=0.0, high=1.0, high_open=True)
    rows = as_rows(logits, targets, ignore_index, validate)
    logits, targets = rows.logits, rows.targets
    log_probs = F.log_softmax(at_least_float32(logits), dim=1)  # (N, C)
    true_term = -log_probs.gather(1, targets[:, None]).squeeze(1)  # (N,)
    uniform_term = -log_probs.mean(dim=1)  # (N,)
    return reduced((1 - epsilon) * true_term + epsilon * uniform_term, reduction, rows)


def generalized_cross_entropy_loss(logits: Tensor, targets: Tensor, q: float = 0.7, reduction: Reduction = "mean",
                                   *, validate: bool = True, ignore_index: int | None = None) -> Tensor:
    """Generalized cross-entropy (Zhang & Sabuncu, "Generalized Cross Entropy Loss for Training Deep
    Neural Networks with Noisy Labels", NeurIPS 2018).

    ℓ = (1 − p_y^q) / q, computed as −expm1(q log p_y) / q. Gradient: ∂ℓ/∂z_k = p_y^q (p_k − 1[k=y]),
    cross-entropy's gradient weighted by p_y^q: as q → 0 it is cross-entropy, at q = 1 it is
    1 − p_y = MAE / 2. In between it keeps most of CE's push on examples it gets roughly right and
    damps it on the ones it gets badly wrong (often the mislabelled ones).

    Args:
        logits: Unnormalised scores, shape [N, C] or [N, C, d1, ...] (the class axis second).
        targets: Class indices, int64, shape [N] or [N, d1, ...].
        reduction: "mean" (over the targets that count), "sum", or "none" (the targets\' shape).
        validate: Check inputs (one device sync); False in hot loops.
        ignore_index: A target value that counts for nothing (unlabelled pixels, padding), as in
            ``F.cross_entropy``; None: every target is a class.
        q: In (0, 1].

    Returns:
        The reduced loss (float32 for half-precision logits).
    """
    check_reduction(reduction)
    check_parameter("generalized cross-entropy q", q, low=0.0, high=1.0, low_open=True)
    rows = as_rows(logits, targets, ignore_index, validate)
    logits, targets = rows.logits, rows.targets
    log_p_true = F.log_softmax(at_least_float32(logits), dim=1).gather(1, targets[:, None]).squeeze(1)
    return reduced(-torch.expm1(q * log_p_true) / q, reduction, rows)


# Ma et al.'s reference code (github.com/HanxunH/Active-Passive-Losses, configs/mnist/sym/nce+mae.yaml):
# alpha 1 and beta 10 on MNIST, the dataset kind of this project's embedded ones.
NCE_MAE_ALPHA, NCE_MAE_BETA = 1.0, 10.0


def nce_mae_loss(logits: Tensor, targets: Tensor, alpha: float = NCE_MAE_ALPHA, beta: float = NCE_MAE_BETA,
                 reduction: Reduction = "mean", *, validate: bool = True, ignore_index: int | None = None) -> Tensor:
    """Active-passive loss NCE + MAE (Ma et al., "Normalized Loss Functions for Deep Learning with
    Noisy Labels", ICML 2020), as the authors' reference code computes it.

    NCE = −log p_y / Σ_k (−log p_k), cross-entropy normalised by its value summed over all possible
    labels, so it lies in [0, 1] and is robust to symmetric noise; alone it underfits, so a
    "passive" MAE term is added: ℓ = α·NCE + β·(1 − p_y). The code's MAE term is 1 − p_y, half of
    Σ_k |p_k − 1[k=y]| = 2 (1 − p_y), and the defaults α = 1, β = 10 are its MNIST setting; the
    authors also clip the gradient norm at 5 (``RunConfig.grad_clip_norm``, which the experiments set
    for this loss). Its gradient is autograd's of that expression.

    Args:
        logits: Unnormalised scores, shape [N, C] or [N, C, d1, ...] (the class axis second).
        targets: Class indices, int64, shape [N] or [N, d1, ...].
        reduction: "mean" (over the targets that count), "sum", or "none" (the targets\' shape).
        validate: Check inputs (one device sync); False in hot loops.
        ignore_index: A target value that counts for nothing (unlabelled pixels, padding), as in
            ``F.cross_entropy``; None: every target is a class.
        alpha: Weight of the NCE term, finite and >= 0.
        beta: Weight of the MAE term, finite and >= 0.

    Returns:
        The reduced loss (float32 for half-precision logits).
    """
    check_reduction(reduction)
    for name, value in (("NCE weight alpha", alpha), ("MAE weight beta", beta)):
        check_parameter(name, value, low=0.0, high=math.inf)
    rows = as_rows(logits, targets, ignore_index, validate)
    logits, targets = rows.logits, rows.targets
    log_probs = F.log_softmax(at_least_float32(logits), dim=1)  # (N, C)
    log_p_true = log_probs.gather(1, targets[:, None]).squeeze(1)  # (N,)
    normalised_ce = log_p_true / log_probs.sum(dim=1)  # both negative: the ratio is in [0, 1]
    return reduced(alpha * normalised_ce + beta * (-torch.expm1(log_p_true)), reduction, rows)


def logit_adjusted_loss(logits: Tensor, targets: Tensor, class_counts: Sequence[int], tau: float = 1.0,
                        reduction: Reduction = "mean", *, validate: bool = True, ignore_index: int | None = None) -> Tensor:
    """Logit-adjusted cross-entropy (Menon et al., "Long-tail learning via logit adjustment", ICLR 2021).

    ℓ = −log softmax(z + τ log π)_y with π the training class priors (counts / total). Gradient:
    ∂ℓ/∂z_k = p'_k − 1[k=y], p' = softmax(z + τ log π). Adding τ log π only while training makes a
    frequent class's logit win less easily, so the unadjusted logits used at test time are pushed
    towards the balanced-error optimum. τ = 0 is cross-entropy.

    Args:
        logits: Unnormalised scores, shape [N, C] or [N, C, d1, ...] (the class axis second).
        targets: Class indices, int64, shape [N] or [N, d1, ...].
        reduction: "mean" (over the targets that count), "sum", or "none" (the targets\' shape).
        validate: Check inputs (one device sync); False in hot loops.
        ignore_index: A target value that counts for nothing (unlabelled pixels, padding), as in
            ``F.cross_entropy``; None: every target is a class.
        class_counts: Training samples per class, each > 0.
        tau: Adjustment strength, finite and >= 0.

    Returns:
        The reduced loss (float32 for half-precision logits).
    """
    check_reduction(reduction)
    check_parameter("logit adjustment tau", tau, low=0.0, high=math.inf)
    rows = as_rows(logits, targets, ignore_index, validate)
    logits, targets = rows.logits, rows.targets
    logits = at_least_float32(logits)
    counts = torch.as_tensor([float(count) for count in class_counts], dtype=logits.dtype, device=logits.device)
    if counts.shape != (logits.shape[1],) or (validate and not bool(torch.all((counts > 0) & torch.isfinite(counts)))):
        raise ValueError(f"class_counts {list(class_counts)!r} is invalid; allowed: one finite count > 0 per class "
                         f"({logits.shape[1]})")
    log_prior = torch.log(counts / counts.sum())
    if rows.plain:
        return F.cross_entropy(logits + tau * log_prior, targets, reduction=reduction)
    return reduced(F.cross_entropy(logits + tau * log_prior, targets, reduction="none"), reduction, rows)


def poly1_loss(logits: Tensor, targets: Tensor, epsilon: float = 1.0, reduction: Reduction = "mean", *,
               validate: bool = True, ignore_index: int | None = None) -> Tensor:
    """Poly-1 (Leng et al., "PolyLoss: A Polynomial Expansion Perspective of Classification Loss
    Functions", ICLR 2022): cross-entropy with its first polynomial term re-weighted.

    CE = −log p_y = Σ_j (1 − p_y)^j / j; Poly-1 adds ε to the first coefficient:
    ℓ = −log p_y + ε (1 − p_y). Gradient on the true logit: ∂ℓ/∂z_y = −(1 − p_y)(1 + ε p_y), so
    ε > 0 pushes harder where p_y is already large and ε < 0 softer; ε = 0 is cross-entropy, and
    ε ≥ −1 keeps the push non-negative.

    Args:
        logits: Unnormalised scores, shape [N, C] or [N, C, d1, ...] (the class axis second).
        targets: Class indices, int64, shape [N] or [N, d1, ...].
        epsilon: The first term's extra weight ε, finite and >= −1.
        reduction: "mean" (over the targets that count), "sum", or "none" (the targets' shape).
        validate: Check inputs (one device sync); False in hot loops.
        ignore_index: A target value that counts for nothing (unlabelled pixels, padding), as in
            ``F.cross_entropy``; None: every target is a class.

    Returns:
        The reduced loss (float32 for half-precision logits).
    """
    check_reduction(reduction)
    check_parameter("poly-1 epsilon", epsilon, low=-1.0, high=math.inf)
    rows = as_rows(logits, targets, ignore_index, validate)
    log_p_true = F.log_softmax(at_least_float32(rows.logits), dim=1).gather(1, rows.targets[:, None]).squeeze(1)
    return reduced(-log_p_true - epsilon * torch.expm1(log_p_true), reduction, rows)


# The authors' reference code clips the one-hot target at 1e-4 before its logarithm, so log 0 reads log 1e-4.
SCE_LOG_ZERO = math.log(1e-4)


def symmetric_cross_entropy_loss(logits: Tensor, targets: Tensor, alpha: float = 1.0, beta: float = 1.0,
                                 log_zero: float = SCE_LOG_ZERO, reduction: Reduction = "mean", *,
                                 validate: bool = True, ignore_index: int | None = None) -> Tensor:
    """Symmetric cross-entropy (Wang et al., "Symmetric Cross Entropy for Robust Learning with Noisy
    Labels", ICCV 2019): cross-entropy plus reverse cross-entropy.

    The reverse term swaps the roles of the prediction and the label, −Σ_k p_k log q_k with q the
    one-hot target, whose log 0 is replaced by a constant A (``log_zero``, negative): it equals
    −A (1 − p_y), a multiple of MAE, bounded and robust to wrong labels, while CE keeps learning
    the hard classes. ℓ = α CE + β RCE = −α log p_y − β A (1 − p_y); gradient on the true logit:
    ∂ℓ/∂z_y = −(1 − p_y)(α − β A p_y). The paper tunes α and β per dataset; the defaults here weigh
    the two terms equally, the symmetric form its name describes.

    Args:
        logits: Unnormalised scores, shape [N, C] or [N, C, d1, ...] (the class axis second).
        targets: Class indices, int64, shape [N] or [N, d1, ...].
        alpha: Weight of cross-entropy, finite and >= 0.
        beta: Weight of reverse cross-entropy, finite and >= 0.
        log_zero: A, the value log 0 takes in the reverse term; finite and < 0.
        reduction: "mean" (over the targets that count), "sum", or "none" (the targets' shape).
        validate: Check inputs (one device sync); False in hot loops.
        ignore_index: A target value that counts for nothing (unlabelled pixels, padding), as in
            ``F.cross_entropy``; None: every target is a class.

    Returns:
        The reduced loss (float32 for half-precision logits).
    """
    check_reduction(reduction)
    for name, value in (("symmetric cross-entropy alpha", alpha), ("symmetric cross-entropy beta", beta)):
        check_parameter(name, value, low=0.0, high=math.inf)
    check_parameter("symmetric cross-entropy log_zero", log_zero, low=-math.inf, high=0.0, high_open=True)
    rows = as_rows(logits, targets, ignore_index, validate)
    log_p_true = F.log_softmax(at_least_float32(rows.logits), dim=1).gather(1, rows.targets[:, None]).squeeze(1)
    return reduced(-alpha * log_p_true + beta * log_zero * torch.expm1(log_p_true), reduction, rows)


def class_balanced_weights(class_counts: Sequence[int], beta: float = DEFAULT_CB_BETA) -> list[float]:
    """Per-class weights from the effective number of samples (Cui et al., CVPR 2019).

    w_c ∝ (1 − β) / (1 − β^{n_c}), normalised so that the mean weight over the training samples,
    Σ_c n_c w_c / Σ_c n_c, is 1. Cui et al. normalise the weights to sum to C instead; on a long tail
    that makes the mean weight per sample small (the head classes, which hold most samples, get the
    small weights), which acts like a smaller learning rate and would confound a comparison of
    losses at one rate. With the mean at 1 a class-balanced loss takes steps of CE's size and only
    shifts weight from head to tail. β = 0 gives all ones; as β → 1 the weights approach inverse
    class frequency, so rarer classes always weigh more.

    Args:
        class_counts: Training samples per class, each > 0.
        beta: In [0, 1).

    Returns:
        One weight per class, as plain floats.
    """
    try:
        counts = [float(count) for count in class_counts]
    except (TypeError, ValueError):
        counts = []
    if not counts or not all(0 < count < math.inf for count in counts):
        raise ValueError(f"class_counts must be finite numbers > 0, one per class; "
                         f"got {class_counts!r}")
    if not 0 <= beta < 1:
        raise ValueError(f"beta must be in [0, 1); got {beta!r}")
    raw_weights = [(1 - beta) / (1 - beta**count) for count in counts]
    per_sample_mean = sum(weight * count for weight, count in zip(raw_weights, counts)) / sum(counts)
    return [weight / per_sample_mean for weight in raw_weights]
