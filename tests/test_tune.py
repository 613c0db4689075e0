"""The tuning experiment picks each loss's learning rate on validation, never on test, by one rule for
every loss (the argmax of the mean over the tuning seeds), on seeds no verdict reads."""

from __future__ import annotations

import json

from support import PUBLISHED_DIR, stored_run

from lossdemo.experiments import (
    ADAM_TUNING_LEARNING_RATES,
    EXPERIMENTS,
    IMBALANCE_LOSSES,
    MAE_ANATOMY_LOSSES,
    TUNED_LOSSES,
    TUNING_LEARNING_RATES,
    default_configs,
    tuning_rates,
)
from lossdemo.protocol import (
    LONG_TAIL_TUNING_RATIO,
    PICKS_FILE,
    SEEDS_PER_CONDITION,
    TUNING_SEED_BASE,
    TUNING_SEED_COUNT,
    long_tail_pool,
    tuning_seeds,
)
from lossdemo.report import tune
from lossdemo.report.claims_pages import stored_runs
from lossdemo.report.measures import group_runs
from lossdemo.run_config import RunStatus


def _run(config, val, test, status=RunStatus.COMPLETE):
    history = {"val_accuracy": val, "test_accuracy": test, "test_per_class_accuracy": [[0.5] * 10] * len(test),
               "train_accuracy": [0.9] * len(test)}
    return stored_run(config, history, status)


def test_the_grid_holds_out_validation_and_tries_every_rate_for_every_loss_on_the_tuning_seeds():
    configs = default_configs("tune", seeds=TUNING_SEED_COUNT)
    sgd = [config for config in configs if config.optimizer == "sgd"]
    adam = [config for config in configs if config.optimizer == "adam"]
    assert {config.seed for config in configs} == set(tuning_seeds()), "tuning never uses a verdict's seeds"
    assert not set(tuning_seeds()) & set(range(SEEDS_PER_CONDITION))
    assert {config.lr for config in sgd} == set(TUNING_LEARNING_RATES)
    assert {config.lr for config in adam} == set(ADAM_TUNING_LEARNING_RATES)
    assert {config.loss for config in adam} == set(MAE_ANATOMY_LOSSES) and {c.weight_decay for c in adam} == {0.0}
    assert len(adam) == len(ADAM_TUNING_LEARNING_RATES) * len(MAE_ANATOMY_LOSSES) * TUNING_SEED_COUNT
    assert {config.loss for config in configs} == set(EXPERIMENTS["tune"].losses)
    assert all(config.validation_fraction > 0 for config in configs)
    balanced = [config for config in sgd if config.imbalance_ratio == 1]
    long_tail = [config for config in sgd if config.imbalance_ratio != 1]
    assert len(balanced) == len(TUNING_LEARNING_RATES) * len(TUNED_LOSSES) * TUNING_SEED_COUNT
    assert len(long_tail) == len(TUNING_LEARNING_RATES) * len(IMBALANCE_LOSSES) * TUNING_SEED_COUNT
    assert {config.imbalance_ratio for config in long_tail} == {LONG_TAIL_TUNING_RATIO}
    assert {config.dataset for config in long_tail} == {long_tail_pool("mnist1d")}
    assert {config.grad_clip_norm for config in configs if config.loss == "nce+mae"} == {5.0}


def _tuning_configs():
    return {(config.loss, config.lr, config.seed - TUNING_SEED_BASE): config
            for config in default_configs("tune", seeds=2) if config.imbalance_ratio == 1 and config.optimizer == "sgd"}


def test_the_pick_is_the_argmax_of_mean_validation_accuracy_and_never_reads_test():
    configs = _tuning_configs()
    runs = [
        # 0.05: best on test, worse on validation
        _run(configs[("ce", 0.05, 0)], [0.70, 0.80], [0.95, 0.96]),
        _run(configs[("ce", 0.05, 1)], [0.70, 0.81], [0.95, 0.96]),
        # 0.1: each run read at its best validation epoch
        _run(configs[("ce", 0.1, 0)], [0.90, 0.85], [0.70, 0.70]),
        _run(configs[("ce", 0.1, 1)], [0.91, 0.80], [0.70, 0.70]),
        # 0.2: the best mean on validation, right below a rate where a seed diverged: picked all the same
        _run(configs[("ce", 0.2, 0)], [0.93, 0.93], [0.70, 0.70]),
        _run(configs[("ce", 0.2, 1)], [0.93, 0.93], [0.70, 0.70]),
        # 0.4: one seed diverged after a poor first epoch; it counts at what it scored (0.30), mean 0.63
        _run(configs[("ce", 0.4, 0)], [0.95, 0.96], [0.70, 0.70]),
        _run(configs[("ce", 0.4, 1)], [0.30], [0.70], RunStatus.DIVERGED),
    ]
    by_loss_and_rate = group_runs(runs, key=lambda run: (run.config.loss, run.config.lr))
    picked = tune.picks(by_loss_and_rate)
    scores = {rate: tune.score(by_loss_and_rate[("ce", rate)]) for rate in (0.05, 0.1, 0.2, 0.4)}
    assert picked == {"ce": max(scores, key=scores.get)} == {"ce": 0.2}, "the pick is the argmax it claims"
    assert scores[0.4] == (0.96 + 0.30) / 2, "a failed seed is averaged in at its score, not dropped"
    table = tune.tuning_table(by_loss_and_rate, ["ce"])
    assert "| `ce` | 0.2 | 93.0 (93.0–93.0) |" in table and table.splitlines()[2].endswith("| 0.4 |")
    flipped = [_run(run.config, run.history["val_accuracy"], [1 - v for v in run.history["test_accuracy"]], run.status)
               for run in runs]
    assert tune.picks(group_runs(flipped, key=lambda run: (run.config.loss, run.config.lr))) == picked, \
        "the test split plays no part"


