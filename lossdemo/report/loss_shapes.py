"""Analytic figures for the loss pages: each loss and the push it gives the true logit.

The curves come from the loss functions in ``lossdemo.losses`` through autograd, so a figure shows
what the implementation computes rather than a formula typed a second time. The set-up is one
example of a C-class problem (C = 10, as in the datasets here) whose true class has softmax
probability p_y while the other classes share 1 − p_y equally; the gradient on the true logit
depends only on p_y, so this slice loses nothing. ``l1-logits`` acts on raw logits, so it gets its
own figure against the true logit z_y, with every other logit held at 0.

    python -c "from pathlib import Path; from lossdemo.report.loss_shapes import draw_loss_shape_figures; \
draw_loss_shape_figures(Path('docs/generated'))"
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import losses
from ..losses import loss_title
from .captions import caption_name, figcaption
from .output import save_figure
from .style import LOSS_SHAPE_SLOTS, NEUTRAL_COLOUR, loss_colour, new_figure, plt

NUM_CLASSES = 10
FOCAL_GAMMAS = (0.5, 1.0, 2.0, 5.0)
PROBABILITY_SPECS = ("mae", "ce") + tuple(f"focal:{gamma:g}" for gamma in FOCAL_GAMMAS)
# The remedies the label-noise experiment trains: the push table lists them under the report's losses.
REMEDY_SPECS = ("gce:0.7", "nce+mae", "ls:0.1")


@dataclass(frozen=True)
class LossCurve:
    """One loss sampled along a path of logits; arrays share one length.

    Attributes:
        spec: Loss spec as accepted by ``lossdemo.losses.parse_loss_spec``, e.g. "focal:2".
        true_logit: z_y at each sample point.
        true_probability: p_y = softmax(z)_y at each sample point.
        loss: Per-example loss.
        true_logit_push: −∂loss/∂z_y, how strongly one gradient-descent step raises the true logit.
    """

    spec: str
    true_logit: np.ndarray
    true_probability: np.ndarray
    loss: np.ndarray
    true_logit_push: np.ndarray


def _per_example_loss(spec: str, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Unreduced loss from the loss registry's own function, so a row's gradient is that example's."""
    if losses.parse_loss_spec(spec).needs_class_counts:
        raise ValueError(f"loss {spec!r} needs class counts; allowed here: a loss of one example without them")
    return losses.get_loss(spec)(logits, targets, reduction="none", validate=False)


def _curve_along(spec: str, logits: torch.Tensor) -> LossCurve:
    """Evaluate ``spec`` on each row of ``logits`` (true class 0) and differentiate by autograd."""
    logits = logits.detach().clone().requires_grad_(True)  # (P, C), float64
    targets = torch.zeros(logits.shape[0], dtype=torch.int64)
    per_example = _per_example_loss(spec, logits, targets)
    per_example.sum().backward()  # rows are independent, so row i's gradient is example i's
    return LossCurve(
        spec=spec,
        true_logit=logits[:, 0].detach().numpy().copy(),
        true_probability=torch.softmax(logits.detach(), dim=1)[:, 0].numpy().copy(),
        loss=per_example.detach().numpy().copy(),
        true_logit_push=-logits.grad[:, 0].numpy().copy(),
    )


