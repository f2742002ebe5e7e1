"""Test–retest agreement of one rater: the same rater, the same case, two occasions.

Input is a list of pairs of :class:`Occasion` (first, retest); output a frozen
:class:`RetestAgreement`. See docs/statistics.md, "Consistency with oneself (test–retest)".

- applicability agreement: share of pairs with the same applicability decision;
- item agreement: share of identical item codes, pooled over the items of the pairs both
  occasions judged applicable (an item omitted on both occasions is identical; scored on one
  and omitted or unscored on the other is not);
- totals: the mean absolute and the mean signed difference of totals (retest − first;
  positive = more severe the second time) over those pairs;
- ICC(A,1) (two-way random, absolute agreement, one occasion; McGraw & Wong 1996) on the
  totals, the occasions as the two "raters", from :data:`MIN_PAIRS_ICC` pairs.

Each value is withheld below its minimum (the reason says how many pairs there are and how many
are needed); an ICC from fewer than :data:`DECISION_GRADE_PAIRS` pairs is marked indicative.

Pure: no Django.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .icc import icc
from .result import Estimate

MIN_PAIRS = 3  # pairs both judged applicable, for item agreement and total differences
MIN_PAIRS_ICC = 10  # pairs with both totals, for ICC(A,1)
DECISION_GRADE_PAIRS = 25  # below: the ICC is indicative, not decision-grade


@dataclass(frozen=True)
class Occasion:
    """One rating of the case: the applicability decision, the item codes ({code: value},
    None = omitted) and the total (None when not applicable or incomplete)."""

    applicable: bool | None
    codes: Mapping[str, int | None]
    total: float | None


@dataclass(frozen=True)
class RetestAgreement:
    n_pairs: int  # pairs with both occasions rated
    n_scored_pairs: int  # of those, both judged applicable with a total
    n_items: int  # item codes compared
    applicability_agreement: float | None
    item_agreement: float | None
    mean_abs_total_difference: float | None
    mean_total_difference: float | None
    icc: Estimate | None
    reason: str | None  # why item and total values are withheld
    icc_reason: str | None  # why the ICC is withheld
    indicative: bool  # the ICC rests on fewer pairs than a decision should

    def as_dict(self) -> dict:
        return {
            "n_pairs": self.n_pairs, "n_scored_pairs": self.n_scored_pairs,
            "n_items": self.n_items,
            "applicability_agreement": self.applicability_agreement,
            "item_agreement": self.item_agreement,
            "mean_abs_total_difference": self.mean_abs_total_difference,
            "mean_total_difference": self.mean_total_difference,
            "icc_a1": self.icc.value if self.icc is not None else None,
            "icc_a1_ci95": list(self.icc.ci95) if self.icc is not None and self.icc.ci95
            else None,
            "reason": self.reason, "icc_reason": self.icc_reason,
            "indicative": self.indicative,
            "min_pairs": MIN_PAIRS, "min_pairs_icc": MIN_PAIRS_ICC,
        }


def _pairs(n: int) -> str:
    return f"{n} pair" if n == 1 else f"{n} pairs"


def retest_agreement(pairs: Sequence[tuple[Occasion, Occasion]], *, min_pairs: int = MIN_PAIRS,
                     min_pairs_icc: int = MIN_PAIRS_ICC) -> RetestAgreement:
    """Test–retest agreement of one rater over ``pairs`` of (first, retest) occasions.

    item agreement = identical item codes / item codes compared;
    mean |Δ total| = Σ |retest − first| / n; mean Δ total = Σ (retest − first) / n;
    ICC(A,1) = (MSR − MSE) / (MSR + MSE + 2 (MSC − MSE) / n) on the n × 2 matrix of totals.

    Example (three pairs of a three-item instrument)::

        >>> o = lambda a, b, c: Occasion(True, {"A": a, "B": b, "C": c}, a + b + c)
        >>> r = retest_agreement([(o(1, 0, 2), o(1, 1, 2)), (o(0, 0, 1), o(0, 0, 1)),
        ...                       (o(2, 1, 1), o(1, 1, 0))])
        >>> round(r.item_agreement, 4), r.mean_abs_total_difference, round(r.mean_total_difference, 4)
        (0.6667, 1.0, -0.3333)
        >>> r.icc is None, r.icc_reason
        (True, 'not enough data: 3 pairs, at least 10 needed')
    """
    n_pairs = len(pairs)
    applicability_agreement = (sum(1 for a, b in pairs if a.applicable == b.applicable) / n_pairs
                               if n_pairs else None)
    scored = [(a, b) for a, b in pairs if a.applicable and b.applicable
              and a.total is not None and b.total is not None]
    identical = compared = 0
    for first, retest in scored:
        for code in set(first.codes) | set(retest.codes):
            compared += 1
            in_both = code in first.codes and code in retest.codes
            identical += in_both and first.codes[code] == retest.codes[code]
    differences = [float(b.total) - float(a.total) for a, b in scored]
    n = len(scored)
    reason = None
    item_agreement = mean_abs = mean_signed = None
    if n < min_pairs:
        reason = f"not enough data: {_pairs(n)}, at least {min_pairs} needed"
    else:
        item_agreement = identical / compared if compared else None
        mean_abs = sum(abs(d) for d in differences) / n
        mean_signed = sum(differences) / n
    estimate = icc_reason = None
    if n < min_pairs_icc:
        icc_reason = f"not enough data: {_pairs(n)}, at least {min_pairs_icc} needed"
    else:
        estimate = icc([[float(a.total), float(b.total)] for a, b in scored], "ICC(A,1)")
        icc_reason = estimate.undefined_reason
    return RetestAgreement(
        n_pairs=n_pairs, n_scored_pairs=n, n_items=compared,
        applicability_agreement=applicability_agreement, item_agreement=item_agreement,
        mean_abs_total_difference=mean_abs, mean_total_difference=mean_signed,
        icc=estimate, reason=reason, icc_reason=icc_reason,
        indicative=estimate is not None and n < DECISION_GRADE_PAIRS)
