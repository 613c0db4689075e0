"""The report's claims, each with the rule that turns stored runs into a verdict.

A verdict is computed, never typed: each claim names the runs it needs (by the experiment grids of
``lossdemo.experiments``) and a rule over paired, per-seed differences. "A beats B" is said only
when the 95 % t-interval of the paired difference A − B over seeds excludes 0 (``lossdemo.stats``).
Verdicts are ``holds``, ``does not hold``, ``depends on (…)`` (the answer changes with a condition:
γ, the noise rate, the dataset, …), ``undecided (…)`` for an explanation the runs cannot confirm or
refute, and ``not measured yet (run …)`` when the runs are not stored.

    from lossdemo.claims import evaluate_claims
    verdicts = evaluate_claims(runs)          # runs: list[StoredRun], e.g. load_runs("results")
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

from . import measures as m
from .experiments import EXPERIMENTS, plan_runs
from .measures import RunIndex
from .stats import Interval, mean_ci, paired_difference
from .train import RunConfig

HOLDS, FAILS = "holds", "does not hold"
MIN_SEEDS = 2  # a t-interval needs two values; fewer is "not measured yet"


@dataclass(frozen=True)
class Finding:
    """A claim's outcome on one dataset: the verdict, the effect size with its CI, and why."""

    verdict: str
    effect: str
    detail: str


@dataclass(frozen=True)
class Claim:
    """One claim of the report (or of a paper we compare with), paraphrased, with its test.

    Attributes:
        claim_id: stable id, also the anchor prefix in generated pages.
        text: the claim in our words.
        source: "report" or the paper that made it.
        experiments: the experiments whose runs the rule reads (for "run …" hints).
        evidence: link target relative to ``docs/claims/`` (a section of an experiment page).
        page: the experiment page that lists this claim's verdict (its generated verdicts file).
        rule: (runs, dataset) -> Finding, or None when the needed runs are not stored.
    """

    claim_id: str
    text: str
    source: str
    experiments: tuple[str, ...]
    evidence: str
    page: str
    rule: Callable[[RunIndex, str], Finding | None]


@dataclass(frozen=True)
class ClaimVerdict:
    """A claim's verdict over every dataset that has its runs."""

    claim: Claim
    verdict: str
    effect: str
    detail: str
    datasets: tuple[str, ...]


# --------------------------------------------------------------------------------------------
# Formatting


def points(interval: Interval) -> str:
    """A paired difference in percentage points: "+1.2 points (95 % CI +0.3 to +2.1, n = 5)"."""
    return (f"{interval.mean * 100:+.1f} points (95 % CI {interval.low * 100:+.1f} to "
            f"{interval.high * 100:+.1f}, n = {interval.n})")


def level(interval: Interval) -> str:
    """A mean in percent: "52.3 % (95 % CI 48.0 to 56.6, n = 5)"."""
    return f"{interval.mean * 100:.1f} % (95 % CI {interval.low * 100:.1f} to {interval.high * 100:.1f}, n = {interval.n})"


def sign(interval: Interval | None) -> int:
    """+1 / −1 when the interval lies above / below 0, else 0 (including too few seeds)."""
    if interval is None or interval.n < MIN_SEEDS:
        return 0
    return 1 if interval.low > 0 else -1 if interval.high < 0 else 0


def _finite(values: dict[int, float]) -> dict[int, float]:
    return {seed: value for seed, value in values.items() if not math.isnan(value)}


# --------------------------------------------------------------------------------------------
# Looking up runs


@functools.lru_cache(maxsize=None)
def _seed_zero_grid(experiment: str, dataset: str) -> tuple[RunConfig, ...]:
    return tuple(plan_runs(EXPERIMENTS[experiment], (dataset,), None, 1, None))


def reference(experiment: str, dataset: str, **fields) -> RunConfig:
    """The seed-0 config of ``experiment``'s default grid on ``dataset`` whose fields equal ``fields``.

    Tying each claim to the grid definition means a claim reads exactly the runs the experiment
    trains, at the experiment's own epochs.
    """
    matches = [config for config in _seed_zero_grid(experiment, dataset)
               if all(getattr(config, name) == value for name, value in fields.items())]
    if len(matches) != 1:
        raise ValueError(f"{experiment} grid has {len(matches)} runs with {fields}; a claim needs exactly one")
    return matches[0]


