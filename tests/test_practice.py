"""lossdemo.practice: the checks behind the notebooks' exercises say "correct" only when it is.

The notebooks never show an answer under its question; these checks are what a learner meets
instead, so each must pass a right answer, fail every wrong one with a hint that does not give
the answer away, and say "not implemented yet" for a stub rather than crash. Fast (no training
but one tiny run for the seeds helper).

    pytest tests/test_practice.py -q
"""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from support import tiny_dataset

from lossdemo.losses import generalized_cross_entropy_loss, loss_title
from lossdemo.practice import (
    QUESTIONS,
    SeedSummary,
    Verdict,
    assess,
    assess_best_epoch,
    assess_choice,
    assess_ece,
    assess_gce,
    assess_ranking,
    check,
    clearly_apart,
    learning_rates,
    push,
    seed_table,
    summarise,
    train_seeds,
)
from lossdemo.protocol import SHARED_RECIPE, tuned_lr

# What a learner who reasoned it through answers. If a loss changed so that one of these stopped
# being right, the notebook's revealed answer would be stale too: this test is where that shows.
RIGHT_ANSWERS = {
    "mae-confident": "harder",
    "mae-at-chance": 0.2,
    "ce-margin": "down",
    "focal-at-chance": "more",
    "smoothing-past-target": "negative",
    "gce-order": ["ce", "gce:0.5", "mae"],
    "logit-adjustment-rare": "harder",
}


def test_every_question_has_a_right_answer_here():
    assert set(RIGHT_ANSWERS) == set(QUESTIONS)


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_the_right_answer_is_correct(name):
    feedback = assess(name, RIGHT_ANSWERS[name])
    assert feedback.verdict is Verdict.CORRECT, feedback
    assert str(feedback).startswith("correct")


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_every_wrong_answer_is_not_yet_and_its_hint_keeps_the_answer_hidden(name):
    question = QUESTIONS[name]
    right = RIGHT_ANSWERS[name]
    if question.choices is not None:
        wrong_answers = [choice for choice in question.choices if choice != right]
    elif question.ranking is not None:
        wrong_answers = [list(reversed(right)), [right[1], right[0], right[2]]]
    else:
        wrong_answers = [right * 2, right / 2, 1 / 10]
    for wrong in wrong_answers:
        feedback = assess(name, wrong)
        assert feedback.verdict is Verdict.NOT_YET, (wrong, feedback)
        assert str(feedback).startswith("not yet, hint: ")
        if isinstance(right, str):
            assert not re.search(rf"\b{re.escape(right)}\b", feedback.message), f"the hint gives away {right!r}"


@pytest.mark.parametrize("answer", [None, "", ...])
def test_a_blank_answer_is_no_answer_yet(answer):
    assert assess("mae-confident", answer).verdict is Verdict.NO_ANSWER


def test_an_answer_outside_the_choices_is_told_the_choices():
    feedback = assess("mae-confident", "much harder")
    assert feedback.verdict is Verdict.NOT_YET and "'harder'" in feedback.message
    assert assess("gce-order", "ce, gce, mae").verdict is Verdict.NOT_YET
    assert assess("gce-order", ["ce", "mae"]).verdict is Verdict.NOT_YET
    assert assess("mae-at-chance", "a fifth").verdict is Verdict.NOT_YET


def test_answers_are_read_as_a_learner_types_them():
    assert assess("mae-confident", "  Harder ").passed
    assert assess("gce-order", ("ce", "gce:0.50", "mae")).passed  # the same spec, written differently
    assert assess("mae-at-chance", 2 / 10 + 1e-3).passed  # within the tolerance


def test_check_prints_one_line_and_returns_nothing(capsys):
    assert check("ce-margin", "up") is None
    printed = capsys.readouterr().out
    assert printed.startswith("not yet, hint: ") and printed.endswith("\n")
    assert max(map(len, printed.splitlines())) <= 88, "filled to the notebook's width"


def test_an_unknown_question_is_named():
    with pytest.raises(KeyError, match="unknown question 'nope'; allowed: mae-confident"):
        assess("nope", "harder")


def test_the_push_is_autograd_through_the_package_loss():
    # cross-entropy's push is 1 - p_y, MAE's 2 p_y (1 - p_y): the formulas the pages derive
    assert push("ce", 0.3) == pytest.approx(0.7)
    assert push("mae", 0.3) == pytest.approx(2 * 0.3 * 0.7)
    with pytest.raises(ValueError, match="allowed: a probability strictly between 0 and 1"):
        push("ce", 1.0)


