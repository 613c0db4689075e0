"""The fair protocol the headline comparisons follow, and the learning rates tuning picked.

A comparison of losses is fair when each loss trains at its own learning rate, long enough to
converge, and everything called "best" is chosen without looking at the test split:

* a stratified validation split (``VALIDATION_FRACTION`` of each class) is held out of the
  training data (``lossdemo.splits``); it stays clean and balanced when the training labels are
  corrupted or long-tailed;
* each loss trains at the learning rate the ``tune`` experiment picked for it on that validation
  split (:func:`tuned_lr`); the picks live in ``package_data/learning_rates.json``, which only the
  publishing pass rewrites, from the committed tuning runs (so a plan never depends on which runs
  a reader happens to have trained);
* runs last their converged length (:func:`converged_epochs`: ``CONVERGED_EPOCHS`` per dataset, longer
  for the losses in ``SLOW_LOSS_EPOCHS``; the compare page's convergence table checks that each loss's
  best validation epoch comes before the end) and are read at the epoch with the best validation accuracy.

The report's own recipe (one learning rate for every loss, 25 epochs, no validation split) stays
as a labelled condition, ``SHARED_RECIPE``: it is what the report ran, and the pages show what
changes between the two.

The protocol is fixed before the runs: the seeds of every condition (:data:`SEEDS_PER_CONDITION`,
with the tuning seeds apart from them), the tuning rule (``lossdemo.report.tune.picks``) and the
margins (:data:`MARGINS`) were committed before the verdict runs were trained; the verdict rules
(``lossdemo.report.inference``) and the claims' readings were written before those runs finished
but committed with their results. The site's protocol page is generated from these constants and
says which commit fixed what.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from .data import DATASET_INFO
from .losses import parse_loss_spec

VALIDATION_FRACTION = 0.2
# Every experiment's runs record their per-epoch train metrics on a fixed random subset of this many
# training samples (RunConfig.train_metrics_samples), the test split's size on the embedded datasets:
# the train curves, the memorisation fits and the tuning's collapse check need no more, and evaluating
# the whole training split every epoch would cost more than the test and validation splits together.
TRAIN_METRICS_SAMPLES = 1000
# Epochs per dataset under the fair protocol (lossdemo.data.DATASET_INFO); others use DEFAULT_CONVERGED_EPOCHS.
CONVERGED_EPOCHS = {name: info.converged_epochs for name, info in DATASET_INFO.items() if info.converged_epochs}
DEFAULT_CONVERGED_EPOCHS = 50
# Every condition a verdict reads trains this many seeds, 0 .. n-1, whatever its verdict turns out to
# be (the full profile's count); seeds are never added after a verdict is seen. The label-noise
# conditions that only figures read (20 % and 60 % symmetric, 40 % class-pair) train the first half.
SEEDS_PER_CONDITION = 10
# The tuning runs' seeds: disjoint from every seed a verdict reads, so no verdict is scored on the
# seeds its learning rates were chosen on.
TUNING_SEED_BASE = 1000
TUNING_SEED_COUNT = 2
# The smallest difference each metric's verdicts count as mattering, in the metric's own units (a
# fraction): a difference inside ±margin is "no practical difference". About one to two test-set
# standard errors of a single run's metric (accuracy near 90 % on 1,000 samples: 0.9 points; balanced
# accuracy near 50 % on about 100 samples per class: 1.6 points); ECE is a few points at most, so
# half a point; the NLL (nats per sample) about its test-set standard error on 1,000 samples. The
# protocol page states each margin and its reason.
MARGINS = {"accuracy": 0.01, "balanced accuracy": 0.02, "ece": 0.005, "nll": 0.01}
MARGIN_REASONS = {
    "accuracy": "about one test-set standard error of one run's accuracy near 90 % on 1,000 samples (0.9 points); "
                "a smaller gap would not change a practitioner's choice",
    "balanced accuracy": "balanced accuracy on a long tail sits near 50 to 70 %, where one run's test-set standard "
                         "error on about 100 samples per class is 1.5 to 1.6 points: twice the accuracy margin",
    "ece": "ECE is a few points for every loss here; half a point is a fifth to a tenth of the typical gap between "
           "calibrated and over-confident models",
    "nll": "about the test-set standard error of one run's mean NLL (a per-sample spread near 0.3 nats over 1,000 "
           "samples)",
}
# "CE is sensitive to wrong labels" is comparative (every loss loses accuracy when labels are wrong):
# CE's drop is compared with this noise-robust loss's, declared before the runs. Generalized
# cross-entropy (Zhang & Sabuncu 2018) is the robust baseline the literature compares against, and it
# trains like CE on clean labels; MAE is no reference, since a loss that learns little on clean labels
# has little to lose.
NOISE_ROBUST_REFERENCE = "gce:0.7"
# NCE+MAE trains as Ma et al.'s reference code trains it: the gradient's norm clipped at 5
# (github.com/HanxunH/Active-Passive-Losses, trainer.py and configs/mnist/sym/nce+mae.yaml).
GRAD_CLIP_NORM = {"nce+mae": 5.0}
# (dataset, loss) -> epochs for losses that need longer than the dataset's length. MAE's push on the
# true logit, 2 p_y (1 - p_y), is CE's (1 - p_y) times 2 p_y, so it learns slowly while p_y is small,
# and NCE+MAE has the same term. The compare page's convergence table checks every loss's length.
SLOW_LOSS_EPOCHS = {("mnist1d", "mae"): 200, ("mnist1d", "nce+mae"): 200}
# The imbalance experiment's losses are tuned on the most long-tailed set it trains on, and every
# ratio uses that rate, so its curves over the ratio vary the data only.
LONG_TAIL_TUNING_RATIO = 100.0
# Long tails are drawn from a larger pool of the same data where there is one, so that the rarest
# class keeps dozens of samples at ratio 100 (CIFAR-10-LT keeps 50), and their balanced validation
# split is a small share of the pool: about 50 samples per class, much smaller than the training set.
LONG_TAIL_POOLS = {"mnist1d": "mnist1d-40k"}
POOL_VALIDATION_FRACTION = {"mnist1d-40k": 0.0125}

PICKS_FILE = Path(__file__).parent / "package_data" / "learning_rates.json"


@dataclass(frozen=True)
class Recipe:
    """A named way to train: the learning rate (None: each loss's tuned rate), the epochs (None: the
    dataset's converged length) and the validation share. The name labels the recipe's runs on the pages."""

    name: str
    lr: float | None
    epochs: int | None
    validation_fraction: float


FAIR = Recipe("tuned", lr=None, epochs=None, validation_fraction=VALIDATION_FRACTION)
# A fifth of the dataset's common fair length, the same for every loss, at the same tuned rates and
# with the same validation split: "I can afford only a few epochs" as a condition in which the
# choice of loss can still be made on validation.
SHORT_BUDGET_SHARE = 5
SHORT_BUDGET = Recipe("short budget", lr=None, epochs=None, validation_fraction=VALIDATION_FRACTION)
SHARED_RECIPE = Recipe("shared recipe", lr=0.05, epochs=25, validation_fraction=0.0)
# Adam's customary rate (Kingma & Ba 2015), the fallback where no Adam rate was tuned.
ADAM_DEFAULT_LR = 1e-3


def long_tail_pool(dataset: str) -> str:
    """The dataset a long tail of ``dataset`` is drawn from: its larger pool, or itself."""
    return LONG_TAIL_POOLS.get(dataset, dataset)


def long_tail_base(dataset: str) -> str:
    """The dataset whose long tails ``dataset`` is the pool of (itself when it is no pool): the runs a
    claim reads on the pool are the same whether it names the pool or the dataset."""
    return next((base for base, pool in LONG_TAIL_POOLS.items() if pool == dataset), dataset)


def pool_validation_fraction(dataset: str) -> float:
    """The validation share of a long-tail pool (the fair protocol's share elsewhere)."""
    return POOL_VALIDATION_FRACTION.get(dataset, VALIDATION_FRACTION)


def grad_clip_norm(loss: str) -> float:
    """The gradient-norm clip ``loss`` trains with (0: none)."""
    return GRAD_CLIP_NORM.get(str(parse_loss_spec(loss)), 0.0)


def tuning_seeds(count: int = TUNING_SEED_COUNT) -> range:
    """The seeds of the tuning runs, disjoint from the verdicts' 0 .. SEEDS_PER_CONDITION - 1."""
    return range(TUNING_SEED_BASE, TUNING_SEED_BASE + count)


def converged_epochs(dataset: str, loss: str) -> int:
    """Epochs a fair run of ``loss`` lasts on ``dataset``."""
    slow = SLOW_LOSS_EPOCHS.get((dataset, str(parse_loss_spec(loss))))
    return slow if slow is not None else CONVERGED_EPOCHS.get(dataset, DEFAULT_CONVERGED_EPOCHS)


def tuning_ratio(imbalance_ratio: float) -> float:
    """The imbalance ratio whose tuning applies to a run at ``imbalance_ratio``: 1 for balanced
    runs, ``LONG_TAIL_TUNING_RATIO`` for every long-tailed one."""
    return 1.0 if imbalance_ratio == 1 else LONG_TAIL_TUNING_RATIO


def _key(dataset: str, imbalance_ratio: float, loss: str, optimizer: str = "sgd") -> str:
    key = f"{dataset}|{float(imbalance_ratio):g}|{parse_loss_spec(loss)}"
    return key if optimizer == "sgd" else f"{key}|{optimizer}"


@functools.lru_cache(maxsize=4)
def _read_picks(path: Path) -> dict[str, float]:
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text())["picks"]
    return {_key(e["dataset"], e["imbalance_ratio"], e["loss"], e.get("optimizer", "sgd")): float(e["lr"])
            for e in entries}


def tuned_lr(dataset: str, loss: str, imbalance_ratio: float = 1.0, path: Path = PICKS_FILE, *,
             optimizer: str = "sgd") -> float | None:
    """The learning rate ``tune`` picked for ``loss`` on ``dataset`` with ``optimizer`` (at the tuning
    ratio that applies to ``imbalance_ratio``), or None where nothing was tuned or no rate trained the loss."""
    return _read_picks(path).get(_key(dataset, tuning_ratio(imbalance_ratio), loss, optimizer))


def learning_rate(recipe: Recipe, dataset: str, loss: str, imbalance_ratio: float = 1.0, *,
                  optimizer: str = "sgd") -> float:
    """The recipe's rate; under the fair recipe the tuned one, else the shared rate (Adam's customary
    rate with Adam; see :func:`untuned`, which the CLI uses to say so)."""
    if recipe.lr is not None:
        return recipe.lr
    picked = tuned_lr(dataset, loss, imbalance_ratio, optimizer=optimizer)
    if picked is not None:
        return picked
    return SHARED_RECIPE.lr if optimizer == "sgd" else ADAM_DEFAULT_LR


def epochs_of(recipe: Recipe, dataset: str, loss: str, requested: int | None) -> int:
    """``--epochs`` if given, else the recipe's length (the loss's converged length on ``dataset`` when
    None). The short budget takes a fifth (at least one epoch) of ``--epochs`` or of the dataset's
    common length: a budget is the same number of epochs for every loss, the slow ones included."""
    if requested is not None:
        length = requested
    elif recipe.epochs is not None:
        length = recipe.epochs
    elif recipe is SHORT_BUDGET:
        length = CONVERGED_EPOCHS.get(dataset, DEFAULT_CONVERGED_EPOCHS)
    else:
        length = converged_epochs(dataset, loss)
    return max(1, length // SHORT_BUDGET_SHARE) if recipe is SHORT_BUDGET else length


def untuned(configs) -> list[tuple[str, float, str]]:
    """(dataset, imbalance ratio, loss) of the fair-protocol configs (and the Adam configs, named
    "<loss> with Adam") whose rate is no tuned pick: the loss fell back to the shared rate (never
    tuned where it runs, or no rate trains it).

    The imbalance experiment uses the long-tail pick at every ratio, so at ratio 1 either pick counts.
    """
    missing = set()
    for config in configs:
        if config.optimizer != "sgd":  # Adam's runs always read their tuned rate (lossdemo.experiments)
            if config.lr != tuned_lr(config.dataset, config.loss, config.imbalance_ratio, optimizer=config.optimizer):
                missing.add((config.dataset, config.imbalance_ratio, f"{config.loss} with {config.optimizer.capitalize()}"))
            continue
        if config.validation_fraction != VALIDATION_FRACTION:
            continue
        ratios = {tuning_ratio(config.imbalance_ratio), LONG_TAIL_TUNING_RATIO}
        picked = {tuned_lr(config.dataset, config.loss, ratio) for ratio in ratios}
        if config.lr not in picked:
            missing.add((config.dataset, config.imbalance_ratio, config.loss))
    return sorted(missing)


def write_picks(picks: dict[tuple[str, float, str, str], float], path: Path = PICKS_FILE) -> None:
    """Store ``picks`` ((dataset, imbalance ratio, loss, optimizer) -> lr) where :func:`tuned_lr` reads them."""
    entries = [{"dataset": dataset, "imbalance_ratio": ratio, "loss": loss, "lr": lr}
               | ({} if optimizer == "sgd" else {"optimizer": optimizer})
               for (dataset, ratio, loss, optimizer), lr in sorted(picks.items())]
    text = json.dumps({"about": "Learning rates picked by the tune experiment on validation accuracy; written by "
                                "python -m lossdemo.reproduce --full --plots-only --results-dir results "
                                "(lossdemo.report.tune.picks_by_condition).", "picks": entries}, indent=1) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    _read_picks.cache_clear()
