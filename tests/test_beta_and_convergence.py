"""Class-balanced weights' β (spec, sweep, choice on validation), Adam's tuned rates, and the
compare page's convergence check: pure functions over specs and fake stored runs.

Run: pytest tests/test_beta_and_convergence.py -q
"""

from __future__ import annotations

import pytest
import torch
from support import stored_run

from lossdemo import protocol
from lossdemo.experiments import CB_BETA_SWEEP, CB_BETAS, default_configs
from lossdemo.losses import DEFAULT_CB_BETA, class_balanced_weights, get_loss, parse_loss_spec
from lossdemo.report.compare import compare_with_published, convergence_table, late_validation_gain
from lossdemo.report.imbalance import chosen_class_balanced
from lossdemo.run_config import RunConfig


@pytest.mark.parametrize("spec, canonical, beta", [
    ("cb-ce", "cb-ce", DEFAULT_CB_BETA), ("cb-ce@0.999", "cb-ce", 0.999), ("cb-ce@0.9999", "cb-ce@0.9999", 0.9999),
    ("cb-focal:2@0.9", "cb-focal:2@0.9", 0.9), ("cb-ce@0", "cb-ce@0", 0.0)])
def test_a_class_balanced_spec_names_its_beta_after_an_at_sign(spec, canonical, beta):
    parsed = parse_loss_spec(spec)
    assert str(parsed) == canonical and parsed.beta == beta and parsed.class_balanced


@pytest.mark.parametrize("spec, words", [("ce@0.9", "takes no @beta"), ("cb-ce@1", "'1'"), ("cb-ce@-0.1", "'-0.1'"),
                                         ("cb-ce@high", "'high'"), ("focal:2@0.9", "takes no @beta")])
def test_a_bad_beta_is_one_clear_error(spec, words):
    with pytest.raises(ValueError, match="allowed") as error:
        parse_loss_spec(spec)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_the_loss_uses_the_specs_beta():
    counts = [400, 40, 4]
    logits, targets = torch.zeros(3, 3), torch.tensor([0, 1, 2])
    for beta in (0.9, 0.9999):
        weights = torch.tensor(class_balanced_weights(counts, beta))
        expected = (torch.nn.functional.cross_entropy(logits, targets, reduction="none") * weights).mean()
        assert get_loss(f"cb-ce@{beta}", class_counts=counts)(logits, targets) == pytest.approx(float(expected))
    assert class_balanced_weights(counts, 0.9) != class_balanced_weights(counts, 0.9999)


def test_the_imbalance_grid_sweeps_cuis_betas_and_the_tuning_grid_tunes_each():
    assert sorted(parse_loss_spec(spec).beta for spec in CB_BETA_SWEEP) == sorted(CB_BETAS) == [0.9, 0.99, 0.999, 0.9999]
    imbalance = {config.loss for config in default_configs("imbalance", seeds=1)}
    tuned_long_tail = {config.loss for config in default_configs("tune", seeds=1) if config.imbalance_ratio != 1}
    assert set(CB_BETA_SWEEP) <= imbalance and set(CB_BETA_SWEEP) <= tuned_long_tail


def _imbalance_run(spec: str, seed: int, validation: float, test: float):
    config = RunConfig(loss=spec, seed=seed, imbalance_ratio=100.0, validation_fraction=0.2, epochs=2)
    history = {"val_accuracy": [0.1, validation], "test_accuracy": [0.1, test],
               "val_per_class_accuracy": [[0.1] * 10, [validation] * 10],
               "test_per_class_accuracy": [[0.1] * 10, [test] * 10]}
    return stored_run(config, history)


def test_beta_is_chosen_on_validation_balanced_accuracy_never_on_test():
    runs = {spec: [_imbalance_run(spec, seed, validation, test) for seed in range(3)]
            for spec, validation, test in (("cb-ce@0.9", 0.6, 0.9), ("cb-ce", 0.7, 0.5), ("cb-ce@0.9999", 0.65, 0.95))}
    assert chosen_class_balanced(runs) == "cb-ce"
    runs["cb-ce"] = runs["cb-ce"][:1]  # one seed is too few to choose on
    assert chosen_class_balanced(runs) == "cb-ce@0.9999"
    assert chosen_class_balanced({}) is None


