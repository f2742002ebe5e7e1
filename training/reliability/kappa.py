"""Chance-corrected agreement coefficients for categorical ratings.

Every coefficient here has the form ``(p_a - p_e) / (1 - p_e)``: observed agreement ``p_a``
corrected by what chance alone would give, ``p_e``. They differ in how chance is modelled:

* Cohen's kappa (two raters): each rater's own marginal distribution.
* Scott's pi (two raters) and Fleiss' kappa (any number): the pooled marginal distribution.
* Brennan-Prediger: every category equally likely, ``p_e = sum(w) / q^2``.
* Gwet's AC1/AC2: chance only on "hard to score" units,
  ``p_e = sum(w) / (q (q-1)) * sum_k pi_k (1 - pi_k)``.

With many raters and missing ratings, ``p_a`` is averaged over units rated by two or more raters
and ``pi_k`` over all units, as in Gwet (2014) and the irrCAC package; the variances and 95 %
intervals are Gwet's (t distribution with n-1 degrees of freedom, no finite-population
correction, upper bound capped at 1), so every figure can be reproduced with irrCAC.
Weights come from the category values (see :func:`weight_matrix`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np
from scipy import special

from ._matrix import CountTable, as_ratings, count_table, weight_matrix
from .result import Estimate, undefined

_GWET_CI = "t, n-1 df, Gwet (2014) variance as irrCAC"
_WEIGHT_LABEL = {None: "", "identity": "", "linear": ", linear weights",
                 "quadratic": ", quadratic weights"}


@dataclass(frozen=True)
class FleissKappa(Estimate):
    """Fleiss' kappa, with one kappa per category (that category against all the others)."""

    per_category: Mapping[float, Estimate] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "per_category", MappingProxyType(dict(self.per_category)))

    def to_dict(self) -> dict:
        out = super().to_dict()
        out["per_category"] = {f"{k:g}": e.to_dict() for k, e in self.per_category.items()}
        return out


def _t_interval(value: float, se: float, n: int) -> tuple[float, float] | None:
    if n < 2 or not np.isfinite(se):
        return None
    half = float(special.stdtrit(n - 1, 0.975)) * se
    return value - half, min(1.0, value + half)


def _agreement_parts(table: CountTable, w: np.ndarray):
    """Per-unit observed agreement and the pieces shared by Fleiss, Gwet and BP."""
    c = table.counts
    r = c.sum(axis=1)
    cw = c @ w.T
    sum_q = (c * (cw - 1.0)).sum(axis=1)
    two = r >= 2
    den = r * (r - 1.0)
    pa_i = np.divide(sum_q, den, out=np.zeros_like(sum_q), where=two)
    return c, r, two, pa_i


def _chance_corrected(
    table: CountTable, w: np.ndarray, kind: str, name: str, n_raters: int
) -> Estimate:
    """Fleiss / Gwet / Brennan-Prediger with Gwet's variance, on units rated at least once."""
    keep = table.counts.sum(axis=1) > 0
    table = CountTable(table.counts[keep], table.categories, table.n_raters)
    c, r, two, pa_i = _agreement_parts(table, w)
    n = c.shape[0]
    n2 = int(two.sum())
    q = table.categories.size
    counts = {"n_units": n2, "n_raters": n_raters, "n_pairable": int(r[two].sum())}
    if n2 == 0:
        return undefined(name, "no unit was rated by two or more raters", **counts)
    if q < 2 and kind != "fleiss":
        return undefined(name, "only one category is possible, so chance agreement is 1",
                         **counts)
    pa = pa_i[two].sum() / n2
    pi = (c / r[:, None]).sum(axis=0) / n
    if kind == "fleiss":
        pe = float(pi @ w @ pi)
    elif kind == "gwet":
        pe = float(w.sum() * np.sum(pi * (1 - pi)) / (q * (q - 1)))
    else:  # Brennan-Prediger
        pe = float(w.sum() / q**2)
    extra = {"p_a": pa, "p_e": pe}
    if np.isclose(pe, 1.0, rtol=0, atol=1e-12):
        return undefined(name, "chance agreement is 1 (every rating is in one category), "
                         "so the coefficient is undefined", **counts, extra=extra)
    value = (pa - pe) / (1 - pe)
    # Gwet's linearisation: per-unit contributions whose spread gives the variance.
    unit = (n / n2) * (pa_i - pe * two) / (1 - pe)
    if kind == "fleiss":
        pi_w = (w @ pi + w.T @ pi) / 2
        pe_i = (c @ pi_w) / r
        unit = unit - 2 * (1 - value) * (pe_i - pe) / (1 - pe)
    elif kind == "gwet":
        pe_i = (w.sum() / (q * (q - 1))) * (c @ (1 - pi)) / r
        unit = unit - 2 * (1 - value) * (pe_i - pe) / (1 - pe)
    var = np.sum((unit - value) ** 2) / (n * (n - 1)) if n > 1 else np.nan
    se = float(np.sqrt(var))
    extra["se"] = se
    return Estimate(name=name, value=value, ci95=_t_interval(value, se, n),
                    undefined_reason=None, extra=extra, ci_method=_GWET_CI, **counts)