def probability_curves(
    specs: Sequence[str] = PROBABILITY_SPECS,
    num_classes: int = NUM_CLASSES,
    true_probability: np.ndarray | None = None,
) -> dict[str, LossCurve]:
    """Loss and true-logit push against p_y, with the other classes sharing 1 − p_y equally.

    Args:
        specs: Loss specs to evaluate (no class-balanced ones: one example has no class counts).
        num_classes: C; the other C − 1 classes each get probability (1 − p_y) / (C − 1).
        true_probability: Values of p_y in (0, 1); by default a fine grid that avoids the ends,
            where cross-entropy is infinite.

    Returns:
        Curves keyed by spec, in the order given.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2; got {num_classes}")
    if true_probability is None:
        true_probability = np.linspace(0.005, 0.995, 397)
    p_true = torch.as_tensor(np.asarray(true_probability), dtype=torch.float64)
    if not bool(torch.all((p_true > 0) & (p_true < 1))):
        raise ValueError("true_probability values must lie strictly between 0 and 1")
    # Logits are log-probabilities (softmax is shift-invariant), so softmax(z) reproduces p exactly.
    logits = torch.empty(len(p_true), num_classes, dtype=torch.float64)
    logits[:, 0] = torch.log(p_true)
    logits[:, 1:] = torch.log((1 - p_true) / (num_classes - 1))[:, None]
    return {spec: _curve_along(spec, logits) for spec in specs}


def l1_logits_curve(num_classes: int = NUM_CLASSES, true_logit: np.ndarray | None = None) -> LossCurve:
    """``l1-logits`` against the raw true logit z_y, with every other logit at 0.

    Args:
        num_classes: C; the loss averages |z_k − onehot_k| over the C classes.
        true_logit: Values of z_y; by default a grid over [−6, 6] that straddles the kink at 1.

    Returns:
        The curve; its push is +1/C below z_y = 1 and −1/C above, whatever p_y is.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be >= 2; got {num_classes}")
    if true_logit is None:
        true_logit = np.linspace(-6.0, 6.0, 401)
    logits = torch.zeros(len(true_logit), num_classes, dtype=torch.float64)
    logits[:, 0] = torch.as_tensor(np.asarray(true_logit), dtype=torch.float64)
    return _curve_along("l1-logits", logits)


def _style_for(spec: str) -> dict:
    colour = loss_colour(spec, LOSS_SHAPE_SLOTS.get(spec, 0))
    return {"color": colour, "label": loss_title(spec)}


def _draw_against_probability(curves: Sequence[LossCurve], title: str, reference: LossCurve | None,
                              num_classes: int) -> plt.Figure:
    """Two panels against p_y: the loss (left) and the push on the true logit (right)."""
    figure, (loss_axes, push_axes) = new_figure(3.7, columns=2)
    if reference is not None:  # cross-entropy as a dashed yardstick on the other losses' figures
        for axes, values in ((loss_axes, reference.loss), (push_axes, reference.true_logit_push)):
            axes.plot(reference.true_probability, values, linestyle="--", color=NEUTRAL_COLOUR,
                      linewidth=1.2, label=f"{loss_title('ce')} (reference)")
    for curve in curves:
        style = _style_for(curve.spec)
        loss_axes.plot(curve.true_probability, curve.loss, **style)
        push_axes.plot(curve.true_probability, curve.true_logit_push, **style)
    for axes in (loss_axes, push_axes):
        # A freshly initialised network sits near p_y = 1/C on every example.
        axes.axvline(1 / num_classes, color=NEUTRAL_COLOUR, linestyle=":", linewidth=1)
        axes.set_xlabel("$p_y$, probability given to the true class")
        axes.set_xlim(0, 1)
    loss_axes.set_ylim(bottom=0, top=min(5.0, 1.05 * max(float(np.max(c.loss)) for c in curves)))
    loss_axes.set_ylabel("loss")
    loss_axes.set_title("loss")
    push_axes.set_ylabel(r"$-\partial \ell / \partial z_y$")
    push_axes.set_title("push on the true logit (dotted: chance, $1/C$)")
    push_axes.set_ylim(bottom=min(0.0, float(min(np.min(c.true_logit_push) for c in curves))) - 0.02)
    loss_axes.legend(loc="upper right", fontsize="small")  # every loss is small at the top right, so nothing is hidden
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _draw_l1_logits(curve: LossCurve, num_classes: int) -> plt.Figure:
    """Two panels against z_y: the loss has a kink at z_y = 1 and a flat-magnitude gradient."""
    figure, (loss_axes, push_axes) = new_figure(3.7, columns=2)
    style = _style_for(curve.spec)
    loss_axes.plot(curve.true_logit, curve.loss, **style)
    push_axes.plot(curve.true_logit, curve.true_logit_push, **style)
    for axes in (loss_axes, push_axes):
        axes.axvline(1.0, color=NEUTRAL_COLOUR, linestyle=":", linewidth=1)
        axes.set_xlabel("$z_y$, raw true-class logit\n(other logits at 0)")
    loss_axes.set_ylabel("loss")
    loss_axes.set_title("loss")
    push_axes.set_ylabel(r"$-\partial \ell / \partial z_y$")
    push_axes.set_title(f"push on the true logit: $\\pm 1/C$, $C = {num_classes}$")
    bound = 1.6 / num_classes
    push_axes.set_ylim(-bound, bound)
    figure.suptitle("l1-logits: nn.L1Loss between raw logits and the one-hot target")
    figure.tight_layout()
    return figure


