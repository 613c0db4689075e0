"""Every loss the experiments can name, in one table, and the spec text that names one.

A loss family is one :class:`LossKind`: its spec name, its function, what the pages call it, its
parameter (if any), whether class-balanced weights apply to it, and the colour each of its specs
keeps on every figure. A spec such as ``"focal:2"``, ``"cb-ce@0.9"`` or ``"gce:0.7"`` names a kind
with its values; :func:`parse_loss_spec` reads one and :func:`get_loss` builds the loss function.
The push on the true logit each loss page draws is autograd's gradient of that same function
(``lossdemo.report.loss_shapes``), so a new kind added here is drawn, trained and coloured without
a second table to edit (the walk-through on the architecture page adds one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

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
from .inputs import Reduction, at_least_float32, check_parameter


@dataclass(frozen=True)
class LossParameter:
    """The one number a spec gives after the colon."""

    keyword: str  # the function's keyword argument, also the spec form's placeholder ("gamma")
    label: str  # how errors name it ("focal gamma")
    limits: Mapping = field(default_factory=dict)  # inputs.check_parameter's range: low, high, low_open, high_open
    symbol: str = ""  # how a reader's name for the loss writes it: "γ" in "Focal loss (γ = 2)"


@dataclass(frozen=True)
class LossKind:
    """One family of losses: everything the project knows about it, in one place."""

    name: str  # the spec name, e.g. "focal"
    function: Callable[..., Tensor]  # its functional form, (logits, targets, [parameter], reduction, validate)
    title: str  # what a reader calls it, capitalised as at the start of a label: "Focal loss"
    parameter: LossParameter | None = None
    class_balanced: bool = False  # whether "cb-<name>" weights it by class_balanced_weights
    needs_class_counts: bool = False  # whether the function itself takes the training class counts
    colours: Mapping[str, str] = field(default_factory=dict)  # spec text -> its colour on every figure


LOSS_KINDS: tuple[LossKind, ...] = (
    LossKind("mae", mae_loss, "MAE", colours={"mae": "#D55E00"}),
    LossKind("l1-logits", l1_logits_loss, "L1 on raw logits", colours={"l1-logits": "#000000"}),
    LossKind("ce", cross_entropy_loss, "Cross-entropy", class_balanced=True,
             colours={"ce": "#0072B2", "cb-ce": "#56B4E9"}),
    LossKind("focal", focal_loss, "Focal loss",
             LossParameter("gamma", "focal gamma", {"low": 0.0, "high": math.inf}, "γ"), class_balanced=True,
             colours={"focal:0.5": "#009E73", "focal:2": "#CC79A7", "cb-focal:2": "#8C564B"}),
    LossKind("ls", label_smoothing_loss, "Label smoothing",
             LossParameter("epsilon", "label smoothing epsilon", {"low": 0.0, "high": 1.0, "high_open": True}, "ε"),
             colours={"ls:0.1": "#8C564B"}),
    LossKind("gce", generalized_cross_entropy_loss, "Generalized cross-entropy",
             LossParameter("q", "generalized cross-entropy q", {"low": 0.0, "high": 1.0, "low_open": True}, "q"),
             colours={"gce:0.7": "#E69F00"}),
    LossKind("nce+mae", nce_mae_loss, "NCE + MAE", colours={"nce+mae": "#56B4E9"}),
    LossKind("la-ce", logit_adjusted_loss, "Logit-adjusted cross-entropy",
             LossParameter("tau", "logit adjustment tau", {"low": 0.0, "high": math.inf}, "τ"), needs_class_counts=True,
             colours={"la-ce:1": "#E69F00"}),
    LossKind("sce", symmetric_cross_entropy_loss, "Symmetric cross-entropy", colours={"sce": "#882255"}),
    LossKind("poly", poly1_loss, "Poly-1",
             LossParameter("epsilon", "poly-1 epsilon", {"low": -1.0, "high": math.inf}, "ε"), colours={"poly:1": "#999933"}),
)
KINDS_BY_NAME: dict[str, LossKind] = {kind.name: kind for kind in LOSS_KINDS}


def _spec_forms(kinds: Sequence[LossKind]) -> str:
    """The spec forms, for "allowed:" messages; the cb- forms follow the last loss they can weight."""
    def form(kind: LossKind) -> str:
        return kind.name + (f":<{kind.parameter.keyword}>" if kind.parameter else "")

    weighted = [kind for kind in kinds if kind.class_balanced]
    forms = []
    for kind in kinds:
        forms.append(form(kind))
        if weighted and kind is weighted[-1]:
            forms += [f"cb-{form(one)}[@<beta>]" for one in weighted]
    return ", ".join(forms)


LOSS_SPEC_FORMS = _spec_forms(LOSS_KINDS)  # the built-in kinds' forms; loss_spec_forms() adds registered ones


def loss_spec_forms() -> str:
    """The spec forms of every kind, registered ones included."""
    return _spec_forms(tuple(KINDS_BY_NAME.values()))


def register_loss(kind: LossKind) -> None:
    """Add ``kind`` to the losses every experiment, figure and error message knows (``--losses`` then
    accepts its specs in this process). A kind's name must be new, and its colours must be its own."""
    if not isinstance(kind, LossKind):
        raise TypeError(f"loss kind {kind!r} is invalid; allowed: a LossKind")
    if kind.name in KINDS_BY_NAME or not kind.name or any(char in kind.name for char in ":@ "):
        raise ValueError(f"loss kind name {kind.name!r} is invalid; allowed: a new name without ':', '@' or spaces "
                         f"(taken: {', '.join(KINDS_BY_NAME)})")
    KINDS_BY_NAME[kind.name] = kind
    LOSS_COLOURS.update(kind.colours)
