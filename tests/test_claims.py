"""The claims experiments: grid sizes, verdict rules on synthetic runs, and the published verdicts.

The last test is the contract of the "The report, checked" page: it recomputes every verdict from
the committed results (``results/``) and fails if a generated claims file says anything else.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from support import GENERATED_DIR, PUBLISHED_DIR, REPO_ROOT, stored_run

from lossdemo.corruption import long_tail_counts
from lossdemo.experiments import (
    EXPERIMENTS,
    NOISE_LOSSES,
    PROFILES,
    VERDICT_NOISE_CONDITIONS,
    datasets_for,
    default_configs,
    gamma_spec,
    long_tail_epochs,
    spec_gamma,
)
from lossdemo.protocol import (
    ADAM_DEFAULT_LR,
    SEEDS_PER_CONDITION,
    converged_epochs,
    long_tail_pool,
    pool_validation_fraction,
    tuned_lr,
    tuning_seeds,
)
from lossdemo.report import claims
from lossdemo.report.changes import CHANGES_NAME, HISTORY_FILE, read_previous
from lossdemo.report.claims import combined_verdict, evaluate_claims
from lossdemo.report.claims_pages import claim_pages, claims_files, stored_runs
from lossdemo.report.verdicts import FAILS, HOLDS, Verdict, claim_verdict_text, fair, reference, shared
from lossdemo.reproduce import estimate_seconds, plan_for_flags
from lossdemo.results import StoredRun

# The CLI's estimate of --full, tuning included, on 2 cores, must stay within this. The frozen protocol's
# issue asked for 45 minutes; its own ten seeds per condition, tuning seeds apart from the verdicts' and
# the larger long-tail pool made the measured run 55 minutes (benchmarks/results/profile_times.json), so
# the bound guards against growth from here, and the gap to 45 is on record there.
FULL_PROFILE_BUDGET_S = 60 * 60


# --------------------------------------------------------------------------------------------
# Grids


@pytest.mark.parametrize("name, runs", [("label-noise", 7 * (2 * 10 + 3 * 5)), ("imbalance", 9 * 3 * 10),
                                        ("gamma-sweep", 7 * 10 + 7 * 10 + 3 * 10), ("mae-anatomy", 2 * 4 * 10)])
def test_each_grid_has_the_planned_size_with_the_protocols_seeds(name, runs):
    configs = default_configs(name, seeds=SEEDS_PER_CONDITION)
    assert len(configs) == runs
    assert len({config.run_id for config in configs}) == runs, "no condition appears twice in one grid"
    assert {config.seed for config in configs} == set(range(SEEDS_PER_CONDITION))
    assert {config.dataset for config in configs} == ({long_tail_pool("mnist1d")} if name == "imbalance" else {"mnist1d"})


def test_every_condition_a_verdict_reads_has_the_same_seeds_and_none_is_a_tuning_seed():
    plan = plan_for_flags(["--full"])
    tuning = {config.seed for config in plan.by_experiment["tune"]}
    assert tuning == set(tuning_seeds())
    seeds_by_condition = {}
    for name, configs in plan.by_experiment.items():
        for config in configs:
            if name != "tune":
                seeds_by_condition.setdefault(replace(config, seed=0), set()).add(config.seed)
    figure_only = {condition for condition in seeds_by_condition if condition.label_noise > 0
                   and (condition.label_noise, condition.label_noise_kind) not in VERDICT_NOISE_CONDITIONS}
    for condition, seen in seeds_by_condition.items():
        wanted = range(SEEDS_PER_CONDITION // 2) if condition in figure_only else range(SEEDS_PER_CONDITION)
        assert seen == set(wanted), condition
    assert not tuning & set().union(*seeds_by_condition.values()), "a verdict must never read a seed its rates were tuned on"


def test_label_noise_grid_covers_the_rates_and_the_class_pair_variant():
    conditions = {(c.label_noise, c.label_noise_kind) for c in default_configs("label-noise")}
    assert conditions == {(0.0, "symmetric"), (0.2, "symmetric"), (0.4, "symmetric"), (0.6, "symmetric"), (0.4, "asymmetric")}
    assert {(c.loss, c.epochs) for c in default_configs("label-noise")} == \
        {(loss, converged_epochs("mnist1d", loss)) for loss in NOISE_LOSSES}
    assert {c.epochs for c in default_configs("label-noise") if c.loss == "ce"} == {50}
    assert {c.epochs for c in default_configs("label-noise") if c.loss in ("mae", "nce+mae")} == {200}
    assert {c.validation_fraction for c in default_configs("label-noise")} == {0.2}, "early stopping needs a validation split"


def test_long_tails_come_from_the_pool_and_take_a_balanced_runs_steps_at_every_ratio():
    pool = long_tail_pool("mnist1d")
    per_class = 3851  # the pool's smallest class after its validation split (tests/test_data.py pins the pool)
    assert long_tail_counts(per_class, 100.0, 10)[-1] >= 30, "the rarest class keeps dozens of samples (CIFAR-10-LT: 50)"
    assert pool_validation_fraction(pool) * 39000 < 0.1 * sum(long_tail_counts(per_class, 100.0, 10))
    balanced_steps = (3200 // 128) * converged_epochs("mnist1d", "ce")
    for ratio in (1.0, 10.0, 100.0):
        steps = (sum(long_tail_counts(per_class, ratio, 10)) // 128) * long_tail_epochs("mnist1d", 50, ratio)
        assert abs(steps - balanced_steps) / balanced_steps < 0.15, (ratio, steps, balanced_steps)
    configs = default_configs("imbalance", seeds=1)
    assert {(c.dataset, c.validation_fraction) for c in configs} == {(pool, pool_validation_fraction(pool))}


def test_gamma_zero_is_cross_entropy_and_shares_its_runs_with_compare():
    assert gamma_spec(0.0) == "ce" and spec_gamma("ce") == 0.0
    assert [spec_gamma(loss) for loss in EXPERIMENTS["gamma-sweep"].losses] == [0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0]
    compare_ids = {c.run_id for c in default_configs("compare")}
    shared = {c.loss for c in default_configs("gamma-sweep") if c.run_id in compare_ids}
    assert shared == {"ce", "focal:0.5", "focal:2"}


def test_mae_anatomy_runs_the_shared_recipe_longer_and_adam_without_coupled_weight_decay():
    compare_ids = {c.run_id for c in default_configs("compare")}
    short_sgd = [c for c in default_configs("mae-anatomy") if c.optimizer == "sgd" and c.epochs == 25]
    assert short_sgd and all(c.run_id in compare_ids for c in short_sgd), "the 25-epoch SGD runs are the shared recipe's"
    long_sgd = [c for c in default_configs("mae-anatomy") if c.optimizer == "sgd" and c.epochs == 100]
    assert {c.lr for c in long_sgd} == {0.05}
    adam = [c for c in default_configs("mae-anatomy") if c.optimizer == "adam"]
    assert {c.epochs for c in adam} == {25, 100}
    assert all(c.lr == (tuned_lr(c.dataset, c.loss, optimizer="adam") or ADAM_DEFAULT_LR) for c in adam), \
        "Adam trains each loss at its rate tuned with Adam"
    assert {c.weight_decay for c in adam} == {0.0}


def test_the_full_profile_fits_its_budget_on_two_cores():
    # The CLI's estimate: each run's epochs at the measured one-thread rate, scaled by the share of the
    # training split it trains on, shared by one worker per core (benchmarks/profile_times.py measures it).
    plan = plan_for_flags(["--full"])
    serial = estimate_seconds(list({c.run_id: c for c in plan.configs}.values()), "cpu", workers=1)
    assert serial / 2 <= FULL_PROFILE_BUDGET_S, f"--full is estimated at {serial / 2 / 60:.0f} min on 2 cores"
    # --full adds compare and tune on mnist5k; the claims experiments stay on mnist1d.
    assert PROFILES["full"].seeds == SEEDS_PER_CONDITION
    assert all(EXPERIMENTS[name].datasets == ("mnist1d",) for name in claim_pages())


def test_claims_experiments_default_to_mnist1d_and_follow_the_flag():
    profile = PROFILES["default"]
    for name in claim_pages():
        assert datasets_for(EXPERIMENTS[name], None, profile) == ("mnist1d",)
        assert datasets_for(EXPERIMENTS[name], ("mnist5k",), profile) == ("mnist5k",)
    assert datasets_for(EXPERIMENTS["compare"], None, profile) == profile.datasets


# --------------------------------------------------------------------------------------------
# Verdict rules on synthetic runs


def fake_run(config, final_accuracy: float, **history) -> StoredRun:
    """A complete stored run whose last-epoch numbers are the given ones (earlier epochs: worse)."""
    per_class = history.pop("per_class", [final_accuracy] * 10)
    best = history.pop("best", final_accuracy)
    return stored_run(config, {
        "test_accuracy": [final_accuracy / 2, best, final_accuracy],
        "test_per_class_accuracy": [per_class, per_class, per_class],
        "train_accuracy": [history.pop("train_accuracy", 0.9)] * 3,
        "test_ece": [history.pop("ece", 0.05)] * 3,
        **{name: [value] * 3 for name, value in history.items()},
    })


def seeds(config, values, **history) -> list[StoredRun]:
    return [fake_run(replace(config, seed=seed), value, **history) for seed, value in enumerate(values)]


def verdict_of(claim_id: str, runs) -> claims.ClaimVerdict:
    return next(v for v in evaluate_claims(runs) if v.claim.claim_id == claim_id)


def words(verdict: claims.ClaimVerdict) -> str:
    """The verdict as the experiment pages word it."""
    return claim_verdict_text(verdict.verdict)


def _report_ranking_runs(focal_half: list[float], ce: list[float], focal_two: list[float], dataset="mnist1d"):
    """The same accuracies under the fair protocol and under the report's recipe."""
    runs = []
    for loss, values in (("focal:0.5", focal_half), ("ce", ce), ("focal:2", focal_two), ("mae", [0.5] * len(ce))):
        runs += seeds(fair("compare", dataset, loss=loss), values) + seeds(shared("compare", dataset, loss=loss), values)
    return runs


