"""Properties of lossdemo.losses: formulas, gradients, numerical safety, reductions and specs.

Run: pytest tests/test_losses.py -q
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from lossdemo.losses import (
    LOSS_SPEC_FORMS,
    LossSpec,
    class_balanced_weights,
    cross_entropy_loss,
    focal_loss,
    get_loss,
    l1_logits_loss,
    mae_loss,
    parse_loss_spec,
)

FOCAL_GAMMAS = (0.0, 0.25, 0.5, 1.0, 2.0, 5.0)
FEW = settings(max_examples=40, deadline=None)


def make_batch(seed, num_samples, num_classes, scale, dtype=torch.float64):
    """Random logits [N, C] (std ``scale``) and int64 targets, reproducible from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(num_samples, num_classes, generator=generator, dtype=torch.float64) * scale
    targets = torch.randint(num_classes, (num_samples,), generator=generator)
    return logits.to(dtype), targets


CLASS_COUNTS = st.integers(2, 12)


def batches(max_samples=64, num_classes=CLASS_COUNTS, scales=(0.1, 1.0, 3.0)):
    """(logits float64 [N, C], targets [N]) with N in [1, max_samples] and logits of std in scales."""
    return st.builds(make_batch, seed=st.integers(0, 2**31 - 1), num_samples=st.integers(1, max_samples),
                     num_classes=num_classes, scale=st.sampled_from(scales))


def true_class_probability(logits, targets):
    return torch.softmax(logits.double(), dim=1).gather(1, targets[:, None]).squeeze(1)


# Naive float64 references, written straight from the formulas.
def reference_mae(logits, targets):
    one_hot = F.one_hot(targets, logits.shape[1]).double()
    return (torch.softmax(logits, dim=1) - one_hot).abs().sum(dim=1)


def reference_l1_logits(logits, targets):
    return (logits - F.one_hot(targets, logits.shape[1]).double()).abs().mean(dim=1)


def reference_focal(logits, targets, gamma, alpha=None):
    p_true = true_class_probability(logits, targets)
    class_weight = 1.0 if alpha is None else torch.tensor(alpha, dtype=torch.float64)[targets]
    return -class_weight * (1 - p_true) ** gamma * torch.log(p_true)


ALPHA_4 = [0.5, 2.0, 1.0, 0.25]
# (id, our loss with reduction "none", float64 reference); all on 4 classes.
LOSS_CASES = [
    ("mae", lambda z, y: mae_loss(z, y, "none"), reference_mae),
    ("l1-logits", lambda z, y: l1_logits_loss(z, y, "none"), reference_l1_logits),
    ("ce", lambda z, y: cross_entropy_loss(z, y, reduction="none"),
     lambda z, y: reference_focal(z, y, 0.0)),
    ("ce-alpha", lambda z, y: cross_entropy_loss(z, y, ALPHA_4, "none"),
     lambda z, y: reference_focal(z, y, 0.0, ALPHA_4)),
] + [
    (f"focal-{gamma:g}", lambda z, y, g=gamma: focal_loss(z, y, g, reduction="none"),
     lambda z, y, g=gamma: reference_focal(z, y, g))
    for gamma in FOCAL_GAMMAS
] + [
    ("focal-2-alpha", lambda z, y: focal_loss(z, y, 2.0, ALPHA_4, "none"),
     lambda z, y: reference_focal(z, y, 2.0, ALPHA_4)),
]
LOSS_FUNCTIONS = [mae_loss, l1_logits_loss, cross_entropy_loss, focal_loss]


@pytest.mark.parametrize("loss_case", LOSS_CASES, ids=[case[0] for case in LOSS_CASES])
@settings(max_examples=25, deadline=None)
@given(batch=batches(num_classes=st.just(4)))
def test_loss_matches_float64_formula(loss_case, batch):
    _, loss_fn, reference_fn = loss_case
    logits, targets = batch
    torch.testing.assert_close(loss_fn(logits, targets), reference_fn(logits, targets),
                               rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("loss_case", LOSS_CASES, ids=[case[0] for case in LOSS_CASES])
@pytest.mark.parametrize("seed", [0, 1])
def test_gradcheck_float64(loss_case, seed):
    logits, targets = make_batch(seed, num_samples=5, num_classes=4, scale=2.0)
    logits.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda z: loss_case[1](z, targets), (logits,))


