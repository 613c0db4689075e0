"""The remedy losses (label smoothing, GCE, NCE + MAE, logit adjustment) against float64 references.

Each reference is the paper's formula written the plain way, in float64, on moderate logits where
the plain way is exact enough; values and gradients must agree, the limits the docstrings state
must hold, and bad parameters get the one-line error every other spec gets.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lossdemo.losses import (
    cross_entropy_loss,
    generalized_cross_entropy_loss,
    get_loss,
    label_smoothing_loss,
    logit_adjusted_loss,
    mae_loss,
    nce_mae_loss,
    parse_loss_spec,
)


def _batch(seed: int, n: int = 16, c: int = 5, scale: float = 2.0):
    generator = torch.Generator().manual_seed(seed)
    logits = (torch.randn(n, c, generator=generator, dtype=torch.float64) * scale).requires_grad_(True)
    return logits, torch.randint(0, c, (n,), generator=generator)


def _same_value_and_gradient(loss, reference, logits):
    grad, = torch.autograd.grad(loss, logits)
    expected_grad, = torch.autograd.grad(reference, logits)
    assert float(loss.detach()) == pytest.approx(float(reference.detach()), rel=1e-10, abs=1e-12)
    assert torch.allclose(grad, expected_grad, rtol=1e-9, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), epsilon=st.floats(0, 0.99))
def test_label_smoothing_is_cross_entropy_against_the_smoothed_target(seed, epsilon):
    logits, targets = _batch(seed)
    c = logits.shape[1]
    smoothed = F.one_hot(targets, c).double() * (1 - epsilon) + epsilon / c
    reference = -(smoothed * torch.log(torch.softmax(logits, 1))).sum(1).mean()
    _same_value_and_gradient(label_smoothing_loss(logits, targets, epsilon), reference, logits)
    torch_value = F.cross_entropy(logits.detach(), targets, label_smoothing=epsilon)
    assert float(label_smoothing_loss(logits.detach(), targets, epsilon)) == pytest.approx(float(torch_value), rel=1e-10)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), q=st.floats(0.05, 1.0))
def test_generalized_cross_entropy_follows_its_formula(seed, q):
    logits, targets = _batch(seed)
    p_true = torch.softmax(logits, 1).gather(1, targets[:, None]).squeeze(1)
    reference = ((1 - p_true ** q) / q).mean()
    _same_value_and_gradient(generalized_cross_entropy_loss(logits, targets, q), reference, logits)


def test_generalized_cross_entropy_spans_ce_and_half_of_mae():
    logits, targets = _batch(3)
    logits = logits.detach()
    assert float(generalized_cross_entropy_loss(logits, targets, 1.0)) == pytest.approx(
        float(mae_loss(logits, targets)) / 2, rel=1e-12)
    assert float(generalized_cross_entropy_loss(logits, targets, 1e-6)) == pytest.approx(
        float(cross_entropy_loss(logits, targets)), rel=1e-4)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_nce_plus_mae_follows_its_formula_and_nce_stays_in_zero_one(seed):
    logits, targets = _batch(seed)
    log_p = torch.log(torch.softmax(logits, 1))
    nce = log_p.gather(1, targets[:, None]).squeeze(1) / log_p.sum(1)
    reduced_mae = 1 - torch.exp(log_p.gather(1, targets[:, None]).squeeze(1))  # the reference code's MAE term
    _same_value_and_gradient(nce_mae_loss(logits, targets), (nce + 10 * reduced_mae).mean(), logits)
    assert bool(((nce >= 0) & (nce <= 1)).all())
    logits = logits.detach()
    assert float(nce_mae_loss(logits, targets, alpha=0.0, beta=2.0)) == pytest.approx(
        float(mae_loss(logits, targets)), rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), tau=st.floats(0, 3))
def test_logit_adjustment_adds_tau_log_prior_to_the_logits(seed, tau):
    logits, targets = _batch(seed)
    counts = [400, 120, 40, 12, 4]
    prior = torch.tensor(counts, dtype=torch.float64) / sum(counts)
    reference = F.cross_entropy(logits + tau * torch.log(prior), targets)
    _same_value_and_gradient(logit_adjusted_loss(logits, targets, counts, tau), reference, logits)
    if tau == 0:
        logits = logits.detach()
        assert float(logit_adjusted_loss(logits, targets, counts, 0.0)) == pytest.approx(
            float(cross_entropy_loss(logits, targets)), rel=1e-12)


def test_every_remedy_is_finite_with_finite_gradients_at_extreme_logits():
    logits = torch.tensor([[80.0, -80.0, 0.0], [-80.0, 80.0, 0.0]], requires_grad=True)
    targets = torch.tensor([1, 1])
    for spec in ("ls:0.1", "gce:0.7", "gce:0.01", "nce+mae", "la-ce:1"):
        loss = get_loss(spec, class_counts=[10, 5, 1])(logits, targets)
        grad, = torch.autograd.grad(loss, logits)
        assert math.isfinite(float(loss.detach())) and bool(torch.isfinite(grad).all()), spec


@pytest.mark.parametrize("spec, says", [
    ("ls:1", "label smoothing epsilon '1' in loss 'ls:1' is invalid; allowed: a number in [0, 1)"),
    ("ls:-0.1", "label smoothing epsilon '-0.1' in loss 'ls:-0.1' is invalid; allowed: a number in [0, 1)"),
    ("gce:0", "generalized cross-entropy q '0' in loss 'gce:0' is invalid; allowed: a number in (0, 1]"),
    ("gce:1.5", "generalized cross-entropy q '1.5' in loss 'gce:1.5' is invalid; allowed: a number in (0, 1]"),
    ("la-ce:-1", "logit adjustment tau '-1' in loss 'la-ce:-1' is invalid; allowed: a number in [0, ∞)"),
    ("la-ce:nan", "logit adjustment tau 'nan' in loss 'la-ce:nan' is invalid; allowed: a number in [0, ∞)"),
    ("gce", "loss 'gce' needs its q, e.g. gce:0.1"),
    ("cb-gce:0.5", "unknown loss 'cb-gce:0.5'"),
    ("nce+mae:1", "unknown loss 'nce+mae:1'"),
])
def test_bad_remedy_parameters_are_one_line_errors(spec, says):
    with pytest.raises(ValueError) as raised:
        parse_loss_spec(spec)
    assert says in str(raised.value) and "\n" not in str(raised.value)


def test_specs_round_trip_and_logit_adjustment_needs_the_class_counts():
    for spec in ("ls:0.1", "gce:0.7", "nce+mae", "la-ce:1", "focal:2", "cb-focal:0.5"):
        assert str(parse_loss_spec(spec)) == spec
    assert parse_loss_spec("la-ce:1").needs_class_counts and not parse_loss_spec("gce:0.7").needs_class_counts
    with pytest.raises(ValueError, match="loss 'la-ce:1' needs class_counts"):
        get_loss("la-ce:1")
