"""The class-axis softmax of lossdemo.engines.row_softmax: PyTorch's functions, to float rounding."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lossdemo.engines.row_softmax import cross_entropy_rows, log_softmax_rows, softmax_rows


def _logits(seed: int, rows: int, classes: int, scale: float, dtype=torch.float32) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(rows, classes, generator=generator, dtype=dtype) * scale


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), rows=st.integers(1, 1100), classes=st.sampled_from([2, 3, 10, 17, 100]),
       scale=st.sampled_from([1e-3, 1.0, 30.0, 1e4]), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_values_and_gradients_are_pytorchs_to_float_rounding(seed, rows, classes, scale, dtype):
    logits = _logits(seed, rows, classes, scale, dtype).requires_grad_()
    reference = logits.detach().clone().requires_grad_()
    targets = torch.randint(0, classes, (rows,), generator=torch.Generator().manual_seed(seed + 1))
    upstream = torch.randn(rows, classes, generator=torch.Generator().manual_seed(seed + 2), dtype=dtype)
    tolerance = {"rtol": 1e-5, "atol": 1e-5} if dtype == torch.float32 else {"rtol": 1e-12, "atol": 1e-12}

    ours = log_softmax_rows(logits)
    expected = F.log_softmax(reference, dim=1)
    assert ours.shape == expected.shape and ours.is_contiguous()
    torch.testing.assert_close(ours, expected, **tolerance)
    (gradient,) = torch.autograd.grad(ours, logits, upstream)
    (expected_gradient,) = torch.autograd.grad(expected, reference, upstream)
    torch.testing.assert_close(gradient, expected_gradient, **tolerance)

    torch.testing.assert_close(softmax_rows(logits.detach()), torch.softmax(reference.detach(), dim=1), **tolerance)
    for reduction in ("mean", "sum", "none"):
        torch.testing.assert_close(cross_entropy_rows(logits.detach(), targets, reduction),
                                   F.cross_entropy(reference.detach(), targets, reduction=reduction), **tolerance)


def test_its_gradient_passes_torchs_numerical_check():
    logits = _logits(0, 40, 10, 3.0, torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(log_softmax_rows, (logits,))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_logits_take_pytorchs_own_kernels(dtype):
    logits = _logits(3, 64, 10, 2.0).to(dtype)
    targets = torch.randint(0, 10, (64,), generator=torch.Generator().manual_seed(4))
    assert torch.equal(log_softmax_rows(logits), F.log_softmax(logits, dim=1))
    assert torch.equal(softmax_rows(logits), torch.softmax(logits, dim=1))
    assert torch.equal(cross_entropy_rows(logits, targets), F.cross_entropy(logits, targets))


def test_logits_of_other_ranks_take_pytorchs_own_kernels():
    logits = _logits(5, 12, 10, 1.0).view(3, 4, 10)
    assert torch.equal(log_softmax_rows(logits), F.log_softmax(logits, dim=1))