def paired_measure(index: RunIndex, a: RunConfig, b: RunConfig, measure: m.Measure) -> Interval | None:
    """Mean and CI of measure(a) − measure(b) over shared seeds; None with fewer than MIN_SEEDS."""
    a_values, b_values = _finite(index.measure(a, measure)), _finite(index.measure(b, measure))
    if len(set(a_values) & set(b_values)) < MIN_SEEDS:
        return None
    return paired_difference(a_values, b_values)


def level_measure(index: RunIndex, config: RunConfig, measure: m.Measure) -> Interval | None:
    values = _finite(index.measure(config, measure))
    return mean_ci(list(values.values())) if len(values) >= MIN_SEEDS else None


def _beats(name_a: str, name_b: str, difference: Interval) -> str:
    """Words for a paired difference: who beats whom, or that the seeds do not separate them."""
    if sign(difference) > 0:
        return f"`{name_a}` beats `{name_b}`"
    if sign(difference) < 0:
        return f"`{name_b}` beats `{name_a}`"
    return f"`{name_a}` and `{name_b}` are not separated"


# --------------------------------------------------------------------------------------------
# The rules, one per claim


def _focal_half_best(index: RunIndex, dataset: str) -> Finding | None:
    best = reference("compare", dataset, loss="focal:0.5")
    others = ("ce", "focal:2", "mae")
    differences = {loss: paired_measure(index, best, reference("compare", dataset, loss=loss), m.final_accuracy) for loss in others}
    if any(d is None for d in differences.values()):
        return None
    closest = min(others, key=lambda loss: differences[loss].mean)
    signs = {loss: sign(d) for loss, d in differences.items()}
    verdict = HOLDS if all(s > 0 for s in signs.values()) else FAILS
    detail = "; ".join(f"{_beats('focal:0.5', loss, d)} ({points(d)})" for loss, d in differences.items())
    return Finding(verdict, f"`focal:0.5` − `{closest}`: {points(differences[closest])}",
                   f"Final test accuracy after 25 epochs, paired by seed: {detail}.")


def _converges_by_25(index: RunIndex, dataset: str) -> Finding | None:
    losses = ("ce", "focal:0.5", "focal:2")
    gains = {}
    for loss in losses:
        long = reference("label-noise", dataset, loss=loss, label_noise=0.0)
        short = reference("compare", dataset, loss=loss)
        gains[loss] = paired_measure(index, long, short, m.final_accuracy)
    if any(g is None for g in gains.values()):
        return None
    improved = [loss for loss in losses if sign(gains[loss]) > 0]
    if not improved:
        verdict = HOLDS
    elif len(improved) == len(losses):
        verdict = FAILS
    else:
        verdict = f"depends on (the loss: more epochs help {', '.join(f'`{x}`' for x in improved)})"
    largest = max(losses, key=lambda loss: gains[loss].mean)
    detail = "; ".join(f"`{loss}` {points(gain)}" for loss, gain in gains.items())
    return Finding(verdict, f"100 − 25 epochs, `{largest}`: {points(gains[largest])}",
                   "Final test accuracy of a 100-epoch run minus that of a 25-epoch run (same recipe, "
                   f"same seeds): {detail}. A gain means 25 epochs had not converged.")


