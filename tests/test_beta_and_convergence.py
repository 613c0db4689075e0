"""Class-balanced weights' β (spec, sweep, choice on validation), Adam's tuned rates, the compare
page's convergence check, and the comparison of a local run with the published runs: pure functions
over specs and fake stored runs.

Run: pytest tests/test_beta_and_convergence.py -q
"""

from __future__ import annotations

import math
import random
import statistics

import pytest
import torch
from scipy.stats import t as t_distribution
from support import stored_run

from lossdemo import protocol
from lossdemo.experiments import CB_BETA_SWEEP, CB_BETAS, default_configs
from lossdemo.losses import DEFAULT_CB_BETA, class_balanced_weights, get_loss, parse_loss_spec
from lossdemo.report.agreement import compare_with_published, published_agreement
from lossdemo.report.compare import convergence_table, late_validation_gain
from lossdemo.report.imbalance import chosen_class_balanced
from lossdemo.report.stats import mean_ci, prediction_half_width
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


# The published fair-protocol MAE runs on mnist1d (10 seeds, mean 68.4 %, SD 10.5 points): a chaotic
# loss whose runs on another CPU leave the published curves after a few epochs.
PUBLISHED_MAE = (0.732, 0.813, 0.755, 0.830, 0.644, 0.558, 0.554, 0.737, 0.666, 0.553)


def _published_and_local(local: tuple[float, ...]):
    published = {"mae": [_judged_run(seed, accuracy) for seed, accuracy in enumerate(PUBLISHED_MAE)]}
    return {"mae": [_judged_run(seed, accuracy) for seed, accuracy in enumerate(local)]}, published


def test_a_two_seed_mean_within_seed_noise_agrees_though_its_seeds_published_mean_is_far():
    # 64.6 % over seeds 0 and 1, whose published runs average 77.3 %: 12.7 points apart, more than the
    # published 10-seed mean's ±7.5, but well within what two fresh seeds of this spread show.
    [line] = compare_with_published(*_published_and_local((0.6295, 0.6625)))
    assert line.startswith("mae: agrees — 64.6 % here (mean of 2 seeds) vs 68.4 % published (mean of 10 seeds, "
                           "SD 10.5 points): gap -3.8 points, within ±18.5"), line
    tolerance = t_distribution.ppf(0.975, 9) * statistics.stdev(PUBLISHED_MAE) * math.sqrt(1 / 2 + 1 / 10)
    assert published_agreement([0.6295, 0.6625], list(PUBLISHED_MAE)).tolerance == pytest.approx(tolerance)


def test_a_clearly_shifted_two_seed_mean_differs():
    [line] = compare_with_published(*_published_and_local((0.40, 0.42)))
    assert line.startswith("mae: DIFFERS — 41.0 % here (mean of 2 seeds)") and "gap -27.4 points, outside ±18.5" in line


def test_the_tolerance_shrinks_as_local_seeds_grow_so_the_same_shift_differs_with_more_seeds():
    shift = -0.12  # real, but within what two seeds of MAE's spread show
    tolerances = [published_agreement([0.5] * n, list(PUBLISHED_MAE)).tolerance for n in (1, 2, 3, 5, 10, 1000)]
    assert tolerances == sorted(tolerances, reverse=True) and len(set(tolerances)) == len(tolerances)
    assert tolerances[-1] > mean_ci(list(PUBLISHED_MAE)).half_width, "the published mean's own uncertainty remains"
    shifted = statistics.fmean(PUBLISHED_MAE) + shift
    few = compare_with_published(*_published_and_local((shifted,) * 2))[0]
    many = compare_with_published(*_published_and_local((shifted,) * 10))[0]
    assert few.startswith("mae: agrees — 56.4 % here (mean of 2 seeds)") and "gap -12.0 points, within ±18.5" in few
    assert many.startswith("mae: DIFFERS — 56.4 % here (mean of 10 seeds)") and "gap -12.0 points, outside ±10.7" in many


def _false_alarm_rate(published_seeds: int, local_seeds: int, reproduces_published_seeds: bool, trials: int = 4000):
    """How often a faithful local run is called different: draws from one normal distribution, the
    local ones fresh (another CPU, a chaotic loss) or the published ones of the same seeds (a CPU that
    reproduces them)."""
    rng = random.Random(20240601)
    alarms = 0
    for _ in range(trials):
        published = [rng.gauss(0.7, 0.1) for _ in range(published_seeds)]
        local = (published[:local_seeds] if reproduces_published_seeds
                 else [rng.gauss(0.7, 0.1) for _ in range(local_seeds)])
        alarms += not published_agreement(local, published).agrees
    return alarms / trials


@pytest.mark.parametrize("published_seeds, local_seeds", [(10, 2), (10, 3), (5, 3), (5, 5), (3, 2)])
def test_a_faithful_reproduction_is_called_different_five_percent_of_the_time_whatever_the_seed_counts(
        published_seeds, local_seeds):
    assert 0.04 <= _false_alarm_rate(published_seeds, local_seeds, reproduces_published_seeds=False) <= 0.06
    assert _false_alarm_rate(published_seeds, local_seeds, reproduces_published_seeds=True) <= 0.06


def test_every_local_seed_counts_and_one_published_seed_cannot_judge():
    published = {"ce": [_judged_run(seed, accuracy) for seed, accuracy in enumerate((0.80, 0.82, 0.84, 0.96, 0.98))]}
    other_seeds = {"ce": [_judged_run(7, 0.88), _judged_run(8, 0.9)]}
    assert compare_with_published(other_seeds, published)[0].startswith("ce: agrees — 89.0 % here (mean of 2 seeds)")
    assert compare_with_published(other_seeds, {"ce": published["ce"][:1]}) == [
        "ce: cannot tell — 89.0 % here (mean of 2 seeds) vs 80.0 % published from one seed, which has no spread to "
        "judge the gap by"]
    assert compare_with_published(other_seeds, {}) == ["ce: no published runs to compare with"]
    assert compare_with_published({"ce": []}, published) == ["ce: no complete runs here to compare with the published ones"]


def test_prediction_half_width_rejects_what_it_cannot_judge():
    with pytest.raises(ValueError, match="new_count 0 is invalid; allowed: an integer >= 1"):
        prediction_half_width([0.5, 0.6], 0)
    with pytest.raises(ValueError, match="1 reference value"):
        prediction_half_width([0.5], 2)


def test_the_short_budget_is_the_same_epochs_for_every_loss_and_the_fair_length_is_each_losss_own():
    configs = [config for config in default_configs("compare") if config.validation_fraction > 0]
    fair = {config.loss: config.epochs for config in configs if config.epochs == protocol.converged_epochs(
        config.dataset, config.loss)}
    short = {config.loss: config.epochs for config in configs if config.loss in fair and config.epochs < fair[config.loss]}
    assert fair["mae"] == protocol.SLOW_LOSS_EPOCHS[("mnist1d", "mae")] > fair["ce"] == protocol.CONVERGED_EPOCHS["mnist1d"]
    assert set(short.values()) == {protocol.CONVERGED_EPOCHS["mnist1d"] // protocol.SHORT_BUDGET_SHARE}
    assert set(short) == set(fair)