def test_a_clear_and_consistent_ranking_holds():
    # Ten seeds: the comparison with MAE takes the exact sign-flip test, whose smallest p-value is 2^-n.
    runs = _report_ranking_runs([0.92, 0.93, 0.91, 0.92, 0.94] * 2, [0.90, 0.91, 0.89, 0.90, 0.92] * 2,
                                [0.88, 0.89, 0.87, 0.88, 0.90] * 2)
    assert words(verdict_of("gamma-order", runs)) == HOLDS
    assert words(verdict_of("focal-half-best", runs)) == HOLDS
    assert "n = 10" in verdict_of("gamma-order", runs).detail
    assert verdict_of("gamma-order", runs).effect.startswith("mnist1d: `focal:0.5` − `ce`, the fair protocol: +2.0 (")


def test_a_reversed_ranking_does_not_hold():
    runs = _report_ranking_runs([0.88, 0.89, 0.87, 0.88, 0.90], [0.90, 0.91, 0.89, 0.90, 0.92], [0.86, 0.87, 0.85, 0.86, 0.88])
    found = verdict_of("gamma-order", runs)
    assert words(found) == FAILS
    assert "the 95 % interval puts `ce` above `focal:0.5`" in found.detail


def test_a_difference_the_seeds_cannot_separate_is_not_called_a_win():
    rng = random.Random(0)
    ce = [0.90 + rng.uniform(-0.02, 0.02) for _ in range(5)]
    focal_half = [value + delta for value, delta in zip(ce, (0.03, -0.02, 0.02, -0.01, 0.01))]  # mean > 0, CI spans 0
    runs = _report_ranking_runs(focal_half, ce, [value - 0.05 for value in ce])
    found = verdict_of("gamma-order", runs)
    assert words(found).startswith("not separated (the 99.") and "simultaneous intervals rule out `focal:0.5` − `ce`, " \
        "the fair protocol above +" in words(found), \
        "a difference the seeds cannot separate is neither a win nor a loss"
    assert "the 95 % interval does not separate `focal:0.5` and `ce`" in found.detail
    assert "the 95 % interval puts `ce` above `focal:2`" in found.detail