# ---------------------------------------------------------------------------------------------
# Coding tasks

def _stub(*args, **kwargs):
    raise NotImplementedError


def gce_solution(logits, targets, q=0.7):
    log_p_true = F.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)
    return (-torch.expm1(q * log_p_true) / q).mean()


def ece_solution(logits, labels, num_bins=15):
    confidences, predictions = torch.softmax(logits, dim=1).max(dim=1)
    right = (predictions == labels).float()
    bins = (torch.ceil(confidences * num_bins).long() - 1).clamp(0, num_bins - 1)
    ece = 0.0
    for b in range(num_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += float(in_bin.float().mean() * (right[in_bin].mean() - confidences[in_bin].mean()).abs())
    return ece


def best_epoch_solution(history):
    accuracy = history["val_accuracy"]
    return accuracy.index(max(accuracy)) + 1


@pytest.mark.parametrize("assess_task, solution", [(assess_gce, gce_solution), (assess_ece, ece_solution),
                                                   (assess_best_epoch, best_epoch_solution)])
def test_a_right_solution_is_correct_and_a_stub_is_not_implemented(assess_task, solution):
    assert assess_task(solution).verdict is Verdict.CORRECT, assess_task(solution)
    stub = assess_task(_stub)
    assert stub.verdict is Verdict.NOT_IMPLEMENTED and str(stub).startswith("not implemented yet")


def test_the_gce_solution_is_the_package_loss():
    logits, targets = torch.randn(8, 10), torch.randint(0, 10, (8,))
    torch.testing.assert_close(gce_solution(logits, targets, 0.4), generalized_cross_entropy_loss(logits, targets, q=0.4))


def _log_p(logits, targets):
    return F.log_softmax(logits, dim=1).gather(1, targets[:, None]).squeeze(1)


WRONG_GCE = {
    "the batch mean, not the sum": lambda z, t, q=0.7: (-torch.expm1(q * _log_p(z, t)) / q).sum(),
    "divide 1 - p_y^q by q": lambda z, t, q=0.7: (-torch.expm1(q * _log_p(z, t))).mean(),
    "that is cross-entropy": lambda z, t, q=0.7: F.cross_entropy(z, t),
    "softmax probability over the classes (dim=1)":
        lambda z, t, q=0.7: ((1 - F.softmax(z, dim=0).gather(1, t[:, None]) ** q) / q).mean(),
    "one number for the batch": lambda z, t, q=0.7: -torch.expm1(q * _log_p(z, t)) / q,
    "autograd cannot differentiate it": lambda z, t, q=0.7: gce_solution(z.detach(), t, q),
    "your function raised TypeError": lambda z, t: gce_solution(z, t),  # forgot the q argument
    "differs from the package's at q = 0.3": lambda z, t, q=0.7: gce_solution(z, t, 0.7),  # ignores q
}


@pytest.mark.parametrize("hint", WRONG_GCE)
def test_a_wrong_gce_is_not_yet_with_the_hint_for_its_slip(hint):
    feedback = assess_gce(WRONG_GCE[hint])
    assert feedback.verdict is Verdict.NOT_YET and hint in feedback.message, feedback


def _unweighted_ece(logits, labels, num_bins=15):
    confidences, predictions = torch.softmax(logits, dim=1).max(dim=1)
    right = (predictions == labels).float()
    bins = (torch.ceil(confidences * num_bins).long() - 1).clamp(0, num_bins - 1)
    gaps = [float((right[bins == b].mean() - confidences[bins == b].mean()).abs())
            for b in range(num_bins) if (bins == b).any()]
    return sum(gaps) / len(gaps)


def _true_class_ece(logits, labels, num_bins=15):
    probabilities = torch.softmax(logits, dim=1)
    confidences = probabilities.gather(1, labels[:, None]).squeeze(1)
    right = (probabilities.argmax(dim=1) == labels).float()
    bins = (torch.ceil(confidences * num_bins).long() - 1).clamp(0, num_bins - 1)
    return sum(float((bins == b).float().mean() * (right[bins == b].mean() - confidences[bins == b].mean()).abs())
               for b in range(num_bins) if (bins == b).any())


WRONG_ECE = {
    "weight each bin's gap by the share of samples": _unweighted_ece,
    "the probability of the predicted (top) class": _true_class_ece,
    "differs from the package's with 10 bins": lambda logits, labels, num_bins=15: ece_solution(logits, labels),
    "return one number": lambda logits, labels, num_bins=15: "small",
}


@pytest.mark.parametrize("hint", WRONG_ECE)
def test_a_wrong_ece_is_not_yet_with_the_hint_for_its_slip(hint):
    feedback = assess_ece(WRONG_ECE[hint])
    assert feedback.verdict is Verdict.NOT_YET and hint in feedback.message, feedback


WRONG_STOPPING = {
    "count epochs from 1": lambda h: h["val_accuracy"].index(max(h["val_accuracy"])),
    "choose the epoch with the validation split": lambda h: h["test_accuracy"].index(max(h["test_accuracy"])) + 1,
    "keep the first epoch": lambda h: len(h["val_accuracy"]) - h["val_accuracy"][::-1].index(max(h["val_accuracy"])),
    "that is the last epoch": lambda h: len(h["val_accuracy"]),
    "return the epoch as an int": lambda h: float(best_epoch_solution(h)),
}


@pytest.mark.parametrize("hint", WRONG_STOPPING)
def test_a_wrong_stopping_rule_is_not_yet_with_the_hint_for_its_slip(hint):
    feedback = assess_best_epoch(WRONG_STOPPING[hint])
    assert feedback.verdict is Verdict.NOT_YET and hint in feedback.message, feedback


# ---------------------------------------------------------------------------------------------
# Predictions about experiments, and the seeds they read

SUMMARIES = {
    "mae": SeedSummary((0.38, 0.40, 0.36)),
    "ce": SeedSummary((0.66, 0.64, 0.68)),
    "gce:0.7": SeedSummary((0.65, 0.67, 0.66)),
}


def test_clearly_apart_needs_the_gap_to_beat_twice_the_standard_error():
    assert clearly_apart(SUMMARIES["mae"], SUMMARIES["ce"])
    assert not clearly_apart(SUMMARIES["ce"], SUMMARIES["gce:0.7"])
    assert not clearly_apart(SeedSummary((0.5, 0.7)), SeedSummary((0.6, 0.8)))


def test_a_ranking_is_judged_only_on_the_pairs_the_seeds_separate():
    right = assess_ranking(["gce:0.7", "ce", "mae"], SUMMARIES, "test accuracy")  # ce/gce too close to call
    assert right.verdict is Verdict.CORRECT, right
    assert "Too close to call with 3 seeds" in right.message and "Measured test accuracy, best first" in right.message
    wrong = assess_ranking(["mae", "gce:0.7", "ce"], SUMMARIES, "test accuracy")
    assert wrong.verdict is Verdict.NOT_YET and "wrong way round: MAE above" in wrong.message, wrong
    assert assess_ranking(None, SUMMARIES, "accuracy").verdict is Verdict.NO_ANSWER
    assert assess_ranking(["mae", "ce"], SUMMARIES, "accuracy").verdict is Verdict.NOT_YET


def test_a_predicted_word_is_judged_against_the_runs():
    choices = ["above 1", "below 1"]
    assert assess_choice("Below 1", "below 1", choices, "the temperature").passed
    assert assess_choice("above 1", "below 1", choices, "the temperature").verdict is Verdict.NOT_YET
    assert assess_choice("1", "below 1", choices, "the temperature").verdict is Verdict.NOT_YET
    assert assess_choice(None, "below 1", choices, "the temperature").verdict is Verdict.NO_ANSWER


def test_learning_rates_are_the_tuned_ones_else_the_shared_rate():
    rates = learning_rates(["ce", "mae"], "mnist1d")
    assert rates == {"ce": (tuned_lr("mnist1d", "ce"), True), "mae": (tuned_lr("mnist1d", "mae"), True)}
    assert learning_rates(["ce"], "someone-elses-data") == {"ce": (SHARED_RECIPE.lr, False)}


def test_train_seeds_trains_every_loss_on_every_seed_at_its_rate():
    outcomes = train_seeds(["ce", "mae"], range(2), tiny_dataset(), epochs=1)
    assert {loss: [run.config.seed for run in runs] for loss, runs in outcomes.items()} == {"ce": [0, 1], "mae": [0, 1]}
    assert outcomes["ce"][0].config.lr == tuned_lr("mnist1d", "ce")
    summaries = summarise(outcomes, lambda run: run.history["test_accuracy"][-1])
    table = seed_table({"test accuracy (%)": summaries})
    assert table.splitlines()[0].split() == ["loss", "test", "accuracy", "(%)"]
    assert table.splitlines()[1].startswith(loss_title("ce")) and " ± " in table