def fleiss_kappa(
    ratings: object, categories: Sequence[float] | None = None, *, per_category: bool = True
) -> FleissKappa:
    """Fleiss' kappa (Fleiss 1971), overall and per category, any number of raters.

    ``p_a`` = mean over units with >= 2 ratings of ``sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))``;
    ``p_e = sum_k pi_k^2`` with ``pi_k`` the mean share of category k per unit. Missing ratings
    are handled as irrCAC's ``fleiss.kappa.raw``. The kappa of category j is Fleiss' kappa of
    the data recoded "j / not j" (Fleiss 1971, eq. 13 on complete data).
    ``extra["z_h0"]`` (complete data only) is the z test of kappa = 0 that R ``irr`` prints.
    ``per_category=False`` leaves ``per_category`` empty (a caller that needs only the overall
    kappa then does a fifth of the work on a 5-category item).

    Example::

        >>> round(fleiss_kappa([[1, 1, 1], [2, 2, 2], [1, 1, 2], [2, 2, 1]]).value, 3)
        0.333
    """
    x = as_ratings(ratings)
    return fleiss_from_table(count_table(x, categories), x.shape[1], per_category=per_category)


def fleiss_from_table(
    table: CountTable, n_raters: int, *, per_category: bool = True
) -> FleissKappa:
    """Fleiss' kappa from an already built count table (used by the item report)."""
    overall = _chance_corrected(table, np.eye(table.categories.size), "fleiss",
                                "Fleiss' kappa", n_raters)
    by_category: dict[float, Estimate] = {}
    if per_category and table.categories.size >= 2:
        for j, cat in enumerate(table.categories):
            cj = table.counts[:, j]
            binary = CountTable(np.column_stack([cj, table.counts.sum(axis=1) - cj]),
                                np.array([1.0, 0.0]), table.n_raters)
            est = _chance_corrected(
                binary, np.eye(2), "fleiss", f"Fleiss' kappa for category {cat:g}", n_raters)
            rated = table.counts.sum(axis=1) > 0
            share = float(np.mean(cj[rated] / table.counts.sum(axis=1)[rated])) if rated.any() \
                else float("nan")
            by_category[float(cat)] = replace(est, extra={**est.extra, "p_j": share})
    extra = dict(overall.extra)
    r = table.counts.sum(axis=1)
    if overall.value is not None and r.size and np.all(r == r[0]) and r[0] >= 2:
        # Fleiss, Nee & Landis (1979) standard error under kappa = 0 (complete data).
        m, n = r[0], r.size
        p = table.counts.sum(axis=0) / (n * m)
        pq = p * (1 - p)
        se0 = np.sqrt(2) / (pq.sum() * np.sqrt(n * m * (m - 1))) * np.sqrt(
            pq.sum() ** 2 - np.sum(pq * (1 - 2 * p)))
        extra["se_h0"] = se0
        extra["z_h0"] = overall.value / se0
    return FleissKappa(
        name=overall.name, value=overall.value, ci95=overall.ci95,
        undefined_reason=overall.undefined_reason, n_units=overall.n_units,
        n_raters=overall.n_raters, n_pairable=overall.n_pairable, extra=extra,
        ci_method=overall.ci_method, per_category=by_category,
    )


