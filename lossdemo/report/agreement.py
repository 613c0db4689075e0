"""Does a local reproduce agree with the published runs? The check ``reproduce`` prints at the end.

A reader's CPU does not reproduce ``results/`` bit for bit, and a chaotic loss's runs there are
fresh draws from the run-to-run distribution; so a local mean over n seeds is compared with the
published mean within the range that seed noise alone allows (:func:`published_agreement`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .compare import Runs, accuracy_by_seed
from .stats import CONFIDENCE, mean_ci, prediction_half_width, standard_deviation


@dataclass(frozen=True)
class PublishedAgreement:
    """A local mean against the published runs of the same condition, in accuracy (fractions)."""

    here: float  # mean over the local seeds
    here_seeds: int
    published: float  # mean over every published seed
    published_seeds: int
    published_sd: float  # the published seeds' standard deviation
    tolerance: float  # the largest |here − published| that still agrees

    @property
    def gap(self) -> float:
        return self.here - self.published

    @property
    def agrees(self) -> bool:
        return abs(self.gap) <= self.tolerance


def published_agreement(here: list[float], published: list[float]) -> PublishedAgreement:
    """Does a local mean over n seeds agree with the published runs' m seeds?

    A local run of seed s is a fresh draw from the distribution the published seeds were drawn from,
    not a copy of the published run of seed s: on another CPU the kernels add in another order, and a
    chaotic loss (MAE) grows those last bits into another run within a few epochs, so the two runs of
    one seed are no closer than two seeds. Pairing by seed would then gain nothing, and would need the
    spread of the local-minus-published differences, which two or three seeds cannot estimate; comparing
    with the published mean of the same seeds only would ignore the other published seeds. So the local
    mean is compared with the mean of every published seed, and it agrees when the gap is inside the 95 %
    prediction interval for the mean of n fresh draws (``stats.prediction_half_width``:
    t(0.975; m − 1) · s · √(1/n + 1/m), s the published seeds' standard deviation). A faithful reproduction
    is then called different 5 % of the time, whatever n; a CPU that does reproduce the published runs
    seed for seed (a stable loss, or the publishing machine) only narrows the gap (variance
    σ²(1/n − 1/m) for published seeds instead of σ²(1/n + 1/m)), so it raises no more false alarms.
    More local seeds narrow the tolerance, so a real shift shows more surely. The tolerance is a
    property of the published runs and n alone, not of the local spread, which the very difference
    being looked for could inflate. The tiny floor keeps equal means agreeing despite float rounding.
    """
    if not here:
        raise ValueError("published_agreement needs at least one local value; got none")
    if len(published) < 2:
        raise ValueError(f"published_agreement: {len(published)} published seed(s) have no spread to judge a gap by; "
                         "allowed: 2 or more")
    return PublishedAgreement(
        here=math.fsum(here) / len(here), here_seeds=len(here),
        published=math.fsum(published) / len(published), published_seeds=len(published),
        published_sd=standard_deviation(published),
        tolerance=max(prediction_half_width(published, len(here)), 1e-12))


def _seeds(count: int) -> str:
    return f"{count} seed{'s' if count != 1 else ''}"


def describe_agreement(loss: str, agreement: PublishedAgreement) -> str:
    """One line per loss: the verdict, both means with their seed counts, the gap and the tolerance
    it was judged by, so a reader sees how close a call it was."""
    a = agreement
    verdict, where = ("agrees", "within") if a.agrees else ("DIFFERS", "outside")
    return (f"{loss}: {verdict} — {a.here * 100:.1f} % here (mean of {_seeds(a.here_seeds)}) vs {a.published * 100:.1f} % "
            f"published (mean of {_seeds(a.published_seeds)}, SD {a.published_sd * 100:.1f} points): gap "
            f"{a.gap * 100:+.1f} points, {where} ±{a.tolerance * 100:.1f}, the {CONFIDENCE * 100:g} % range of a mean of "
            f"{_seeds(a.here_seeds)} given the published seeds' spread")


def compare_with_published(working: dict[str, Runs], published: dict[str, Runs]) -> list[str]:
    """Per loss: is this run's test accuracy (at the judged epoch) what the published runs predict for
    this many seeds? The rule is :func:`published_agreement`'s. Every local seed counts, published or
    not: a local run is a fresh draw either way."""
    lines = []
    for loss, runs in working.items():
        mine = list(accuracy_by_seed(runs).values())
        theirs = list(accuracy_by_seed(published.get(loss, [])).values())
        if not theirs:
            lines.append(f"{loss}: no published runs to compare with")
        elif not mine:
            lines.append(f"{loss}: no complete runs here to compare with the published ones")
        elif len(theirs) < 2:
            lines.append(f"{loss}: cannot tell — {mean_ci(mine).mean * 100:.1f} % here (mean of {_seeds(len(mine))}) "
                         f"vs {theirs[0] * 100:.1f} % published from one seed, which has no spread to judge the gap by")
        else:
            lines.append(describe_agreement(loss, published_agreement(mine, theirs)))
    return lines


