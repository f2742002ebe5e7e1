"""Krippendorff's alpha at the nominal, ordinal, interval and ratio levels.

``alpha = 1 - D_o / D_e = 1 - (n - 1) * sum_ck o_ck d_ck / sum_ck n_c n_k d_ck``

``o`` is the coincidence matrix over all pairable values (units with two or more ratings, any
missing pattern), ``n_c`` its margins, ``n`` the number of pairable values, ``d`` the squared
difference function of the level (Krippendorff 2011, 2019):

* nominal: 0 if c = k else 1
* ordinal: ``(sum_{g=c..k} n_g - (n_c + n_k) / 2)^2`` (uses the marginal frequencies)
* interval: ``(c - k)^2``
* ratio: ``((c - k) / (c + k))^2``

The coincidence matrix is one matrix product of the units x categories count table with
itself: ``o = C' diag(1 / (r_i - 1)) C - diag(sum_i C_ik / (r_i - 1))``.

The 95 % interval uses Gwet's (2014) variance of alpha (irrCAC ``krippen.alpha.raw``) with
agreement weights ``1 - d / max(d)``, a t distribution with n-1 df, and the upper bound capped
at 1. A bootstrap over units is available on request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from ._matrix import CountTable, as_ratings, count_table
from .result import Estimate, undefined

LEVELS = ("nominal", "ordinal", "interval", "ratio")


@dataclass(frozen=True)
class _Coincidences:
    counts: np.ndarray  # pairable units x q
    r: np.ndarray  # ratings per pairable unit
    o: np.ndarray  # q x q coincidence matrix
    n_c: np.ndarray  # margins
    categories: np.ndarray
    n_raters: int


def _coincidences(table: CountTable) -> _Coincidences:
    c = table.counts
    r = c.sum(axis=1)
    pairable = r >= 2
    c = c[pairable]
    r = r[pairable]
    scaled = c / (r - 1.0)[:, None]
    o = scaled.T @ c
    o[np.diag_indices_from(o)] -= scaled.sum(axis=0)
    return _Coincidences(c, r, o, o.sum(axis=0), table.categories, table.n_raters)


def _distances(level: str, cats: np.ndarray, n_c: np.ndarray) -> np.ndarray:
    if level == "nominal":
        return 1.0 - np.eye(cats.size)
    if level == "interval":
        return (cats[:, None] - cats[None, :]) ** 2
    if level == "ratio":
        total = cats[:, None] + cats[None, :]
        diff = cats[:, None] - cats[None, :]
        return np.divide(diff, total, out=np.zeros_like(diff), where=total != 0) ** 2
    if level == "ordinal":
        cum = np.concatenate([[0.0], np.cumsum(n_c)])
        i = np.arange(cats.size)
        lo = np.minimum(i[:, None], i[None, :])
        hi = np.maximum(i[:, None], i[None, :])
        between = cum[hi + 1] - cum[lo]
        return (between - (n_c[:, None] + n_c[None, :]) / 2) ** 2
    raise ValueError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")


def _alpha_value(co: _Coincidences, level: str) -> tuple[float | None, np.ndarray, float]:
    d = _distances(level, co.categories, co.n_c)
    n = co.n_c.sum()
    expected = co.n_c @ d @ co.n_c
    if n < 2 or expected <= 0:
        return None, d, float(n)
    return float(1.0 - (n - 1) * np.sum(co.o * d) / expected), d, float(n)


def _gwet_variance_ci(co: _Coincidences, d: np.ndarray, value: float):
    """Gwet's linearised variance of alpha (irrCAC ``krippen.alpha.raw``)."""
    w = 1.0 - d / d.max()
    c, r = co.counts, co.r
    n = c.shape[0]
    if n < 2:
        return None, float("nan")
    rbar = r.mean()
    eps = 1.0 / r.sum()
    sum_q = (c * (c @ w.T - 1.0)).sum(axis=1)
    pa_prime = np.sum(sum_q / (rbar * (r - 1))) / n
    pa = (1 - eps) * pa_prime + eps
    pi = c.sum(axis=0) / (n * rbar)
    pe = pi @ w @ pi
    alpha_prime = (pa_prime - pe) / (1 - pe)
    pa_i = sum_q / (rbar * (r - 1)) - pa * (r - rbar) / rbar
    unit = (pa_i - pe) / (1 - pe)
    pi_w = (w @ pi + w.T @ pi) / 2
    pe_i = (c @ pi_w) / rbar - pe * (r - rbar) / rbar
    unit = unit - 2 * (1 - alpha_prime) * (pe_i - pe) / (1 - pe)
    var = np.sum((unit - alpha_prime) ** 2) / (n * (n - 1))
    se = float(np.sqrt(var))
    half = float(special.stdtrit(n - 1, 0.975)) * se
    return (value - half, min(1.0, value + half)), se


