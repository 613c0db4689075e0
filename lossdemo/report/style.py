"""The one Matplotlib style and the one palette shared by every figure lossdemo draws.

Figures are drawn headless (Agg) so ``reproduce`` works on servers and in CI. Colours follow the
Okabe-Ito palette (distinguishable with the common colour-vision deficiencies), and each of the
report's losses keeps the same colour on every figure of the site.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib

# Headless by default (CI machines, GPU servers, worker processes), but leave notebooks and an
# explicit MPLBACKEND alone so figures still show inline in Jupyter.
if "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt

from ..losses.registry import LOSS_COLOURS

STYLE_PATH = Path(__file__).with_name("lossdemo.mplstyle")

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
# Each loss spec's fixed colour lives with its loss (lossdemo.losses.registry): the same on every figure.
FIXED_LOSS_COLOURS = LOSS_COLOURS
# The report's own losses, drawn together on most figures: no other loss may borrow their colours.
_REPORT_LOSSES = ("ce", "mae", "l1-logits", "focal:0.5", "focal:2")
# For losses without a fixed colour, in the order a figure meets them: none of these is a fixed one.
EXTRA_LOSS_COLOURS = ("#E69F00", "#56B4E9", "#8C564B", "#7F7F7F", "#F0E442", "#17BECF", "#BCBD22")
# Palette slots of the loss pages' extra focal γ values (slots the fixed colours do not take).
LOSS_SHAPE_SLOTS = {"focal:1": 1, "focal:5": 5}
# Single-series figures (one curve, or accuracy bars with their calibration gap).
SERIES_COLOUR = "#009E73"
ACCURACY_BAR_COLOUR = "#0072B2"
GAP_COLOUR = "#D55E00"
NEUTRAL_COLOUR = "grey"  # reference lines and legend keys that stand for every loss

# The site shows a figure scaled to its content column, about DISPLAY_WIDTH_PX wide on a desktop
# screen (Material for MkDocs with its navigation). Figures are drawn COLUMN_WIDTH_IN wide, so that
# the style's smallest text (9 pt legends) lands at MIN_TEXT_PX or more there; a wider figure gets
# proportionally larger text. A click opens any figure full size (the site's lightbox).
DISPLAY_WIDTH_PX = 688
MIN_TEXT_PX = 11
COLUMN_WIDTH_IN = 7.2
_TEXT_SIZES = ("font.size", "axes.titlesize", "axes.labelsize", "legend.fontsize", "xtick.labelsize",
               "ytick.labelsize", "figure.titlesize")


def use_style(width_in: float = COLUMN_WIDTH_IN) -> None:
    """Apply the shared style, with text large enough for a figure ``width_in`` inches wide to be
    legible at the site's column width."""
    plt.style.use(STYLE_PATH)
    shown_px_per_point = DISPLAY_WIDTH_PX / (width_in * 72)
    smallest_point = matplotlib.rcParams["legend.fontsize"]
    scale = max(1.0, MIN_TEXT_PX / (smallest_point * shown_px_per_point))
    if scale > 1.0:
        for key in _TEXT_SIZES:
            size = matplotlib.rcParams[key]
            if isinstance(size, (int, float)):
                matplotlib.rcParams[key] = size * scale


def new_figure(height_in: float, rows: int = 1, columns: int = 1, width_in: float = COLUMN_WIDTH_IN, **subplots):
    """``plt.subplots`` in the shared style, sized for the site's column: (figure, axes)."""
    use_style(width_in)
    return plt.subplots(rows, columns, figsize=(width_in, height_in), **subplots)


def loss_colour(spec: str, index: int = 0) -> str:
    """Colour for a loss spec: its fixed colour, else palette slot ``index``; a slot holding one of the
    report's losses' colours gives way to an extra colour, so a new loss never looks like CE or MAE."""
    if spec in FIXED_LOSS_COLOURS:
        return FIXED_LOSS_COLOURS[spec]
    colour = OKABE_ITO[index % len(OKABE_ITO)]
    if colour in {FIXED_LOSS_COLOURS[name] for name in _REPORT_LOSSES}:
        return EXTRA_LOSS_COLOURS[index % len(EXTRA_LOSS_COLOURS)]
    return colour


def loss_colour_in(spec: str, order: Sequence[str]) -> str:
    """The loss's fixed colour, else the next extra colour among the unfixed losses of ``order``."""
    if spec in FIXED_LOSS_COLOURS:
        return FIXED_LOSS_COLOURS[spec]
    unfixed = [other for other in order if other not in FIXED_LOSS_COLOURS]
    return EXTRA_LOSS_COLOURS[unfixed.index(spec) % len(EXTRA_LOSS_COLOURS)]


# A panel title longer than this breaks before its parameter: "Label smoothing" / "(ε = 0.1)".
PANEL_TITLE_CHARACTERS = 22


def panel_title(name: str) -> str:
    """A loss's reader name as the title of one small panel: on two lines before its bracketed
    parameter when it would not fit one, never inside the parameter."""
    if len(name) <= PANEL_TITLE_CHARACTERS or " (" not in name:
        return name
    head, _, parameter = name.partition(" (")
    return f"{head}\n({parameter}"
