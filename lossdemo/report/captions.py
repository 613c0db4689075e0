"""Figure captions: one or two sentences under each figure that say what to see, with its numbers.

A page shows a figure as::

    <figure markdown="span">
      ![alt](../generated/x.png)
      --8<-- "generated/x_caption.md"
    </figure>

so every generated PNG gets ``<stem>_caption.md`` beside it, holding one ``<figcaption>`` element.
A caption's numbers are computed from the same runs by the same functions as the tables on its page
(``tables.cell``, ``measures``), so a caption cannot disagree with a table. The text is plain: inside
``<figure markdown="span">`` md_in_html reads it as inline Markdown, so characters that mean
something there or in HTML are refused rather than escaped (:func:`figcaption`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..losses import loss_title

CAPTION_SUFFIX = "_caption.md"
# Markdown and HTML would read these, so a caption never contains them.
_UNSAFE = re.compile(r"[*_`\[\]<>|#\\&]")


def caption_name(figure_name: str) -> str:
    """``"label_noise_mnist1d_accuracy.png"`` -> ``"label_noise_mnist1d_accuracy_caption.md"``."""
    return figure_name.removesuffix(".png") + CAPTION_SUFFIX


def caption_suffix(figure_suffix: str) -> str:
    """A figure's suffix in ``experiment_report.write_per_dataset`` -> its caption's: ``".png"`` (the
    experiment's main figure) -> ``"caption.md"``, ``"accuracy.png"`` -> ``"accuracy_caption.md"``."""
    return "caption.md" if figure_suffix == ".png" else caption_name(figure_suffix)


def figcaption(text: str) -> str:
    """The caption file's contents: ``text`` as one ``<figcaption>`` element on one line.

    A caption states a measured (or computed) takeaway, so it must hold a number; text that Markdown
    or HTML would read differently is an error, not something to escape.
    """
    text = " ".join(text.split())
    if not re.search(r"\d", text):
        raise ValueError(f"caption {text!r} has no number; a caption states the figure's takeaway with its numbers")
    unsafe = sorted(set(_UNSAFE.findall(text)))
    if unsafe:
        raise ValueError(f"caption {text!r} contains {unsafe}, which Markdown or HTML would read; allowed: plain text")
    return f"<figcaption>{text}</figcaption>\n"


def caption_writer(text: Callable[[], str]) -> Callable[[Path], Path]:
    """A ``write_per_dataset`` output that writes ``figcaption(text())`` to the path it is given."""

    def write(path: Path) -> Path:
        path.write_text(figcaption(text()))
        return path

    return write


def with_captions(outputs: dict[str, Callable], captions: dict[str, Callable[[], str]]) -> dict[str, Callable]:
    """``write_per_dataset`` outputs plus, for each figure suffix in ``captions``, its caption file.

    Every figure in ``outputs`` must have a caption: a figure without one is an error here, not a
    missing line on a page.
    """
    figures = [suffix for suffix in outputs if suffix.endswith(".png")]
    missing = [suffix for suffix in figures if suffix not in captions]
    if missing:
        raise ValueError(f"figures without a caption: {missing}; allowed: every figure has one")
    return outputs | {caption_suffix(suffix): caption_writer(text) for suffix, text in captions.items()
                      if suffix in outputs}


def join_names(names: Sequence[str]) -> str:
    """``["A", "B", "C"]`` -> ``"A, B and C"``."""
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def per_class_caption(matrix: dict[str, np.ndarray], class_names: Sequence[str], abandoned_below: float) -> str:
    """The per-class heatmap's takeaway: the loss with the weakest class (and how many classes it
    leaves below ``abandoned_below``) against the loss whose weakest class is strongest.

    ``matrix`` is ``figures.per_class_matrix``: the cells the heatmap prints, rounded as it prints them.
    """
    if not matrix:
        return "No complete runs: 0 cells to show."
    weakest = {loss: int(np.argmin(cells)) for loss, cells in matrix.items()}
    worst = min(matrix, key=lambda loss: matrix[loss][weakest[loss]])
    best = max(matrix, key=lambda loss: matrix[loss][weakest[loss]])
    low = matrix[worst][weakest[worst]] * 100
    text = (f"{loss_title(worst)} is weakest on class {class_names[weakest[worst]]}, at {low:.0f} % test accuracy")
    dropped = int(np.sum(np.round(matrix[worst] * 100) < abandoned_below * 100))  # as the cells print them
    if dropped:
        text += f", and leaves {dropped} of {len(class_names)} classes below {abandoned_below * 100:.0f} %"
    if best == worst:
        return text + "."
    return (text + f"; {loss_title(best)} keeps every class at "
            f"{matrix[best][weakest[best]] * 100:.0f} % or more (its weakest: class {class_names[weakest[best]]}).")