def gwet_ac1(ratings: object, categories: Sequence[float] | None = None) -> Estimate:
    """Gwet's AC1 (Gwet 2008), the paradox-resistant coefficient, any number of raters.

    ``p_e = 1/(q-1) * sum_k pi_k (1 - pi_k)`` with q the number of categories (declared, or
    observed when none are declared). Matches irrCAC ``gwet.ac1.raw``.

    Example (a rare 1 on a 0/1 item: kappa is ~0, AC1 stays high)::

        >>> data = [[0, 0]] * 18 + [[1, 0], [0, 1]]
        >>> round(gwet_ac1(data).value, 2), round(cohen_kappa(data).value, 2)
        (0.89, -0.05)
    """
    x = as_ratings(ratings)
    table = count_table(x, categories)
    return _chance_corrected(table, np.eye(table.categories.size), "gwet", "Gwet's AC1",
                             x.shape[1])


def gwet_ac2(
    ratings: object, weights: str = "quadratic", categories: Sequence[float] | None = None
) -> Estimate:
    """Gwet's AC2: AC1 with agreement weights (``"linear"`` or ``"quadratic"``).

    ``p_a`` counts partial agreement ``w_kl``; ``p_e = sum(w) / (q (q-1)) * sum_k pi_k(1-pi_k)``.
    Matches irrCAC ``gwet.ac1.raw(weights=...)``.

    Example::

        >>> round(gwet_ac2([[1, 2], [2, 2], [3, 3], [1, 1]], "linear").value, 3)
        0.724
    """
    if weights not in ("linear", "quadratic"):
        raise ValueError("AC2 weights must be 'linear' or 'quadratic'")
    x = as_ratings(ratings)
    table = count_table(x, categories)
    w = weight_matrix(table.categories, weights)
    return _chance_corrected(table, w, "gwet", f"Gwet's AC2 ({weights} weights)", x.shape[1])


def brennan_prediger(
    ratings: object, categories: Sequence[float] | None = None, weights: str | None = None
) -> Estimate:
    """Brennan & Prediger's (1981) coefficient: chance is ``p_e = sum(w) / q^2`` (1/q unweighted).

    Declare the categories: with q taken from the observed values the chance term depends on
    what happened to be used. Matches irrCAC ``bp.coeff.raw``.

    Example::

        >>> round(brennan_prediger([[0, 0], [1, 1], [0, 1]], categories=[0, 1]).value, 3)
        0.333
    """
    x = as_ratings(ratings)
    table = count_table(x, categories)
    w = weight_matrix(table.categories, weights)
    return _chance_corrected(table, w, "bp", f"Brennan-Prediger{_WEIGHT_LABEL[weights]}",
                             x.shape[1])


def _two_columns(ratings: object, name: str) -> np.ndarray:
    x = as_ratings(ratings)
    if x.shape[1] != 2:
        raise ValueError(f"{name} is defined for exactly two raters, got {x.shape[1]}")
    return x


