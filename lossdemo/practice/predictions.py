"""A learner's prediction about an experiment, compared with the runs the notebook just trained.

Unlike the formula questions there is no answer fixed in advance: what counts as right is what the
notebook's own runs show, read with their seed-to-seed spread. Pairs of losses the seeds cannot
separate (:func:`~lossdemo.practice.seeds.clearly_apart`) are "too close to call" and count for
nothing either way, so a prediction is never marked wrong on noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from ..losses import loss_title, parse_loss_spec
from .feedback import Feedback, correct, mid_sentence, no_answer, not_yet, say
from .seeds import SeedSummary, clearly_apart, ranked

_UNANSWERED = "write your prediction in the variable above, then run this cell again"


def _spec(text: object) -> str | None:
    try:
        return str(parse_loss_spec(str(text).strip()))
    except (TypeError, ValueError):
        return None


def _name(spec: str) -> str:
    return mid_sentence(loss_title(spec))


def assess_ranking(prediction: Sequence[str] | None, summaries: dict[str, SeedSummary], measure: str) -> Feedback:
    """Judge a predicted order (best first) of the losses in ``summaries`` by ``measure``, pair by pair."""
    if prediction is None or prediction == []:
        return no_answer(_UNANSWERED)
    names = {_spec(loss): loss for loss in summaries}
    given = [_spec(item) for item in prediction] if not isinstance(prediction, str) else []
    if sorted(map(str, given)) != sorted(map(str, names)):
        return not_yet(f"rank exactly these specs, best first: {list(summaries)}")
    order = [names[spec] for spec in given]
    measured = ranked(summaries)
    right, wrong, close = [], [], []
    for higher, lower in combinations(order, 2):
        pair = f"{_name(higher)} above {_name(lower)}"
        if not clearly_apart(summaries[higher], summaries[lower]):
            close.append(f"{_name(higher)} and {_name(lower)}")
        elif summaries[higher].mean > summaries[lower].mean:
            right.append(pair)
        else:
            wrong.append(pair)
    seeds = len(next(iter(summaries.values())).values)
    measured_text = ", then ".join(f"{_name(loss)} ({summaries[loss].mean:.1%})" for loss in measured)
    parts = [f"you predicted {' > '.join(map(_name, order))}; wrong way round: {'; '.join(wrong)}."
             if wrong else f"right where the seeds can tell: {'; '.join(right) or 'no pair is clearly apart'}."]
    if close:
        parts.append(f"Too close to call with {seeds} seeds: {'; '.join(close)}.")
    parts.append(f"Measured {measure}, best first: {measured_text}.")
    if wrong:
        parts.append("Open the answer below for why.")
    message = " ".join(parts)
    return not_yet(message) if wrong else correct(message)


def check_ranking(prediction: Sequence[str] | None, summaries: dict[str, SeedSummary], measure: str) -> None:
    """Print how a predicted order compares with the runs."""
    say(assess_ranking(prediction, summaries, measure))


def assess_choice(prediction: str | None, measured: str, choices: Sequence[str], what: str) -> Feedback:
    """Judge a predicted word (one of ``choices``) about ``what`` against the word the runs gave."""
    if prediction is None or prediction == "":
        return no_answer(_UNANSWERED)
    given = str(prediction).strip().lower()
    if given not in choices:
        return not_yet(f"answer with one of {', '.join(repr(choice) for choice in choices)}")
    if given == measured:
        return correct(f"the runs agree: {what} came out {measured!r}")
    return not_yet(f"the runs say {what} came out {measured!r}; open the answer below for why")


def check_choice(prediction: str | None, measured: str, choices: Sequence[str], what: str) -> None:
    """Print how a predicted word compares with the runs."""
    say(assess_choice(prediction, measured, choices, what))
