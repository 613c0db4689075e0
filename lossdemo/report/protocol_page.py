"""The protocol page: the pre-registered choices, written from the constants that make them.

Every number on this page is read from ``lossdemo.protocol`` and ``lossdemo.experiments`` (seeds,
tuning rule, margins, declared reference losses, the long tail's pool), or from the stored runs (the
code revisions that trained them), so the page cannot drift from the code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from ..corruption import long_tail_counts
from ..data import DATASET_INFO
from ..experiments import (
    IMBALANCE_RATIOS,
    NOISE_CONDITIONS,
    VERDICT_NOISE_CONDITIONS,
    long_tail_epochs,
    tuning_rates,
)
from ..losses.functions import NCE_MAE_ALPHA, NCE_MAE_BETA
from ..protocol import (
    CONVERGED_EPOCHS,
    GRAD_CLIP_NORM,
    LONG_TAIL_POOLS,
    LONG_TAIL_TUNING_RATIO,
    MARGIN_REASONS,
    MARGINS,
    NOISE_ROBUST_REFERENCE,
    SEEDS_PER_CONDITION,
    SHARED_RECIPE,
    SLOW_LOSS_EPOCHS,
    TUNING_SEED_BASE,
    TUNING_SEED_COUNT,
    VALIDATION_FRACTION,
    pool_validation_fraction,
)
from ..results import StoredRun
from .inference import ALPHA
from .tune import COLLAPSE_MARGIN

PROTOCOL_NAME = "protocol.md"


def _margin_text(metric: str) -> str:
    value = MARGINS[metric] if metric == "nll" else MARGINS[metric] * 100
    unit = "nats" if metric == "nll" else "point" if value == 1 else "points"
    return f"±{value:g} {unit}"


def _long_tail_lines() -> list[str]:
    lines = []
    for dataset, pool in LONG_TAIL_POOLS.items():
        classes = len(DATASET_INFO[pool].class_names)
        per_class = int(DATASET_INFO[pool].training_samples / classes * (1 - pool_validation_fraction(pool)))
        held_out = DATASET_INFO[pool].training_samples / classes * pool_validation_fraction(pool)
        for ratio in IMBALANCE_RATIOS:
            counts = long_tail_counts(per_class, ratio, classes)
            epochs = long_tail_epochs(dataset, CONVERGED_EPOCHS[dataset], ratio)
            lines.append(f"| `{pool}` | {ratio:g} | about {sum(counts):,} | about {counts[0]:,} | about {counts[-1]:,} | "
                         f"about {held_out:.0f} per class | {epochs} |")
    return lines


def revisions_text(runs: Iterable[StoredRun]) -> str:
    """Which code revisions the stored runs record, with how many runs each."""
    counted = Counter((run.record.get("metadata") or {}).get("git_revision") or "none recorded" for run in runs)
    if not counted:
        return "No runs are stored yet."
    return "The published runs record these code revisions: " + "; ".join(
        f"`{_short(revision)}` ({count} runs)" for revision, count in counted.most_common()) + "."


def _short(revision: str) -> str:
    """A commit's first 12 hex digits, keeping a "-dirty" suffix (a run trained from a modified checkout)."""
    sha, dirty, _ = revision.partition("-dirty")
    return sha[:12] + ("-dirty" if dirty else "")


