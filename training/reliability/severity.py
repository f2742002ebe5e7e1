"""Severity and leniency of trainees against the reference, from a crossed model on first ratings.

Deviation is trainee total - reference total (positive = more severe). On each trainee's FIRST
rating of each vignette the model is

    d_tv = mu + a_t + b_v + e_tv,   a_t ~ N(0, sigma2_trainee),   e_tv ~ N(0, sigma2_residual)

with trainee effects random and vignette effects FIXED (one parameter per vignette, no
distributional assumption: a vignette whose reference sits high or low is taken out exactly,
however few trainees rated it, so a trainee who happened to draw such vignettes is not mistaken
for a severe one). ``mu`` is the unweighted mean of the vignette means, so a trainee's severity
``mu + a_t`` is their expected deviation on a typical vignette of the cohort's set.

The one variance ratio lambda = sigma2_trainee / sigma2_residual is estimated by REML (the
profile restricted likelihood, maximised over lambda with sigma2_residual profiled out);
severity is the BLUP ``mu_hat + a_hat_t`` (shrunk towards ``mu`` the more, the fewer
vignettes the trainee rated), with a 95 % interval from its prediction error variance
(Henderson's mixed-model equations: the interval accounts for the estimated vignette effects
and the shrinkage, conditional on the estimated variance ratio), normal quantile 1.96.

A trainee is flagged "severe" or "lenient" only when

1. they rated at least ``min_vignettes`` (10) distinct vignettes,
2. their 95 % interval lies wholly beyond the margin (above +margin or below -margin), and
3. the test of ``|severity| <= margin`` is rejected by Benjamini-Hochberg at ``fdr`` (10 %)
   across the cohort's trainees that meet 1. The p-value is exact for the composite null:
   p = Phi((margin - |est|)/se) + Phi((-margin - |est|)/se), its largest value over
   |severity| <= margin (reached at |severity| = margin).

With a single trainee (a trainee's own progress page), or data that cannot separate trainees
from vignettes (no two trainees share a vignette, or no residual degrees of freedom), there is
no cohort to model: each trainee's severity is then the mean of their first-rating deviations
with a t interval on n - 1 df, and the same three rules flag it.

Example (two trainees, three vignettes: means 2.33 and 0.33; REML gives a trainee variance of
1.83 beside a residual of 0.5, so each mean moves 1 - 1.83/(1.83 + 0.5/3) = 8 % of the way towards
the cohort's 1.33)::

    >>> r = cohort_severity([2, 3, 2, 0, 0, 1], trainees=["a", "a", "a", "b", "b", "b"],
    ...                     vignettes=[1, 2, 3, 1, 2, 3], min_vignettes=3)
    >>> [round(t.estimate, 2) for t in r.trainees], [t.tendency for t in r.trainees]
    ([2.25, 0.42], ['severe', ''])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import special, stats

MIN_VIGNETTES = 10
FDR = 0.10
Z95 = float(stats.norm.ppf(0.975))

FEWER_VIGNETTES = "fewer than {n} vignettes"
NO_RATINGS = "no first ratings with a total on both sides"
NO_INTERVAL = "no interval: a single rating"
INCLUDES_MARGIN = "interval includes the margin"
NOT_CONFIRMED = "not confirmed after false-discovery control across the cohort"
FLAGGED = "interval beyond the margin after false-discovery control"

MODEL_CROSSED = "crossed model: vignettes fixed, trainees random (REML, BLUP)"
MODEL_ALONE = "each trainee alone: mean of first-rating deviations, t interval"


@dataclass(frozen=True)
class TraineeSeverity:
    """One trainee's severity (expected deviation from the reference on a typical vignette)."""

    trainee: object  # the label passed in
    estimate: float | None
    ci95: tuple[float, float] | None
    se: float | None
    n_vignettes: int  # distinct vignettes among the first ratings used
    n_ratings: int  # first ratings used
    p_value: float | None  # test of |severity| <= margin (None when not tested)
    tendency: str  # "severe", "lenient" or ""
    reason: str  # why flagged, or why not


