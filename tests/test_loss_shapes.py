"""The analytic loss-shape curves match the textbook gradients, and the figures get written."""

from __future__ import annotations

import numpy as np
import pytest

from lossdemo.report.captions import caption_name
from lossdemo.report.loss_shapes import (
    FOCAL_GAMMAS,
    NUM_CLASSES,
    draw_loss_shape_figures,
    l1_logits_curve,
    probability_curves,
)

FIGURE_NAMES = ["loss_shapes_mae.png", "loss_shapes_ce.png", "loss_shapes_focal.png",
                "loss_shapes_l1_logits.png", "loss_shapes_all.png"]
P_TRUE = np.linspace(0.01, 0.99, 99)


def _focal_push(p_true: np.ndarray, gamma: float) -> np.ndarray:
    """−∂ℓ/∂z_y of −(1 − p)^γ log p: (1 − p)^γ [(1 − p) − γ p log p] (Lin et al. 2017, appendix)."""
    return (1 - p_true) ** gamma * ((1 - p_true) - gamma * p_true * np.log(p_true))


@pytest.fixture(scope="module")
def curves():
    return probability_curves(true_probability=P_TRUE)


def test_the_curves_sit_at_the_requested_true_probability(curves):
    for curve in curves.values():
        np.testing.assert_allclose(curve.true_probability, P_TRUE, rtol=1e-12)


def test_mae_push_is_2p_times_1_minus_p(curves):
    np.testing.assert_allclose(curves["mae"].loss, 2 * (1 - P_TRUE), rtol=1e-10)
    np.testing.assert_allclose(curves["mae"].true_logit_push, 2 * P_TRUE * (1 - P_TRUE), rtol=1e-10)


def test_cross_entropy_push_is_1_minus_p(curves):
    np.testing.assert_allclose(curves["ce"].loss, -np.log(P_TRUE), rtol=1e-10)
    np.testing.assert_allclose(curves["ce"].true_logit_push, 1 - P_TRUE, rtol=1e-10)


@pytest.mark.parametrize("gamma", FOCAL_GAMMAS)
def test_focal_push_matches_the_derivative(curves, gamma):
    curve = curves[f"focal:{gamma:g}"]
    np.testing.assert_allclose(curve.loss, -((1 - P_TRUE) ** gamma) * np.log(P_TRUE), rtol=1e-9)
    np.testing.assert_allclose(curve.true_logit_push, _focal_push(P_TRUE, gamma), rtol=1e-9, atol=1e-12)


def test_focal_push_approaches_cross_entropy_as_gamma_goes_to_zero():
    near_zero = probability_curves(["focal:1e-6", "ce"], true_probability=P_TRUE)
    np.testing.assert_allclose(near_zero["focal:1e-6"].true_logit_push, near_zero["ce"].true_logit_push, atol=1e-5)


def test_the_push_does_not_depend_on_the_number_of_classes():
    few, many = probability_curves(["mae", "focal:2"], 3, P_TRUE), probability_curves(["mae", "focal:2"], 100, P_TRUE)
    for spec in ("mae", "focal:2"):
        np.testing.assert_allclose(few[spec].true_logit_push, many[spec].true_logit_push, rtol=1e-9)


def test_l1_logits_push_is_plus_or_minus_one_over_c():
    true_logit = np.array([-5.0, -1.0, 0.5, 1.5, 4.0])
    curve = l1_logits_curve(true_logit=true_logit)
    expected_push = np.where(true_logit < 1, 1.0, -1.0) / NUM_CLASSES
    np.testing.assert_allclose(curve.true_logit_push, expected_push, rtol=1e-12)
    np.testing.assert_allclose(curve.loss, np.abs(true_logit - 1) / NUM_CLASSES, rtol=1e-12)
    # With the other logits at 0, p_y = e^z / (e^z + C - 1).
    np.testing.assert_allclose(curve.true_probability,
                               np.exp(true_logit) / (np.exp(true_logit) + NUM_CLASSES - 1), rtol=1e-12)


@pytest.mark.parametrize("bad", [[0.0, 0.5], [0.5, 1.0], [-0.1]])
def test_probabilities_outside_the_open_interval_are_refused(bad):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        probability_curves(["ce"], true_probability=np.array(bad))


def test_class_balanced_specs_are_refused():
    with pytest.raises(ValueError, match="cb-ce"):
        probability_curves(["cb-ce"], true_probability=P_TRUE)


def test_draw_writes_every_figure(tmp_path):
    written = draw_loss_shape_figures(tmp_path / "generated")
    assert [path.name for path in written] == [name for figure in FIGURE_NAMES for name in (figure, caption_name(figure))]
    for path in written:
        assert path.parent == tmp_path / "generated"
        if path.suffix == ".md":  # each figure's caption
            assert path.read_text().startswith("<figcaption>")
            continue
        assert path.stat().st_size > 10_000, f"{path.name} is suspiciously small"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
