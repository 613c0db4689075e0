"""The tuning experiment picks each loss's learning rate on validation, never on test, and never a
rate at which a seed diverged."""

from __future__ import annotations

from support import stored_run

from lossdemo.experiments import EXPERIMENTS, TUNING_LEARNING_RATES, default_configs
from lossdemo.report import tune
from lossdemo.report.measures import group_runs
from lossdemo.run_config import RunStatus


def _run(config, val, test, status=RunStatus.COMPLETE):
    history = {"val_accuracy": val, "test_accuracy": test, "test_per_class_accuracy": [[0.5] * 10] * len(test),
               "train_accuracy": [0.9] * len(test)}
    return stored_run(config, history, status)


def test_the_grid_holds_out_validation_and_tries_every_rate_for_every_loss():
    configs = default_configs("tune")
    assert {config.lr for config in configs} == set(TUNING_LEARNING_RATES)
    assert {config.loss for config in configs} == set(EXPERIMENTS["tune"].losses)
    assert all(config.validation_fraction > 0 for config in configs)
    assert len(configs) == len(TUNING_LEARNING_RATES) * len(EXPERIMENTS["tune"].losses) * 5


def test_the_pick_is_the_best_mean_validation_accuracy_and_ignores_test_and_unstable_rates():
    configs = {(config.loss, config.lr, config.seed): config for config in default_configs("tune", seeds=2)}
    runs = [
        # 0.05: best on test, worse on validation
        _run(configs[("ce", 0.05, 0)], [0.70, 0.80], [0.95, 0.96]),
        _run(configs[("ce", 0.05, 1)], [0.70, 0.81], [0.95, 0.96]),
        # 0.1: best on validation (read at each run's best validation epoch, not the last)
        _run(configs[("ce", 0.1, 0)], [0.90, 0.85], [0.70, 0.70]),
        _run(configs[("ce", 0.1, 1)], [0.91, 0.80], [0.70, 0.70]),
        # 0.2: better still, but one seed diverged
        _run(configs[("ce", 0.2, 0)], [0.95, 0.96], [0.70, 0.70]),
        _run(configs[("ce", 0.2, 1)], [0.95], [0.70], RunStatus.DIVERGED),
    ]
    by_loss_and_rate = group_runs(runs, key=lambda run: (run.config.loss, run.config.lr))
    assert tune.picks(by_loss_and_rate) == {"ce": 0.1}
    table = tune.tuning_table(by_loss_and_rate, ["ce"])
    assert "| `ce` | 0.1 | 90.5 (90.0–91.0) |" in table and "| 0.2 |" in table.splitlines()[2]


def test_a_rate_at_which_a_seed_collapsed_to_chance_is_not_picked_and_a_loss_with_none_left_gets_no_pick():
    configs = {(config.loss, config.lr, config.seed): config for config in default_configs("tune", seeds=2)}
    collapsed = _run(configs[("mae", 0.4, 1)], [0.35, 0.10], [0.3, 0.1])
    collapsed.history["train_accuracy"] = [0.1, 0.1]  # chance at C = 10
    runs = [_run(configs[("mae", 0.4, 0)], [0.6, 0.6], [0.6, 0.6]), collapsed,
            _run(configs[("mae", 0.1, 0)], [0.5, 0.5], [0.5, 0.5]), _run(configs[("mae", 0.1, 1)], [0.5, 0.5], [0.5, 0.5])]
    by_loss_and_rate = group_runs(runs, key=lambda run: (run.config.loss, run.config.lr))
    assert tune.picks(by_loss_and_rate) == {"mae": 0.1}
    only_collapsed = {key: value for key, value in by_loss_and_rate.items() if key[1] == 0.4}
    assert tune.picks(only_collapsed) == {}
    assert "none: no rate trains it" in tune.tuning_table(only_collapsed, ["mae"])
