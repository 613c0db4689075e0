"""Numerical safety of every loss over hostile inputs, as hypothesis properties.

``tests/test_losses.py`` checks the formulas on well-behaved logits and finiteness on a fixed set
of extreme rows. Here the extremes are random and mixed: logits up to ±1e4 next to ordinary ones,
tied logits (whole rows and duplicated columns), batches of 1 to 512, float32 and bfloat16,
γ anywhere in [0, 5] and random class weights α (including zeros).

Run: pytest tests/test_numerics.py -q
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lossdemo.losses import cross_entropy_loss, focal_loss, get_loss, l1_logits_loss, mae_loss

NUMERICS = settings(max_examples=50, deadline=None)
HUGE = 1e4


def hostile_logits(seed: int, num_samples: int, num_classes: int, scale: float, extreme_fraction: float,
                   tie_rows: bool, tie_columns: bool, dtype: torch.dtype):
    """Random logits [N, C] with some entries at ±1e4, optionally tied, plus random int64 targets."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_samples, num_classes, generator=generator, dtype=torch.float64) * scale
    extreme = torch.rand(num_samples, num_classes, generator=generator) < extreme_fraction
    signs = torch.where(torch.rand(num_samples, num_classes, generator=generator) < 0.5, -HUGE, HUGE)
    logits = torch.where(extreme, signs.double(), logits)
    if tie_columns:  # the two first classes always score the same
        logits[:, 1] = logits[:, 0]
    if tie_rows:  # every third row is one constant, possibly huge
        logits[::3] = logits[::3, :1]
    targets = torch.randint(num_classes, (num_samples,), generator=generator)
    return logits.to(dtype), targets


batches = st.builds(
    hostile_logits,
    seed=st.integers(0, 2**31 - 1),
    num_samples=st.integers(1, 512),
    num_classes=st.integers(2, 12),
    scale=st.sampled_from([0.0, 1.0, 30.0, HUGE]),
    extreme_fraction=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    tie_rows=st.booleans(),
    tie_columns=st.booleans(),
    dtype=st.sampled_from([torch.float32, torch.bfloat16]),
)
gammas = st.floats(0.0, 5.0, allow_nan=False)


def alphas():
    """None, or 12 class weights in [0, 10] (a batch uses the first C of them)."""
    return st.one_of(st.none(), st.lists(st.floats(0.0, 10.0), min_size=12, max_size=12))


def per_sample_losses(logits, targets, gamma, alpha):
    """Every loss of the package on one batch, with reduction "none"."""
    weights = None if alpha is None else alpha[: logits.shape[1]]
    return {
        "mae": mae_loss(logits, targets, "none"),
        "l1-logits": l1_logits_loss(logits, targets, "none"),
        "ce": cross_entropy_loss(logits, targets, weights, "none"),
        "focal": focal_loss(logits, targets, gamma, weights, "none"),
    }


@NUMERICS
@given(batch=batches, gamma=gammas, alpha=alphas())
def test_every_loss_is_finite_with_finite_gradients(batch, gamma, alpha):
    logits, targets = batch
    for name in ("mae", "l1-logits", "ce", "focal"):
        leaf = logits.clone().requires_grad_(True)
        value = per_sample_losses(leaf, targets, gamma, alpha)[name]
        assert value.shape == targets.shape
        assert torch.isfinite(value).all(), f"{name}: non-finite loss {value[~torch.isfinite(value)][:5]}"
        value.sum().backward()
        assert leaf.grad is not None and leaf.grad.dtype == logits.dtype
        assert torch.isfinite(leaf.grad).all(), f"{name}: non-finite gradient"


@NUMERICS
@given(batch=batches, spec=st.sampled_from(["mae", "l1-logits", "ce", "focal:0", "focal:0.5", "focal:2", "focal:5",
                                            "cb-ce", "cb-focal:2"]))
def test_every_loss_spec_gives_a_finite_mean_and_gradient(batch, spec):
    """The mean-reduced losses training uses, built from their specs (class-balanced ones included)."""
    logits, targets = batch
    counts = torch.bincount(targets, minlength=logits.shape[1]).clamp_min(1).tolist()
    leaf = logits.clone().requires_grad_(True)
    value = get_loss(spec, class_counts=counts)(leaf, targets)
    value.backward()
    assert value.dim() == 0 and torch.isfinite(value)
    assert torch.isfinite(leaf.grad).all()


@NUMERICS
@given(batch=batches, gamma=gammas, alpha=alphas())
def test_focal_and_mae_bounds_hold_at_extreme_logits(batch, gamma, alpha):
    logits, targets = batch
    losses = {name: value.double() for name, value in per_sample_losses(logits, targets, gamma, alpha).items()}
    # focal = (1 - p_y)^γ · CE with a factor in [0, 1], so focal ≤ CE (up to rounding of the factor).
    assert (losses["focal"] <= losses["ce"] * (1 + 1e-5) + 1e-6).all()
    assert (losses["focal"] >= 0).all() and (losses["ce"] >= 0).all()
    # MAE = Σ_k |p_k − onehot_k| = 2 (1 − p_y) lies in [0, 2].
    assert ((losses["mae"] >= 0) & (losses["mae"] <= 2)).all()
    assert (losses["l1-logits"] >= 0).all()


@NUMERICS
@given(batch=batches, alpha=alphas())
def test_gamma_zero_focal_is_cross_entropy_in_value_and_gradient(batch, alpha):
    logits, targets = batch
    weights = None if alpha is None else alpha[: logits.shape[1]]
    focal_leaf, ce_leaf = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    focal = focal_loss(focal_leaf, targets, 0.0, weights, "none")
    ce = cross_entropy_loss(ce_leaf, targets, weights, "none")
    torch.testing.assert_close(focal, ce, rtol=0, atol=0)
    focal.sum().backward()
    ce.sum().backward()
    torch.testing.assert_close(focal_leaf.grad, ce_leaf.grad, rtol=0, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_batch_of_one_with_every_logit_tied_at_1e4(dtype):
    """The smallest batch, the flattest softmax, the largest magnitude: p_y = 1/C exactly."""
    logits = torch.full((1, 10), HUGE, dtype=dtype, requires_grad=True)
    targets = torch.tensor([3])
    focal = focal_loss(logits, targets, 2.0, reduction="none")
    focal.sum().backward()
    expected = (0.9 ** 2) * torch.log(torch.tensor(10.0, dtype=torch.float64))
    assert float(focal.detach()) == pytest.approx(float(expected), rel=1e-2 if dtype == torch.bfloat16 else 1e-5)
    assert torch.isfinite(logits.grad).all()