# Every fixed spec colour; a spec without one gets a colour no fixed spec uses (lossdemo.report.style).
LOSS_COLOURS: dict[str, str] = {spec: colour for kind in LOSS_KINDS for spec, colour in kind.colours.items()}


@dataclass(frozen=True)
class LossSpec:
    """A parsed loss spec; ``str()`` gives its canonical text, e.g. "cb-focal:2" or "gce:0.7"."""

    name: str  # a LossKind's name: "mae", "ce", "focal", ...
    parameter: float | None = None  # the kind's parameter (γ, ε, q, τ) for the kinds that take one
    class_balanced: bool = False  # weight classes by class_balanced_weights (ce and focal only)
    beta: float = DEFAULT_CB_BETA  # class_balanced_weights' β, written "@β" after a cb-* spec when not the default

    @property
    def gamma(self) -> float | None:
        """Focal loss's γ (None for the other losses)."""
        return self.parameter if self.name == "focal" else None

    @property
    def kind(self) -> LossKind:
        """The family this spec belongs to (its function, parameter, colours, ...)."""
        return KINDS_BY_NAME[self.name]

    @property
    def needs_class_counts(self) -> bool:
        return self.class_balanced or self.kind.needs_class_counts

    @property
    def title(self) -> str:
        """The name a reader reads in legends and learner tables: "Focal loss (γ = 2)",
        "Class-balanced cross-entropy (β = 0.9)". The spec text stays the name in code and evidence tables."""
        kind = self.kind
        title = kind.title
        settings = []
        if self.parameter is not None and kind.parameter is not None:
            settings.append(f"{kind.parameter.symbol or kind.parameter.keyword} = {_number_text(self.parameter)}")
        if self.class_balanced:
            title = "Class-balanced " + title[0].lower() + title[1:]
            if self.beta != DEFAULT_CB_BETA:
                settings.append(f"β = {_number_text(self.beta)}")
        return f"{title} ({', '.join(settings)})" if settings else title

    def __str__(self) -> str:
        prefix = "cb-" if self.class_balanced else ""
        suffix = f"@{_number_text(self.beta)}" if self.class_balanced and self.beta != DEFAULT_CB_BETA else ""
        if self.parameter is None:
            return prefix + self.name + suffix
        return f"{prefix}{self.name}:{_number_text(self.parameter)}{suffix}"


def _number_text(value: float) -> str:
    text = f"{value:g}"
    return text if float(text) == value else repr(float(value))  # ":g" keeps 6 digits; two specs must not share a name


def loss_title(spec: str) -> str:
    """A spec's name for readers: ``loss_title("gce:0.7")`` is "Generalized cross-entropy (q = 0.7)"."""
    return parse_loss_spec(spec).title