def _mae_near_40(index: RunIndex, dataset: str) -> Finding | None:
    report_recipe = reference("compare", dataset, loss="mae")
    sgd = level_measure(index, report_recipe, m.final_accuracy)
    if sgd is None:
        return None
    if sgd.high < 0.5:
        verdict, phrase = HOLDS, "below one half"
    elif sgd.low > 0.5:
        verdict, phrase = FAILS, "above one half"
    else:
        verdict, phrase = "depends on (the seed: the interval straddles 50 %)", "around one half"
    detail = f"MAE's final test accuracy with the report's recipe (SGD, 25 epochs) is {level(sgd)}."
    effect = f"25 epochs: {level(sgd)}"
    longer = level_measure(index, reference("mae-anatomy", dataset, loss="mae", optimizer="sgd", epochs=100),
                           m.final_accuracy)
    if longer is not None:
        detail += f" The same recipe over 100 epochs ends at {level(longer)}."
        effect += f"; 100 epochs: {level(longer)}"
        if verdict != FAILS and longer.low > 0.5:
            verdict = f"depends on (the run length: {phrase} after 25 epochs, above it after 100)"
    adam = level_measure(index, reference("mae-anatomy", dataset, loss="mae", optimizer="adam", epochs=25), m.final_accuracy)
    if adam is not None:
        detail += f" With Adam (lr 1e-3, 25 epochs) it is {level(adam)}."
    l1_logits = level_measure(index, reference("compare", dataset, loss="l1-logits"), m.final_accuracy)
    if l1_logits is not None:
        detail += f" Read as nn.L1Loss on raw logits (`l1-logits`) it is {level(l1_logits)}."
    return Finding(verdict, effect, detail)


def _mae_stall_explanation(index: RunIndex, dataset: str) -> Finding | None:
    def recipe(loss, optimizer, epochs):
        return reference("mae-anatomy", dataset, loss=loss, optimizer=optimizer, epochs=epochs)

    short = recipe("mae", "sgd", 25)
    adam_gain = paired_measure(index, recipe("mae", "adam", 25), short, m.final_accuracy)
    long_gain = paired_measure(index, recipe("mae", "sgd", 100), short, m.final_accuracy)
    abandoned = {name: level_measure(index, recipe("mae", optimizer, epochs), m.abandoned_classes)
                 for name, optimizer, epochs in (("SGD, 25 epochs", "sgd", 25), ("SGD, 100 epochs", "sgd", 100),
                                                 ("Adam, 100 epochs", "adam", 100))}
    ce_gaps = {name: paired_measure(index, recipe("ce", optimizer, epochs), recipe("mae", optimizer, epochs), m.final_accuracy)
               for name, optimizer, epochs in (("SGD, 25 epochs", "sgd", 25), ("Adam, 25 epochs", "adam", 25))}
    if adam_gain is None or long_gain is None or None in abandoned.values() or None in ce_gaps.values():
        return None
    lifted = [name for name, gain in (("switching to Adam", adam_gain), ("training four times longer", long_gain))
              if sign(gain) > 0]
    detail = (f"Same loss, same network, MAE's final test accuracy: Adam (lr 1e-3) instead of SGD changes it by "
              f"{points(adam_gain)}, 100 instead of 25 SGD epochs by {points(long_gain)}. CE − MAE under the same "
              "recipe: " + "; ".join(f"{name} {points(gap)}" for name, gap in ce_gaps.items()) + ". Classes per run "
              f"whose final test accuracy is below {m.ABANDONED_BELOW * 100:.0f} %: "
              + "; ".join(f"{name} {value.mean:.1f}" for name, value in abandoned.items())
              + f" (means over {abandoned['SGD, 25 epochs'].n} seeds). Whole classes stay near zero while others are "
              "learned: the pattern of a push 2·p_y(1 − p_y) that vanishes where p_y is small, not of a loss that "
              "drives every output to zero.")
    if lifted:
        verdict = FAILS
        verb = "lifts" if len(lifted) == 1 else "both lift"
        detail += f" {' and '.join(lifted).capitalize()} {verb} the same loss, so its minimum is not what holds it back."
    else:
        verdict = "undecided (neither Adam nor more epochs lifts MAE here)"
    effect = f"100 − 25 epochs: {points(long_gain)}; Adam − SGD: {points(adam_gain)}"
    return Finding(verdict, effect, detail)


