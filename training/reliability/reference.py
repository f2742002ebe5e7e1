"""Agreement of one rater (a trainee) with the reference scoring.

These answer "is this trainee scoring like the reference?". Inputs are two aligned vectors,
one value per unit (vignette, or vignette x item); a unit missing on either side is left out.
Deviation is always trainee - reference: positive means more severe (higher risk), negative more
lenient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from ._matrix import as_vector
from .icc import icc
from .result import Estimate, undefined

_WILSON = "Wilson score interval"


def _pairs(trainee: object, reference: object) -> tuple[np.ndarray, np.ndarray]:
    t = as_vector(trainee)
    r = as_vector(reference)
    if t.shape != r.shape:
        raise ValueError(f"trainee and reference lengths differ ({t.size} vs {r.size})")
    both = ~(np.isnan(t) | np.isnan(r))
    return t[both], r[both]


def wilson_interval(successes: float, n: int) -> tuple[float, float] | None:
    """The Wilson (1927) score 95 % interval for a proportion."""
    if n <= 0:
        return None
    z = float(stats.norm.ppf(0.975))
    p = successes / n
    denom = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def _proportion(name: str, hits: np.ndarray, n_raters: int = 2) -> Estimate:
    n = int(hits.size)
    counts = {"n_units": n, "n_raters": n_raters, "n_pairable": n}
    if n == 0:
        return undefined(name, "no unit was scored by both the trainee and the reference",
                         **counts)
    k = float(hits.sum())
    return Estimate(name=name, value=k / n, ci95=wilson_interval(k, n), undefined_reason=None,
                    extra={"agreements": k}, ci_method=_WILSON, **counts)


def exact_agreement(trainee: object, reference: object) -> Estimate:
    """Share of units where the trainee's code equals the reference code.

    Use it per item (item codes), for totals, or for bands. Interval: Wilson score.

    Example::

        >>> exact_agreement([1, 2, 3, 0], [1, 2, 2, 0]).value
        0.75
    """
    t, r = _pairs(trainee, reference)
    return _proportion("Exact agreement with the reference", t == r)


def tolerance_agreement(trainee: object, reference: object, tolerance: float = 1) -> Estimate:
    """Share of units where ``|trainee - reference| <= tolerance`` (e.g. total within +-1).

    Example::

        >>> tolerance_agreement([1, 2, 4, 0], [1, 3, 2, 0], tolerance=1).value
        0.75
    """
    t, r = _pairs(trainee, reference)
    return _proportion(f"Agreement with the reference within ±{tolerance:g}",
                       np.abs(t - r) <= tolerance + 1e-12)


def applicability_agreement(trainee: object, reference: object) -> Estimate:
    """Share of vignettes where the trainee's "instrument applies" decision matches the reference.

    Inputs are booleans (or 0/1); ``extra`` holds the 2 x 2 counts.

    Example::

        >>> applicability_agreement([True, True, False], [True, False, False]).value
        0.6666666666666666
    """
    t, r = _pairs(np.asarray(trainee, dtype=object), np.asarray(reference, dtype=object))
    t, r = t.astype(bool), r.astype(bool)
    est = _proportion("Applicability agreement with the reference", t == r)
    table = {
        "both_applicable": float(np.sum(t & r)),
        "trainee_only": float(np.sum(t & ~r)),
        "reference_only": float(np.sum(~t & r)),
        "neither": float(np.sum(~t & ~r)),
    }
    if est.value is None:
        return est
    return Estimate(name=est.name, value=est.value, ci95=est.ci95, undefined_reason=None,
                    n_units=est.n_units, n_raters=2, n_pairable=est.n_pairable,
                    extra={**est.extra, **table}, ci_method=est.ci_method)


def mean_signed_deviation(trainee: object, reference: object) -> Estimate:
    """Mean of (trainee - reference) with its t-based 95 % interval (n-1 df).

    Positive: the trainee scores more severely than the reference; negative: more leniently.

    Example::

        >>> mean_signed_deviation([3, 4, 5], [3, 3, 3]).value
        1.0
    """
    t, r = _pairs(trainee, reference)
    d = t - r
    n = d.size
    name = "Mean signed deviation (trainee - reference)"
    counts = {"n_units": n, "n_raters": 2, "n_pairable": n}
    if n == 0:
        return undefined(name, "no unit was scored by both the trainee and the reference",
                         **counts)
    mean = float(d.mean())
    if n < 2:
        return Estimate(name=name, value=mean, ci95=None, undefined_reason=None,
                        extra={"n": n}, **counts)
    sd = float(d.std(ddof=1))
    se = sd / np.sqrt(n)
    half = float(special.stdtrit(n - 1, 0.975)) * se
    return Estimate(name=name, value=mean, ci95=(mean - half, mean + half),
                    undefined_reason=None, extra={"sd": sd, "se": se},
                    ci_method="t, n-1 df", **counts)


@dataclass(frozen=True)
class BlandAltman:
    """Bland-Altman bias and limits of agreement, each an :class:`Estimate` with its CI."""

    bias: Estimate
    lower_limit: Estimate
    upper_limit: Estimate
    sd: float | None

    def to_dict(self) -> dict:
        return {"bias": self.bias.to_dict(), "lower_limit": self.lower_limit.to_dict(),
                "upper_limit": self.upper_limit.to_dict(), "sd": self.sd}


def bland_altman(
    trainee: object, reference: object, *, z: float = 1.96, method: str = "1999"
) -> BlandAltman:
    """Bland & Altman bias (mean of trainee - reference) and limits ``bias +- z * sd``.

    Intervals use t with n-1 df. SE(bias) = sd / sqrt(n). SE of each limit:
    ``method="1986"``: sqrt(3 sd^2 / n) (Bland & Altman 1986, Lancet i:307);
    ``method="1999"``: sd * sqrt(1/n + z^2 / (2 (n-1))) (Bland & Altman 1999, SMMR 8:135).

    Example (Bland & Altman 1986, Wright - mini Wright PEFR, first readings; the paper reports
    bias -2.1, SD 38.8 and, with z = 2 on those rounded figures, limits -79.7 and 75.5)::

        >>> wright = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478,
        ...           178, 423, 427]
        >>> mini = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477,
        ...         259, 350, 451]
        >>> ba = bland_altman(wright, mini, z=2, method="1986")
        >>> round(ba.bias.value, 1), round(ba.sd, 1)
        (-2.1, 38.8)
        >>> round(ba.lower_limit.value, 1), round(ba.upper_limit.value, 1)
        (-79.6, 75.4)
    """
    if method not in ("1986", "1999"):
        raise ValueError("method must be '1986' or '1999'")
    t, r = _pairs(trainee, reference)
    d = t - r
    n = d.size
    counts = {"n_units": n, "n_raters": 2, "n_pairable": n}
    names = ("Bland-Altman bias (trainee - reference)",
             "Bland-Altman lower limit of agreement", "Bland-Altman upper limit of agreement")
    if n < 2:
        reason = "limits of agreement need at least two units scored by both"
        return BlandAltman(*(undefined(name, reason, **counts) for name in names), sd=None)
    mean = float(d.mean())
    sd = float(d.std(ddof=1))
    tq = float(special.stdtrit(n - 1, 0.975))
    se_bias = sd / np.sqrt(n)
    if method == "1986":
        se_limit = float(np.sqrt(3 * sd**2 / n))
    else:
        se_limit = float(sd * np.sqrt(1 / n + z**2 / (2 * (n - 1))))
    ci_method = f"t, n-1 df, Bland & Altman {method} standard errors"
    lower, upper = mean - z * sd, mean + z * sd
    extra = {"sd": sd, "z": z}

    def est(name: str, value: float, se: float) -> Estimate:
        return Estimate(name=name, value=value, ci95=(value - tq * se, value + tq * se),
                        undefined_reason=None, extra={**extra, "se": se},
                        ci_method=ci_method, **counts)

    return BlandAltman(est(names[0], mean, se_bias), est(names[1], lower, se_limit),
                       est(names[2], upper, se_limit), sd=sd)


def reference_report(
    trainee: object, reference: object, *, tolerance: float = 1
) -> dict[str, Estimate]:
    """The flat set of agreement-with-reference statistics for one rater.

    Keys: ``exact_agreement``, ``tolerance_agreement``, ``mean_signed_deviation``,
    ``bland_altman_bias``, ``bland_altman_lower``, ``bland_altman_upper`` and
    ``icc_a1_with_reference`` (ICC(A,1) of the trainee and reference columns).
    """
    t, r = _pairs(trainee, reference)
    ba = bland_altman(t, r)
    return {
        "exact_agreement": exact_agreement(t, r),
        "tolerance_agreement": tolerance_agreement(t, r, tolerance),
        "mean_signed_deviation": mean_signed_deviation(t, r),
        "bland_altman_bias": ba.bias,
        "bland_altman_lower": ba.lower_limit,
        "bland_altman_upper": ba.upper_limit,
        "icc_a1_with_reference": icc(np.column_stack([t, r]), "2_1"),
    }


def clustered_share_interval(clusters: list[tuple[int, int]]) -> dict:
    """A share pooled over clusters (k_j hits of m_j per vignette) with a 95 % interval that
    respects the clustering: Wilson's interval on the effective sample size N / deff (Rao &
    Scott 1992), where deff = v_cluster / (p (1 - p) / N) and
    ``v_cluster = n / (n - 1) * sum (k_j - p m_j)^2 / N^2`` is the ratio estimator's
    cluster-robust variance (Cochran 1977, ch. 6) over n clusters and N = sum m_j.

    The design effect is never below 1 (a share is not made more certain by clustering); when
    every value is a hit or every one a miss the variance is 0 and deff is 1; a single cluster
    is one effective observation.

    Example: 10 vignettes of 8 items, one with applicability missed (0 of 8) and 8 of 8 on the
    others: p = 72/80 = 0.9, sum (k_j - p m_j)^2 = 9 * 0.8^2 + 7.2^2 = 57.6,
    v = 10/9 * 57.6 / 6400 = 0.01, deff = 0.01 / (0.09 / 80) = 8.89, so the interval is
    Wilson's for 8.1 of 9 (0.58 to 0.98) instead of 72 of 80 (0.81 to 0.95)::

        >>> r = clustered_share_interval([(0, 8)] + [(8, 8)] * 9)
        >>> round(r["deff"], 2), [round(b, 2) for b in r["ci95"]]
        (8.89, [0.58, 0.98])
    """
    clusters = [(k, m) for k, m in clusters if m > 0]
    big_n = sum(m for _, m in clusters)
    n = len(clusters)
    if big_n == 0:
        return {"value": None, "ci95": None, "deff": None, "n_effective": 0.0, "n": 0,
                "n_clusters": 0}
    k_all = sum(k for k, _ in clusters)
    p = k_all / big_n
    deff = 1.0
    if n < 2:
        deff = float(big_n)
    elif 0 < p < 1:
        v = n / (n - 1) * sum((k - p * m) ** 2 for k, m in clusters) / big_n**2
        deff = max(1.0, v / (p * (1 - p) / big_n))
    n_eff = big_n / deff
    low, high = wilson_interval(p * n_eff, n_eff)
    return {"value": p, "ci95": (float(low), float(high)), "deff": deff,
            "n_effective": n_eff, "n": big_n, "n_clusters": n}


@dataclass(frozen=True)
class IccPoolCheck:
    """Does ICC(A,1) of a candidate's totals with the reference judge the candidate or the pool?"""

    pool_sd: float | None  # SD of the reference totals of the exam pool (ddof 1)
    n_pool: int
    n_exam: int
    boundary_sd: float  # deviation SD of a candidate exactly at the totals criterion's boundary
    expected_icc: float | None  # that candidate's ICC(A,1) on the whole pool, in expectation
    icc_pass_rate: float | None  # simulated: how often that candidate meets the ICC threshold
    totals_pass_rate: float | None  # ... and how often the totals criterion
    threshold: float
    discriminates: bool | None  # None: fewer than 3 pool totals, cannot tell