def cohen_kappa(
    ratings: object, weights: str | None = None, categories: Sequence[float] | None = None
) -> Estimate:
    """Cohen's kappa for two raters, unweighted (1960) or weighted (1968).

    On the units both raters scored: ``p_o = sum_kl w_kl p_kl``,
    ``p_e = sum_kl w_kl p_k. p_.l`` (each rater's own marginals). The standard error is the
    large-sample one of Fleiss, Cohen & Everitt (1969) (as statsmodels ``cohens_kappa`` and
    irrCAC ``kappa2.table``); the interval uses t with n-1 df, capped at 1.

    Example::

        >>> round(cohen_kappa([[1, 1], [2, 2], [1, 2], [2, 2]]).value, 3)
        0.5
    """
    label = {None: "Cohen's kappa", "linear": "Cohen's kappa (linear weights)",
             "quadratic": "Cohen's kappa (quadratic weights)"}[weights]
    x = _two_columns(ratings, label)
    both = ~np.isnan(x).any(axis=1)
    y = x[both]
    cats = count_table(x, categories).categories
    q = cats.size
    n = y.shape[0]
    counts = {"n_units": n, "n_raters": 2, "n_pairable": 2 * n}
    if n == 0:
        return undefined(label, "no unit was scored by both raters", **counts)
    if q < 2:
        return undefined(label, "only one category is possible, so chance agreement is 1",
                         **counts)
    i = np.searchsorted(cats, y[:, 0])
    j = np.searchsorted(cats, y[:, 1])
    p = np.bincount(i * q + j, minlength=q * q).reshape(q, q) / n
    w = weight_matrix(cats, weights)
    row, col = p.sum(axis=1), p.sum(axis=0)
    po = float(np.sum(w * p))
    pe = float(row @ w @ col)
    extra = {"p_a": po, "p_e": pe}
    if np.isclose(pe, 1.0, rtol=0, atol=1e-12):
        return undefined(label, "chance agreement is 1 (both raters used one category only), "
                         "so kappa is undefined", **counts, extra=extra)
    value = (po - pe) / (1 - pe)
    wbar_row = w @ col  # for each row category k: sum_l w_kl p_.l
    wbar_col = w.T @ row
    term = w - (1 - value) * (wbar_row[:, None] + wbar_col[None, :])
    numerator = np.sum(p * term**2) - (po - 2 * (1 - value) * pe) ** 2
    # Both terms are O(1): a difference below 1e-13 is round-off, not variance.
    var = numerator / (n * (1 - pe) ** 2) if numerator > 1e-13 else 0.0
    se = float(np.sqrt(var))
    extra["se"] = se
    return Estimate(name=label, value=value, ci95=_t_interval(value, se, n),
                    undefined_reason=None, extra=extra,
                    ci_method="t, n-1 df, Fleiss-Cohen-Everitt (1969) variance", **counts)


def scott_pi(ratings: object, categories: Sequence[float] | None = None) -> Estimate:
    """Scott's pi (1955) for two raters: kappa with chance from the pooled marginals.

    ``p_e = sum_k ((p_k. + p_.k) / 2)^2`` on the units both raters scored; it is Fleiss'
    kappa restricted to two raters, with the same variance.

    Example::

        >>> round(scott_pi([[1, 1], [2, 2], [1, 2], [2, 2]]).value, 3)
        0.467
    """
    x = _two_columns(ratings, "Scott's pi")
    y = x[~np.isnan(x).any(axis=1)]
    cats = count_table(x, categories).categories
    table = count_table(y, cats)
    return _chance_corrected(table, np.eye(cats.size), "fleiss", "Scott's pi", 2)


def conger_kappa(ratings: object, categories: Sequence[float] | None = None) -> Estimate:
    """Conger's (1980) exact kappa: Fleiss' ``p_a`` with chance from each rater's marginals.

    ``p_e = sum_k (pbar_k^2 - s2_k / r)`` with ``pbar_k`` the mean of the raters' marginal
    shares and ``s2_k`` their variance (irrCAC ``conger.kappa.raw``; R irr ``kappam.fleiss(
    exact=TRUE)``). Value only; no interval is given.

    Example::

        >>> round(conger_kappa([[1, 1, 1], [2, 2, 2], [1, 1, 2], [2, 2, 1]]).value, 3)
        0.333
    """
    x = as_ratings(ratings)
    table = count_table(x, categories)
    keep = table.counts.sum(axis=1) > 0
    x = x[keep]
    table = CountTable(table.counts[keep], table.categories, table.n_raters)
    c, r, two, pa_i = _agreement_parts(table, np.eye(table.categories.size))
    n2 = int(two.sum())
    n_raters = x.shape[1]
    counts = {"n_units": n2, "n_raters": n_raters, "n_pairable": int(r[two].sum())}
    name = "Conger's kappa"
    if n2 == 0 or n_raters < 2:
        return undefined(name, "no unit was rated by two or more raters", **counts)
    pa = pa_i[two].sum() / n2
    cats = table.categories
    per_rater = np.stack([(x == v).sum(axis=0) for v in cats], axis=1).astype(float)
    per_rater = per_rater / np.maximum(per_rater.sum(axis=1, keepdims=True), 1)
    pbar = per_rater.mean(axis=0)
    s2 = (per_rater.T @ per_rater - n_raters * np.outer(pbar, pbar)) / (n_raters - 1)
    pe = float(np.trace(np.outer(pbar, pbar) - s2 / n_raters))
    if np.isclose(pe, 1.0, rtol=0, atol=1e-12):
        return undefined(name, "chance agreement is 1, so the coefficient is undefined",
                         **counts, extra={"p_a": pa, "p_e": pe})
    value = (pa - pe) / (1 - pe)
    return Estimate(name=name, value=value, ci95=None, undefined_reason=None,
                    extra={"p_a": pa, "p_e": pe}, **counts)


