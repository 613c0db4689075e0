"""Summary statistics over seeds: means with t-intervals, paired differences, convergence epochs.

Runs with the same seed share initial weights and batch order (see ``lossdemo.train``), so two
losses are compared seed by seed: the paired difference removes most of the seed-to-seed spread.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats as _scipy_stats

CONFIDENCE = 0.95  # the level of every interval on the site


@dataclass(frozen=True)
class Interval:
    """Mean of ``n`` values with a two-sided confidence interval (t distribution, n-1 dof)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and t-interval. With one value the interval is the point itself (nothing to estimate from)."""
    if not values:
        raise ValueError("mean_ci needs at least one value; got an empty sequence")
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return Interval(mean, mean, mean, 1)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    half_width = _t_quantile(0.5 + confidence / 2, n - 1) * math.sqrt(variance / n)
    return Interval(mean, mean - half_width, mean + half_width, n)


@functools.cache
def _t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """Student's t quantile; cached because the pages ask for the same few thousands of times."""
    return float(_scipy_stats.t.ppf(probability, degrees_of_freedom))


def standard_deviation(values: Sequence[float]) -> float:
    """Sample standard deviation (n − 1 in the denominator); 0 for a single value."""
    if not values:
        raise ValueError("standard_deviation needs at least one value; got an empty sequence")
    mean = math.fsum(values) / len(values)
    return math.sqrt(math.fsum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1))


def prediction_half_width(reference: Sequence[float], new_count: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of the interval around the mean of ``reference`` (m values) that the mean of
    ``new_count`` (n) fresh draws from the same distribution falls in with probability ``confidence``:
    ``t · s · √(1/n + 1/m)``, s the reference's standard deviation, t Student's quantile with m − 1
    degrees of freedom.

    Why this width: the new mean and the reference mean are independent, so their difference has
    variance σ²/n + σ²/m; s estimates σ from the reference alone, which gives the t distribution with
    m − 1 degrees of freedom for normal draws. It narrows as n grows, towards the reference mean's own
    half-width, and never below it: more new draws cannot remove the reference's uncertainty.
    """
    if not (isinstance(new_count, int) and new_count >= 1):
        raise ValueError(f"prediction_half_width: new_count {new_count!r} is invalid; allowed: an integer >= 1")
    if len(reference) < 2:
        raise ValueError(f"prediction_half_width: {len(reference)} reference value(s) have no spread; allowed: 2 or more")
    m = len(reference)
    return _t_quantile(0.5 + confidence / 2, m - 1) * standard_deviation(reference) * math.sqrt(1 / new_count + 1 / m)


def paired_difference(a_by_seed: dict[int, float], b_by_seed: dict[int, float], confidence: float = CONFIDENCE) -> Interval:
    """Mean and CI of ``a - b`` over the seeds both have."""
    shared = sorted(set(a_by_seed) & set(b_by_seed))
    if not shared:
        raise ValueError("paired_difference needs at least one seed present in both groups")
    return mean_ci([a_by_seed[s] - b_by_seed[s] for s in shared], confidence)


def epochs_to_fraction(curve: Sequence[float], fraction: float = 0.95) -> int:
    """First epoch (1-based) at which ``curve`` reaches ``fraction`` of its final value."""
    target = fraction * curve[-1]
    return next(epoch for epoch, value in enumerate(curve, start=1) if value >= target)


def format_interval(interval: Interval, scale: float = 100.0, digits: int = 1) -> str:
    """``"92.3 ± 0.4"`` (a percentage by default); the ± part is omitted for a single seed."""
    if interval.n == 1:
        return f"{interval.mean * scale:.{digits}f}"
    return f"{interval.mean * scale:.{digits}f} ± {interval.half_width * scale:.{digits}f}"


def format_difference(interval: Interval, *, short: bool = False, n_label: str = "") -> str:
    """A difference in percentage points with its CI, the one way the site writes one.

    ``"+1.2 points (95 % CI +0.3 to +2.1, n = 5)"``; ``n_label`` follows n (e.g. " paired seeds");
    ``short`` gives ``"+1.2 (+0.3 to +2.1)"`` for table cells whose header names the unit.
    """
    mean, low, high = interval.mean * 100, interval.low * 100, interval.high * 100
    if short:
        return f"{mean:+.1f} ({low:+.1f} to {high:+.1f})"
    return f"{mean:+.1f} points (95 % CI {low:+.1f} to {high:+.1f}, n = {interval.n}{n_label})"


def format_level(interval: Interval, *, short: bool = False) -> str:
    """A mean in percent with its CI: ``"52.3 % (95 % CI 48.0 to 56.6, n = 5)"``, or with ``short``
    ``"52.3 % (48.0 to 56.6)"``."""
    if short:
        return f"{interval.mean * 100:.1f} % ({interval.low * 100:.1f} to {interval.high * 100:.1f})"
    return (f"{interval.mean * 100:.1f} % (95 % CI {interval.low * 100:.1f} to {interval.high * 100:.1f}, "
            f"n = {interval.n})")


def format_p(value: float) -> str:
    """A p-value to three decimals, or "< 0.001"; four near the 5 % level, so that a p just below it is
    not printed as 0.050."""
    if value < 0.001:
        return "< 0.001"
    return f"{value:.4f}" if 0.045 <= value < 0.055 else f"{value:.3f}"


def format_mean_range(values: Sequence[float], digits: int = 1, range_digits: int | None = None) -> str:
    """``"16.0 (13–18)"``: the mean and the range over seeds, for quantities a t-interval misrepresents
    (bounded counts such as epochs, or too few seeds for the interval to say anything)."""
    spread = digits if range_digits is None else range_digits
    return f"{math.fsum(values) / len(values):.{digits}f} ({min(values):.{spread}f}–{max(values):.{spread}f})"
