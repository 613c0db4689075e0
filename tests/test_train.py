"""Training runs: they learn, they repeat bit for bit, they stop when they diverge, they resume.

All runs use a 512-sample slice of mnist1d (``support.tiny_dataset``), so a run is a fraction of
a second. Run: pytest tests/test_train.py -q
"""

from __future__ import annotations

import math
import pickle
import warnings
from pathlib import Path

import pytest
import torch
from support import stored_run, tiny_dataset

import lossdemo.train as train_module
from lossdemo.checkpoints import load_checkpoint, restore_checkpoint
from lossdemo.report.compare import final_accuracy_by_seed, results_table, summary_markdown
from lossdemo.results import StoredRun, outcome_to_record
from lossdemo.train import RunConfig, train_run

EVERY_LOSS = ("mae", "l1-logits", "ce", "focal:0.5", "focal:2", "cb-ce", "cb-focal:2", "ls:0.1", "gce:0.7", "nce+mae",
              "la-ce:1")
HISTORY_KEYS = ("train_loss", "test_loss", "train_accuracy", "test_accuracy", "train_ce", "test_ce",
                "test_per_class_accuracy")


def tiny_config(**fields) -> RunConfig:
    return RunConfig(**{"epochs": 2, "batch_size": 64, **fields})


def test_a_tiny_training_run_lowers_the_loss():
    outcome = train_run(tiny_config(epochs=6, batch_size=32), tiny_dataset())
    losses = outcome.history["train_loss"]
    assert outcome.status == "complete" and len(losses) == 6
    assert losses[-1] < losses[0]
    assert losses[-1] < 0.9 * math.log(10), "cross-entropy must fall clearly below chance level, ln 10"
    assert outcome.history["train_accuracy"][-1] > 0.2  # chance is 0.1


def test_history_has_every_metric_for_every_epoch():
    outcome = train_run(tiny_config(), tiny_dataset())
    assert set(HISTORY_KEYS) <= set(outcome.history)
    assert all(len(outcome.history[key]) == 2 for key in HISTORY_KEYS)
    assert all(len(per_class) == 10 for per_class in outcome.history["test_per_class_accuracy"])
    assert all(0.0 <= value <= 1.0 for value in outcome.history["test_accuracy"])


@pytest.mark.parametrize("loss", EVERY_LOSS)
def test_same_config_and_seed_give_a_bitwise_identical_history(loss):
    config = tiny_config(loss=loss, seed=3)
    first, second = train_run(config, tiny_dataset()), train_run(config, tiny_dataset())
    assert first.status == second.status == "complete"
    assert first.history == second.history  # exact float equality, not approx


def test_a_different_seed_gives_a_different_history():
    """Otherwise the determinism test above could pass on a run that ignores its seed."""
    first = train_run(tiny_config(seed=0), tiny_dataset())
    second = train_run(tiny_config(seed=1), tiny_dataset())
    assert first.history["train_loss"] != second.history["train_loss"]


def test_a_diverging_run_is_stopped_and_marked_with_its_epoch():
    outcome = train_run(tiny_config(lr=1e6, epochs=5), tiny_dataset())
    assert outcome.status == "diverged"
    assert outcome.diverged_epoch == 1
    assert len(outcome.history["train_loss"]) == 1, "training stops at the epoch that diverged"
    assert outcome.history["train_loss"] == [None], "a non-finite loss is stored as null, never as NaN"


def test_a_loss_that_turns_nan_later_is_marked_diverged_at_that_epoch(monkeypatch):
    """A loss that is fine for two epochs, then NaN: the run stops at epoch 3, with two good epochs kept."""
    real_get_loss = train_module.get_loss
    steps_per_epoch = 512 // 64
    calls = {"training_steps": 0}

    def get_loss(spec, class_counts=None):
        loss_fn = real_get_loss(spec, class_counts)

        def poisoned(logits, targets, *, validate=True):
            value = loss_fn(logits, targets, validate=validate)
            if logits.requires_grad:  # a training step (evaluation computes logits in inference mode)
                calls["training_steps"] += 1
                if calls["training_steps"] > 2 * steps_per_epoch:
                    return value * float("nan")
            return value

        return poisoned

    monkeypatch.setattr(train_module, "get_loss", get_loss)
    outcome = train_run(tiny_config(epochs=5), tiny_dataset())
    assert (outcome.status, outcome.diverged_epoch) == ("diverged", 3)
    assert len(outcome.history["test_accuracy"]) == 3
    assert all(value is not None for value in outcome.history["train_loss"][:2])