def parse_loss_spec(spec: str) -> LossSpec:
    """Parse one of ``LOSS_SPEC_FORMS`` (e.g. "focal:0.5", "cb-ce", "ls:0.1") into a LossSpec."""
    if not isinstance(spec, str):
        raise TypeError(f"loss spec must be a str; got {type(spec).__name__} {spec!r}")
    body, has_at, beta_text = spec.partition("@")
    name, has_colon, text = body.partition(":")
    class_balanced = name.startswith("cb-")
    base_name = name.removeprefix("cb-")
    kind = KINDS_BY_NAME.get(base_name)
    if class_balanced and not (kind and kind.class_balanced):
        raise ValueError(f"unknown loss {spec!r}; allowed: {loss_spec_forms()}")
    beta = DEFAULT_CB_BETA
    if has_at:
        if not class_balanced:
            raise ValueError(f"loss {spec!r} takes no @beta (only cb-ce and cb-focal do); allowed: {loss_spec_forms()}")
        try:
            beta = float(beta_text)
        except ValueError:
            beta = math.nan
        if not 0 <= beta < 1:
            raise ValueError(f"class-balanced beta {beta_text!r} in loss {spec!r} is invalid; allowed: a number in [0, 1)")
    if kind is not None and kind.parameter is None and not has_colon:
        return LossSpec(base_name, None, class_balanced, beta)
    if kind is None or kind.parameter is None:
        raise ValueError(f"unknown loss {spec!r}; allowed: {loss_spec_forms()}")
    label, limits = kind.parameter.label, kind.parameter.limits
    if not has_colon:
        example = "focal:2" if base_name == "focal" else f"{base_name}:0.1"
        what = "a gamma" if base_name == "focal" else f"its {label.split()[-1]}"
        raise ValueError(f"loss {spec!r} needs {what}, e.g. {example if not class_balanced else 'cb-' + example}; "
                         f"allowed: {loss_spec_forms()}")
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    try:
        check_parameter(label, value, **limits)
    except ValueError:
        if base_name == "focal":
            raise ValueError(f"bad focal gamma {text!r} in loss {spec!r} (need a finite number >= 0); "
                             f"allowed: {loss_spec_forms()}") from None
        raise ValueError(f"{label} {text!r} in loss {spec!r} is invalid; allowed: {_range_text(limits)}") from None
    return LossSpec(base_name, abs(value) if value == 0 else value, class_balanced, beta)  # abs: "focal:-0" is 0.0


def _range_text(limits: dict) -> str:
    low, high = limits["low"], limits["high"]
    left = "(" if limits.get("low_open") else "["
    right = ")" if limits.get("high_open") or high == math.inf else "]"
    return f"a number in {left}{low:g}, {'∞' if high == math.inf else f'{high:g}'}{right}"


def get_loss(spec: str, class_counts: Sequence[int] | None = None) -> Callable[..., Tensor]:
    """Build ``loss_fn(logits, targets, *, validate=True, reduction="mean") -> loss`` from a spec: the batch
    mean, or with ``reduction="none"`` one loss per sample (stacked runs average each run's own samples).

    Args:
        spec: One of ``LOSS_SPEC_FORMS``.
        class_counts: Training samples per class; required by the cb-* specs and by the kinds that
            need them (la-ce), ignored otherwise.
    """
    loss_spec = parse_loss_spec(spec)
    if loss_spec.needs_class_counts and class_counts is None:
        raise ValueError(f"loss {spec!r} needs class_counts (training samples per class); got None")
    class_weights = class_balanced_weights(class_counts, loss_spec.beta) if loss_spec.class_balanced else None
    kind = loss_spec.kind
    options = {} if loss_spec.parameter is None else {kind.parameter.keyword: loss_spec.parameter}
    if kind.needs_class_counts:
        options["class_counts"] = list(class_counts)
    weights_by_place = {}  # (device, dtype) -> tensor: a host-to-device copy every step would sync

    def loss_fn(logits: Tensor, targets: Tensor, *, validate: bool = True, reduction: Reduction = "mean") -> Tensor:
        if class_weights is not None:
            place = (logits.device, at_least_float32(logits).dtype)
            if place not in weights_by_place:
                weights_by_place[place] = torch.tensor(class_weights, dtype=place[1],
                                                       device=place[0])
            options["alpha"] = weights_by_place[place]
        return kind.function(logits, targets, reduction=reduction, validate=validate, **options)

    loss_fn.__name__ = str(loss_spec)
    return loss_fn
