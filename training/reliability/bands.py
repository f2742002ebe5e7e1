"""Decision consistency: how often a disagreement on a total changes the risk band.

Only for an instrument whose published scheme defines bands (STABLE-2007's low / moderate /
high, Static-99R's 2016 levels I to IVb). A total one point off the reference matters when it
crosses a band boundary and not otherwise, so beside band agreement this module answers, for
each boundary between adjacent bands: of the ratings whose reference total lies within
``near`` points of it, how many land on the other side?

Inputs are aligned trainee and reference totals (pairs missing on either side are left out) and
the bands as ``(code, min, max)`` in any order; everything is a share of ratings with a Wilson
interval and its n. Ratings are counted as independent: when one trainee rates many vignettes,
or many trainees one vignette, the intervals are too narrow, so read them as descriptive.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._matrix import as_vector
from .reference import wilson_interval
from .result import Estimate, undefined

_WILSON = "Wilson score"


@dataclass(frozen=True)
class BoundaryConsistency:
    """One boundary between adjacent bands: ``lower`` ends at ``cut - 1``, ``upper`` starts at
    ``cut``."""

    lower: str
    upper: str
    cut: int
    crossed: Estimate  # either side within `near`: the share on the other side
    from_below: Estimate  # reference in [cut - near, cut - 1]: the share at cut or above
    from_above: Estimate  # reference in [cut, cut + near - 1]: the share below cut


@dataclass(frozen=True)
class DecisionConsistency:
    band_agreement: Estimate
    disagreements_changing_band: Estimate  # of totals differing from the reference's
    boundaries: tuple[BoundaryConsistency, ...]
    near: int


def _share(name: str, hits: np.ndarray, empty: str) -> Estimate:
    n = int(hits.size)
    if n == 0:
        return undefined(name, empty, n_units=0, n_raters=2, n_pairable=0)
    k = float(hits.sum())
    return Estimate(name=name, value=k / n, ci95=wilson_interval(k, n), undefined_reason=None,
                    n_units=n, n_raters=2, n_pairable=n, extra={"count": k}, ci_method=_WILSON)


def _band_index(totals: np.ndarray, bands: list[tuple[str, int, int]]) -> np.ndarray:
    out = np.full(totals.shape, -1)
    for i, (_code, low, high) in enumerate(bands):
        out[(totals >= low) & (totals <= high)] = i
    return out


def decision_consistency(
    trainee_totals: object,
    reference_totals: object,
    bands: Sequence[tuple[str, int, int]],
    near: int = 2,
) -> DecisionConsistency:
    """Band agreement, the share of total disagreements that change the band, and per band
    boundary the share of ratings near it (reference within ``near`` points) that cross it.

    Example (STABLE-2007's bands; the reference totals 3 and 4 sit either side of the
    low/moderate boundary at 4)::

        >>> bands = [("low", 0, 3), ("moderate", 4, 11), ("high", 12, 26)]
        >>> dc = decision_consistency([4, 3, 5, 8, 12], [3, 3, 4, 8, 11], bands)
        >>> dc.band_agreement.value, dc.disagreements_changing_band.value
        (0.6, 0.6666666666666666)
        >>> low_moderate = dc.boundaries[0]
        >>> low_moderate.cut, low_moderate.crossed.value, low_moderate.crossed.n_units
        (4, 0.3333333333333333, 3)
    """
    if near < 1:
        raise ValueError("near must be at least 1 point")
    ordered = sorted(((str(c), int(lo), int(hi)) for c, lo, hi in bands), key=lambda b: b[1])
    t, r = as_vector(trainee_totals), as_vector(reference_totals)
    if t.shape != r.shape:
        raise ValueError("trainee and reference totals must be aligned (same length)")
    keep = ~np.isnan(t) & ~np.isnan(r)
    t, r = t[keep], r[keep]
    bt, br = _band_index(t, ordered), _band_index(r, ordered)
    none = "no rating with both totals"
    agreement = _share("Band agreement with the reference", bt == br, none)
    differ = t != r
    changing = _share("Total disagreements that change the band", (bt != br)[differ],
                      "no total differs from the reference's")
    boundaries = []
    for (lower, _lo, _hi), (upper, cut, _uhi) in zip(ordered, ordered[1:], strict=False):
        below = (r >= cut - near) & (r <= cut - 1)
        above = (r >= cut) & (r <= cut + near - 1)
        up = t >= cut
        where = f"the {lower}/{upper} boundary at {cut}"
        boundaries.append(BoundaryConsistency(
            lower=lower, upper=upper, cut=cut,
            crossed=_share(f"Ratings near {where} on the other side",
                           np.where(below, up, ~up)[below | above],
                           f"no reference total within {near} of {where}"),
            from_below=_share(f"Reference just below {where}, rating at or above", up[below],
                              f"no reference total within {near} below {where}"),
            from_above=_share(f"Reference at or just above {where}, rating below", ~up[above],
                              f"no reference total within {near} above {where}"),
        ))
    return DecisionConsistency(band_agreement=agreement, disagreements_changing_band=changing,
                               boundaries=tuple(boundaries), near=near)
