"""The site's one family of tests: every comparison a verdict of the claims table or a row of the guide
decides, Holm-adjusted together, so that a comparison has one adjusted p-value wherever it is shown.

A comparison made twice (the same statement on the same runs, e.g. a claim and a guide row that
compare the same two losses) counts once (``inference.holm_one_test_per_statement``). The intervals
next to those verdicts are Bonferroni's simultaneous ones for the family's size
(``inference.family_confidence``). Descriptive summaries elsewhere on the site (the compare page's
neighbours in a ranking) form their own family, which the pages name, and show this family's p-value
for any comparison that belongs to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .inference import Comparison, family_confidence, holm_one_test_per_statement
from .measures import RunIndex


@dataclass(frozen=True)
class Family:
    """Holm-adjusted p-values (for, against) of a family's distinct comparisons, by statement key."""

    adjusted: dict[tuple, tuple[float, float]]

    @classmethod
    def of(cls, comparisons: list[Comparison]) -> Family:
        raw_for = [comparison.p_for for comparison in comparisons]
        raw_against = [comparison.p_against for comparison in comparisons]
        keys = [comparison.key for comparison in comparisons]
        adjusted_for, adjusted_against = holm_one_test_per_statement(raw_for, raw_against, keys)
        return cls(dict(zip(keys, zip(adjusted_for, adjusted_against))))

    @property
    def size(self) -> int:
        """How many distinct tests the family holds (Holm's m)."""
        return len(self.adjusted)

    @property
    def confidence(self) -> float:
        """The simultaneous confidence of the intervals shown next to the family's verdicts."""
        return family_confidence(self.size)

    def p_values(self, comparison: Comparison) -> tuple[float, float]:
        """(adjusted p for, adjusted p against) of ``comparison``, which must belong to the family."""
        return self.adjusted[comparison.key]

    def __contains__(self, comparison: Comparison) -> bool:
        return comparison.key in self.adjusted


def site_family(runs) -> Family:
    """The family of every claim's and every guide row's comparisons on ``runs``."""
    from .claims import claim_findings  # the claims and the guide use the family: imported here, not above
    from .guide import guide_comparisons

    index = runs if isinstance(runs, RunIndex) else RunIndex(runs)
    comparisons = [comparison for by_dataset in claim_findings(index).values() for finding in by_dataset.values()
                   for comparison in finding.comparisons]
    return Family.of(comparisons + guide_comparisons(index))