@dataclass(frozen=True)
class CohortSeverity:
    """Every trainee's severity, and the model they come from."""

    trainees: tuple[TraineeSeverity, ...]
    method: str
    mu: float | None
    var_trainee: float | None
    var_residual: float | None
    margin: float
    fdr: float
    min_vignettes: int
    n_ratings: int
    n_trainees: int
    n_vignettes: int

    @cached_property
    def _by_trainee(self) -> dict:
        return {t.trainee: t for t in self.trainees}

    def of(self, trainee: object) -> TraineeSeverity | None:
        return self._by_trainee.get(trainee)

    @property
    def flagged(self) -> tuple[TraineeSeverity, ...]:
        return tuple(t for t in self.trainees if t.tendency)


def margin_for_tolerance(total_tolerance: float | None) -> float:
    """The default margin: half the rule's total tolerance (0.5 points for tolerance 1)."""
    return 0.5 * (1.0 if total_tolerance is None else float(total_tolerance))


def benjamini_hochberg(p_values: Sequence[float], q: float = FDR) -> np.ndarray:
    """Which hypotheses the Benjamini-Hochberg (1995) step-up procedure rejects at level q.

    >>> benjamini_hochberg([0.001, 0.04, 0.03, 0.2], q=0.10).tolist()
    [True, True, True, False]
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p, kind="stable")
    passed = p[order] <= q * np.arange(1, m + 1) / m
    out = np.zeros(m, dtype=bool)
    if passed.any():
        out[order[: np.nonzero(passed)[0].max() + 1]] = True
    return out


def margin_p_value(estimate: np.ndarray, se: np.ndarray, margin: float) -> np.ndarray:
    """p-value of H0: |severity| <= margin, given an estimate ~ N(severity, se^2)."""
    a = np.abs(estimate)
    return special.ndtr((margin - a) / se) + special.ndtr((-margin - a) / se)


# --- REML for d = X beta + Z a + e, X = vignette indicators, Z = trainee indicators -----------


class _Reml:
    """The profile REML criterion of the variance ratio lam = sigma2_trainee / sigma2_residual.

    The trainee block of the mixed-model equations is diagonal (Z'Z = diag(n_t)), so it is
    absorbed: with d_t = lam / (1 + lam n_t), X'H^-1X = diag(m_v) - M diag(d) M' (M: vignettes x
    trainees counts), a V x V matrix whatever the number of trainees. d_t depends on a trainee
    only through n_t, so M diag(d) M' = sum over the distinct n of d(n) S_n, with S_n summed
    once over the trainees with n ratings: each evaluation costs O(K V^2 + V^3), K distinct n.
    """

    def __init__(self, y, t, v, counts):
        n_v_levels, n_t_levels = counts.shape
        self.n = y.size
        self.p = n_v_levels
        self.M = counts
        self.n_t = counts.sum(axis=0)
        self.m_v = counts.sum(axis=1)
        self.zy = np.bincount(t, weights=y, minlength=n_t_levels)
        self.xy = np.bincount(v, weights=y, minlength=n_v_levels)
        self.yy = float(y @ y)
        self.n_values, group = np.unique(self.n_t, return_inverse=True)
        group = group.reshape(-1)
        self.group_size = np.bincount(group).astype(float)
        self.s = np.empty((self.n_values.size, n_v_levels, n_v_levels))
        self.r = np.empty((self.n_values.size, n_v_levels))
        self.q = np.bincount(group, weights=self.zy ** 2)
        for k in range(self.n_values.size):
            mk = counts[:, group == k]
            # einsum, not BLAS: a threaded BLAS on a busy machine was 30 times slower here.
            self.s[k] = np.einsum("vt,wt->vw", mk, mk)
            self.r[k] = np.einsum("vt,t->v", mk, self.zy[group == k])

    def solve_at(self, lam: float):
        """(A^-1, beta_hat, y'Py) at one variance ratio; A = X'H^-1X."""
        dk = lam / (1.0 + lam * self.n_values)
        a = np.diag(self.m_v) - np.tensordot(dk, self.s, axes=1)
        a_inv = _inverse(a)
        xhy = self.xy - dk @ self.r
        beta = np.einsum("vw,w->v", a_inv, xhy)
        ypy = max(self.yy - float(dk @ self.q) - float(xhy @ beta), 1e-300)
        return a_inv, beta, ypy

    def criteria(self, lams: np.ndarray) -> np.ndarray:
        """-2 restricted log-likelihood (up to a constant) at each lam, sigma2_residual profiled
        out; one batched LAPACK call for all of them."""
        dk = lams[:, None] / (1.0 + lams[:, None] * self.n_values[None, :])  # G x K
        a = np.diag(self.m_v)[None] - np.einsum("gk,kvw->gvw", dk, self.s)
        xhy = self.xy[None] - dk @ self.r  # G x V
        beta = np.linalg.solve(a, xhy[..., None])[..., 0]
        ypy = np.maximum(self.yy - dk @ self.q - np.einsum("gv,gv->g", xhy, beta), 1e-300)
        logdet_a = np.linalg.slogdet(a)[1]
        logdet_h = np.log1p(lams[:, None] * self.n_values[None, :]) @ self.group_size
        df = self.n - self.p
        return df * np.log(ypy / df) + logdet_a + logdet_h


def _inverse(a: np.ndarray) -> np.ndarray:
    """The inverse of a small symmetric positive definite matrix. For up to 200 vignettes it is
    solved as a batch of single right-hand sides: multi-column LAPACK solves go through a
    threaded BLAS that, on a busy machine, took 50-100 ms for a 60 x 60 matrix."""
    n = a.shape[0]
    if n > 200:
        return np.linalg.inv(a)
    return np.linalg.solve(np.broadcast_to(a, (n, n, n)), np.eye(n)[..., None])[..., 0]


def _reml_ratio(reml: _Reml) -> float:
    """The REML estimate of lam >= 0: a grid on log lam from 1e-4 to 1e3, refined five times
    around its best point (a final step of about 5e-5 on log lam), and lam = 0 itself."""
    lo, hi = np.log(1e-4), np.log(1e3)
    best_s, best = 0.0, np.inf
    for _ in range(6):
        grid = np.linspace(lo, hi, 15)
        values = reml.criteria(np.exp(grid))
        k = int(np.argmin(values))
        if values[k] < best:
            best_s, best = grid[k], values[k]
        step = grid[1] - grid[0]
        lo, hi = best_s - step, best_s + step
    at_zero = reml.criteria(np.zeros(1))[0]
    return 0.0 if at_zero <= best else float(np.exp(best_s))


def _crossed(y, t, v, counts):
    """REML fit; returns (mu, var_trainee, var_residual, estimate per trainee, se per trainee)."""
    reml = _Reml(y, t, v, counts)
    lam = _reml_ratio(reml)
    a_inv, beta, ypy = reml.solve_at(lam)
    var_residual = ypy / (reml.n - reml.p)
    d = lam / (1.0 + lam * reml.n_t)
    a_hat = d * (reml.zy - np.einsum("vt,v->t", counts, beta))
    mu = float(beta.mean())
    # Prediction error variance of mu_hat + a_hat_t from the inverse of the mixed-model
    # equations: c'A^-1c - 2 c'A^-1 G e_t + d_t + G_t' A^-1 G_t, with G = M diag(d), c = 1/V.
    g = counts * d
    a_inv_g = np.einsum("vw,wt->vt", a_inv, g)
    c_a_inv = a_inv.mean(axis=0)  # c'A^-1 with c = 1/V
    pev = (float(c_a_inv.mean()) - 2.0 * np.einsum("v,vt->t", c_a_inv, g) + d
           + np.einsum("vt,vt->t", g, a_inv_g)) * var_residual
    return mu, lam * var_residual, var_residual, mu + a_hat, np.sqrt(np.maximum(pev, 0.0))


def _alone(y, t, n_t_levels):
    """Each trainee's mean deviation and the half-width of its 95 % t interval (n - 1 df)."""
    n = np.bincount(t, minlength=n_t_levels).astype(float)
    s = np.bincount(t, weights=y, minlength=n_t_levels)
    mean = np.divide(s, n, out=np.full(n_t_levels, np.nan), where=n > 0)
    ss = np.bincount(t, weights=(y - mean[t]) ** 2, minlength=n_t_levels)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(ss / (n - 1))
        half = stats.t.ppf(0.975, n - 1) * sd / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    return mean, half


def _factorize(values) -> tuple[list, np.ndarray]:
    """(distinct labels, index of each value's label), fast for numeric labels."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iu" and arr.ndim == 1 and arr.size and arr.min() >= 0 \
            and arr.max() < 4 * arr.size + 1024:
        # Small non-negative integers (database ids): a lookup table beats sorting.
        present = np.bincount(arr) > 0
        code = np.cumsum(present) - 1
        return np.flatnonzero(present).tolist(), code[arr].astype(np.int64)
    if arr.dtype.kind in "iufUSb" and arr.ndim == 1:
        uniq, inv = np.unique(arr, return_inverse=True)
        return uniq.tolist(), inv.astype(np.int64).reshape(-1)
    index: dict = {}
    inv = np.fromiter((index.setdefault(x, len(index)) for x in list(values)), dtype=np.int64,
                      count=len(values))
    return list(index), inv


def cohort_severity(
    deviations: Sequence[float],
    *,
    trainees: Sequence[object],
    vignettes: Sequence[object],
    first: Sequence[bool] | None = None,
    margin: float = 0.5,
    fdr: float = FDR,
    min_vignettes: int = MIN_VIGNETTES,
    all_trainees: Sequence[object] | None = None,
) -> CohortSeverity:
    """Severity and leniency of every trainee of a cohort (see the module docstring).

    ``deviations``, ``trainees``, ``vignettes`` (and ``first``) are aligned, one entry per
    rating: trainee total - reference total, the trainee's label, the vignette's label (a
    vignette revision: it carries its own reference). Only ratings marked ``first`` (default:
    all) with a finite deviation are used. ``all_trainees`` lists trainees to report even
    without ratings (in that order; default: the labels seen, sorted).
    """
    y = np.asarray(deviations, dtype=float)
    t_uniq, t_inv = _factorize(trainees)
    v_uniq, v = _factorize(vignettes)
    if not (y.size == t_inv.size == v.size):
        raise ValueError("deviations, trainees and vignettes must have the same length")
    keep = np.isfinite(y)
    if first is not None:
        first = np.asarray(first, dtype=bool)
        if first.size != y.size:
            raise ValueError("first must have the same length as deviations")
        keep &= first
    y, t_inv, v = y[keep], t_inv[keep], v[keep]
    seen = [t_uniq[k] for k in np.flatnonzero(np.bincount(t_inv, minlength=len(t_uniq)))]
    labels = list(all_trainees) if all_trainees is not None else sorted(seen)
    index = {label: k for k, label in enumerate(labels)}
    for label in seen:
        if label not in index:
            index[label] = len(labels)
            labels.append(label)
    n_levels = len(labels)
    position = np.array([index.get(label, -1) for label in t_uniq], dtype=np.int64)
    t = position[t_inv] if t_inv.size else t_inv
    # Renumber the vignettes that are left so that every level has ratings.
    used_v = np.bincount(v, minlength=len(v_uniq)) > 0
    v = (np.cumsum(used_v) - 1)[v] if v.size else v
    n_v_levels = int(used_v.sum())
    # counts[v, t]: how many of trainee t's first ratings are of vignette v.
    counts = np.bincount(v * n_levels + t, minlength=n_v_levels * n_levels).reshape(
        n_v_levels, n_levels).astype(float)
    n_ratings = counts.sum(axis=0).astype(np.int64)
    seen_pairs = counts > 0
    n_vign = seen_pairs.sum(axis=0)
    rated = np.nonzero(n_ratings)[0]
    shared = bool((seen_pairs.sum(axis=1) >= 2).any())
    estimable = rated.size >= 2 and shared and y.size - n_v_levels >= 2
    if estimable:
        # Fit on the trainees who rated something (others carry no information).
        remap = np.full(n_levels, -1)
        remap[rated] = np.arange(rated.size)
        mu, var_t, var_e, est_r, se_r = _crossed(y, remap[t], v, counts[:, rated])
        estimate = np.full(n_levels, np.nan)
        se = np.full(n_levels, np.nan)
        estimate[rated], se[rated] = est_r, se_r
        half = Z95 * se
        method = MODEL_CROSSED
    else:
        mu = float(y.mean()) if y.size else None
        var_t = var_e = None
        estimate, half = _alone(y, t, n_levels)
        with np.errstate(invalid="ignore"):
            se = half / Z95
        method = MODEL_ALONE

    eligible = (n_vign >= min_vignettes) & np.isfinite(se)
    p = np.full(n_levels, np.nan)
    if method == MODEL_ALONE:
        # The t distribution for a trainee alone: the same exact composite-null p-value.
        df = np.maximum(n_ratings - 1, 1)
        a = np.abs(estimate)
        with np.errstate(invalid="ignore", divide="ignore"):
            p_all = stats.t.cdf((margin - a) / se, df) + stats.t.cdf((-margin - a) / se, df)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            p_all = margin_p_value(estimate, se, margin)
    # se = 0 (identical deviations): p is 0 beyond the margin, 1 within or on it.
    p[eligible] = np.nan_to_num(np.minimum(p_all[eligible], 1.0), nan=1.0)
    rejected = np.zeros(n_levels, dtype=bool)
    rejected[eligible] = benjamini_hochberg(p[eligible], q=fdr)
    low, high = estimate - half, estimate + half

    has_estimate = (n_ratings > 0) & np.isfinite(estimate)
    has_ci = has_estimate & np.isfinite(half)
    beyond = (low > margin) | (high < -margin)
    # Plain Python lists: one conversion each instead of 2,000 NumPy scalar look-ups.
    columns = zip(labels, n_ratings.tolist(), n_vign.tolist(), has_estimate.tolist(),
                  has_ci.tolist(), beyond.tolist(), rejected.tolist(), eligible.tolist(),
                  estimate.tolist(), low.tolist(), high.tolist(), se.tolist(), p.tolist(),
                  strict=True)
    few = FEWER_VIGNETTES.format(n=min_vignettes)
    out = []
    for label, n_r, n_v, est_ok, ci_ok, out_of_margin, bh, tested, est, lo, hi, s_e, p_v \
            in columns:
        tendency = ""
        if n_r == 0:
            reason = NO_RATINGS
        elif n_v < min_vignettes:
            reason = few
        elif not ci_ok:
            reason = NO_INTERVAL
        elif not out_of_margin:
            reason = INCLUDES_MARGIN
        elif not bh:
            reason = NOT_CONFIRMED
        else:
            tendency = "severe" if est > 0 else "lenient"
            reason = FLAGGED
        out.append(TraineeSeverity(
            trainee=label,
            estimate=est if est_ok else None,
            ci95=(lo, hi) if ci_ok else None,
            se=s_e if ci_ok else None,
            n_vignettes=n_v,
            n_ratings=n_r,
            p_value=p_v if tested else None,
            tendency=tendency,
            reason=reason,
        ))
    return CohortSeverity(
        trainees=tuple(out), method=method, mu=mu,
        var_trainee=None if var_t is None else float(var_t),
        var_residual=None if var_e is None else float(var_e),
        margin=float(margin), fdr=float(fdr), min_vignettes=int(min_vignettes),
        n_ratings=int(y.size), n_trainees=int(rated.size), n_vignettes=int(n_v_levels),
    )
