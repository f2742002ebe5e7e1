"""How much data a reliability value needs before it is shown to a person.

The kernels in this package compute any value that is defined (so published worked examples of
six units still reproduce); this module is the gate that sits above them wherever reliability
AMONG RATERS reaches a page, a chart, the API or a CSV. See docs/statistics.md, "How much data a
value needs":

- at least :data:`MIN_UNITS` units (vignettes) that carry two or more values (first ratings),
- at least :data:`MIN_PAIRABLE` pairable values (Krippendorff 2019: values in units with two
  or more values; a unit with one value cannot be paired and adds nothing),
- below :data:`DECISION_GRADE_UNITS` units a value that passes the gate is "indicative, not
  decision-grade" (Gwet 2014 on sample size for agreement coefficients).

Pure: NumPy only, no Django.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ._matrix import as_ratings
from .result import Estimate

MIN_UNITS = 10  # units (vignettes) with two or more first ratings
MIN_PAIRABLE = 60  # pairable values (Krippendorff: values in units with >= 2 values)
DECISION_GRADE_UNITS = 25  # below: "indicative, not decision-grade"

INDICATIVE_NOTE = "indicative, not decision-grade"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


@dataclass(frozen=True)
class Sufficiency:
    """Whether a units x raters matrix carries enough data for a reliability value."""

    sufficient: bool
    units: int  # units with >= 2 values
    pairable: int  # values in those units
    units_needed: int  # how many more units would be needed (0 when sufficient)
    decision_grade: bool
    reason: str | None  # why a value is withheld (None when sufficient)
    min_units: int = MIN_UNITS
    min_pairable: int = MIN_PAIRABLE
    decision_grade_units: int = DECISION_GRADE_UNITS

    @property
    def indicative(self) -> bool:
        """Shown, but from fewer units than a decision should rest on."""
        return self.sufficient and not self.decision_grade

    @property
    def note(self) -> str | None:
        """What a person reads beside a value: the reason, the indicative mark or nothing."""
        if not self.sufficient:
            return self.reason
        if not self.decision_grade:
            return (
                f"{INDICATIVE_NOTE}: {_plural(self.units, 'vignette', 'vignettes')} "
                f"({self.decision_grade_units} or more for a decision)"
            )
        return None

    def as_dict(self) -> dict[str, Any]:
        return {
            "sufficient": self.sufficient,
            "units": self.units,
            "pairable": self.pairable,
            "units_needed": self.units_needed,
            "decision_grade": self.decision_grade,
            "indicative": self.indicative,
            "reason": self.reason,
            "min_units": self.min_units,
            "min_pairable": self.min_pairable,
        }


def sufficiency_from_counts(units: int, pairable: int) -> Sufficiency:
    """The gate for already-counted data: ``units`` with >= 2 values holding ``pairable`` values."""
    units, pairable = int(units), int(pairable)
    if units < 0 or pairable < 0:
        raise ValueError("counts cannot be negative")
    short_units = max(0, MIN_UNITS - units)
    short_pairable = max(0, MIN_PAIRABLE - pairable)
    # Each further unit brings as many values as the units so far do on average (at least 2).
    per_unit = max(2.0, pairable / units) if units else 2.0
    needed = max(short_units, math.ceil(short_pairable / per_unit) if short_pairable else 0)
    sufficient = needed == 0
    reason = None
    if not sufficient:
        reason = (
            f"not enough data: {_plural(units, 'vignette', 'vignettes')} with two or more "
            f"ratings ({MIN_UNITS} needed) and {_plural(pairable, 'pairable rating', 'pairable ratings')} "
            f"({MIN_PAIRABLE} needed); about {needed} more "
            f"{'vignette' if needed == 1 else 'vignettes'} rated by two or more people would be needed"
        )
    return Sufficiency(
        sufficient=sufficient,
        units=units,
        pairable=pairable,
        units_needed=needed,
        decision_grade=sufficient and units >= DECISION_GRADE_UNITS,
        reason=reason,
    )


def sufficiency(matrix: object) -> Sufficiency:
    """The gate for a units x raters matrix (NaN or ``None`` = missing)."""
    x = as_ratings(matrix)
    per_unit = (~np.isnan(x)).sum(axis=1) if x.size else np.zeros(0, dtype=int)
    pairable_rows = per_unit >= 2
    return sufficiency_from_counts(int(pairable_rows.sum()), int(per_unit[pairable_rows].sum()))


# --- the range a coefficient's value and interval can take ---------------------------------

#: Every coefficient this gate guards is a correlation-like index: at most 1, and at least -1.
#: (Several have a higher lower limit of their own, e.g. -1/(k-1) for ICC(1) or Fleiss' kappa
#: with k raters in large samples; -1 is the limit that holds for all and is what is clipped to.)
RANGE = (-1.0, 1.0)


def _icc_denominator(estimate: Estimate) -> float | None:
    """The denominator of ICC(A,1) or ICC(A,k), from the mean squares the kernel reports."""
    extra, n = estimate.extra, estimate.n_units
    if not estimate.name.startswith("ICC(2,") or n < 1:
        return None
    try:
        msr, msc, mse = extra["MSR"], extra["MSC"], extra["MSE"]
    except KeyError:
        return None
    if estimate.name.startswith("ICC(2,k)"):
        return msr + (msc - mse) / n
    k = estimate.n_raters
    return msr + (k - 1) * mse + k * (msc - mse) / n


def bounded(estimate: Estimate, low: float = RANGE[0], high: float = RANGE[1]) -> Estimate:
    """``estimate`` ready for display: interval clipped to the range, or unavailable with why.

    - a value outside ``[low, high]`` (e.g. ICC(A,k) whose denominator is <= 0) is unavailable;
    - an interval that does not contain its estimate is dropped (``ci95`` ``None``) and the
      reason is kept in ``extra['ci_unavailable']`` (1.0) and ``ci_method``;
    - an interval reaching beyond the range is clipped to it, with ``extra['ci_clipped'] = 1``.

    The kernels are untouched: this is applied by the display layer only.
    """
    if estimate.value is None:
        return estimate
    value = estimate.value
    denominator = _icc_denominator(estimate)
    if denominator is not None and denominator <= 0:
        why = (
            f"{estimate.name} is unavailable: its denominator is {denominator:.3g} (<= 0), "
            "so the value is not a proportion of variance"
        )
        return replace(estimate, value=None, ci95=None, undefined_reason=why, ci_method=None)
    if not (low <= value <= high):
        why = (
            f"{estimate.name} is {value:.2f}, outside the coefficient's range "
            f"[{low:g}, {high:g}]"
        )
        return replace(estimate, value=None, ci95=None, undefined_reason=why, ci_method=None)
    if estimate.ci95 is None:
        return estimate
    ci_low, ci_high = estimate.ci95
    extra = dict(estimate.extra)
    if not (ci_low <= value <= ci_high):
        extra["ci_unavailable"] = 1.0
        return replace(estimate, ci95=None, extra=extra)
    clipped = (max(low, ci_low), min(high, ci_high))
    if clipped != (ci_low, ci_high):
        extra["ci_clipped"] = 1.0
        extra["ci_raw_low"], extra["ci_raw_high"] = ci_low, ci_high
    return replace(estimate, ci95=clipped, extra=extra)


def ci_note(estimate: Estimate) -> str | None:
    """What a person reads about the interval: clipped, unavailable or nothing."""
    if estimate.extra.get("ci_unavailable"):
        return "interval unavailable: the formula's interval does not contain its estimate"
    if estimate.extra.get("ci_clipped"):
        return "interval clipped to the coefficient's range [-1, 1]"
    return None


def gate_for(estimate: Estimate, gate: Sufficiency) -> Sufficiency:
    """The gate of the matrix, narrowed to the units the kernel actually used when it used
    fewer (e.g. the ICC's listwise deletion): a value rests on what it was computed from."""
    if 0 < estimate.n_units < gate.units:
        pairable = estimate.n_pairable if estimate.n_pairable else gate.pairable
        return sufficiency_from_counts(estimate.n_units, min(pairable, gate.pairable))
    return gate


def gated(estimate: Estimate, gate: Sufficiency | None = None, matrix: object = None) -> Estimate:
    """``estimate`` as a person may see it: withheld (value ``None`` + reason) below the gate.

    Pass the :class:`Sufficiency` already computed, or the matrix the estimate was computed on.
    Above the gate the interval is :func:`bounded`. The counts travel in ``extra``
    (``gate_units``, ``gate_pairable``, ``units_needed``, ``decision_grade``).
    """
    if gate is None:
        if matrix is None:
            raise ValueError("gated() needs the Sufficiency or the matrix")
        gate = sufficiency(matrix)
    gate = gate_for(estimate, gate)
    extra = dict(estimate.extra)
    extra.update(
        gate_units=gate.units, gate_pairable=gate.pairable, units_needed=gate.units_needed,
        decision_grade=1.0 if gate.decision_grade else 0.0,
    )
    if not gate.sufficient:
        return replace(
            estimate, value=None, ci95=None, undefined_reason=gate.reason, ci_method=None,
            extra=extra,
        )
    return bounded(replace(estimate, extra=extra))
