"""The experiments ``reproduce`` knows, as grids of run configs, and the profiles that size them.

An experiment is a pure function from (datasets, losses, seeds, epochs) to run configs; the runs
themselves are shared between experiments through their config hash, so a run needed by two
experiments is trained once: the ``ce``/``focal`` runs of ``compare`` are γ = 0, 0.5 and 2 of
``gamma-sweep``; the noise-free ``label-noise`` runs of the report's losses are fair ``compare`` runs.
The tuning runs have seeds of their own (``lossdemo.protocol.tuning_seeds``), which no verdict reads.

``compare`` is the report's own experiment, under two recipes (``lossdemo.protocol``): the fair
protocol (each loss at its tuned learning rate, trained to convergence, read at its best validation
epoch) and the report's shared recipe (lr 0.05 for all, 25 epochs). Four experiments test the
report's claims and the remedies the literature offers, and ``tune`` picks each loss's learning rate
on a validation split (figures, tables and verdict rules are in ``lossdemo.report``, one module each):

=============  =================================================================  ===========
experiment     grid (× seeds)                                                     epochs
=============  =================================================================  ===========
compare        5 losses × (fair protocol, short budget, shared recipe); ce and    converged/÷5/25;
               focal (γ 0.5, 2) also under the shared recipe twice as long        50
label-noise    7 losses × (symmetric 0, 0.2, 0.4, 0.6 + class-pair 0.4), fair;    converged
               half the seeds where only figures read the condition
imbalance      9 losses (cb-ce at 4 β) × ratio 1, 10, 100 on the long-tail pool   equal steps
gamma-sweep    γ ∈ {0, 0.25, 0.5, 1, 2, 3, 5} × (fair, shared)                     converged/25
mae-anatomy    mae, ce × (SGD 0.05, Adam at its tuned rate) × (25, 100 epochs)     25/100
tune           every loss above × 7 rates; mae, ce × 11 Adam rates (tuning seeds)  converged
=============  =================================================================  ===========

"Converged" is ``lossdemo.protocol.converged_epochs``: per dataset (mnist1d 50, mnist5k 25), longer for
the slow losses of ``SLOW_LOSS_EPOCHS`` (MAE and NCE+MAE on mnist1d). ``compare`` and ``tune`` run on
the profile's datasets; the others default to mnist1d only, where their grids fit a laptop CPU
(``--datasets mnist5k`` runs them there too); the imbalance experiment draws its long tails from the
dataset's larger pool (``lossdemo.protocol.LONG_TAIL_POOLS``). The CLI prints the time a plan is
estimated to take before it trains (``docs/generated/timings.md`` lists the measured times of the
published runs).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

from .data import DATASET_INFO, DATASETS, class_names_of
from .losses import parse_loss_spec
from .protocol import (
    FAIR,
    LONG_TAIL_TUNING_RATIO,
    SEEDS_PER_CONDITION,
    SHARED_RECIPE,
    SHORT_BUDGET,
    TRAIN_METRICS_SAMPLES,
    VALIDATION_FRACTION,
    epochs_of,
    grad_clip_norm,
    learning_rate,
    long_tail_base,
    long_tail_pool,
    pool_validation_fraction,
    tuning_seeds,
)
from .run_config import RunConfig

REPORT_LOSSES = ("mae", "l1-logits", "ce", "focal:0.5", "focal:2")
# The four losses the report trained (its "L1" read as MAE on probabilities, see docs/losses/mae.md).
REPORT_FOUR = ("mae", "ce", "focal:0.5", "focal:2")


@dataclass(frozen=True)
class Profile:
    """How big a reproduce is. Profiles differ only in these fields, each with a reason."""

    name: str
    datasets: tuple[str, ...]
    seeds: int
    epochs: int | None  # None: each experiment's own length
    reason: str


PROFILES = {
    "default": Profile(
        "default", ("mnist1d", "mnist5k"), seeds=3, epochs=None,
        reason="the report's four losses (plus nn.L1Loss on logits) on both embedded datasets, the first 3 of the "
               f"published {SEEDS_PER_CONDITION} seeds: a check of the published comparison that fits 10 minutes on a "
               "2-core laptop",
    ),
    "quick": Profile(
        "quick", ("mnist1d",), seeds=2, epochs=3,
        reason="a smoke test for CI and the test suite: every stage runs, nothing is meant to be learned",
    ),
    "full": Profile(
        "full", ("mnist1d", "mnist5k"), seeds=SEEDS_PER_CONDITION, epochs=None,
        reason="every experiment: compare on both embedded datasets, the four claims experiments on "
               f"their own default (mnist1d), the protocol's {SEEDS_PER_CONDITION} seeds per condition; the CLI "
               "prints its time estimate before training",
    ),
}


@dataclass(frozen=True)
class Experiment:
    """A named grid of runs plus the defaults that make it answer its question.

    Attributes:
        datasets: the experiment's own default datasets, used when ``--datasets`` is not given;
            None means the profile's (see :func:`datasets_for`).
        epochs_reason: why ``epochs`` is long enough for the effect to show.
        accepts_loss: which loss specs ``--losses`` may give this experiment (None: any), with
            ``allowed_losses`` saying so in words for the error message.
        seeds: the experiment's own number of seeds (None: the profile's); ``--seeds`` overrides both.
    """

    name: str
    question: str
    losses: tuple[str, ...]
    epochs: int | None  # None: each loss's converged length on the dataset (lossdemo.protocol)
    grid: Callable[[tuple[str, ...], tuple[str, ...], int, int | None], list[RunConfig]]  # epochs None: per dataset
    datasets: tuple[str, ...] | None = None
    epochs_reason: str = ""
    accepts_loss: Callable[[str], bool] | None = None
    allowed_losses: str = ""
    seeds: int | None = None


def _fair_config(dataset, loss, seed, epochs, recipe=FAIR, tuning_ratio=None, length=None, **fields) -> RunConfig:
    """A run at the loss's tuned rate with the validation split: the fair protocol's length, or the
    short budget's with ``recipe=SHORT_BUDGET``. ``tuning_ratio``: the imbalance ratio whose pick
    applies (default: the run's own); ``length``: the run's epochs when the caller computed them."""
    ratio = fields.get("imbalance_ratio", 1.0) if tuning_ratio is None else tuning_ratio
    fields.setdefault("validation_fraction", recipe.validation_fraction)
    return RunConfig(dataset=dataset, loss=loss, seed=seed, lr=learning_rate(FAIR, dataset, loss, ratio),
                     epochs=length or epochs_of(recipe, dataset, loss, epochs),
                     train_metrics_samples=TRAIN_METRICS_SAMPLES, grad_clip_norm=grad_clip_norm(loss), **fields)


def _short_budget_config(dataset, loss, seed, epochs) -> RunConfig:
    return _fair_config(dataset, loss, seed, epochs, recipe=SHORT_BUDGET)


def _shared_recipe_config(dataset, loss, seed, epochs, **fields) -> RunConfig:
    """A run under the report's recipe: lr 0.05 for every loss, 25 epochs, no validation split."""
    return RunConfig(dataset=dataset, loss=loss, seed=seed, epochs=epochs_of(SHARED_RECIPE, dataset, loss, epochs),
                     lr=SHARED_RECIPE.lr, validation_fraction=SHARED_RECIPE.validation_fraction,
                     train_metrics_samples=TRAIN_METRICS_SAMPLES, **fields)


def _compare_grid(datasets, losses, seeds, epochs, recipes=None) -> list[RunConfig]:
    grid = [
        make(dataset, loss, seed, epochs)
        for dataset in datasets
        for make in recipes or (_fair_config, _short_budget_config, _shared_recipe_config)
        for loss in losses or REPORT_LOSSES
        for seed in range(seeds)
    ]
    return grid if recipes else grid + _longer_grid(datasets, losses, seeds, epochs)


# The report's recipe run twice as long, for the losses of its convergence claim ("converged after
# about 25 epochs"): only the length differs from the shared recipe's runs. On both embedded datasets,
# as part of compare, so that the claim is judged per dataset.
LONGER_EPOCHS = 2 * SHARED_RECIPE.epochs
CONVERGENCE_LOSSES = ("ce", "focal:0.5", "focal:2")


def _longer_grid(datasets, losses, seeds, epochs) -> list[RunConfig]:
    return [_shared_recipe_config(dataset, loss, seed, 2 * epochs if epochs else LONGER_EPOCHS)
            for dataset in datasets for loss in losses or REPORT_LOSSES if loss in CONVERGENCE_LOSSES
            for seed in range(seeds)]


# (rate, kind) of label noise on the training labels. Floats, so a config's hash never depends on
# whether someone typed 0 or 0.0.
NOISE_CONDITIONS = ((0.0, "symmetric"), (0.2, "symmetric"), (0.4, "symmetric"), (0.6, "symmetric"), (0.4, "asymmetric"))
# The report's four losses and the remedies the literature offers for noisy labels.
NOISE_LOSSES = REPORT_FOUR + ("gce:0.7", "nce+mae", "ls:0.1")


# The noise conditions the verdicts read (clean labels and 40 % symmetric noise) train every seed;
# the others, which only the figures read, the first half (lossdemo.protocol.SEEDS_PER_CONDITION).
VERDICT_NOISE_CONDITIONS = ((0.0, "symmetric"), (0.4, "symmetric"))


def noise_condition_seeds(rate: float, kind: str, seeds: int) -> int:
    """How many seeds a noise condition trains: all of ``seeds`` where a verdict reads it, else half."""
    return seeds if (rate, kind) in VERDICT_NOISE_CONDITIONS else max(1, seeds // 2)


def _label_noise_grid(datasets, losses, seeds, epochs) -> list[RunConfig]:
    return [
        _fair_config(dataset, loss, seed, epochs, label_noise=rate, label_noise_kind=kind)
        for dataset in datasets
        for rate, kind in NOISE_CONDITIONS
        for loss in losses or NOISE_LOSSES
        for seed in range(noise_condition_seeds(rate, kind, seeds))
    ]


IMBALANCE_RATIOS = (1.0, 10.0, 100.0)
# Cui et al. (2019)'s grid of β for the class-balanced weights; cb-ce runs at each, tuned like the
# other losses, and the imbalance report picks one on validation. ("cb-ce" itself is β = 0.999.)
CB_BETAS = (0.9, 0.99, 0.999, 0.9999)
CB_BETA_SWEEP = tuple(str(parse_loss_spec(f"cb-ce@{beta:g}")) for beta in CB_BETAS)
# CE and focal loss (the report's claim), and the re-weighting and logit-adjustment remedies.
IMBALANCE_LOSSES = ("ce", "focal:0.5", "focal:2", *CB_BETA_SWEEP, "cb-focal:2", "la-ce:1")


def long_tail_fraction(ratio: float, num_classes: int) -> float:
    """Share of a balanced training set that the exponential long-tail profile keeps (floors aside)."""
    return sum(ratio ** (-i / (num_classes - 1)) for i in range(num_classes)) / num_classes


def long_tail_epochs(dataset: str, epochs: int, ratio: float) -> int:
    """Epochs that give a long tail drawn from ``dataset``'s pool as many SGD steps as ``epochs`` on
    ``dataset``'s own balanced training split under the fair protocol.

    The pool's long-tailed sets differ in size by ratio (at ratio 1 the whole pool); with a fixed epoch
    count the runs would differ in training steps too, and "the tail is not learned" would mix
    imbalance with under-training. Sizes come from ``DATASET_INFO`` (class sizes taken as equal).
    """
    dataset = long_tail_base(dataset)
    pool = long_tail_pool(dataset)
    classes = len(class_names_of(pool))
    per_class = DATASET_INFO[pool].training_samples / classes * (1 - pool_validation_fraction(pool))
    trained = per_class * classes * long_tail_fraction(ratio, classes)
    reference = DATASET_INFO[dataset].training_samples * (1 - VALIDATION_FRACTION)
    return max(1, round(epochs * reference / trained))


def _long_tail_config(dataset, loss, seed, epochs, ratio, tuning_ratio) -> RunConfig:
    dataset = long_tail_base(dataset)
    pool = long_tail_pool(dataset)
    balanced_epochs = epochs_of(FAIR, dataset, loss, epochs)
    return _fair_config(pool, loss, seed, None, imbalance_ratio=ratio, tuning_ratio=tuning_ratio,
                        length=long_tail_epochs(dataset, balanced_epochs, ratio),
                        validation_fraction=pool_validation_fraction(pool))


def _imbalance_grid(datasets, losses, seeds, epochs) -> list[RunConfig]:
    return [
        _long_tail_config(dataset, loss, seed, epochs, ratio, LONG_TAIL_TUNING_RATIO)
        for dataset in datasets
        for ratio in IMBALANCE_RATIOS
        for loss in losses or IMBALANCE_LOSSES
        for seed in range(seeds)
    ]


FOCAL_GAMMAS = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)


def gamma_spec(gamma: float) -> str:
    """γ = 0 is plain ``ce`` (focal with γ = 0 is CE), so the sweep shares CE's runs with ``compare``."""
    return "ce" if gamma == 0 else str(parse_loss_spec(f"focal:{gamma:g}"))


def spec_gamma(spec: str) -> float:
    """γ of a ``ce`` or ``focal:<γ>`` spec (inverse of :func:`gamma_spec`)."""
    parsed = parse_loss_spec(spec)
    return 0.0 if parsed.name == "ce" else float(parsed.gamma)


def is_gamma_spec(spec: str) -> bool:
    """Whether ``spec`` is a point of the γ sweep: ``ce`` (γ = 0) or ``focal:<γ>`` without class weights."""
    parsed = parse_loss_spec(spec)
    return not parsed.class_balanced and parsed.name in ("ce", "focal")


GAMMA_LOSSES = tuple(gamma_spec(gamma) for gamma in FOCAL_GAMMAS)


def _gamma_sweep_grid(datasets, losses, seeds, epochs) -> list[RunConfig]:
    return (_compare_grid(datasets, losses, seeds, epochs, (_fair_config, _shared_recipe_config))
            + _longer_grid(datasets, losses, seeds, epochs))


# (optimizer, learning rate, weight decay, epochs as a multiple of the experiment's): the report's
# recipe, the same recipe run four times longer, and Adam at its customary 1e-3 for the same two
# lengths. Adam runs without weight decay: torch's Adam adds it to the gradient before the per-weight
# rescaling (L2 regularisation, not decoupled weight decay; Loshchilov & Hutter 2019), which at the
# shared 5e-4 would hold CE back and confound the comparison.
# Adam's rate (None) is each loss's rate tuned with Adam on validation (the tune experiment).
MAE_RECIPES = (("sgd", SHARED_RECIPE.lr, RunConfig().weight_decay, 1), ("sgd", SHARED_RECIPE.lr, RunConfig().weight_decay, 4),
               ("adam", None, 0.0, 1), ("adam", None, 0.0, 4))
MAE_ANATOMY_LOSSES = ("mae", "ce")


def _mae_anatomy_grid(datasets, losses, seeds, epochs) -> list[RunConfig]:
    epochs = epochs or SHARED_RECIPE.epochs
    return [
        RunConfig(dataset=dataset, loss=loss, seed=seed, optimizer=optimizer, weight_decay=decay,
                  lr=lr if lr is not None else learning_rate(FAIR, dataset, loss, optimizer=optimizer),
                  epochs=epochs * multiple, train_metrics_samples=TRAIN_METRICS_SAMPLES)
        for dataset in datasets
        for optimizer, lr, decay, multiple in MAE_RECIPES
        for loss in losses or MAE_ANATOMY_LOSSES
        for seed in range(seeds)
    ]


# The learning rates the tuning experiment tries: a factor-2 log grid around the shared recipe's rate,
# and for Adam one from an eighth of its customary 1e-3 up to 128 times it (without weight decay,
# CE with Adam kept improving up to 32 times the customary rate on mnist1d).
TUNING_LEARNING_RATES = (0.0125, 0.025, 0.05, 0.1, 0.2, 0.4, 0.8)
# Where a dataset's grid is shifted: on mnist5k every loss but nn.L1Loss on logits fails above 0.1,
# and MAE is best at the bottom of the common grid, so its grid is the same seven factor-2 steps one
# step lower. A grid must bracket every pick (tests/test_tune.py); where a pick lands on a grid's edge,
# the grid is extended before any verdict run is trained.
TUNING_LEARNING_RATES_BY_DATASET = {"mnist5k": (0.00625,) + TUNING_LEARNING_RATES[:-1]}
ADAM_TUNING_LEARNING_RATES = (0.000125, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128)
# Every loss some experiment trains under the fair protocol on mnist1d; on the other datasets only
# the report's losses are tuned (the claims experiments run on mnist1d).
TUNED_LOSSES = tuple(dict.fromkeys(REPORT_LOSSES + GAMMA_LOSSES + NOISE_LOSSES))


def tuning_rates(dataset: str) -> tuple[float, ...]:
    """The SGD learning rates ``tune`` tries on ``dataset``."""
    return TUNING_LEARNING_RATES_BY_DATASET.get(dataset, TUNING_LEARNING_RATES)


def _tune_grid(datasets, losses, seeds, epochs) -> list[RunConfig]:
    """Every loss at every rate on the balanced training split; without ``--losses``, the imbalance
    experiment's losses also at ``LONG_TAIL_TUNING_RATIO`` on the long tail the imbalance experiment
    draws (from the dataset's pool), and the MAE page's losses with Adam (no weight decay, as there).

    The seeds are the tuning seeds (``lossdemo.protocol.tuning_seeds``), never a verdict's.
    """
    everything = not losses or tuple(losses) == EXPERIMENTS["tune"].losses  # no --losses given
    conditions = []  # (dataset, losses, make config, rates, optimizer fields)
    adam = {"optimizer": "adam", "weight_decay": 0.0}
    for dataset in datasets:
        def balanced(loss, seed, dataset=dataset):
            return _fair_config(dataset, loss, seed, epochs)

        def long_tailed(loss, seed, dataset=dataset):
            return _long_tail_config(dataset, loss, seed, epochs, LONG_TAIL_TUNING_RATIO, LONG_TAIL_TUNING_RATIO)

        if not everything:
            conditions.append((losses, balanced, tuning_rates(dataset), {}))
            continue
        tuned = TUNED_LOSSES if dataset in EXPERIMENTS["label-noise"].datasets else REPORT_LOSSES
        conditions.append((tuned, balanced, tuning_rates(dataset), {}))
        if dataset in EXPERIMENTS["imbalance"].datasets:
            conditions.append((IMBALANCE_LOSSES, long_tailed, tuning_rates(dataset), {}))
        if dataset in EXPERIMENTS["mae-anatomy"].datasets:
            conditions.append((MAE_ANATOMY_LOSSES, balanced, ADAM_TUNING_LEARNING_RATES, adam))
    return [
        dataclasses.replace(make(loss, seed), lr=lr, **fields)
        for condition_losses, make, rates, fields in conditions
        for loss in condition_losses
        for lr in rates
        for seed in tuning_seeds(seeds)
    ]


EXPERIMENTS: dict[str, Experiment] = {
    "compare": Experiment(
        name="compare",
        question="The report's experiment: one network, four losses; which trains best, under a fair protocol, "
                 "on a short budget, and under the report's shared recipe?",
        losses=REPORT_LOSSES,
        epochs=None,
        grid=_compare_grid,
        epochs_reason="fair protocol: the loss's converged length on the dataset; short budget: a fifth of the "
                      "dataset's common length; shared recipe: the report's 25",
    ),
    "label-noise": Experiment(
        name="label-noise",
        question="Is cross-entropy sensitive to wrong labels, and what helps: focal loss, robust losses, label "
                 "smoothing, or stopping early on a clean validation split?",
        losses=NOISE_LOSSES,
        epochs=None,
        grid=_label_noise_grid,
        datasets=("mnist1d",),
        epochs_reason=("the converged length: a network learns the clean labels first and fits the flipped ones "
                       "later, so the runs go on past the best validation epoch for memorisation to show; each run is "
                       "read both at its last epoch and at its best validation epoch (early stopping)"),
    ),
    "imbalance": Experiment(
        name="imbalance",
        question="Does cross-entropy favour the majority classes, and what helps: focal loss, class-balanced "
                 "weights, or logit adjustment?",
        losses=IMBALANCE_LOSSES,
        epochs=None,
        grid=_imbalance_grid,
        datasets=("mnist1d",),
        epochs_reason=("the converged length on the balanced set; long-tailed sets get proportionally more epochs, "
                       "rounded to whole epochs, so every run takes about the same number of SGD steps (the class "
                       "counts table gives each ratio's epochs)"),
    ),
    "gamma-sweep": Experiment(
        name="gamma-sweep",
        question="How much do accuracy and calibration depend on focal loss's γ? Is 0.5 > 0 > 2?",
        losses=GAMMA_LOSSES,
        epochs=None,
        grid=_gamma_sweep_grid,
        datasets=("mnist1d",),
        epochs_reason="fair protocol: the converged length; shared recipe: the report's 25, at which it ranked "
                      "γ = 0.5 > 0 > 2",
        accepts_loss=is_gamma_spec,
        allowed_losses="ce (γ = 0) or focal:<γ>",
    ),
    "tune": Experiment(
        name="tune",
        question="What learning rate does each loss need? One shared rate favours some losses over others.",
        losses=TUNED_LOSSES + tuple(loss for loss in IMBALANCE_LOSSES if loss not in TUNED_LOSSES),
        epochs=None,
        grid=_tune_grid,
        epochs_reason="the converged length of the fair protocol; each run is read at its best validation epoch",
        seeds=2,
    ),
    "mae-anatomy": Experiment(
        name="mae-anatomy",
        question="Why does MAE stall under the report's recipe, and does it catch up with Adam or more epochs?",
        losses=("mae", "ce"),
        epochs=SHARED_RECIPE.epochs,
        grid=_mae_anatomy_grid,
        datasets=("mnist1d",),
        epochs_reason="the report's 25 epochs, and four times that to see whether MAE is slow or stuck",
    ),
}


def register_experiment(experiment: Experiment) -> None:
    """Add ``experiment`` to :data:`EXPERIMENTS` (``--experiments NAME`` then plans it); its pages come
    from a report registered under the same name (``lossdemo.report.render.register_report``)."""
    if not isinstance(experiment, Experiment):
        raise TypeError(f"experiment {experiment!r} is invalid; allowed: an Experiment")
    EXPERIMENTS[experiment.name] = experiment


def validate_names(experiments, datasets, losses) -> None:
    """Raise ValueError for the first unknown experiment, dataset or loss spec."""
    for name in experiments:
        if name not in EXPERIMENTS:
            raise ValueError(f"unknown experiment {name!r}; allowed: {', '.join(EXPERIMENTS)}")
    for name in datasets:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    for spec in losses:
        parse_loss_spec(spec)
    for name in experiments:
        experiment = EXPERIMENTS[name]
        for spec in losses:
            if experiment.accepts_loss is not None and not experiment.accepts_loss(spec):
                raise ValueError(f"loss {spec!r} is invalid for experiment {name!r}; allowed: {experiment.allowed_losses}")


def datasets_for(experiment: Experiment, requested: tuple[str, ...] | None, profile: Profile) -> tuple[str, ...]:
    """Datasets to run: the ``--datasets`` flag if given, else the experiment's own, else the profile's.

    The claims experiments carry ``("mnist1d",)``: their grids fit a CPU on mnist1d, not on the
    larger image sets (see the module docstring).
    """
    if requested:
        return tuple(requested)
    if experiment.datasets is None:
        return profile.datasets
    return experiment.datasets


def plan_runs(
    experiment: Experiment,
    datasets: tuple[str, ...],
    losses: tuple[str, ...] | None,
    seeds: int,
    epochs: int | None,
) -> list[RunConfig]:
    """The experiment's configs for the chosen datasets, losses, seed count and length."""
    return experiment.grid(datasets, tuple(losses or experiment.losses), seeds, epochs or experiment.epochs)


def default_configs(name: str, datasets: tuple[str, ...] = ("mnist1d",), seeds: int = 5) -> list[RunConfig]:
    """An experiment's configs at its own defaults (losses, epochs) for ``datasets``."""
    experiment = EXPERIMENTS[name]
    return plan_runs(experiment, datasets, None, seeds, None)