def protocol_markdown(runs: Iterable[StoredRun] = ()) -> str:
    """The protocol page's generated part."""
    tuning_seeds = f"{TUNING_SEED_BASE}–{TUNING_SEED_BASE + TUNING_SEED_COUNT - 1}"
    figure_only = ", ".join(f"{rate * 100:g} % {kind if kind == 'symmetric' else 'class-pair'}"
                            for rate, kind in NOISE_CONDITIONS if (rate, kind) not in VERDICT_NOISE_CONDITIONS)
    margins = "\n".join(f"| {metric} | {_margin_text(metric)} | {MARGIN_REASONS[metric]} |" for metric in MARGINS)
    grids = "; ".join(f"{dataset}: {', '.join(f'{rate:g}' for rate in tuning_rates(dataset))}"
                      for dataset in ("mnist1d", "mnist5k"))
    slow = ", ".join(f"`{loss}` on {dataset} ({epochs})" for (dataset, loss), epochs in SLOW_LOSS_EPOCHS.items())
    clip = ", ".join(f"`{loss}` at {norm:g}" for loss, norm in GRAD_CLIP_NORM.items())
    lengths = ", ".join(f"{d} {e}" for d, e in CONVERGED_EPOCHS.items() if d not in LONG_TAIL_POOLS.values())
    return f"""### Seeds

Every condition that a verdict reads trains **{SEEDS_PER_CONDITION} seeds**, 0 to
{SEEDS_PER_CONDITION - 1}, the same n in every such condition, whatever its verdict turns out to be;
no seed is added after a verdict is seen. The label-noise conditions that only figures read
({figure_only}) train the first {SEEDS_PER_CONDITION // 2}. The tuning runs use seeds
**{tuning_seeds}**, which no verdict reads, so no verdict is scored on the seeds its learning rates
were chosen on.

### Tuning rule

Each loss's learning rate is the **argmax over the grid of its mean validation accuracy over the
tuning seeds** (ties to the smaller rate), each run read at its best validation epoch. A seed that
diverged or collapsed counts at what it scored (a diverged run at its best validation epoch before
diverging); no rate is excluded for any other reason, and the rule is the same for every loss. The
tuning page marks the rates where a seed diverged or ended within {COLLAPSE_MARGIN * 100:g} points of
always predicting the most frequent class. Grids (SGD): {grids}. A grid must bracket every pick: where a
pick landed on a grid's edge, the grid was extended by factor-2 steps before any verdict run was
trained (mnist5k's grid starts one step lower than mnist1d's for that reason). The long tail's losses
are tuned at ratio {LONG_TAIL_TUNING_RATIO:g} and keep that rate at every ratio.

### The fair protocol and the report's recipe

A stratified validation split ({VALIDATION_FRACTION:.0%} of each class) is held out of the training
data; runs last their dataset's converged length ({lengths} epochs; longer for {slow}; the long
tails' runs as many SGD steps, below) and are read at the epoch with the best validation accuracy. The
report's recipe is kept as its own condition: lr {SHARED_RECIPE.lr:g} for every loss,
{SHARED_RECIPE.epochs} epochs, no validation split, read at the last epoch.

### Margins

| metric | margin | why |
|---|---|---|
{margins}

A difference inside the margin is "no practical difference"; the same margin decides both ways
(the verdict rules on the claims page).

### Tests and families

Paired t-tests over seeds with the test split's sampling noise added where the measure has a
per-sample form; exact sign-flip tests where the paired differences are bimodal (MAE); Holm's
correction over one family at α = {ALPHA:g} (every verdict of the claims table and every gain of the
guide), with Bonferroni's simultaneous intervals for the same family next to every verdict.

### Declared before the runs

- "CE is sensitive to wrong labels" compares CE's drop with **`{NOISE_ROBUST_REFERENCE}`**'s, the
  robust baseline of the label-noise literature (Zhang & Sabuncu 2018).
- NCE+MAE is Ma et al.'s reference setting for MNIST: α = {NCE_MAE_ALPHA:g}, β = {NCE_MAE_BETA:g},
  MAE term 1 − p_y, and the gradient norm clipped ({clip}).
- Long tails are drawn from a larger generated pool of the same data, so that the rarest class keeps
  dozens of samples, with a small balanced validation split; every ratio gets as many SGD steps as a
  fair run on the balanced dataset. The sizes below take the pool's classes as equal, which is how
  the epochs are computed; the imbalance page's counts table has the exact ones:

| pool | ratio | training samples | head class | rarest class | validation | epochs |
|---|---:|---:|---:|---:|---|---:|
{chr(10).join(_long_tail_lines())}

### Provenance

The seeds, the tuning rule, the margins, the declared reference losses and the long tail's pool were
committed before any verdict run was trained (the commits the tuning runs record). The verdict
rules and the claims' readings were written while the tuning ran and before the verdict runs
finished, and committed with the results; after the runs, two faults were fixed without changing
any rule (tuning runs at their picked rate were being counted in verdict conditions, and the long
tail's claims were judged twice, under the pool's name and the dataset's). Several readings answer
a review of the earlier results (the changes table on the claims page lists them).

{revisions_text(runs)}
"""