def _icc_a1_two_raters(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ICC(A,1) of paired columns, row-wise over simulations (McGraw & Wong 1996)."""
    n = a.shape[1]
    g = (a.mean(axis=1) + b.mean(axis=1)) / 2
    m = (a + b) / 2
    msr = 2 * np.sum((m - g[:, None]) ** 2, axis=1) / (n - 1)
    ca, cb = a.mean(axis=1), b.mean(axis=1)
    msc = n * ((ca - g) ** 2 + (cb - g) ** 2)
    ra = a - m - (ca - g)[:, None]
    rb = b - m - (cb - g)[:, None]
    mse = np.sum(ra**2 + rb**2, axis=1) / (n - 1)
    denom = msr + mse + 2 * (msc - mse) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, (msr - mse) / denom, -np.inf)


def icc_pool_check(pool_totals, *, tolerance: float, share: float, threshold: float,
                   n_exam: int = 10, n_sim: int = 2000, seed: int = 1996) -> IccPoolCheck:
    """Whether the ICC(A,1) >= ``threshold`` criterion measures a candidate or the pool.

    A candidate without bias whose deviations are normal with SD s meets "|deviation| <=
    tolerance" (integer totals) on a share ``share`` of vignettes at s* = (tolerance + 0.5) /
    z_((1 + share) / 2): 1.17 points for a tolerance of 1 and a share of 0.80. The check
    simulates that candidate ``n_sim`` times on exams of ``n_exam`` vignettes drawn from the
    pool (deviations rounded to whole points) and counts how often each criterion passes them.
    The ICC criterion discriminates when it passes the boundary candidate at least as often as
    the totals criterion does (less 0.05 of simulation slack); when it passes them less often it
    fails candidates the totals criterion accepts because the pool's totals hardly vary, not
    because of how they score. ``expected_icc`` is S^2 / (S^2 + s*^2 / 2) for a pool of
    variance S^2 (the two-rater ICC(A,1) of T and T + d), for reading.

    Example: a pool of SD 1.20 and a tolerance of 1 on 0.80 of the vignettes: s* = 1.170,
    expected ICC(A,1) 1.43 / (1.43 + 0.685) = 0.68 < 0.80; it judges the pool::

        >>> c = icc_pool_check([0, 1, 1, 2, 3, 3, 4, 2, 1, 2], tolerance=1, share=0.8,
        ...                    threshold=0.8)
        >>> round(c.boundary_sd, 3), c.discriminates
        (1.17, False)
    """
    totals = np.asarray([t for t in pool_totals if t is not None], dtype=float)
    z = float(stats.norm.ppf((1 + share) / 2)) if 0 < share < 1 else float("inf")
    boundary = (tolerance + 0.5) / z if z > 0 else float("inf")
    n_exam = max(2, min(int(n_exam), int(totals.size)))
    if totals.size < 3 or not np.isfinite(boundary):
        return IccPoolCheck(None, int(totals.size), n_exam, boundary, None, None, None,
                            threshold, None)
    sd = float(np.std(totals, ddof=1))
    expected = sd**2 / (sd**2 + boundary**2 / 2) if sd > 0 else 0.0
    rng = np.random.default_rng(seed)
    draws = np.argsort(rng.random((n_sim, totals.size)), axis=1)[:, :n_exam]
    ref = totals[draws]
    dev = np.round(rng.normal(0.0, boundary, ref.shape))
    icc_rate = float(np.mean(_icc_a1_two_raters(ref, ref + dev) >= threshold - 1e-12))
    totals_rate = float(np.mean(np.mean(np.abs(dev) <= tolerance, axis=1) >= share - 1e-12))
    return IccPoolCheck(sd, int(totals.size), n_exam, boundary, expected, icc_rate,
                        totals_rate, threshold, icc_rate >= totals_rate - 0.05)
