"""What a practice check says: a verdict and one line for the learner.

Checks return a :class:`Feedback` (tests read its verdict) and the notebook-facing ``check_*``
functions print it. The line for a wrong answer is a hint, never the expected value: the point of
a hidden answer is that the learner still has to find it.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from enum import Enum

# Notebook output wraps long lines mid-word on the site; paragraphs are filled to this width instead.
WIDTH = 88
NO_BREAK = "\u00a0"  # textwrap breaks only at ASCII whitespace: "(γ = 2)" stays on one line


def _fill(text: str, **options) -> str:
    return textwrap.fill(text.replace(" = ", f"{NO_BREAK}={NO_BREAK}"), WIDTH, **options).replace(NO_BREAK, " ")


def mid_sentence(title: str) -> str:
    """A loss's reader name inside a sentence: "cross-entropy", "focal loss (γ = 2)", but "MAE"."""
    first_word = title.split(" ", 1)[0]
    return title if first_word.isupper() else title[:1].lower() + title[1:]


class Verdict(str, Enum):
    CORRECT = "correct"
    NOT_YET = "not yet"
    NO_ANSWER = "no answer yet"
    NOT_IMPLEMENTED = "not implemented yet"


@dataclass(frozen=True)
class Feedback:
    verdict: Verdict
    message: str = ""

    @property
    def passed(self) -> bool:
        return self.verdict is Verdict.CORRECT

    def __str__(self) -> str:
        if not self.message:
            return self.verdict.value
        joiner = ", hint: " if self.verdict is Verdict.NOT_YET else ": "
        return f"{self.verdict.value}{joiner}{self.message}"


def correct(message: str = "") -> Feedback:
    return Feedback(Verdict.CORRECT, message)


def not_yet(hint: str) -> Feedback:
    return Feedback(Verdict.NOT_YET, hint)


def no_answer(message: str) -> Feedback:
    return Feedback(Verdict.NO_ANSWER, message)


def not_implemented(message: str) -> Feedback:
    return Feedback(Verdict.NOT_IMPLEMENTED, message)


def say(feedback: Feedback) -> None:
    """Print ``feedback`` for the learner. Returns nothing, so a notebook cell shows it once."""
    print(_fill(str(feedback), subsequent_indent="  "))


def tell(*sentences: str) -> None:
    """Print sentences as one paragraph filled to the notebook's width: how the notebooks say what
    their own output shows."""
    print(_fill(" ".join(sentences)))
