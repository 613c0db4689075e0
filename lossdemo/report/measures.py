"""Numbers read off stored runs, and runs looked up by their configuration.

Every figure, table and verdict of the claims experiments reads a run through these functions, so
"final test accuracy" or "tail accuracy" means the same thing on every page. Runs are matched by
their whole config except the seed: two runs with the same ``key`` differ only in seed, and runs
with the same seed share initial weights and batch order (paired comparisons, ``lossdemo.stats``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace

from ..metrics import ReliabilityHistogram, balanced_accuracy, group_accuracy
from ..protocol import FAIR, SHARED_RECIPE, SHORT_BUDGET, tuning_seeds
from ..results import StoredRun
from ..run_config import RunConfig, RunStatus
from .stats import epochs_to_fraction

Measure = Callable[[StoredRun], float]
# A class is "abandoned" when its final test accuracy is below this: at 10 classes even a
# constant guess of that class would score 100 % on it, and a uniform guess 10 %.
ABANDONED_BELOW = 0.1
# "Converged" in the comparison tables: the first epoch with this share of the run's final test accuracy.
CONVERGENCE_FRACTION = 0.95


def group_runs(runs: Iterable[StoredRun], key=lambda run: (run.config.dataset, run.config.loss)) -> dict:
    """Runs grouped by ``key`` (default: dataset and loss), seeds sorted, groups in insertion order."""
    groups: dict = defaultdict(list)
    for run in runs:
        groups[key(run)].append(run)
    return {k: sorted(v, key=lambda run: run.config.seed) for k, v in groups.items()}


def complete(runs: Iterable[StoredRun]) -> list[StoredRun]:
    """The runs that finished; diverged runs are counted where they matter, never averaged."""
    return [run for run in runs if run.status == RunStatus.COMPLETE]


def counted(runs: Iterable[StoredRun]) -> list[StoredRun]:
    """The runs a number of the site reads: every complete run, and a diverged run that has a validation
    split, read at its best validation epoch before diverging (as early stopping would have kept it). The
    verdicts (:class:`RunIndex`) and the tables count the same runs, so a condition has one number.

    A tuning seed's run is never counted, even where it has a verdict condition's config (a tuning run at
    the rate it picked): its seed chose that rate. The tuning page reads those runs on its own."""
    return [run for run in runs if not is_tuning_run(run) and (run.status == RunStatus.COMPLETE or has_validation(run))]


def is_tuning_run(run: StoredRun) -> bool:
    """Whether ``run`` is one of the tuning experiment's, whose seeds no verdict or table reads."""
    return run.config.seed in _TUNING_SEEDS


_TUNING_SEEDS = frozenset(tuning_seeds())


def by_seed(runs: Iterable[StoredRun], measure: Measure) -> dict[int, float]:
    """``measure`` of every counted run (:func:`counted`), by seed."""
    return {run.config.seed: measure(run) for run in counted(runs)}


def chance(run: StoredRun) -> float:
    """1/C, the accuracy of a uniform guess, C read off the run's per-class accuracies."""
    return 1 / len(run.history["test_per_class_accuracy"][0])


def majority_share(run: StoredRun) -> float:
    """The training accuracy of always predicting the most frequent training class: 1/C on balanced
    data, the head class's share on a long tail (``lossdemo.corruption``'s profile, floors aside)."""
    classes = len(run.history["test_per_class_accuracy"][0])
    ratio = run.config.imbalance_ratio
    if ratio == 1:
        return 1 / classes
    return 1 / sum(ratio ** (-i / (classes - 1)) for i in range(classes))


def collapsed(run: StoredRun, margin: float) -> bool:
    """Whether a complete run ended within ``margin`` of :func:`majority_share` in training accuracy:
    it learned (almost) nothing beyond predicting the most frequent class."""
    return run.history["train_accuracy"][-1] <= majority_share(run) + margin


def key(config: RunConfig) -> RunConfig:
    """The config with the seed blanked: runs with equal keys are seeds of one condition."""
    return replace(config, seed=0)


class RunIndex:
    """The runs the verdicts read, grouped by condition (config minus seed).

    It indexes the runs :func:`counted` counts (no tuning seed's). A run that diverged counts where it has a
    validation split: it is read at its best validation epoch before diverging, as early stopping would
    have kept it, so a condition keeps every seed the protocol gave it. A diverged run without a
    validation split has no such epoch; it is counted apart (``diverged``), never averaged.
    """

    def __init__(self, runs: Iterable[StoredRun]):
        self.by_key: dict[RunConfig, dict[int, StoredRun]] = defaultdict(dict)
        self.diverged: dict[RunConfig, list[int]] = defaultdict(list)
        for run in runs:
            if counted([run]):
                self.by_key[key(run.config)][run.config.seed] = run
            if run.status != RunStatus.COMPLETE and not is_tuning_run(run):
                self.diverged[key(run.config)].append(run.config.seed)

    def seeds_of(self, reference: RunConfig) -> dict[int, StoredRun]:
        """The counted runs of the condition ``reference`` describes (its seed is ignored), by seed."""
        return dict(sorted(self.by_key.get(key(reference), {}).items()))

    def measure(self, reference: RunConfig, measure: Measure) -> dict[int, float]:
        """``measure`` of every counted run of the condition, by seed."""
        return {seed: measure(run) for seed, run in self.seeds_of(reference).items()}

    def datasets(self) -> list[str]:
        return sorted({config.dataset for config in self.by_key})


