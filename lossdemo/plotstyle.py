"""The one Matplotlib style shared by every figure lossdemo draws.

Figures are drawn headless (Agg) so `reproduce` works on servers and in CI. Colours follow the
Okabe-Ito palette, and each loss keeps the same colour on every figure of the site.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib

# Headless by default (CI machines, GPU servers, worker processes), but leave notebooks and an
# explicit MPLBACKEND alone so figures still show inline in Jupyter.
if "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE_PATH = Path(__file__).with_name("lossdemo.mplstyle")

_OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
_FIXED_LOSS_COLOURS = {
    "ce": "#0072B2",
    "mae": "#D55E00",
    "l1-logits": "#000000",
    "focal:0.5": "#009E73",
    "focal:2": "#CC79A7",
}


def use_style() -> None:
    """Apply the shared style to the current Matplotlib session."""
    plt.style.use(STYLE_PATH)


def loss_colour(spec: str, index: int = 0) -> str:
    """Colour for a loss spec: fixed for the report's losses, palette order for the rest."""
    return _FIXED_LOSS_COLOURS.get(spec, _OKABE_ITO[index % len(_OKABE_ITO)])