def _draw_all(curves: dict[str, LossCurve], l1_curve: LossCurve, num_classes: int) -> plt.Figure:
    """Every loss on one pair of axes; l1-logits is placed at the p_y its logits imply."""
    l1_style = _style_for("l1-logits")
    l1_style["label"] += ", other logits at 0"
    figure = _draw_against_probability(list(curves.values()), "All losses", None, num_classes)
    loss_axes, push_axes = figure.axes
    loss_axes.plot(l1_curve.true_probability, l1_curve.loss, **l1_style)
    push_axes.plot(l1_curve.true_probability, l1_curve.true_logit_push, **l1_style)
    push_axes.set_ylim(bottom=-1.5 / num_classes)
    loss_axes.get_legend().remove()  # seven curves: the legend goes below both panels
    handles, labels = loss_axes.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=2, bbox_to_anchor=(0.5, 0.0))
    figure.tight_layout(rect=(0, 0.24, 1, 1))
    return figure


PUSH_TABLE_PROBABILITIES = (1 / NUM_CLASSES, 0.5, 0.9)  # chance at C = 10, a coin flip, a confident hit


def push_on_true_logit(spec: str, true_probability: float, num_classes: int = NUM_CLASSES) -> float:
    """−∂loss/∂z_y for one example with p_y = ``true_probability`` (others equal), by autograd."""
    return float(probability_curves((spec,), num_classes, np.array([true_probability]))[spec].true_logit_push[0])


def push_table_markdown(specs: Sequence[str] = PROBABILITY_SPECS + REMEDY_SPECS, num_classes: int = NUM_CLASSES) -> str:
    """The push on the true logit at a few values of p_y, absolute and as a share of cross-entropy's.

    A worked example computed by autograd from ``lossdemo.losses``, like the figures: at chance a
    focal loss pushes harder than cross-entropy, MAE much less; near p_y = 1 every push fades.
    """
    probabilities = np.array(PUSH_TABLE_PROBABILITIES)
    curves = probability_curves(specs, num_classes, probabilities)
    reference = curves["ce"].true_logit_push
    header = " | ".join(f"$p_y = {p:g}$" for p in probabilities)
    lines = [f"| loss | {header} |", "|---|" + "---:|" * len(probabilities)]
    for spec, curve in curves.items():
        cells = " | ".join(f"{push:.3f} ({push / ce:.2f}× CE)" for push, ce in zip(curve.true_logit_push, reference))
        lines.append(f"| {_style_for(spec)['label']} | {cells} |")
    lines += ["", f"The push $-\\partial \\ell / \\partial z_y$ on one example whose true class has probability "
              f"$p_y$ and whose other {num_classes - 1} classes share the rest equally, computed by autograd from "
              "`lossdemo.losses`; in brackets, as a multiple of cross-entropy's push at the same $p_y$."]
    return "\n".join(lines) + "\n"