def final_accuracy(run: StoredRun) -> float:
    return run.history["test_accuracy"][-1]


def best_accuracy(run: StoredRun) -> float:
    """Best test accuracy over the epochs: what early stopping on the test set would have kept.

    Optimistic by construction (the test split chooses); :func:`selected_accuracy` is the honest one.
    """
    return max(run.history["test_accuracy"])


def best_epoch(run: StoredRun) -> int:
    accuracy = run.history["test_accuracy"]
    return accuracy.index(max(accuracy)) + 1


def convergence_epoch(run: StoredRun) -> float:
    """First epoch with :data:`CONVERGENCE_FRACTION` of the run's final test accuracy."""
    return float(epochs_to_fraction(run.history["test_accuracy"], CONVERGENCE_FRACTION))


def has_validation(run: StoredRun) -> bool:
    return bool(run.history.get("val_accuracy"))


def selected_epoch(run: StoredRun) -> int:
    """The epoch a run is judged at: the first with the best validation accuracy (early stopping on
    validation), or the last epoch for a run without a validation split. 1-based."""
    if not has_validation(run):
        return len(run.history["test_accuracy"])
    accuracy = run.history["val_accuracy"]
    return accuracy.index(max(accuracy)) + 1


def selected_accuracy(run: StoredRun) -> float:
    """Test accuracy at :func:`selected_epoch`: the test split read once, at the point validation chose."""
    return run.history["test_accuracy"][selected_epoch(run) - 1]


def selected_validation_accuracy(run: StoredRun) -> float:
    """Validation accuracy at :func:`selected_epoch` (NaN without a validation split)."""
    if not has_validation(run):
        return float("nan")
    return run.history["val_accuracy"][selected_epoch(run) - 1]


def final_validation_accuracy(run: StoredRun) -> float:
    """Validation accuracy at the last epoch (NaN without a validation split): how a run trained to
    the end is ranked without the test split."""
    if not has_validation(run):
        return float("nan")
    return run.history["val_accuracy"][-1]


def early_stopping_gain(run: StoredRun) -> float:
    """Test accuracy at the epoch validation chose minus at the last epoch: what stopping early on
    validation kept (negative when the last epoch was better)."""
    return selected_accuracy(run) - final_accuracy(run)


def selected_per_class(run: StoredRun) -> list[float]:
    """Per-class test accuracy at :func:`selected_epoch`."""
    return run.history["test_per_class_accuracy"][selected_epoch(run) - 1]


def selected_balanced_accuracy(run: StoredRun) -> float:
    return balanced_accuracy(selected_per_class(run))


def selected_head_accuracy(run: StoredRun) -> float:
    return head_accuracy(selected_per_class(run))


def selected_tail_accuracy(run: StoredRun) -> float:
    return tail_accuracy(selected_per_class(run))


def selected_head_tail_gap(run: StoredRun) -> float:
    return head_accuracy(selected_per_class(run)) - tail_accuracy(selected_per_class(run))


def memorisation_gap(run: StoredRun) -> float:
    """Best minus final test accuracy: how much later epochs lost (fitting wrong labels, mostly)."""
    return best_accuracy(run) - final_accuracy(run)


def final_flipped_fit(run: StoredRun) -> float:
    """Share of the flipped training samples predicted as their (wrong) training label at the end."""
    values = run.history.get("train_accuracy_on_flipped") or [None]
    return float("nan") if values[-1] is None else values[-1]


def final_clean_fit(run: StoredRun) -> float:
    values = run.history.get("train_accuracy_on_clean") or [None]
    return float("nan") if values[-1] is None else values[-1]


def final_per_class(run: StoredRun) -> list[float]:
    return run.history["test_per_class_accuracy"][-1]


def final_balanced_accuracy(run: StoredRun) -> float:
    return balanced_accuracy(final_per_class(run))