def test_a_clear_refutation_does_not_hold_with_the_same_burden_of_proof():
    ce = [0.90, 0.91, 0.89, 0.90, 0.92]
    runs = _report_ranking_runs([value - 0.03 for value in ce], ce, [value - 0.05 for value in ce])
    found = verdict_of("gamma-order", runs)
    assert words(found) == FAILS, "`ce` is clearly above `focal:0.5`: the ranking is refuted, not unsettled"
    tied = _report_ranking_runs([value + 0.0001 * i for i, value in enumerate(ce)], ce, [value - 0.05 for value in ce])
    assert words(verdict_of("gamma-order", tied)) == FAILS, "a difference shown to be within ±1 point refutes it too"


def test_a_verdict_that_changes_with_gamma_says_depends():
    runs = []
    ce = [0.60, 0.62, 0.61, 0.63, 0.60]
    for loss, shift in (("ce", 0.0), ("focal:0.5", 0.03), ("focal:2", -0.03), ("mae", 0.1)):
        config = reference("label-noise", "mnist1d", loss=loss, label_noise=0.4, label_noise_kind="symmetric")
        runs += seeds(config, [value + shift + 0.001 * i for i, value in enumerate(ce)])
    found = verdict_of("focal-fixes-noise", runs)
    assert words(found) == "depends on (γ: holds for `focal:0.5`; does not hold for `focal:2`)"


