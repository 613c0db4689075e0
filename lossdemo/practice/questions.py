"""The formula questions of the exercises notebook: predict how a loss pushes, then ``check``.

Each question's expected answer is computed when it is checked, from the package's losses through
autograd (:func:`~lossdemo.practice.push.push`), so a change to a loss that changed the answer
would show up as a failing check, not as a stale sentence. A wrong answer gets a hint that points
at the step of the reasoning, not at the answer; a right one gets the numbers that confirm it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from ..losses import get_loss, loss_title, parse_loss_spec
from .feedback import Feedback, correct, no_answer, not_yet, say
from .push import NUM_CLASSES, push

CHANCE = 1 / NUM_CLASSES
# A long-tailed training set for the logit-adjustment question: class 0 the most frequent, the last the rarest.
LONG_TAIL_COUNTS = (400,) + (100,) * (NUM_CLASSES - 2) + (4,)
RARE_CLASS, FREQUENT_CLASS = NUM_CLASSES - 1, 0


@dataclass(frozen=True)
class Question:
    """One prediction: the answers it accepts, how the package computes the right one, and a hint.

    ``choices`` lists the words a learner may answer with; None means a number (checked within
    ``tolerance``, relative) or, with ``ranking`` set, an order of those loss specs.
    """

    name: str
    expected: Callable[[], object]
    evidence: Callable[[], str]
    hint: str
    choices: tuple[str, ...] | None = None
    ranking: tuple[str, ...] | None = None
    tolerance: float = 0.02


def _compare(a: float, b: float, more: str, same: str, less: str) -> str:
    if math.isclose(a, b, rel_tol=1e-9):
        return same
    return more if a > b else less


def _margin_losses() -> tuple[float, float]:
    logits, label = torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([0])
    ce = get_loss("ce")
    return float(ce(logits, label)), float(ce(2 * logits, label))


def _la_push(spec: str, true_class: int) -> float:
    return push(spec, 0.5, true_class=true_class, class_counts=LONG_TAIL_COUNTS)


def _gce_order() -> tuple[str, ...]:
    specs = ("ce", "gce:0.5", "mae")
    return tuple(sorted(specs, key=lambda spec: -push(spec, 0.05)))


QUESTIONS: dict[str, Question] = {question.name: question for question in (
    Question(
        "mae-confident",
        expected=lambda: _compare(push("mae", 0.9), push("ce", 0.9), "harder", "the same", "more gently"),
        evidence=lambda: f"MAE pushes {push('mae', 0.9):.3f}, cross-entropy {push('ce', 0.9):.3f}",
        hint="write both pushes as functions of p_y and look at their ratio rather than at either one; "
             "where is that ratio above 1?",
        choices=("harder", "the same", "more gently")),
    Question(
        "mae-at-chance",
        expected=lambda: push("mae", CHANCE) / push("ce", CHANCE),
        evidence=lambda: f"MAE pushes {push('mae', CHANCE):.4f}, cross-entropy {push('ce', CHANCE):.4f}",
        hint="MAE's push 2 p_y (1 - p_y) and cross-entropy's 1 - p_y share a factor; what is left of the "
             "ratio at p_y = 1/C with C = 10? Answer with a number such as 0.5",
    ),
    Question(
        "ce-margin",
        expected=lambda: _compare(*_margin_losses()[::-1], "up", "unchanged", "down"),
        evidence=lambda: "cross-entropy {:.4f} before, {:.4f} with the logits doubled".format(*_margin_losses()),
        hint="does doubling every logit raise or lower the softmax probability of the class that already "
             "has the largest logit? And which way does -log p go when p rises?",
        choices=("up", "unchanged", "down")),
    Question(
        "focal-at-chance",
        expected=lambda: _compare(push("focal:2", CHANCE), push("ce", CHANCE), "more", "the same", "less"),
        evidence=lambda: f"focal (γ = 2) pushes {push('focal:2', CHANCE):.4f}, cross-entropy {push('ce', CHANCE):.4f}",
        hint="focal loss's push is (1 - p)^γ [(1 - p) - γ p log p]: the factor shrinks it and the second "
             "term adds to it. Work out both at p = 1/10 before you decide which wins",
        choices=("less", "the same", "more")),
    Question(
        "smoothing-past-target",
        expected=lambda: _compare(push("ls:0.1", 0.99), 0.0, "positive", "zero", "negative"),
        evidence=lambda: f"the push at p_y = 0.99 is {push('ls:0.1', 0.99):+.4f}",
        hint="label smoothing trains towards the target 1 - ε + ε/C for the true class; is p_y = 0.99 "
             "below that target or above it, and which way does a loss push an output that overshoots?",
        choices=("positive", "zero", "negative")),
    Question(
        "gce-order",
        expected=_gce_order,
        evidence=lambda: ", ".join(f"{loss_title(spec)} {push(spec, 0.05):.3f}" for spec in ("ce", "gce:0.5", "mae")),
        hint="GCE's push is cross-entropy's times p_y^q and MAE's is cross-entropy's times 2 p_y: compare the "
             "two factors at p_y = 0.05 (for q = 0.5, p_y^q is a square root)",
        ranking=("ce", "gce:0.5", "mae")),
    Question(
        "logit-adjustment-rare",
        expected=lambda: _compare(_la_push("la-ce:1", RARE_CLASS), _la_push("ce", RARE_CLASS),
                                  "harder", "the same", "more gently"),
        evidence=lambda: (f"rarest class: logit adjustment pushes {_la_push('la-ce:1', RARE_CLASS):.3f}, "
                          f"cross-entropy {_la_push('ce', RARE_CLASS):.3f}"),
        hint="logit adjustment trains on z + τ log π; log π is most negative for the rarest class. What does "
             "that do to the probability the loss sees for that class, and so to its push?",
        choices=("harder", "the same", "more gently")),
)}


def _spec(text: object) -> str | None:
    try:
        return str(parse_loss_spec(str(text).strip()))
    except (TypeError, ValueError):
        return None


def assess(name: str, answer: object) -> Feedback:
    """Judge ``answer`` to question ``name`` against what the package computes now."""
    if name not in QUESTIONS:
        raise KeyError(f"unknown question {name!r}; allowed: {', '.join(QUESTIONS)}")
    question = QUESTIONS[name]
    if answer is None or answer == "" or answer is Ellipsis:
        return no_answer("write your prediction in the variable above, then run this cell again")
    expected = question.expected()
    if question.choices is not None:
        given = str(answer).strip().lower()
        if given not in question.choices:
            return not_yet(f"answer with one of {', '.join(repr(choice) for choice in question.choices)}")
        right = given == expected
    elif question.ranking is not None:
        if isinstance(answer, str) or not isinstance(answer, Sequence):
            return not_yet(f"answer with a list of the specs {list(question.ranking)}, largest push first")
        given_specs = tuple(_spec(item) for item in answer)
        if sorted(map(str, given_specs)) != sorted(_spec(spec) for spec in question.ranking):
            return not_yet(f"answer with a list of the specs {list(question.ranking)}, largest push first")
        right = given_specs == tuple(_spec(spec) for spec in expected)
    else:
        try:
            value = float(answer)
        except (TypeError, ValueError):
            return not_yet("answer with a number")
        right = math.isclose(value, float(expected), rel_tol=question.tolerance)
    return correct(question.evidence()) if right else not_yet(question.hint)


def check(name: str, answer: object) -> None:
    """Print whether ``answer`` to question ``name`` is right ("correct: …" or "not yet, hint: …")."""
    say(assess(name, answer))