def _ce_noise_sensitive(index: RunIndex, dataset: str) -> Finding | None:
    noisy = reference("label-noise", dataset, loss="ce", label_noise=0.4, label_noise_kind="symmetric")
    clean = reference("label-noise", dataset, loss="ce", label_noise=0.0)
    drop = paired_measure(index, noisy, clean, m.final_accuracy)
    gap = level_measure(index, noisy, m.memorisation_gap)
    fit = level_measure(index, noisy, m.final_flipped_fit)
    if drop is None or gap is None or fit is None:
        return None
    verdict = HOLDS if sign(drop) < 0 and sign(gap) > 0 else FAILS
    detail = (f"With 40 % of the training labels flipped (symmetric), CE's final test accuracy changes by "
              f"{points(drop)} against clean labels, and its best epoch was better than its last by "
              f"{points(gap)}: by the end it predicts the wrong training label for {level(fit)} of the flipped "
              "samples, i.e. it memorises them.")
    return Finding(verdict, f"best − final at 40 % noise: {points(gap)}", detail)


def _focal_fixes_noise(index: RunIndex, dataset: str) -> Finding | None:
    ce = reference("label-noise", dataset, loss="ce", label_noise=0.4, label_noise_kind="symmetric")
    differences = {}
    for loss in ("focal:0.5", "focal:2"):
        focal = reference("label-noise", dataset, loss=loss, label_noise=0.4, label_noise_kind="symmetric")
        differences[loss] = paired_measure(index, focal, ce, m.final_accuracy)
    mae = paired_measure(index, reference("label-noise", dataset, loss="mae", label_noise=0.4, label_noise_kind="symmetric"),
                  ce, m.final_accuracy)
    if any(d is None for d in differences.values()):
        return None
    helped = [loss for loss, d in differences.items() if sign(d) > 0]
    verdict = HOLDS if len(helped) == 2 else FAILS if not helped else f"depends on (γ: only `{helped[0]}` helps)"
    detail = "At 40 % symmetric noise, final test accuracy: " + "; ".join(
        f"{_beats(loss, 'ce', d)} ({points(d)})" for loss, d in differences.items()) + "."
    others = []
    for rate, kind in ((0.2, "symmetric"), (0.6, "symmetric"), (0.4, "asymmetric")):
        other = paired_measure(index, reference("label-noise", dataset, loss="focal:2", label_noise=rate, label_noise_kind=kind),
                               reference("label-noise", dataset, loss="ce", label_noise=rate, label_noise_kind=kind),
                               m.final_accuracy)
        if other is not None:
            others.append(f"{rate * 100:.0f} % {'symmetric' if kind == 'symmetric' else 'class-pair'} {points(other)}")
    if others:
        detail += " `focal:2` − `ce` at the other noise settings: " + "; ".join(others) + "."
    if mae is not None:
        detail += f" For comparison, at 40 % symmetric noise the bounded loss {_beats('mae', 'ce', mae)} ({points(mae)})."
    return Finding(verdict, "; ".join(f"`{loss}` − `ce`: {points(d)}" for loss, d in differences.items()), detail)


def _ce_favours_majority(index: RunIndex, dataset: str) -> Finding | None:
    skewed = reference("imbalance", dataset, loss="ce", imbalance_ratio=100.0)
    balanced = reference("imbalance", dataset, loss="ce", imbalance_ratio=1.0)
    extra_gap = paired_measure(index, skewed, balanced, m.final_head_tail_gap)
    gap = level_measure(index, skewed, m.final_head_tail_gap)
    if extra_gap is None or gap is None:
        return None
    verdict = HOLDS if sign(extra_gap) > 0 else FAILS
    detail = (f"At imbalance ratio 100, CE's mean test accuracy on the three most frequent classes exceeds that "
              f"on the three rarest by {points(gap)}; that is {points(extra_gap)} more than the same classes' gap "
              "with balanced training data (classes differ in difficulty, so the balanced gap is the baseline).")
    return Finding(verdict, f"head − tail, ratio 100 vs 1: {points(extra_gap)}", detail)