def test_adam_rates_are_stored_apart_from_sgds(tmp_path, monkeypatch):
    path = tmp_path / "learning_rates.json"
    protocol.write_picks({("mnist1d", 1.0, "mae", "sgd"): 0.4, ("mnist1d", 1.0, "mae", "adam"): 0.004}, path)
    assert protocol.tuned_lr("mnist1d", "mae", path=path) == 0.4
    assert protocol.tuned_lr("mnist1d", "mae", path=path, optimizer="adam") == 0.004
    assert protocol.tuned_lr("mnist1d", "ce", path=path, optimizer="adam") is None
    read_committed = protocol.tuned_lr
    monkeypatch.setattr(protocol, "tuned_lr", lambda *args, **options: read_committed(*args, **options, path=path))
    assert protocol.learning_rate(protocol.FAIR, "mnist1d", "ce", optimizer="adam") == protocol.ADAM_DEFAULT_LR
    assert protocol.learning_rate(protocol.FAIR, "mnist1d", "mae", optimizer="adam") == 0.004
    adam_config = RunConfig(loss="ce", optimizer="adam", lr=protocol.ADAM_DEFAULT_LR, weight_decay=0.0)
    assert protocol.untuned([adam_config]) == [("mnist1d", 1.0, "ce with Adam")]


def _fair_run(loss: str, seed: int, curve: list[float]):
    config = RunConfig(loss=loss, seed=seed, epochs=len(curve), validation_fraction=0.2)
    return stored_run(config, {"val_accuracy": curve, "test_accuracy": curve})


def test_the_convergence_check_names_a_loss_whose_best_validation_epoch_comes_late():
    levelled = [0.5, 0.8, 0.9, 0.9, 0.9, 0.9, 0.89, 0.9, 0.9, 0.9]
    rising = [0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.62, 0.64, 0.65]
    assert late_validation_gain(_fair_run("mae", 0, rising)) == pytest.approx(0.65 - 0.62)
    table = convergence_table({"ce": [_fair_run("ce", seed, levelled) for seed in range(2)],
                               "mae": [_fair_run("mae", seed, rising) for seed in range(2)]})
    assert "on average: `mae`;" in table and "`ce`;" not in table
    calm = convergence_table({"ce": [_fair_run("ce", seed, levelled) for seed in range(2)]})
    assert "Every loss reaches its best validation epoch before the last fifth" in calm


def _judged_run(seed: int, accuracy: float):
    config = RunConfig(seed=seed, epochs=1)  # shared recipe: judged at the last epoch
    return stored_run(config, {"test_accuracy": [accuracy], "train_accuracy": [accuracy],
                               "test_per_class_accuracy": [[accuracy] * 10]})


def test_a_profile_with_fewer_seeds_is_checked_against_the_same_published_seeds():
    published = {"ce": [_judged_run(seed, accuracy) for seed, accuracy in enumerate((0.80, 0.82, 0.84, 0.96, 0.98))]}
    same = {"ce": [_judged_run(seed, accuracy) for seed, accuracy in enumerate((0.80, 0.82, 0.84))]}
    [line] = compare_with_published(same, published)
    assert line.startswith("ce: agrees") and "gap +0.00 points" in line and "same 3 seeds" in line
    shifted = {"ce": [_judged_run(seed, accuracy + 0.12) for seed, accuracy in enumerate((0.80, 0.82, 0.84))]}
    assert compare_with_published(shifted, published)[0].startswith("ce: DIFFERS")
    other_seeds = {"ce": [_judged_run(7, 0.9)]}
    assert compare_with_published(other_seeds, published) == ["ce: no published runs to compare with"]


def test_the_short_budget_is_the_same_epochs_for_every_loss_and_the_fair_length_is_each_losss_own():
    configs = [config for config in default_configs("compare") if config.validation_fraction > 0]
    fair = {config.loss: config.epochs for config in configs if config.epochs == protocol.converged_epochs(
        config.dataset, config.loss)}
    short = {config.loss: config.epochs for config in configs if config.loss in fair and config.epochs < fair[config.loss]}
    assert fair["mae"] == protocol.SLOW_LOSS_EPOCHS[("mnist1d", "mae")] > fair["ce"] == protocol.CONVERGED_EPOCHS["mnist1d"]
    assert set(short.values()) == {protocol.CONVERGED_EPOCHS["mnist1d"] // protocol.SHORT_BUDGET_SHARE}
    assert set(short) == set(fair)