def _estimate(
    co: _Coincidences, level: str, *, bootstrap: int = 0, seed: int | None = None
) -> Estimate:
    name = f"Krippendorff's alpha ({level})"
    value, d, n = _alpha_value(co, level)
    counts = {"n_units": co.counts.shape[0], "n_raters": co.n_raters, "n_pairable": int(n)}
    if n < 2:
        return undefined(name, "fewer than two pairable values (no unit has two ratings)",
                         **counts)
    if value is None:
        return undefined(name, "no variation: every pairable value is the same, so the "
                         "expected disagreement is 0", **counts)
    d_o = float(np.sum(co.o * d) / n)
    d_e = float(co.n_c @ d @ co.n_c / (n * (n - 1)))
    extra: dict[str, float] = {"D_o": d_o, "D_e": d_e}
    ci, se = _gwet_variance_ci(co, d, value)
    method = "t, n-1 df, Gwet (2014) variance as irrCAC krippen.alpha.raw"
    extra["se"] = se
    if bootstrap:
        ci = _bootstrap_ci(co, level, bootstrap, seed)
        method = f"bootstrap over units, {bootstrap} resamples, percentile"
    return Estimate(name=name, value=value, ci95=ci, undefined_reason=None, extra=extra,
                    ci_method=method, **counts)


def _bootstrap_ci(co: _Coincidences, level: str, replicates: int, seed: int | None):
    rng = np.random.default_rng(seed)
    c, r = co.counts, co.r
    n = c.shape[0]
    scaled = c / (r - 1.0)[:, None]
    draws = rng.integers(0, n, size=(replicates, n))
    values = []
    for row in draws:
        mult = np.bincount(row, minlength=n).astype(float)
        o = (scaled * mult[:, None]).T @ c
        o[np.diag_indices_from(o)] -= mult @ scaled
        boot = _Coincidences(c, r, o, o.sum(axis=0), co.categories, co.n_raters)
        value, _, _ = _alpha_value(boot, level)
        if value is not None:
            values.append(value)
    if len(values) < 2:
        return None
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def krippendorff_alpha(
    ratings: object,
    level: str = "nominal",
    categories: Sequence[float] | None = None,
    *,
    bootstrap: int = 0,
    seed: int | None = None,
) -> Estimate:
    """Krippendorff's alpha for a units x raters matrix with any pattern of missing values.

    ``level`` is ``"nominal"``, ``"ordinal"``, ``"interval"`` or ``"ratio"``. ``categories``
    (the declared values) only matter for checking the data: unused values have no pairable
    values and do not change alpha. ``bootstrap=n`` replaces the analytic interval by a
    percentile bootstrap over units (``seed`` makes it repeatable).

    Example (Krippendorff 2011, the 4 coders x 12 units data)::

        >>> data = [[1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3],
        ...         [2, 2, 2, 2], [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1],
        ...         [2, 2, 2, 2], [None, 5, 5, 5], [None, None, 1, 1], [None, None, 3, None]]
        >>> round(krippendorff_alpha(data, "nominal").value, 3)
        0.743
        >>> round(krippendorff_alpha(data, "interval").value, 3)
        0.849
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; use one of {', '.join(LEVELS)}")
    x = as_ratings(ratings)
    co = _coincidences(count_table(x, categories))
    return _estimate(co, level, bootstrap=bootstrap, seed=seed)


def krippendorff_alpha_levels(
    ratings: object,
    levels: Sequence[str] = LEVELS,
    categories: Sequence[float] | None = None,
) -> dict[str, Estimate]:
    """Alpha at several levels from one coincidence matrix, keyed by level."""
    x = as_ratings(ratings)
    co = _coincidences(count_table(x, categories))
    return {level: _estimate(co, level) for level in levels}


def alpha_from_table(table: CountTable, levels: Sequence[str] = LEVELS) -> dict[str, Estimate]:
    """Alpha at several levels from an already built count table (used by the item report)."""
    co = _coincidences(table)
    return {level: _estimate(co, level) for level in levels}