@pytest.mark.parametrize("outcomes, expected", [
    (("not separated", "does not hold"), "does not hold (not separated on mnist1d)"),
    (("holds", "not separated"), "not separated (holds on mnist1d)"),
    (("holds", "does not hold"), "depends on (the dataset: holds on mnist1d; does not hold on mnist5k)"),
    (("does not hold", "does not hold"), "does not hold"),
])
def test_datasets_combine_by_the_same_rule_as_regimes(outcomes, expected):
    """Depends on the dataset only when it holds on one and is refuted on another; refuted on one and
    undecided on the other does not hold, with the same burden of proof both ways."""
    verdicts = {name: Verdict(outcome) for name, outcome in zip(("mnist1d", "mnist5k"), outcomes)}
    assert claim_verdict_text(combined_verdict(verdicts)) == expected


def test_a_verdict_that_changes_with_the_dataset_says_depends():
    runs = _report_ranking_runs([0.92, 0.93, 0.91, 0.92, 0.94], [0.90, 0.91, 0.89, 0.90, 0.92], [0.88, 0.89, 0.87, 0.88, 0.90])
    runs += _report_ranking_runs([0.88, 0.89, 0.87, 0.88, 0.90], [0.90, 0.91, 0.89, 0.90, 0.92], [0.86, 0.87, 0.85, 0.86, 0.88],
                                 dataset="mnist5k")
    found = verdict_of("gamma-order", runs)
    assert words(found) == "depends on (the dataset: holds on mnist1d; does not hold on mnist5k)"
    assert found.datasets == ("mnist1d", "mnist5k")


def test_missing_runs_are_not_measured_never_guessed():
    found = verdict_of("ce-noise-sensitive", [])
    assert words(found) == "not measured yet (run `python -m lossdemo.reproduce --experiments label-noise`)"
    assert found.effect == "—"
    one_seed = _report_ranking_runs([0.92], [0.90], [0.88])  # a t-interval needs two seeds
    assert words(verdict_of("gamma-order", one_seed)).startswith("not measured yet")


def _noise_runs(drops: dict[str, list[float]], flipped_fit: float = 0.5) -> list[StoredRun]:
    """Clean runs at 0.9 and runs at 40 % symmetric noise that lost ``drops[loss]`` per seed."""
    runs = []
    for loss, drop in drops.items():
        clean = fair("label-noise", "mnist1d", loss=loss, label_noise=0.0)
        noisy = fair("label-noise", "mnist1d", loss=loss, label_noise=0.4, label_noise_kind="symmetric")
        runs += seeds(clean, [0.9] * len(drop))
        runs += seeds(noisy, [0.9 - value for value in drop], train_accuracy_on_flipped=flipped_fit)
    return runs