def draw_loss_shape_figures(out_dir: Path, num_classes: int = NUM_CLASSES) -> list[Path]:
    """Write the loss-shape PNGs used by the loss pages into ``out_dir``.

    Args:
        out_dir: Folder for the figures; created if missing.
        num_classes: C for the analytic set-up.

    Returns:
        Paths of ``loss_shapes_{mae,ce,focal,l1_logits,all}.png``, in that order, each followed by its
        caption file (``captions.caption_name``), so that a caller registers both.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    curves = probability_curves(num_classes=num_classes)
    l1_curve = l1_logits_curve(num_classes=num_classes)
    focal_curves = [curve for spec, curve in curves.items() if spec.startswith("focal:")]
    figures = {
        "loss_shapes_mae.png": _draw_against_probability(
            [curves["mae"]], "MAE on softmax probabilities", curves["ce"], num_classes),
        "loss_shapes_ce.png": _draw_against_probability(
            [curves["ce"]], "Cross-entropy", None, num_classes),
        "loss_shapes_focal.png": _draw_against_probability(
            focal_curves, "Focal loss for several γ", curves["ce"], num_classes),
        "loss_shapes_l1_logits.png": _draw_l1_logits(l1_curve, num_classes),
        "loss_shapes_all.png": _draw_all(curves, l1_curve, num_classes),
    }
    texts = shape_captions(num_classes)
    written = []
    for name, figure in figures.items():
        written.append(save_figure(figure, out_dir / name))
        caption = out_dir / caption_name(name)
        caption.write_text(figcaption(texts[name]))
        written.append(caption)
    return written


def shape_captions(num_classes: int = NUM_CLASSES) -> dict[str, str]:
    """Each loss-shape figure's takeaway, from pushes computed by autograd like the figures: what each
    loss does at chance (p_y = 1/C, where a fresh network starts) against cross-entropy."""
    chance = 1 / num_classes
    high = PUSH_TABLE_PROBABILITIES[-1]
    at_chance = {spec: push_on_true_logit(spec, chance, num_classes) for spec in PROBABILITY_SPECS}
    ce, ce_high = at_chance["ce"], push_on_true_logit("ce", high, num_classes)
    where = f"where the true class has probability 1/{num_classes}"
    mae_curve = probability_curves(("mae",), num_classes)["mae"]
    peak = int(np.argmax(mae_curve.true_logit_push))
    focal = [spec for spec in PROBABILITY_SPECS if spec.startswith("focal:")]
    l1_push = float(np.max(np.abs(l1_logits_curve(num_classes).true_logit_push)))
    weakest, strongest = min(at_chance, key=at_chance.get), max(at_chance, key=at_chance.get)
    return {
        "loss_shapes_ce.png": (
            f"At chance, {where}, cross-entropy pushes the true logit with {ce:.2f}, and still with {ce_high:.2f} at "
            f"probability {high:g}: it keeps raising the confidence of examples it already gets right."),
        "loss_shapes_mae.png": (
            f"At chance, {where}, MAE pushes the true logit with {at_chance['mae']:.2f}, "
            f"{at_chance['mae'] / ce:.2f} of cross-entropy's {ce:.2f}; its push is largest, "
            f"{mae_curve.true_logit_push[peak]:.2f}, at probability {mae_curve.true_probability[peak]:.2f} and vanishes "
            "on the examples it gets most wrong."),
        "loss_shapes_focal.png": (
            f"At chance, {where}, focal loss pushes the true logit harder than cross-entropy, "
            + ", ".join(f"{at_chance[spec] / ce:.2f} times as hard at γ = {spec.partition(':')[2]}" for spec in focal)
            + f"; at probability {high:g} its push shrinks to "
            + ", ".join(f"{push_on_true_logit(spec, high, num_classes) / ce_high:.2f}" for spec in focal)
            + " of cross-entropy's, in the same order."),
        "loss_shapes_l1_logits.png": (
            f"L1 on raw logits pushes the true logit by {l1_push:.2f}, 1/{num_classes}, below z = 1 and pulls it back "
            f"by as much above, whatever the probabilities; at chance cross-entropy pushes with {ce:.2f}."),
        "loss_shapes_all.png": (
            f"At chance, {where}, the pushes on the true logit run from {at_chance[weakest]:.2f} for "
            f"{loss_title(weakest)} to {at_chance[strongest]:.2f} for {loss_title(strongest)}, against "
            f"cross-entropy's {ce:.2f}; near probability 1 every push on the probabilities fades."),
    }