def _focal_fixes_imbalance(index: RunIndex, dataset: str) -> Finding | None:
    results = {}
    for ratio in (10.0, 100.0):
        ce = reference("imbalance", dataset, loss="ce", imbalance_ratio=ratio)
        for loss in ("focal:0.5", "focal:2"):
            focal = reference("imbalance", dataset, loss=loss, imbalance_ratio=ratio)
            results[(loss, ratio)] = paired_measure(index, focal, ce, m.final_balanced_accuracy)
    if any(d is None for d in results.values()):
        return None
    helped = [key for key, d in results.items() if sign(d) > 0]
    if len(helped) == len(results):
        verdict = HOLDS
    elif not helped:
        verdict = FAILS
    else:
        verdict = "depends on (γ and ratio: helps only for " + ", ".join(f"`{loss}` at {ratio:g}" for loss, ratio in helped) + ")"
    detail = "Balanced test accuracy (mean of per-class accuracies), focal − CE, paired by seed: " + "; ".join(
        f"ratio {ratio:g}, {_beats(loss, 'ce', d)} ({points(d)})" for (loss, ratio), d in results.items()) + "."
    return Finding(verdict, f"`focal:2` − `ce` at ratio 100: {points(results[('focal:2', 100.0)])}", detail)


def _gamma_sensitive(index: RunIndex, dataset: str) -> Finding | None:
    configs = [reference("gamma-sweep", dataset, loss=loss) for loss in EXPERIMENTS["gamma-sweep"].losses]
    levels = {config.loss: level_measure(index, config, m.final_accuracy) for config in configs}
    if any(value is None for value in levels.values()):
        return None
    best = max(levels, key=lambda loss: levels[loss].mean)
    worst = min(levels, key=lambda loss: levels[loss].mean)
    spread = paired_measure(index, reference("gamma-sweep", dataset, loss=best), reference("gamma-sweep", dataset, loss=worst),
                     m.final_accuracy)
    verdict = HOLDS if sign(spread) > 0 else FAILS
    detail = (f"Over γ ∈ {{0, 0.25, 0.5, 1, 2, 3, 5}} the best mean final test accuracy is `{best}`'s and the worst "
              f"`{worst}`'s; best − worst = {points(spread)}. Picking the extremes of seven means after the fact "
              "flatters this interval a little; the figure shows the whole curve.")
    return Finding(verdict, f"`{best}` − `{worst}`: {points(spread)}", detail)


def _gamma_order(index: RunIndex, dataset: str) -> Finding | None:
    half, zero, two = (reference("gamma-sweep", dataset, loss=loss) for loss in ("focal:0.5", "ce", "focal:2"))
    first = paired_measure(index, half, zero, m.final_accuracy)
    second = paired_measure(index, zero, two, m.final_accuracy)
    if first is None or second is None:
        return None
    signs = (sign(first), sign(second))
    verdict = HOLDS if signs == (1, 1) else FAILS
    detail = (f"Final test accuracy after 25 epochs, paired by seed: {_beats('focal:0.5', 'ce', first)} ({points(first)}); "
              f"{_beats('ce', 'focal:2', second)} ({points(second)}). The claim needs both to be positive.")
    return Finding(verdict, f"0.5 − 0: {points(first)}; 0 − 2: {points(second)}", detail)


_CUI_PUBLISHED = ("Cui et al. report, on long-tailed CIFAR-10 at ratio 100 (ResNet-32), 29.64 % top-1 error for "
                  "softmax CE, 30.41 % for focal loss with γ = 2 and 25.43 % for their best class-balanced loss.")


def _cui_class_balanced(index: RunIndex, dataset: str) -> Finding | None:
    ce = reference("imbalance", dataset, loss="ce", imbalance_ratio=100.0)
    balanced = reference("imbalance", dataset, loss="cb-ce", imbalance_ratio=100.0)
    cb = paired_measure(index, balanced, ce, m.final_balanced_accuracy)
    cb_train = level_measure(index, balanced, m.final_train_accuracy)
    ce_train = level_measure(index, ce, m.final_train_accuracy)
    if cb is None or cb_train is None or ce_train is None:
        return None
    verdict = HOLDS if sign(cb) > 0 else FAILS
    detail = f"At ratio 100, balanced test accuracy: {_beats('cb-ce', 'ce', cb)} ({points(cb)}). {_CUI_PUBLISHED}"
    if verdict == FAILS:
        detail += (f" Likely reasons for the difference: the class-balanced runs end at {level(cb_train)} training "
                   f"accuracy against CE's {level(ce_train)}. The weights sum to C over classes while the loss is a "
                   "plain mean over samples, so batches made mostly of down-weighted head samples take much smaller "
                   "steps for the same step budget and the head classes are under-fitted. mnist1d's rarest class also "
                   "keeps only a few samples (CIFAR-10's keeps 50), and a small CNN trains on a short schedule here "
                   "rather than a ResNet-32 for 200 epochs.")
    return Finding(verdict, f"`cb-ce` − `ce`: {points(cb)}", detail)


