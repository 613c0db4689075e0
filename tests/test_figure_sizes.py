"""Figures are drawn for the site's column, so their smallest text stays legible where they are shown.

A PNG wider than the column is scaled down by the browser, and its 9 pt legend shrinks with it;
the published figures must therefore be drawn about one column wide (``report.style``).
"""

from __future__ import annotations

import struct

import matplotlib
import pytest
from support import GENERATED_DIR

from lossdemo.report import style

SAVE_DPI = 160  # savefig.dpi in lossdemo.mplstyle
# A figure may be a little wider than its axes area (a legend beside it, tight bounding box).
WIDTH_SLACK = 1.15


def _png_width(path) -> int:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return struct.unpack(">I", header[16:20])[0]


@pytest.mark.parametrize("path", sorted(GENERATED_DIR.glob("*.png")), ids=lambda path: path.name)
def test_every_published_figure_is_drawn_about_one_column_wide(path):
    limit = style.COLUMN_WIDTH_IN * SAVE_DPI * WIDTH_SLACK
    assert _png_width(path) <= limit, (f"{path.name} is {_png_width(path)} px wide at {SAVE_DPI} dpi; "
                                       f"figures are drawn {style.COLUMN_WIDTH_IN} in wide (report.style.new_figure)")


def test_the_style_file_sets_the_dpi_this_test_assumes():
    style.use_style()
    assert matplotlib.rcParams["savefig.dpi"] == SAVE_DPI


def test_a_wider_figure_gets_text_large_enough_for_the_column():
    style.use_style(style.COLUMN_WIDTH_IN)
    narrow = matplotlib.rcParams["legend.fontsize"]
    style.use_style(2 * style.COLUMN_WIDTH_IN)
    wide = matplotlib.rcParams["legend.fontsize"]
    shown_px = wide * style.DISPLAY_WIDTH_PX / (2 * style.COLUMN_WIDTH_IN * 72)
    assert wide > narrow and shown_px >= style.MIN_TEXT_PX - 1e-9
    style.use_style()