@FEW
@given(batch=batches(scales=(0.1, 1.0, 10.0, 100.0)), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_focal_with_gamma_zero_is_cross_entropy_in_value_and_gradient(batch, dtype):
    logits, targets = batch
    logits_for_focal = logits.to(dtype).requires_grad_(True)
    logits_for_ce = logits.to(dtype).requires_grad_(True)
    focal_value = focal_loss(logits_for_focal, targets, gamma=0.0)
    ce_value = cross_entropy_loss(logits_for_ce, targets)
    focal_value.backward()
    ce_value.backward()
    torch.testing.assert_close(focal_value, ce_value, rtol=0, atol=0)
    torch.testing.assert_close(logits_for_focal.grad, logits_for_ce.grad, rtol=0, atol=0)


@FEW
@given(batch=batches(scales=(0.1, 1.0, 10.0)))
def test_log_space_focal_path_tends_to_cross_entropy_as_gamma_tends_to_zero(batch):
    # gamma = 0 takes the CE shortcut; a tiny gamma exercises the log-space code instead.
    logits, targets = batch
    logits_for_focal = logits.clone().requires_grad_(True)
    logits_for_ce = logits.clone().requires_grad_(True)
    focal_loss(logits_for_focal, targets, gamma=1e-12).backward()
    F.cross_entropy(logits_for_ce, targets).backward()
    torch.testing.assert_close(logits_for_focal.grad, logits_for_ce.grad, rtol=1e-9, atol=1e-12)


@FEW
@given(batch=batches(scales=(0.1, 1.0, 10.0, 100.0)), gamma=st.floats(0.0, 5.0))
def test_focal_is_at_most_cross_entropy_and_the_ratio_is_the_modulating_factor(batch, gamma):
    logits, targets = batch
    focal_values = focal_loss(logits, targets, gamma, reduction="none")
    ce_values = cross_entropy_loss(logits, targets, reduction="none")
    assert torch.all(focal_values <= ce_values * (1 + 1e-12))
    informative = ce_values > 1e-6  # below that the ratio is 0/0-ish noise
    modulating_factor = (1 - true_class_probability(logits, targets)) ** gamma
    torch.testing.assert_close((focal_values / ce_values)[informative], modulating_factor[informative],
                               rtol=1e-7, atol=1e-12)


def extreme_logits(num_classes=5):
    """Rows with huge margins, right and wrong, plus rows of +-1e4 entries; targets = 0."""
    rows, margins = [], (17.0, 20.0, 100.0, 1e4)
    for margin in margins:
        right = torch.zeros(num_classes)
        right[0] = margin
        rows += [right, -right]  # confidently right; confidently wrong (true logit far below)
        wrong = torch.zeros(num_classes)
        wrong[1] = margin
        rows.append(wrong)  # confidently wrong (another logit far above)
    rows.append(torch.full((num_classes,), 1e4))
    rows.append(torch.full((num_classes,), -1e4))
    rows.append(torch.tensor([1e4, -1e4, 1e4, -1e4, 1e4])[:num_classes])
    rows.append(torch.tensor([-1e4, 1e4, -1e4, 1e4, -1e4])[:num_classes])
    logits = torch.stack(rows)
    return logits, torch.zeros(len(rows), dtype=torch.int64)


EXTREME_LOSSES = [(f"focal-{g:g}", lambda z, y, g=g: focal_loss(z, y, g, reduction="none"))
                  for g in FOCAL_GAMMAS] + [
    ("focal-2-alpha", lambda z, y: focal_loss(z, y, 2.0, [1.0, 2.0, 3.0, 4.0, 5.0], "none")),
    ("mae", lambda z, y: mae_loss(z, y, "none")),
    ("ce", lambda z, y: cross_entropy_loss(z, y, reduction="none")),
    ("l1-logits", lambda z, y: l1_logits_loss(z, y, "none")),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("loss_case", EXTREME_LOSSES, ids=[case[0] for case in EXTREME_LOSSES])
def test_values_and_gradients_stay_finite_at_huge_logits(loss_case, dtype):
    logits, targets = extreme_logits()
    logits = logits.to(dtype).requires_grad_(True)
    per_sample = loss_case[1](logits, targets)
    per_sample.sum().backward()
    assert torch.isfinite(per_sample).all(), per_sample
    assert torch.isfinite(logits.grad).all(), logits.grad
    assert logits.grad.dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("gamma", FOCAL_GAMMAS)
def test_focal_at_huge_margins_is_zero_when_right_and_the_margin_when_wrong(gamma, dtype):
    margin = 1e4
    logits = torch.tensor([[margin, 0.0, 0.0], [-margin, 0.0, 0.0]], dtype=dtype)
    values = focal_loss(logits, torch.tensor([0, 0]), gamma, reduction="none")
    stored_margin = logits[0, 0].item()  # 1e4 is not a bfloat16 number
    torch.testing.assert_close(values, torch.tensor([0.0, stored_margin + math.log(2)]), rtol=1e-6, atol=0.0)


def test_textbook_focal_gives_nan_gradient_where_log_space_focal_does_not():
    # If focal_loss regressed to (1 - p) ** gamma, the second half of this test would fail.
    logits = torch.tensor([[20.0, 0.0, 0.0]], requires_grad=True)
    targets = torch.tensor([0])
    p_true = torch.softmax(logits, dim=1)[0, 0]
    textbook = -(1 - p_true) ** 0.5 * torch.log(p_true)
    (textbook_grad,) = torch.autograd.grad(textbook, logits)
    assert torch.isnan(textbook_grad).any()
    (log_space_grad,) = torch.autograd.grad(focal_loss(logits, targets, gamma=0.5), logits)
    assert torch.isfinite(log_space_grad).all()


def test_half_precision_logits_compute_in_float32_and_get_half_precision_gradients():
    logits, targets = make_batch(0, 16, 5, 3.0, dtype=torch.bfloat16)
    logits.requires_grad_(True)
    value = focal_loss(logits, targets, gamma=2.0)
    value.backward()
    assert value.dtype == torch.float32 and logits.grad.dtype == torch.bfloat16
    assert torch.equal(value, focal_loss(logits.detach().float(), targets, gamma=2.0))


@FEW
@given(batch=batches(scales=(0.1, 1.0, 10.0, 1000.0)))
def test_mae_lies_in_0_2_and_is_twice_one_minus_p_true(batch):
    logits, targets = batch
    values = mae_loss(logits, targets, reduction="none")
    assert torch.all((values >= 0) & (values <= 2))
    torch.testing.assert_close(values, 2 * (1 - true_class_probability(logits, targets)),
                               rtol=1e-9, atol=1e-12)


@FEW
@given(batch=batches(scales=(0.1, 1.0, 5.0)))
def test_mae_pushes_the_true_logit_with_weight_2_p_true_times_1_minus_p_true(batch):
    logits, targets = batch
    logits.requires_grad_(True)
    (gradient,) = torch.autograd.grad(mae_loss(logits, targets, reduction="sum"), logits)
    probabilities = torch.softmax(logits.detach(), dim=1)
    p_true = probabilities.gather(1, targets[:, None]).squeeze(1)
    true_class_push = -gradient.gather(1, targets[:, None]).squeeze(1)
    torch.testing.assert_close(true_class_push, 2 * p_true * (1 - p_true), rtol=1e-9, atol=1e-12)
    one_hot = F.one_hot(targets, logits.shape[1]).double()
    torch.testing.assert_close(gradient, 2 * p_true[:, None] * (probabilities - one_hot),
                               rtol=1e-9, atol=1e-12)


@FEW
@given(batch=batches(max_samples=256, scales=(0.1, 1.0, 10.0)),
       dtype=st.sampled_from([torch.float32, torch.bfloat16, torch.float64]))
def test_l1_logits_mean_is_bitwise_nn_l1loss_on_one_hot(batch, dtype):
    logits, targets = batch
    logits = logits.to(dtype)
    one_hot = F.one_hot(targets, logits.shape[1]).to(dtype)
    assert torch.equal(l1_logits_loss(logits, targets), torch.nn.L1Loss()(logits, one_hot))


@FEW
@given(batch=batches(max_samples=256, scales=(0.1, 1.0, 10.0, 1000.0)),
       reduction=st.sampled_from(["mean", "sum", "none"]))
def test_cross_entropy_equals_torch_cross_entropy(batch, reduction):
    logits, targets = batch
    logits = logits.float()
    # The same PyTorch calls outside the fast engine (inside it, equal to float rounding).
    torch.testing.assert_close(cross_entropy_loss(logits, targets, reduction=reduction),
                               F.cross_entropy(logits, targets, reduction=reduction), rtol=1e-6, atol=1e-6)


def test_alpha_must_have_one_non_negative_finite_weight_per_class():
    logits, targets = make_batch(0, 8, 4, 1.0)
    for loss_fn in (cross_entropy_loss, focal_loss):
        with pytest.raises(ValueError, match=r"one weight per class \(4\).*\(3,\)"):
            loss_fn(logits, targets, alpha=[1.0, 1.0, 1.0])
        for bad_alpha in ([1.0, -1.0, 1.0, 1.0], [1.0, math.nan, 1.0, 1.0]):
            with pytest.raises(ValueError, match="alpha must be finite and >= 0"):
                loss_fn(logits, targets, alpha=bad_alpha)


@FEW
@given(batch=batches(num_classes=st.just(4)), gamma=st.sampled_from([0.0, 2.0]),
       alpha_type=st.sampled_from([list, tuple, torch.tensor]))
def test_alpha_mean_is_the_plain_batch_mean(batch, gamma, alpha_type):
    logits, targets = batch
    alpha = alpha_type(ALPHA_4)
    unweighted = focal_loss(logits, targets, gamma, reduction="none")
    expected = (torch.tensor(ALPHA_4, dtype=torch.float64)[targets] * unweighted).sum() / len(targets)
    torch.testing.assert_close(focal_loss(logits, targets, gamma, alpha), expected, rtol=1e-12, atol=0)
    if gamma == 0:
        torch.testing.assert_close(cross_entropy_loss(logits, targets, alpha), expected,
                                   rtol=1e-12, atol=0)


def test_alpha_mean_differs_from_torch_weighted_mean():
    logits = torch.zeros(2, 2)
    targets = torch.tensor([0, 1])
    ours = cross_entropy_loss(logits, targets, alpha=[1.0, 3.0])
    torch_weighted = F.cross_entropy(logits, targets, weight=torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(ours, torch.tensor(2 * math.log(2)))  # (1 + 3) log 2 / 2
    torch.testing.assert_close(torch_weighted, torch.tensor(math.log(2)))  # (1 + 3) log 2 / (1 + 3)


@settings(max_examples=100, deadline=None)
@given(class_counts=st.lists(st.integers(1, 100_000), min_size=1, max_size=20),
       beta=st.one_of(st.just(0.0), st.floats(0.0, 0.9999)))
def test_class_balanced_weights_average_one_per_sample_and_favour_rare_classes(class_counts, beta):
    weights = class_balanced_weights(class_counts, beta)
    assert len(weights) == len(class_counts) and all(weight > 0 for weight in weights)
    per_sample = sum(weight * count for weight, count in zip(weights, class_counts)) / sum(class_counts)
    assert math.isclose(per_sample, 1.0, rel_tol=1e-9)
    by_count = [weight for _, weight in sorted(zip(class_counts, weights))]
    assert all(rarer >= commoner * (1 - 1e-12) for rarer, commoner in zip(by_count, by_count[1:]))
    if beta == 0:
        assert weights == pytest.approx([1.0] * len(class_counts))


def test_class_balanced_weights_follow_the_effective_number_formula():
    beta = 0.99
    rare_weight, common_weight = class_balanced_weights([10, 1000], beta)
    assert rare_weight > common_weight
    assert rare_weight / common_weight == pytest.approx((1 - beta**1000) / (1 - beta**10))


@pytest.mark.parametrize("class_counts, beta", [
    ([10, 0], 0.9), ([10, -3], 0.9), ([], 0.9), ([10, math.inf], 0.9), (["ten"], 0.9),
    ([10, 20], 1.0), ([10, 20], -0.1), ([10, 20], math.nan),
])
def test_class_balanced_weights_reject_bad_inputs(class_counts, beta):
    with pytest.raises(ValueError, match="class_counts|beta"):
        class_balanced_weights(class_counts, beta)


REDUCIBLE_LOSSES = [mae_loss, l1_logits_loss, cross_entropy_loss, focal_loss,
                    lambda z, y, reduction: focal_loss(z, y, 0.5, reduction=reduction)]


@pytest.mark.parametrize("loss_fn", REDUCIBLE_LOSSES, ids=["mae", "l1-logits", "ce", "focal-2", "focal-0.5"])
@settings(max_examples=15, deadline=None)
@given(batch=batches(max_samples=512, scales=(1.0, 10.0)))
def test_reductions_agree_for_batch_sizes_1_to_512(loss_fn, batch):
    logits, targets = batch
    per_sample = loss_fn(logits, targets, reduction="none")
    assert per_sample.shape == targets.shape
    mean, total = loss_fn(logits, targets, reduction="mean"), loss_fn(logits, targets, reduction="sum")
    assert mean.shape == total.shape == ()
    torch.testing.assert_close(total, len(targets) * mean, rtol=1e-10, atol=0)
    torch.testing.assert_close(mean, per_sample.mean(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("loss_fn", LOSS_FUNCTIONS)
def test_bad_reduction_is_a_value_error_naming_it(loss_fn):
    logits, targets = make_batch(0, 4, 3, 1.0)
    with pytest.raises(ValueError, match="'average'"):
        loss_fn(logits, targets, reduction="average")


@pytest.mark.parametrize("num_classes", [2, 3, 10])
@pytest.mark.parametrize("level", [0.0, 1e4])
def test_ties_give_uniform_probabilities(num_classes, level):
    logits = torch.full((3, num_classes), level, dtype=torch.float64, requires_grad=True)
    targets = torch.tensor([0, 1, num_classes - 1])
    expected = {
        mae_loss(logits, targets): 2 * (1 - 1 / num_classes),
        cross_entropy_loss(logits, targets): math.log(num_classes),
        focal_loss(logits, targets, gamma=2.0): (1 - 1 / num_classes) ** 2 * math.log(num_classes),
        focal_loss(logits, targets, gamma=0.5): (1 - 1 / num_classes) ** 0.5 * math.log(num_classes),
    }
    for value, formula in expected.items():
        assert value.item() == pytest.approx(formula, rel=1e-12)
        (gradient,) = torch.autograd.grad(value, logits)
        assert torch.isfinite(gradient).all()


@pytest.mark.parametrize("loss_fn", LOSS_FUNCTIONS)
@pytest.mark.parametrize("logits, targets, message", [
    (torch.zeros(4, 10), torch.tensor([0, 1, 12, 3]),
     r"^targets contain 12 but logits have 10 classes; targets must be in \[0, 9\]$"),
    (torch.zeros(4, 10), torch.tensor([0, -1, 2, 3]), r"targets contain -1 .* \[0, 9\]"),
    (torch.zeros(4, 10), torch.tensor([0, 1, 2, 3], dtype=torch.int32), "int64.*torch.int32"),
    (torch.zeros(4, 10), [0, 1, 2, 3], "int64.*list"),
    (torch.zeros(4, 10), torch.tensor([0, 1, 2]), r"shape \(4,\).*\(3,\)"),
    (torch.zeros(10), torch.tensor([0]), r"shape \[N, C\].*\(10,\)"),
    ([[0.0, 1.0]], torch.tensor([0]), r"shape \[N, C\].*list"),
    (torch.zeros(4, 10, dtype=torch.int64), torch.tensor([0, 1, 2, 3]), "floating-point.*torch.int64"),
    (torch.zeros(4, 1), torch.tensor([0, 0, 0, 0]), r"C >= 2.*\(4, 1\)"),
    (torch.zeros(0, 10), torch.zeros(0, dtype=torch.int64), r"N >= 1.*\(0, 10\)"),
])
def test_bad_inputs_are_value_errors_naming_the_bad_value(loss_fn, logits, targets, message):
    with pytest.raises(ValueError, match=message):
        loss_fn(logits, targets)


def test_validate_false_skips_the_checks():
    logits, targets = make_batch(0, 6, 3, 1.0)
    for loss_fn in LOSS_FUNCTIONS:
        assert torch.equal(loss_fn(logits, targets, validate=False), loss_fn(logits, targets))


CANONICAL_SPECS = ["mae", "l1-logits", "ce", "focal:0", "focal:0.5", "focal:2", "focal:1e-07",
                   "cb-ce", "cb-focal:2", "cb-focal:0.25"]


@pytest.mark.parametrize("spec", CANONICAL_SPECS)
def test_canonical_specs_round_trip(spec):
    assert str(parse_loss_spec(spec)) == spec


def test_specs_are_canonicalised():
    assert parse_loss_spec("focal:2.0") == LossSpec("focal", 2.0)
    assert str(parse_loss_spec("cb-focal:0.50")) == "cb-focal:0.5"
    assert str(LossSpec("ce", class_balanced=True)) == "cb-ce"
    assert str(parse_loss_spec("focal:-0")) == "focal:0"


@settings(max_examples=100, deadline=None)
@given(gamma=st.floats(0.0, 1e6, allow_nan=False), class_balanced=st.booleans())
def test_any_valid_focal_spec_round_trips_without_losing_gamma(gamma, class_balanced):
    spec = LossSpec("focal", gamma, class_balanced)
    assert parse_loss_spec(str(spec)) == spec


@pytest.mark.parametrize("spec", ["foo", "", "CE", "cb-mae", "cb-l1-logits", "ce:2", "focal", "focal:",
                                  "focal:-1", "focal:abc", "focal:nan", "focal:inf", "focal:-inf",
                                  "focal:2:3", "cb-focal"])
def test_bad_specs_are_one_line_value_errors_naming_the_spec_and_the_forms(spec):
    with pytest.raises(ValueError) as error:
        parse_loss_spec(spec)
    message = str(error.value)
    assert repr(spec) in message and LOSS_SPEC_FORMS in message and "\n" not in message
    with pytest.raises(ValueError):
        get_loss(spec)


def test_non_string_spec_is_a_type_error():
    with pytest.raises(TypeError, match="int"):
        parse_loss_spec(2)


@pytest.mark.parametrize("spec", ["cb-ce", "cb-focal:2"])
def test_class_balanced_specs_need_class_counts(spec):
    with pytest.raises(ValueError, match=f"'{spec}'.*class_counts"):
        get_loss(spec)


def test_get_loss_returns_the_matching_batch_mean_loss():
    logits, targets = make_batch(3, 32, 4, 2.0)
    class_counts = [500, 50, 5, 100]
    weights = class_balanced_weights(class_counts)
    expected_by_spec = {
        "mae": mae_loss(logits, targets),
        "l1-logits": l1_logits_loss(logits, targets),
        "ce": F.cross_entropy(logits, targets),
        "focal:0.5": focal_loss(logits, targets, gamma=0.5),
        "cb-ce": cross_entropy_loss(logits, targets, alpha=weights),
        "cb-focal:2": focal_loss(logits, targets, gamma=2.0, alpha=weights),
    }
    for spec, expected in expected_by_spec.items():
        loss_fn = get_loss(spec, class_counts)
        assert loss_fn.__name__ == spec
        torch.testing.assert_close(loss_fn(logits, targets), expected, rtol=1e-12, atol=0)
        torch.testing.assert_close(loss_fn(logits, targets, validate=False), expected, rtol=1e-12, atol=0)


def test_every_kind_in_the_registry_names_its_own_specs_and_is_in_the_spec_forms():
    from lossdemo.losses import LOSS_KINDS, LOSS_SPEC_FORMS, parse_loss_spec

    for kind in LOSS_KINDS:
        assert kind.name in LOSS_SPEC_FORMS
        for spec in kind.colours:
            assert parse_loss_spec(spec).kind is kind, spec
    colours = [colour for kind in LOSS_KINDS for spec, colour in kind.colours.items()
               if spec in ("ce", "mae", "l1-logits", "focal:0.5", "focal:2")]
    assert len(set(colours)) == 5, "the report's five losses keep five distinct colours"