def test_a_tie_goes_to_the_smaller_rate_and_every_loss_follows_the_same_rule():
    configs = _tuning_configs()
    runs = [_run(configs[(loss, rate, seed)], [0.8], [0.5]) for loss in ("ce", "mae") for rate in (0.1, 0.2)
            for seed in (0, 1)]
    by_loss_and_rate = group_runs(runs, key=lambda run: (run.config.loss, run.config.lr))
    assert tune.picks(by_loss_and_rate) == {"ce": 0.1, "mae": 0.1}


def test_on_a_long_tail_a_run_that_predicts_only_the_head_class_has_collapsed():
    """Always predicting class 0 scores its training share (about 40 % at ratio 100), not 1/C."""
    config = next(config for config in default_configs("tune", seeds=1) if config.imbalance_ratio == LONG_TAIL_TUNING_RATIO)
    head_only = _run(config, [0.2, 0.2], [0.1, 0.1])
    head_only.history["train_accuracy"] = [0.405, 0.405]
    learning = _run(config, [0.5, 0.5], [0.5, 0.5])
    learning.history["train_accuracy"] = [0.6, 0.9]
    assert tune.unstable(head_only) and not tune.unstable(learning)


def test_picks_are_per_dataset_imbalance_ratio_and_optimizer():
    configs = default_configs("tune", seeds=2)
    pool = long_tail_pool("mnist1d")
    runs = []
    for config in configs:
        if config.loss != "ce":
            continue
        # balanced: 0.2 is best on validation; long tail: 0.05 is; Adam: 0.002
        best = 0.002 if config.optimizer == "adam" else 0.2 if config.imbalance_ratio == 1 else 0.05
        value = 0.9 if config.lr == best else 0.8
        runs.append(_run(config, [value, value], [0.5, 0.5]))
    assert tune.picks_by_condition(runs) == {("mnist1d", 1.0, "ce", "sgd"): 0.2,
                                             (pool, LONG_TAIL_TUNING_RATIO, "ce", "sgd"): 0.05,
                                             ("mnist1d", 1.0, "ce", "adam"): 0.002}


def test_the_committed_picks_are_the_picks_of_the_committed_tuning_runs_and_the_grids_use_them():
    published = stored_runs([PUBLISHED_DIR])
    tuning_ids = {config.run_id for dataset in ("mnist1d", "mnist5k")
                  for config in default_configs("tune", (dataset,), TUNING_SEED_COUNT)}
    picked = tune.picks_by_condition([run for run in published if run.config.run_id in tuning_ids])
    committed = {(entry["dataset"], entry["imbalance_ratio"], entry["loss"], entry.get("optimizer", "sgd")): entry["lr"]
                 for entry in json.loads(PICKS_FILE.read_text())["picks"]}
    assert committed == picked, ("lossdemo/package_data/learning_rates.json is stale; regenerate with: "
                                 "python -m lossdemo.reproduce --full --plots-only --results-dir results")
    for config in default_configs("compare", ("mnist1d",), 1):
        if config.validation_fraction:
            assert config.lr == picked.get(("mnist1d", 1.0, config.loss, "sgd"), 0.05), config.loss
    for config in default_configs("imbalance", ("mnist1d",), 1):
        assert config.lr == picked.get((long_tail_pool("mnist1d"), LONG_TAIL_TUNING_RATIO, config.loss, "sgd"), 0.05), \
            config.loss
    for config in default_configs("mae-anatomy", ("mnist1d",), 1):
        if config.optimizer == "adam":
            assert config.lr == picked.get(("mnist1d", 1.0, config.loss, "adam"), 1e-3), config.loss


def test_every_published_pick_lies_strictly_inside_its_grid():
    """A pick at the edge of its grid would say the grid is too narrow: the best rate may lie beyond it."""
    for entry in json.loads(PICKS_FILE.read_text())["picks"]:
        rates = ADAM_TUNING_LEARNING_RATES if entry.get("optimizer") == "adam" else tuning_rates(entry["dataset"])
        assert rates[0] < entry["lr"] < rates[-1], entry