def _cui_focal_alone(index: RunIndex, dataset: str) -> Finding | None:
    ce = reference("imbalance", dataset, loss="ce", imbalance_ratio=100.0)
    focal = paired_measure(index, reference("imbalance", dataset, loss="focal:2", imbalance_ratio=100.0), ce,
                           m.final_balanced_accuracy)
    if focal is None:
        return None
    verdict = HOLDS if sign(focal) <= 0 else FAILS
    detail = (f"At ratio 100, balanced test accuracy: {_beats('focal:2', 'ce', focal)} ({points(focal)}); the claim "
              f"holds unless focal loss beats CE. {_CUI_PUBLISHED}")
    return Finding(verdict, f"`focal:2` − `ce`: {points(focal)}", detail)


def _mukhoti_calibration(index: RunIndex, dataset: str) -> Finding | None:
    ce = reference("gamma-sweep", dataset, loss="ce")
    focal = reference("gamma-sweep", dataset, loss="focal:3")
    difference = paired_measure(index, focal, ce, m.final_ece)
    ce_over = level_measure(index, ce, m.final_overconfidence)
    focal_over = level_measure(index, focal, m.final_overconfidence)
    ce_train = level_measure(index, ce, m.final_train_accuracy)
    if difference is None or ce_over is None or focal_over is None or ce_train is None:
        return None
    verdict = HOLDS if sign(difference) < 0 else FAILS
    detail = (f"Final test ECE (15 bins), focal γ = 3 − CE: {points(difference)}. Mean confidence minus accuracy: "
              f"CE {points(ce_over)}, focal γ = 3 {points(focal_over)} (positive: over-confident).")
    if verdict == FAILS:
        detail += (f" Likely reason: Mukhoti et al. attribute CE's miscalibration to over-fitting the training NLL "
                   f"(ResNets trained to 100 % training accuracy for hundreds of epochs); here CE reaches "
                   f"{level(ce_train)} training accuracy in 25 epochs with weight decay, so it is not over-confident to "
                   "begin with, and focal loss's push towards lower confidence overshoots.")
    return Finding(verdict, f"ECE focal:3 − ce: {points(difference)}", detail)


def _not_tested(index: RunIndex, dataset: str) -> Finding | None:
    return None


# --------------------------------------------------------------------------------------------
# The list

