"""The losses as a library, tested the way torchvision tests its focal loss: over γ, α, reduction,
dtype and shape against a float64 reference; gradcheck; equality with F.cross_entropy at γ = 0
(ignore_index and N-D inputs included); sigmoid focal loss against torchvision's own."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss as torchvision_sigmoid_focal_loss

import lossdemo
from lossdemo.losses import (
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
    class_balanced_weights,
    cross_entropy_loss,
    focal_loss,
    generalized_cross_entropy_loss,
    label_smoothing_loss,
    logit_adjusted_loss,
    mae_loss,
    nce_mae_loss,
    poly1_loss,
    sigmoid_focal_loss,
    symmetric_cross_entropy_loss,
)
from lossdemo.losses.functions import SCE_LOG_ZERO

CLASSES = 5
SHAPES = [(6,), (3, 4), (2, 3, 4)]  # the targets' shape: (N,), (N, L), (N, H, W); logits add C after N
TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-10, torch.bfloat16: 2e-2}


def _inputs(shape, dtype=torch.float32, seed=0, ignore_fraction=0.0):
    generator = torch.Generator().manual_seed(seed)
    logits = (3 * torch.randn(shape[0], CLASSES, *shape[1:], generator=generator, dtype=torch.float64)).to(dtype)
    targets = torch.randint(0, CLASSES, shape, generator=generator)
    if ignore_fraction:
        targets[torch.rand(shape, generator=generator) < ignore_fraction] = -100
    return logits, targets


def _reference_focal(logits, targets, gamma, alpha, reduction, ignore_index=None):
    """The textbook formula in float64, one row per target."""
    rows = logits.double().movedim(1, -1).reshape(-1, CLASSES)
    flat = targets.reshape(-1)
    keep = torch.ones_like(flat, dtype=torch.bool) if ignore_index is None else flat != ignore_index
    safe = flat.masked_fill(~keep, 0)
    p_true = torch.softmax(rows, 1).gather(1, safe[:, None]).squeeze(1)
    per_row = -(1 - p_true) ** gamma * torch.log(p_true)
    if alpha is not None:
        per_row = per_row * torch.as_tensor(alpha, dtype=torch.float64)[safe]
    per_row = torch.where(keep, per_row, torch.zeros_like(per_row))
    if reduction == "none":
        return per_row.reshape(targets.shape)
    return per_row.sum() if reduction == "sum" else per_row.sum() / keep.sum().clamp_min(1)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.0])
@pytest.mark.parametrize("alpha", [None, [0.5, 1.0, 2.0, 1.5, 0.25]])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
@pytest.mark.parametrize("shape", SHAPES)
def test_focal_loss_equals_the_float64_formula(gamma, alpha, reduction, dtype, shape):
    logits, targets = _inputs(shape, dtype)
    value = focal_loss(logits, targets, gamma, alpha, reduction)
    expected = _reference_focal(logits, targets, gamma, alpha, reduction)
    assert value.dtype == (torch.float64 if dtype == torch.float64 else torch.float32)
    assert value.shape == expected.shape
    torch.testing.assert_close(value.double(), expected, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_at_gamma_zero_focal_loss_is_f_cross_entropy_with_ignore_index_and_nd_inputs(shape, reduction):
    logits, targets = _inputs(shape, ignore_fraction=0.3)
    expected = F.cross_entropy(logits, targets, ignore_index=-100, reduction=reduction)
    for value in (focal_loss(logits, targets, 0.0, reduction=reduction, ignore_index=-100),
                  cross_entropy_loss(logits, targets, reduction=reduction, ignore_index=-100),
                  FocalLoss(gamma=0.0, reduction=reduction, ignore_index=-100)(logits, targets)):
        torch.testing.assert_close(value, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_ignored_targets_count_for_nothing_and_a_wholly_ignored_batch_is_zero_with_a_gradient(gamma):
    logits, targets = _inputs((3, 4), ignore_fraction=0.4)
    kept = targets != -100
    with_ignored = focal_loss(logits, targets, gamma, ignore_index=-100)
    rows, row_targets = logits.movedim(1, -1)[kept], targets[kept]
    torch.testing.assert_close(with_ignored, focal_loss(rows, row_targets, gamma), rtol=1e-6, atol=1e-7)
    everything_ignored = torch.full_like(targets, -100)
    leaf = logits.clone().requires_grad_()
    for function in (focal_loss, mae_loss, poly1_loss, symmetric_cross_entropy_loss, cross_entropy_loss):
        value = function(leaf, everything_ignored, ignore_index=-100)
        (gradient,) = torch.autograd.grad(value, leaf)
        assert value.item() == 0.0 and torch.equal(gradient, torch.zeros_like(gradient)), function.__name__


def _softmax_losses():
    counts = [5, 3, 8, 2, 4]
    return {
        "mae": lambda z, y, **o: mae_loss(z, y, **o),
        "focal:0.5": lambda z, y, **o: focal_loss(z, y, 0.5, [1.0, 2.0, 0.5, 1.0, 1.5], **o),
        "cb-ce": lambda z, y, **o: cross_entropy_loss(z, y, class_balanced_weights(counts, 0.9), **o),
        "ls": lambda z, y, **o: label_smoothing_loss(z, y, 0.1, **o),
        "gce": lambda z, y, **o: generalized_cross_entropy_loss(z, y, 0.7, **o),
        "nce+mae": lambda z, y, **o: nce_mae_loss(z, y, **o),
        "la-ce": lambda z, y, **o: logit_adjusted_loss(z, y, counts, 1.0, **o),
        "sce": lambda z, y, **o: symmetric_cross_entropy_loss(z, y, 0.1, 1.0, **o),
        "poly": lambda z, y, **o: poly1_loss(z, y, 2.0, **o),
    }


@pytest.mark.parametrize("name", list(_softmax_losses()))
def test_every_softmax_loss_passes_gradcheck_on_nd_inputs_with_ignored_targets(name):
    function = _softmax_losses()[name]
    logits, targets = _inputs((2, 3), torch.float64, seed=3, ignore_fraction=0.3)
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda z: function(z, targets, ignore_index=-100, reduction="mean"), (logits,))
    rows = function(logits.movedim(1, -1).reshape(-1, CLASSES), targets.reshape(-1).clamp_min(0), reduction="none")
    as_map = function(logits, targets.clamp_min(0), reduction="none")
    torch.testing.assert_close(as_map.reshape(-1), rows), "an (N, C, L) map is its rows"


def test_poly1_is_cross_entropy_plus_epsilon_times_one_minus_p_and_is_ce_at_zero():
    logits, targets = _inputs((8,), torch.float64)
    p_true = torch.softmax(logits, 1).gather(1, targets[:, None]).squeeze(1)
    expected = -torch.log(p_true) + 2.0 * (1 - p_true)
    torch.testing.assert_close(poly1_loss(logits, targets, 2.0, reduction="none"), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(poly1_loss(logits, targets, 0.0), F.cross_entropy(logits, targets), rtol=1e-12, atol=0)
    leaf = logits.clone().requires_grad_()
    (gradient,) = torch.autograd.grad(poly1_loss(leaf, targets, 2.0, reduction="sum"), leaf)
    push = -gradient.gather(1, targets[:, None]).squeeze(1)
    torch.testing.assert_close(push, (1 - p_true) * (1 + 2.0 * p_true), rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match=r"poly-1 epsilon -2.0 is invalid; allowed: a number in \[-1, ∞\)"):
        poly1_loss(logits, targets, -2.0)


def test_symmetric_cross_entropy_is_ce_plus_a_multiple_of_mae_and_its_limits_are_its_terms():
    logits, targets = _inputs((8,), torch.float64)
    p_true = torch.softmax(logits, 1).gather(1, targets[:, None]).squeeze(1)
    expected = -0.1 * torch.log(p_true) - 1.0 * SCE_LOG_ZERO * (1 - p_true)
    torch.testing.assert_close(symmetric_cross_entropy_loss(logits, targets, 0.1, 1.0, reduction="none"), expected,
                               rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(symmetric_cross_entropy_loss(logits, targets, 1.0, 0.0), F.cross_entropy(logits, targets),
                               rtol=1e-12, atol=0)
    torch.testing.assert_close(symmetric_cross_entropy_loss(logits, targets, 0.0, 1.0, log_zero=-2.0),
                               mae_loss(logits, targets), rtol=1e-12, atol=0)  # −A (1 − p_y) with A = −2 is MAE
    assert pytest.approx(math.log(1e-4)) == SCE_LOG_ZERO
    with pytest.raises(ValueError, match="log_zero 0.0 is invalid"):
        symmetric_cross_entropy_loss(logits, targets, log_zero=0.0)


@pytest.mark.parametrize("gamma", [0.0, 1.0, 2.0, 3.0])
@pytest.mark.parametrize("alpha", [0.25, None])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(7, 3), (2, 4, 5)])
def test_sigmoid_focal_loss_equals_torchvisions(gamma, alpha, reduction, shape):
    generator = torch.Generator().manual_seed(1)
    logits = 2 * torch.randn(shape, generator=generator)
    targets = (torch.rand(shape, generator=generator) < 0.4).float()
    expected = torchvision_sigmoid_focal_loss(logits, targets, alpha=-1 if alpha is None else alpha, gamma=gamma,
                                              reduction=reduction)
    torch.testing.assert_close(sigmoid_focal_loss(logits, targets, gamma, alpha, reduction), expected,
                               rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(SigmoidFocalLoss(gamma, alpha, reduction)(logits, targets), expected, rtol=1e-5, atol=1e-6)


def test_sigmoid_focal_loss_stays_finite_below_gamma_one_where_the_power_form_does_not():
    logits = torch.tensor([[40.0, -40.0, 0.5]], requires_grad=True)
    targets = torch.tensor([[1.0, 0.0, 1.0]])
    (ours,) = torch.autograd.grad(sigmoid_focal_loss(logits, targets, gamma=0.5), logits)
    assert torch.isfinite(ours).all()
    (theirs,) = torch.autograd.grad(torchvision_sigmoid_focal_loss(logits, targets, gamma=0.5, reduction="mean"), logits)
    assert not torch.isfinite(theirs).all(), "the power form's gradient is NaN here (why the log form exists)"
    soft = torch.rand(4, 3, dtype=torch.float64)
    leaf = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda z: sigmoid_focal_loss(z, soft, gamma=0.5, alpha=0.25), (leaf,))


def test_modules_compute_their_functions_and_check_parameters_when_built():
    logits, targets = _inputs((3, 4), ignore_fraction=0.2)
    counts = [5, 3, 8, 2, 4]
    options = {"ignore_index": -100}
    pairs = [
        (MAELoss(**options), mae_loss(logits, targets, **options)),
        (FocalLoss(gamma=1.5, **options), focal_loss(logits, targets, 1.5, **options)),
        (ClassBalancedLoss(counts, beta=0.9, gamma=2.0, **options),
         focal_loss(logits, targets, 2.0, class_balanced_weights(counts, 0.9), **options)),
        (LabelSmoothingLoss(0.2, **options), label_smoothing_loss(logits, targets, 0.2, **options)),
        (GeneralizedCrossEntropyLoss(0.5, **options), generalized_cross_entropy_loss(logits, targets, 0.5, **options)),
        (NCEMAELoss(2.0, 0.5, **options), nce_mae_loss(logits, targets, 2.0, 0.5, **options)),
        (LogitAdjustedLoss(counts, 0.5, **options), logit_adjusted_loss(logits, targets, counts, 0.5, **options)),
        (SymmetricCrossEntropyLoss(0.1, 1.0, **options), symmetric_cross_entropy_loss(logits, targets, 0.1, 1.0, **options)),
        (Poly1Loss(1.0, **options), poly1_loss(logits, targets, 1.0, **options)),
    ]
    for module, expected in pairs:
        assert torch.equal(module(logits, targets), expected), type(module).__name__
    for build, message in ((lambda: FocalLoss(gamma=-1.0), "focal gamma -1.0 is invalid"),
                           (lambda: LabelSmoothingLoss(1.0), "label smoothing epsilon 1.0 is invalid"),
                           (lambda: FocalLoss(reduction="avg"), "reduction must be one of"),
                           (lambda: MAELoss(ignore_index="x"), "ignore_index 'x' is invalid"),
                           (lambda: LogitAdjustedLoss([3, 0]), r"class_counts \[3, 0\] is invalid"),
                           (lambda: SigmoidFocalLoss(alpha=1.5), "sigmoid focal alpha 1.5 is invalid")):
        with pytest.raises(ValueError, match=message):
            build()


def test_the_library_imports_from_the_top_level_package_and_the_new_losses_are_in_the_registry():
    for name in ("FocalLoss", "SigmoidFocalLoss", "Poly1Loss", "SymmetricCrossEntropyLoss", "sigmoid_focal_loss"):
        assert name in lossdemo.__all__ and getattr(lossdemo, name) is not None
    logits, targets = _inputs((6,))
    torch.testing.assert_close(lossdemo.get_loss("poly:2")(logits, targets), poly1_loss(logits, targets, 2.0))
    torch.testing.assert_close(lossdemo.get_loss("sce")(logits, targets), symmetric_cross_entropy_loss(logits, targets))


def test_bad_targets_for_an_nd_map_are_one_line_errors():
    logits, targets = _inputs((2, 3))
    with pytest.raises(ValueError, match=r"targets must have shape \(2, 3\) to match logits \(2, 5, 3\)"):
        focal_loss(logits, targets[:, :2])
    with pytest.raises(ValueError, match=r"targets contain -100 but logits have 5 classes; targets must be in \[0, 4\]"):
        focal_loss(logits, torch.full_like(targets, -100))
    with pytest.raises(ValueError, match=r"targets contain 7 .* must be in \[0, 4\] or 255"):
        focal_loss(logits, torch.full_like(targets, 7), ignore_index=255)


def test_the_use_the_losses_page_runs_as_written():
    """Its Python snippets, in order, in one namespace, as a reader would paste them."""
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "use-the-losses.md").read_text(encoding="utf-8")
    snippets = re.findall(r"```python\n(.*?)```", page, flags=re.DOTALL)
    assert len(snippets) >= 3
    namespace: dict = {}
    for snippet in snippets:
        exec(compile(snippet, "use-the-losses.md", "exec"), namespace)
    assert torch.isfinite(namespace["loss"]) and namespace["logits"].grad is not None
    for name in re.findall(r"\| `(\w+Loss)`", page) + re.findall(r", `(\w+Loss)`", page):
        assert name == "CrossEntropyLoss" or hasattr(lossdemo, name), name


def test_what_a_user_review_found_stays_fixed():
    """Bad parameters fail when a module is built, with one line; NumPy and tensor counts work."""
    import numpy as np

    logits, targets = _inputs((6,))
    counts = torch.bincount(targets, minlength=CLASSES) + 1
    expected = logit_adjusted_loss(logits, targets, counts.tolist(), 1.0)
    for given in (counts, counts.numpy(), list(counts.numpy())):
        torch.testing.assert_close(LogitAdjustedLoss(given)(logits, targets), expected)
    assert "class_counts" in LogitAdjustedLoss(counts).state_dict()
    for build, message in ((lambda: LogitAdjustedLoss([10, float("inf"), 1, 2, 3]), "one finite count > 0"),
                           (lambda: LogitAdjustedLoss(5), "class_counts 5 is invalid"),
                           (lambda: FocalLoss(alpha=0.25), "alpha 0.25 is invalid; allowed: None, or one finite weight"),
                           (lambda: FocalLoss(alpha=[1, -1, 1]), r"alpha \[1, -1, 1\] is invalid"),
                           (lambda: FocalLoss(alpha=["a", "b"]), "alpha .* is invalid"),
                           (lambda: ClassBalancedLoss([10, 5, 1], beta="0.9"), "class-balanced beta '0.9' is invalid"),
                           (lambda: SymmetricCrossEntropyLoss(log_zero=float("-inf")), r"allowed: a number in \(-∞, 0\)")):
        with pytest.raises(ValueError, match=message):
            build()
    assert FocalLoss(gamma=np.float32(2), ignore_index=np.int64(255)).ignore_index == 255
    assert "gamma=2, alpha=[1.0, 2.0]" in repr(FocalLoss(gamma=2, alpha=[1, 2]))
    for bad in (2.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="allowed: values in \\[0, 1\\]"):
            SigmoidFocalLoss()(torch.randn(4, 3), torch.full((4, 3), bad))
    teacher = torch.tensor([[30.0, -2.0, 0.0]], requires_grad=True)
    sigmoid_focal_loss(torch.randn(1, 3), teacher.sigmoid(), gamma=0.5).backward()
    assert torch.isfinite(teacher.grad).all(), "a teacher's probability of exactly 1 has a finite slope"
