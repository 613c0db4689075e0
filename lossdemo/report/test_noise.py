"""The test split's own sampling noise, from the per-sample predictions each run stores.

Every seed of every condition is scored on the same 1,000 test samples, so the spread between seeds
says nothing about how the numbers would move on another 1,000 samples from the same source. A
difference between two losses has both parts:

    Var(mean difference) ≈ s²_seeds / n + s²_items / N

where ``s²_seeds`` is the variance of the per-seed differences (n seeds) and ``s²_items`` that of the
per-sample differences averaged over the seeds (N test samples): the usual variance of a mean over a
crossed design of seeds and samples, the seed part already holding the seed-by-sample interaction.
:func:`item_variance` is the second term; ``inference`` adds it to every test and interval it can.

A measure has a per-sample form when it is a weighted sum of per-sample correctness at one stored
epoch (``test_predictions`` holds the selected and the last epoch's answers): accuracy weighs every
sample 1/N, balanced accuracy 1/(C·n_c), the head-minus-tail gap ± 1/(k·n_c). :data:`READINGS` names
those measures; for any other (ECE, confidence, losses) there is no per-sample form here, and the
pages say so beside the effect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..epoch_record import decode_classes
from ..results import StoredRun
from . import measures as m


@dataclass(frozen=True)
class Reading:
    """Where a measure reads a run's per-sample answers, and how it weighs them.

    Attributes:
        epoch: ``"selected"`` (the epoch validation chose; the last without a validation split) or ``"last"``.
        weights: test labels -> per-sample weights w, such that the measure is Σ w_i · correct_i.
    """

    epoch: str
    weights: Callable[[np.ndarray], np.ndarray]


def _accuracy_weights(labels: np.ndarray) -> np.ndarray:
    return np.full(len(labels), 1 / len(labels))


def _class_count_weights(labels: np.ndarray) -> np.ndarray:
    counts = np.bincount(labels)
    return 1 / counts[labels]


def _balanced_weights(labels: np.ndarray) -> np.ndarray:
    classes = np.bincount(labels).size
    return _class_count_weights(labels) / classes


def _head_tail_weights(labels: np.ndarray) -> np.ndarray:
    classes = np.bincount(labels).size
    head, tail = m.head_classes(classes), m.tail_classes(classes)
    sign = np.where(np.isin(labels, head), 1 / len(head), np.where(np.isin(labels, tail), -1 / len(tail), 0.0))
    return _class_count_weights(labels) * sign


READINGS: dict[Callable, Reading] = {
    m.selected_accuracy: Reading("selected", _accuracy_weights),
    m.final_accuracy: Reading("last", _accuracy_weights),
    m.selected_balanced_accuracy: Reading("selected", _balanced_weights),
    m.final_balanced_accuracy: Reading("last", _balanced_weights),
    m.selected_head_tail_gap: Reading("selected", _head_tail_weights),
    m.final_head_tail_gap: Reading("last", _head_tail_weights),
}


def has_per_sample_form(measure: Callable) -> bool:
    return measure in READINGS


def weighted_correct(run: StoredRun, reading: Reading) -> np.ndarray | None:
    """N·w_i·correct_i per test sample (its mean is the measure), or None when the run stored no answers."""
    stored = run.history.get("test_predictions")
    if not stored or reading.epoch not in stored:
        return None
    labels = np.asarray(decode_classes(stored["labels"]))
    predictions = np.asarray(decode_classes(stored[reading.epoch]))
    return len(labels) * reading.weights(labels) * (predictions == labels)


# One term of a per-seed linear combination: (coefficient, runs by seed, measure).
Term = tuple[float, Mapping[int, StoredRun], Callable]


def item_variance(terms: Sequence[Term], seeds: Sequence[int]) -> float | None:
    """s²_items / N for the per-seed value Σ coefficient · measure(run) over ``seeds``: the variance the
    test split's sampling adds to its mean over the seeds. None when a measure has no per-sample form
    or a run stored no answers (then only the seeds' spread is known)."""
    if not seeds or any(measure not in READINGS for _, _, measure in terms):
        return None
    total = None
    for coefficient, runs, measure in terms:
        rows = [weighted_correct(runs[seed], READINGS[measure]) for seed in seeds]
        if any(row is None for row in rows) or len({len(row) for row in rows}) != 1:
            return None
        part = coefficient * np.mean(rows, axis=0)
        if total is not None and len(total) != len(part):
            return None
        total = part if total is None else total + part
    if total is None or len(total) < 2:
        return None
    return float(np.var(total, ddof=1) / len(total))