CLAIMS: tuple[Claim, ...] = (
    Claim("focal-half-best", "Focal loss with γ = 0.5 reaches the best final accuracy of the four losses.",
          "report", ("compare",), "gamma-sweep.md#the-reports-ranking", "gamma-sweep", _focal_half_best),
    Claim("converges-by-25", "Focal (γ = 0.5), CE and focal (γ = 2) have converged after about 25 epochs.",
          "report", ("compare", "label-noise"), "gamma-sweep.md#training-longer", "gamma-sweep", _converges_by_25),
    Claim("mae-near-40", "The L1 (MAE) loss stays near 40 % accuracy, below one half.",
          "report", ("compare", "mae-anatomy"), "mae-anatomy.md#does-mae-catch-up", "mae-anatomy", _mae_near_40),
    Claim("mae-stall-explanation", "L1 stalls because it is a regression (lasso-like) loss that makes the network "
          "output zeros for a one-hot target.",
          "report", ("mae-anatomy",), "mae-anatomy.md#why-mae-stalls", "mae-anatomy", _mae_stall_explanation),
    Claim("ce-noise-sensitive", "CE is sensitive to wrong labels: label noise degrades it.",
          "report", ("label-noise",), "label-noise.md#memorisation", "label-noise", _ce_noise_sensitive),
    Claim("focal-fixes-noise", "Focal loss solves CE's sensitivity to wrong labels.",
          "report", ("label-noise",), "label-noise.md#accuracy-against-the-noise-rate", "label-noise", _focal_fixes_noise),
    Claim("ce-favours-majority", "Under class imbalance, CE favours the majority classes.",
          "report", ("imbalance",), "imbalance.md#head-and-tail", "imbalance", _ce_favours_majority),
    Claim("focal-fixes-imbalance", "Focal loss solves class imbalance.",
          "report", ("imbalance",), "imbalance.md#accuracy-against-the-imbalance-ratio", "imbalance", _focal_fixes_imbalance),
    Claim("gamma-sensitive", "Focal loss is sensitive to γ: a badly chosen γ costs accuracy.",
          "report", ("gamma-sweep",), "gamma-sweep.md#accuracy-and-calibration-against-gamma", "gamma-sweep", _gamma_sensitive),
    Claim("gamma-order", "For γ, 0.5 > 0 (CE) > 2 in test accuracy.",
          "report", ("gamma-sweep",), "gamma-sweep.md#the-reports-ranking", "gamma-sweep", _gamma_order),
    Claim("missing-labels", "CE needs a valid label for every sample.",
          "report", (), "", "", _not_tested),
    Claim("cui-focal-alone", "At imbalance ratio 100, focal loss alone does not beat plain CE.",
          "Cui et al. 2019", ("imbalance",), "imbalance.md#compared-with-cui-et-al-2019", "imbalance", _cui_focal_alone),
    Claim("cui-class-balanced", "At imbalance ratio 100, class-balanced weighting beats plain CE.",
          "Cui et al. 2019", ("imbalance",), "imbalance.md#compared-with-cui-et-al-2019", "imbalance", _cui_class_balanced),
    Claim("mukhoti-calibration", "Focal loss is better calibrated (lower ECE) than CE.",
          "Mukhoti et al. 2020", ("gamma-sweep",), "gamma-sweep.md#calibration", "gamma-sweep", _mukhoti_calibration),
)

NOT_TESTED = {
    "missing-labels": ("not tested here", "Every loss compared here needs a label per sample; no experiment of this "
                       "project varies that, and the claim is not specific to CE."),
}


def run_hint(claim: Claim) -> str:
    return f"`python -m lossdemo.reproduce --experiments {' '.join(claim.experiments)}`"


def evaluate_claim(claim: Claim, index: RunIndex) -> ClaimVerdict:
    """Apply the claim's rule on every dataset that has its runs and combine the findings."""
    if claim.claim_id in NOT_TESTED:
        verdict, detail = NOT_TESTED[claim.claim_id]
        return ClaimVerdict(claim, verdict, "—", detail, ())
    findings = {dataset: finding for dataset in index.datasets() if (finding := claim.rule(index, dataset))}
    if not findings:
        return ClaimVerdict(claim, f"not measured yet (run {run_hint(claim)})", "—",
                            "The runs this verdict needs are not stored.", ())
    verdicts = {finding.verdict for finding in findings.values()}
    if len(verdicts) == 1:
        verdict = verdicts.pop()
    else:
        verdict = "depends on (the dataset: " + "; ".join(f"{f.verdict} on {d}" for d, f in findings.items()) + ")"
    effect = "<br>".join(f"{dataset}: {finding.effect}" for dataset, finding in findings.items())
    detail = " ".join(f"On {dataset}: {finding.detail}" for dataset, finding in findings.items())
    return ClaimVerdict(claim, verdict, effect, detail, tuple(findings))


def evaluate_claims(runs) -> list[ClaimVerdict]:
    """Every claim's verdict from ``runs`` (stored runs of any experiments; the rules pick theirs)."""
    index = runs if isinstance(runs, RunIndex) else RunIndex(runs)
    return [evaluate_claim(claim, index) for claim in CLAIMS]