def test_ce_noise_sensitivity_is_judged_against_the_robust_losses():
    ce_drop = [0.30, 0.31, 0.29, 0.30, 0.32]
    runs = _noise_runs({"ce": ce_drop, "gce:0.7": [0.10, 0.12, 0.11, 0.09, 0.10], "nce+mae": [0.05, 0.06, 0.05, 0.04, 0.05]})
    found = verdict_of("ce-noise-sensitive", runs)
    assert words(found) == HOLDS
    assert found.effect.startswith("mnist1d: CE's drop − `gce:0.7`'s drop: +20.0 (")
    assert "wrong training label for 50.0 %" in found.detail
    # Every loss loses as much as CE: CE is not singled out, whatever its own drop.
    same = _noise_runs({"ce": ce_drop, "gce:0.7": [v + 0.0001 * i for i, v in enumerate(ce_drop)],
                        "nce+mae": [v - 0.0001 * i for i, v in enumerate(ce_drop)]})
    assert words(verdict_of("ce-noise-sensitive", same)) == FAILS


def test_ce_favours_the_majority_is_judged_against_the_balanced_gap():
    head_heavy = [1.0, 1.0, 1.0, 0.8, 0.8, 0.8, 0.8, 0.2, 0.2, 0.2]
    even = [0.9] * 10
    runs = seeds(reference("imbalance", "mnist1d", loss="ce", imbalance_ratio=100.0), [0.6, 0.61, 0.6, 0.62, 0.6],
                 per_class=head_heavy)
    runs += seeds(reference("imbalance", "mnist1d", loss="ce", imbalance_ratio=1.0), [0.9] * 5, per_class=even)
    assert words(verdict_of("ce-favours-majority", runs)) == HOLDS
    balanced_gap_too = seeds(reference("imbalance", "mnist1d", loss="ce", imbalance_ratio=100.0), [0.6] * 5, per_class=head_heavy)
    balanced_gap_too += seeds(reference("imbalance", "mnist1d", loss="ce", imbalance_ratio=1.0), [0.6] * 5, per_class=head_heavy)
    assert words(verdict_of("ce-favours-majority", balanced_gap_too)) == FAILS


def test_not_tested_claims_say_so():
    found = verdict_of("missing-labels", [])
    assert words(found) == "not tested here"


def test_every_claim_links_to_a_section_of_an_existing_page():
    docs_claims = REPO_ROOT / "docs" / "claims"
    for claim in claims.CLAIMS:
        if not claim.evidence:
            continue
        page, _, anchor = claim.evidence.partition("#")
        assert (docs_claims / page).is_file(), f"{claim.claim_id}: {page} does not exist"
        assert anchor, f"{claim.claim_id}: link to a section, not a whole page"


# --------------------------------------------------------------------------------------------
# The published page agrees with the published results


def test_generated_claims_files_match_the_committed_results():
    runs = stored_runs([PUBLISHED_DIR])
    expected = claims_files(runs, read_previous(REPO_ROOT / HISTORY_FILE))
    assert CHANGES_NAME in expected, "the page of verdicts before and after the frozen protocol"
    stale = []
    for name, text in expected.items():
        path = GENERATED_DIR / name
        if not path.is_file() or path.read_text() != text:
            stale.append(name)
    assert not stale, (f"{stale} in docs/generated disagree with the verdicts recomputed from {PUBLISHED_DIR}; "
                       "regenerate with: python -m lossdemo.report.claims_pages --results-dir results")


def test_every_published_verdict_reads_the_protocols_n_and_every_page_the_same_runs():
    """One n for every verdict condition, and one number per condition: the compare tables, the README's
    headline and the verdicts count the same seeds of the same runs."""
    from lossdemo.report.claims import claim_findings
    from lossdemo.report.measures import RunIndex

    index = RunIndex(stored_runs([PUBLISHED_DIR]))
    sizes = {len(comparison.values) for by_dataset in claim_findings(index).values()
             for finding in by_dataset.values() for comparison in finding.comparisons}
    assert sizes == {SEEDS_PER_CONDITION}, f"verdicts read {sorted(sizes)} seeds; the protocol fixes {SEEDS_PER_CONDITION}"
    for dataset in ("mnist1d", "mnist5k"):
        for suffix in ("table", "shared_table"):
            rows = [line for line in (GENERATED_DIR / f"compare_{dataset}_{suffix}.md").read_text().splitlines()
                    if line.startswith("| `")]
            assert rows and all(line.split("|")[3].strip() == str(SEEDS_PER_CONDITION) for line in rows), (dataset, suffix)
    headline = (GENERATED_DIR / "compare_mnist1d_table.md").read_text()
    assert headline in (REPO_ROOT / "README.md").read_text(), "the README's headline is the compare page's table"
