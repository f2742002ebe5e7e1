"""Specific agreement: how often raters agree *on a given code*, beside kappa and AC1.

Kappa and AC1 put a whole item into one number. On a 0/1 item where "1" is rare they can
disagree wildly (the kappa paradox), and neither says whether the raters ever agreed on a
"1". Specific agreement answers that directly, one number per code (Dice 1945; Spitzer &
Fleiss 1974; Uebersax 1982; Cicchetti & Feinstein 1990): for code k, of all the ratings of k
made on units that somebody else also rated, the share whose fellow rater said k too.

    p_s(k) = sum_i n_ik (n_ik - 1) / sum_i n_ik (n_i - 1)

over units i rated at least twice, where n_ik raters gave unit i code k and n_i raters rated
it at all. With two raters and a 2 x 2 table (a both 1, b and c split, d both 0) this is
positive agreement PA = 2a / (2a + b + c) on code 1 and negative agreement
NA = 2d / (2d + b + c) on code 0. The denominator counts (ordered) rater pairs that start with
k, and ``n_pairable`` says how many ratings of k it rests on (2a + b + c for PA).

Interval: the delta method for a ratio of sums over units (the unit is the cluster), which
for two raters is exactly Graham & Bull's (1998) standard error
``sqrt(4 a (b + c) (a + b + c)) / (2a + b + c)^2`` (the one in Uebersax's programs); normal,
95 %, clipped to [0, 1] (``extra["ci_clipped"] = 1`` when it was). When every rating of k
agrees (or none does) the spread cannot be estimated from the data and no interval is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._matrix import as_ratings, count_table
from .result import Estimate, undefined

_Z = 1.959963984540054
_CI_METHOD = "normal, delta method for a ratio over units (Graham & Bull 1998 for two raters)"


def _code(value: float) -> str:
    return f"{value:g}"


def _name(value: float, binary: bool) -> str:
    label = ""
    if binary:
        label = " (positive agreement, PA)" if value == 1 else " (negative agreement, NA)"
    return f"Specific agreement on {_code(value)}{label}"


def specific_agreement(
    ratings: object, categories: Sequence[float] | None = None
) -> dict[float, Estimate]:
    """Category-specific agreement for every category, keyed by the category value.

    On a 0/1 item the estimate for 1 is positive agreement (PA) and for 0 negative agreement
    (NA). A category nobody used on a unit rated twice or more is undefined (with a reason).

    Example (two raters; 18 units both 0, one unit 1/0, one unit 0/1): the raters never
    agree on a single 1, although they agree on 90 % of units::

        >>> sa = specific_agreement([[0, 0]] * 18 + [[1, 0], [0, 1]])
        >>> round(sa[1.0].value, 3), round(sa[0.0].value, 3), sa[1.0].n_pairable
        (0.0, 0.947, 2)
    """
    x = as_ratings(ratings)
    table = count_table(x, categories)
    counts = table.counts
    n_i = counts.sum(axis=1)
    keep = n_i >= 2
    counts, n_i = counts[keep], n_i[keep]
    n_units = int(keep.sum())
    binary = table.categories.size == 2 and set(table.categories.tolist()) == {0.0, 1.0}
    out: dict[float, Estimate] = {}
    for k, value in enumerate(table.categories.tolist()):
        name = _name(value, binary)
        n_k = counts[:, k]
        num = n_k * (n_k - 1.0)
        den = n_k * (n_i - 1.0)
        total_den = float(den.sum())
        n_ratings = int(n_k.sum())
        if total_den <= 0:
            out[value] = undefined(
                name, f"no unit rated at least twice has the code {_code(value)}",
                n_units=n_units, n_raters=x.shape[1], n_pairable=n_ratings)
            continue
        agreeing = float(num.sum())
        estimate = agreeing / total_den
        # Delta method for R = sum(num) / sum(den), units as clusters.
        se = float(np.sqrt(np.sum((num - estimate * den) ** 2))) / total_den
        ci = None
        clipped = 0.0
        if se > 0:
            low, high = estimate - _Z * se, estimate + _Z * se
            clipped = float(low < 0 or high > 1)
            ci = (max(0.0, low), min(1.0, high))
        out[value] = Estimate(
            name=name,
            value=estimate,
            ci95=ci,
            undefined_reason=None,
            n_units=int((n_k > 0).sum()),
            n_raters=x.shape[1],
            n_pairable=n_ratings,
            extra={"agreeing_pairs": agreeing, "possible_pairs": total_den, "se": se,
                   "ci_clipped": clipped},
            ci_method=_CI_METHOD if ci is not None else None,
        )
    return out


def positive_negative_agreement(a: int, b: int, c: int, d: int) -> tuple[Estimate, Estimate]:
    """PA and NA from the four cells of a two-rater 2 x 2 table (a: both positive, b and c:
    split, d: both negative), as Cicchetti & Feinstein (1990) and Uebersax write them.

        >>> pa, na = positive_negative_agreement(80, 10, 5, 5)
        >>> round(pa.value, 4), round(na.value, 4)
        (0.9143, 0.4)
    """
    rows = [[1, 1]] * a + [[1, 0]] * b + [[0, 1]] * c + [[0, 0]] * d
    result = specific_agreement(rows or np.empty((0, 2)), categories=(0, 1))
    return result[1.0], result[0.0]