def head_classes(num_classes: int) -> list[int]:
    """The most frequent ~30 % of classes under ``lossdemo.corruption.long_tail_indices`` (class 0 is the head)."""
    return list(range(max(1, num_classes * 3 // 10)))


def tail_classes(num_classes: int) -> list[int]:
    """The rarest ~30 % of classes (class C-1 is the tail)."""
    return list(range(num_classes - max(1, num_classes * 3 // 10), num_classes))


def class_span(classes: list[int]) -> str:
    """``[0, 1, 2]`` -> ``"0-2"``: how tables and legends name a block of classes."""
    return f"{classes[0]}-{classes[-1]}" if len(classes) > 1 else str(classes[0])


def head_accuracy(per_class: list[float]) -> float:
    """Mean accuracy of the head classes (:func:`head_classes`) in a per-class accuracy list."""
    return group_accuracy(per_class, head_classes(len(per_class)))


def tail_accuracy(per_class: list[float]) -> float:
    """Mean accuracy of the tail classes (:func:`tail_classes`) in a per-class accuracy list."""
    return group_accuracy(per_class, tail_classes(len(per_class)))


def final_head_accuracy(run: StoredRun) -> float:
    return head_accuracy(final_per_class(run))


def final_tail_accuracy(run: StoredRun) -> float:
    return tail_accuracy(final_per_class(run))


def final_head_tail_gap(run: StoredRun) -> float:
    return head_accuracy(final_per_class(run)) - tail_accuracy(final_per_class(run))


def abandoned_classes(run: StoredRun) -> int:
    """Classes whose final test accuracy is below :data:`ABANDONED_BELOW`."""
    return sum(value < ABANDONED_BELOW for value in final_per_class(run))


def final_ece(run: StoredRun) -> float:
    """Final-epoch expected calibration error (15 bins); NaN for runs stored before it was recorded."""
    values = run.history.get("test_ece") or [None]
    return float("nan") if values[-1] is None else values[-1]


def final_ece_scaled(run: StoredRun) -> float:
    """Test ECE after temperature scaling fitted on validation (runs with a validation split); else NaN."""
    value = run.history.get("test_ece_scaled")
    return float("nan") if value is None else value


def fitted_temperature(run: StoredRun) -> float:
    """The temperature fitted on validation at the last epoch (> 1: the model was over-confident); else NaN."""
    value = run.history.get("temperature")
    return float("nan") if value is None else value


def final_reliability(run: StoredRun) -> ReliabilityHistogram | None:
    data = run.history.get("final_test_reliability")
    return ReliabilityHistogram.from_dict(data) if data else None


def final_mean_confidence(run: StoredRun) -> float:
    """Mean top-class probability on the test set at the end; NaN where it was not recorded."""
    histogram = final_reliability(run)
    if histogram is None or not sum(histogram.count):
        return float("nan")
    return sum(n * c for n, c in zip(histogram.count, histogram.confidence)) / sum(histogram.count)


def final_overconfidence(run: StoredRun) -> float:
    """Mean confidence minus accuracy on the test set at the end (> 0: over-confident)."""
    histogram = final_reliability(run)
    if histogram is None or not sum(histogram.count):
        return float("nan")
    accuracy = sum(n * a for n, a in zip(histogram.count, histogram.accuracy)) / sum(histogram.count)
    return final_mean_confidence(run) - accuracy


def final_train_accuracy(run: StoredRun) -> float:
    return run.history["train_accuracy"][-1]


def final_nll(run: StoredRun) -> float:
    """Test negative log-likelihood (mean cross-entropy of the predicted distribution) at the last epoch."""
    return run.history["test_ce"][-1]


def final_nll_scaled(run: StoredRun) -> float:
    """Test NLL after temperature scaling fitted on validation; NaN without a validation split."""
    value = run.history.get("test_ce_scaled")
    return float("nan") if value is None else value


def recipe_labels(runs: Iterable[StoredRun]):
    """Key function over ``runs`` (one dataset) naming each run's recipe (``lossdemo.protocol``): among
    a loss's runs with a validation split, the longest are the fair protocol and shorter ones the short
    budget (each loss has its own converged length); among runs without one, the shortest are the
    shared recipe and longer ones "shared recipe, N epochs"."""
    runs = list(runs)
    longest: dict[str, int] = {}
    for run in runs:
        if has_validation(run):
            longest[run.config.loss] = max(longest.get(run.config.loss, 0), run.config.epochs)
    shortest = min((run.config.epochs for run in runs if not has_validation(run)), default=0)

    def label(run: StoredRun) -> str:
        if has_validation(run):
            return FAIR.name if run.config.epochs == longest[run.config.loss] else SHORT_BUDGET.name
        epochs = run.config.epochs
        return SHARED_RECIPE.name if epochs == shortest else f"{SHARED_RECIPE.name}, {epochs} epochs"

    return label


def selected_validation_balanced_accuracy(run: StoredRun) -> float:
    """Balanced accuracy on the validation split at :func:`selected_epoch` (NaN without one)."""
    if not has_validation(run):
        return float("nan")
    return balanced_accuracy(run.history["val_per_class_accuracy"][selected_epoch(run) - 1])


def final_validation_nll(run: StoredRun) -> float:
    """Validation NLL at the last epoch: a proper score of the probabilities, read without the test split."""
    values = run.history.get("val_ce") or [None]
    return float("nan") if values[-1] is None else values[-1]


def final_validation_nll_scaled(run: StoredRun) -> float:
    """Validation NLL after the temperature fitted on it (NaN without a validation split): what a choice
    among temperature-scaled models ranks on."""
    value = run.history.get("val_ce_scaled")
    return float("nan") if value is None else value