def light_kappa(ratings: object, categories: Sequence[float] | None = None) -> Estimate:
    """Light's (1971) kappa: the mean of Cohen's kappa over all pairs of raters.

    Value only (as R irr ``kappam.light``); pairs where kappa is undefined are skipped.

    Example::

        >>> round(light_kappa([[1, 1, 1], [2, 2, 2], [1, 1, 2], [2, 2, 1]]).value, 3)
        0.333
    """
    x = as_ratings(ratings)
    cats = count_table(x, categories).categories
    n_raters = x.shape[1]
    values = []
    for a in range(n_raters):
        for b in range(a + 1, n_raters):
            est = cohen_kappa(x[:, [a, b]], categories=cats)
            if est.value is not None:
                values.append(est.value)
    complete = int((~np.isnan(x).any(axis=1)).sum())
    counts = {"n_units": complete, "n_raters": n_raters, "n_pairable": complete * n_raters}
    if not values:
        return undefined("Light's kappa", "Cohen's kappa is undefined for every pair of raters",
                         **counts)
    return Estimate(name="Light's kappa", value=float(np.mean(values)), ci95=None,
                    undefined_reason=None, extra={"pairs": len(values)}, **counts)


def percent_agreement(
    ratings: object, tolerance: float = 0, categories: Sequence[float] | None = None
) -> Estimate:
    """Percent agreement: the share of agreeing rater pairs, averaged over units.

    For each unit with two or more ratings, the share of its ``r(r-1)/2`` pairs of ratings
    that agree (exactly when ``tolerance=0``, within +-tolerance otherwise); the value is the
    mean of those shares. The 95 % interval is the t interval of that mean, clipped to [0, 1].

    Example::

        >>> percent_agreement([[1, 1, 2], [3, 3, 3]]).value  # (1/3 + 1) / 2
        0.6666666666666666
        >>> percent_agreement([[1, 1, 2], [3, 3, 3]], tolerance=1).value
        1.0
    """
    x = as_ratings(ratings)
    return percent_agreement_from_table(count_table(x, categories), x.shape[1], tolerance)


def percent_agreement_from_table(
    table: CountTable, n_raters: int, tolerance: float = 0
) -> Estimate:
    """Percent agreement from an already built count table (used by the item report)."""
    cats = table.categories
    w = (np.abs(cats[:, None] - cats[None, :]) <= tolerance + 1e-12).astype(float)
    c, r, two, pa_i = _agreement_parts(table, w)
    name = "Percent agreement" + (f" (within ±{tolerance:g})" if tolerance else " (exact)")
    n2 = int(two.sum())
    counts = {"n_units": n2, "n_raters": n_raters, "n_pairable": int(r[two].sum())}
    if n2 == 0:
        return undefined(name, "no unit was rated by two or more raters", **counts)
    shares = pa_i[two]
    value = float(shares.mean())
    ci = None
    if n2 >= 2:
        se = float(shares.std(ddof=1) / np.sqrt(n2))
        half = float(special.stdtrit(n2 - 1, 0.975)) * se
        ci = (max(0.0, value - half), min(1.0, value + half))
    return Estimate(name=name, value=value, ci95=ci, undefined_reason=None,
                    extra={"tolerance": tolerance}, ci_method="t interval of the unit means",
                    **counts)