def _stored(outcome) -> StoredRun:
    return stored_run(outcome.config, {}, record=outcome_to_record(outcome))


def test_diverged_runs_are_counted_not_averaged_in_tables():
    dataset = tiny_dataset()
    fine = [_stored(train_run(tiny_config(seed=seed), dataset)) for seed in (0, 1)]
    diverged = _stored(train_run(tiny_config(seed=2, lr=1e6), dataset))
    assert diverged.status == "diverged"
    by_loss = {"ce": fine + [diverged]}
    assert set(final_accuracy_by_seed(by_loss["ce"])) == {0, 1}
    row = next(line for line in results_table(by_loss).splitlines() if line.startswith("| `ce`"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[2] == "2", "two seeds averaged"
    assert cells[-1] == "1", "one diverged run counted"
    assert "Diverged runs" in summary_markdown("mnist1d", by_loss)


# ----------------------------------------------------------------------------- checkpoints

class _StopAt(Exception):
    pass


def _interrupt_at(epoch_to_stop: int):
    def on_epoch(epoch, metrics):
        if epoch == epoch_to_stop:
            raise _StopAt  # as if Ctrl-C arrived during this epoch's bookkeeping
    return on_epoch


@pytest.mark.parametrize("loss", ["ce", "focal:2"])
def test_resuming_from_a_checkpoint_gives_the_uninterrupted_history(loss, tmp_path):
    config = tiny_config(loss=loss, epochs=4)
    uninterrupted = train_run(config, tiny_dataset())
    checkpoint = tmp_path / "checkpoints" / f"{config.run_id}.pt"
    with pytest.raises(_StopAt):
        train_run(config, tiny_dataset(), on_epoch=_interrupt_at(3), checkpoint_path=checkpoint)
    assert load_checkpoint(checkpoint)["epoch"] == 2, "the last finished epoch before the interruption"
    epochs_trained = []
    resumed = train_run(config, tiny_dataset(), on_epoch=lambda epoch, metrics: epochs_trained.append(epoch),
                        checkpoint_path=checkpoint)
    assert epochs_trained == [3, 4], "a resumed run trains only the epochs it lacks"
    assert resumed.status == "complete"
    assert resumed.history == uninterrupted.history


def test_a_checkpoint_is_written_atomically_and_not_after_the_last_epoch(tmp_path):
    config = tiny_config(epochs=2)
    checkpoint = tmp_path / f"{config.run_id}.pt"
    train_run(config, tiny_dataset(), checkpoint_path=checkpoint)
    assert load_checkpoint(checkpoint)["epoch"] == 1, "the final state is the result file's job"
    assert [path.name for path in tmp_path.iterdir()] == [checkpoint.name], "no temp files left behind"


class _RunsCode:
    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    """``weights_only=True`` refuses to unpickle arbitrary objects; the run starts from scratch instead."""
    config = tiny_config(epochs=3)
    marker = tmp_path / "code-ran"
    payload = _RunsCode()
    payload.marker = str(marker)
    checkpoint = tmp_path / f"{config.run_id}.pt"
    with open(checkpoint, "wb") as handle:
        pickle.dump({"format": 1, "run_id": config.run_id, "epoch": 1, "evil": payload}, handle, protocol=2)
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(checkpoint)
    with pytest.warns(UserWarning, match="ignoring checkpoint"):
        outcome = train_run(config, tiny_dataset(), checkpoint_path=checkpoint)
    assert not marker.exists(), "the pickled call must never run"
    assert len(outcome.history["train_loss"]) == 3


def test_a_truncated_or_foreign_checkpoint_is_ignored(tmp_path):
    config = tiny_config(epochs=3)
    checkpoint = tmp_path / f"{config.run_id}.pt"
    with pytest.raises(_StopAt):
        train_run(config, tiny_dataset(), on_epoch=_interrupt_at(2), checkpoint_path=checkpoint)
    other = tiny_config(epochs=3, seed=9)
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    history = {}
    with pytest.warns(UserWarning, match="not a checkpoint of this run"):
        resumed = restore_checkpoint(checkpoint, other.run_id, other.epochs, model, optimizer, scheduler,
                                     torch.Generator(), history)
    assert resumed.first_epoch == 1 and history == {}
    checkpoint.write_bytes(checkpoint.read_bytes()[:100])
    with pytest.warns(UserWarning, match="ignoring checkpoint"):
        outcome = train_run(config, tiny_dataset(), checkpoint_path=checkpoint)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert outcome.history == train_run(config, tiny_dataset()).history
