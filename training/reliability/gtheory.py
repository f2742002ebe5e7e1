"""Generalizability theory with raters as the objects of measurement and vignettes as the facet.

The design is p x i: every rater (p) scores vignettes (i); the score is, e.g., the rater's
absolute total deviation from the reference on that vignette, or the number of items they
disagree on. As everywhere in this package the input matrix has vignettes as rows (units) and
raters as columns; NaN marks a vignette a rater did not see.

Model: ``X_pi = mu + nu_p + nu_i + nu_pi,e`` with variance components sigma2(p) (real differences
between raters: what a certification exam measures), sigma2(i) (vignettes differ in difficulty)
and sigma2(pi,e) (rater x vignette interaction confounded with error).

* Complete data: ANOVA / expected mean squares (Brennan 2001, ch. 3):
  ``sigma2(pi,e) = MS_pi``, ``sigma2(p) = (MS_p - MS_pi) / n_i``,
  ``sigma2(i) = (MS_i - MS_pi) / n_p``; negative estimates are set to 0 (Brennan's convention).
* Unbalanced data (each rater drew different vignettes): REML on the crossed two-way random
  effects model, profiling out sigma2(pi,e) and maximising over the two variance ratios.

For a D-study with n' vignettes per rater:

* G (relative) = sigma2(p) / (sigma2(p) + sigma2(pi,e)/n')
* Phi (absolute) = sigma2(p) / (sigma2(p) + (sigma2(i) + sigma2(pi,e))/n')
* Phi(lambda) = (sigma2(p) + (mu - lambda)^2) / (sigma2(p) + (mu - lambda)^2 + sigma2(Delta)),
  with (mu - lambda)^2 estimated without bias by (mean - lambda)^2 - sigma2(mean) and truncated
  at 0 (Brennan 2001, ch. 2, the index of dependability Phi(lambda) for a cut score lambda and
  its estimator). Truncation keeps Phi(lambda) >= Phi, its minimum at lambda = mu.

:func:`decision_dependability` applies this to the score and cut an exam rule actually decides
on (a 0/1 "within tolerance" per vignette against the required share, or a per-vignette share of
items agreeing against the required agreement), with a bootstrap interval over raters and
vignettes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

from ._matrix import as_ratings
from .result import Estimate, undefined


@dataclass(frozen=True)
class VarianceComponents:
    """A p x i G-study: variance components and what they were estimated from."""

    rater: float  # sigma2(p)
    vignette: float  # sigma2(i)
    residual: float  # sigma2(pi,e)
    grand_mean: float
    n_raters: int
    n_vignettes: int
    n_scores: int
    method: str  # "ANOVA" or "REML"
    ms_rater: float | None = None
    ms_vignette: float | None = None
    ms_residual: float | None = None
    raw_rater: float | None = None  # before negative estimates were set to 0
    raw_vignette: float | None = None


def _clean(scores: object) -> np.ndarray:
    x = as_ratings(scores)
    # Drop raters and vignettes without any score: they carry no information.
    x = x[~np.isnan(x).all(axis=1)]
    return x[:, ~np.isnan(x).all(axis=0)]


def variance_components_anova(scores: object) -> VarianceComponents:
    """Variance components of a complete p x i design by expected mean squares.

    ``scores``: vignettes x raters, no missing value.

    Example (Brennan 2001, Synthetic Data Set No. 4 as p x i, Table 6.2):
    sigma2(p) = .6258, sigma2(i) = .8840, sigma2(pi,e) = 2.7872.
    """
    x = _clean(scores)
    if np.isnan(x).any():
        raise ValueError("ANOVA estimates need complete data; use variance_components_reml")
    n_i, n_p = x.shape
    if n_i < 2 or n_p < 2:
        raise ValueError("a G-study needs at least two raters and two vignettes")
    grand = x.mean()
    ms_p = n_i * np.sum((x.mean(axis=0) - grand) ** 2) / (n_p - 1)
    ms_i = n_p * np.sum((x.mean(axis=1) - grand) ** 2) / (n_i - 1)
    resid = x - x.mean(axis=0)[None, :] - x.mean(axis=1)[:, None] + grand
    ms_pi = np.sum(resid**2) / ((n_p - 1) * (n_i - 1))
    raw_p = (ms_p - ms_pi) / n_i
    raw_i = (ms_i - ms_pi) / n_p
    return VarianceComponents(
        rater=float(max(raw_p, 0.0)), vignette=float(max(raw_i, 0.0)), residual=float(ms_pi),
        grand_mean=float(grand), n_raters=n_p, n_vignettes=n_i, n_scores=int(x.size),
        method="ANOVA", ms_rater=float(ms_p), ms_vignette=float(ms_i),
        ms_residual=float(ms_pi), raw_rater=float(raw_p), raw_vignette=float(raw_i),
    )


class _RemlProfile:
    """-2 x profiled REML log-likelihood (constants dropped) over log variance ratios.

    With ratios g_p, g_i of the rater and vignette components to the residual,
    V = sigma2(pi,e) H and H = I + Z D Z' (D = diag(g_p, g_i)); everything is computed in the
    (n_p + n_i)-dimensional space of the random effects (Woodbury), never as an N x N matrix.
    """

    def __init__(self, y: np.ndarray, zp: np.ndarray, zi: np.ndarray, n_p: int, n_i: int):
        self.y, self.n_p, self.n_i = y, n_p, n_i
        q = n_p + n_i
        ztz = np.zeros((q, q))
        ztz[:n_p, :n_p] = np.diag(np.bincount(zp, minlength=n_p))
        ztz[n_p:, n_p:] = np.diag(np.bincount(zi, minlength=n_i))
        incidence = np.zeros((n_p, n_i))
        np.add.at(incidence, (zp, zi), 1.0)
        ztz[:n_p, n_p:] = incidence
        ztz[n_p:, :n_p] = incidence.T
        self.ztz = ztz
        self.zt1 = np.concatenate([np.bincount(zp, minlength=n_p),
                                   np.bincount(zi, minlength=n_i)]).astype(float)
        self.zty = np.concatenate([np.bincount(zp, y, minlength=n_p),
                                   np.bincount(zi, y, minlength=n_i)])
        self.n = float(y.size)
        self.sum_y = float(y.sum())
        self.yy = float(y @ y)

    def terms(self, log_ratios: np.ndarray) -> tuple[float, float, float, float]:
        gp, gi = np.exp(log_ratios)
        d = np.concatenate([np.full(self.n_p, np.sqrt(gp)), np.full(self.n_i, np.sqrt(gi))])
        a = np.eye(d.size) + d[:, None] * self.ztz * d[None, :]
        chol = np.linalg.cholesky(a)
        logdet_h = 2 * np.sum(np.log(np.diag(chol)))
        s1 = linalg.solve_triangular(chol, d * self.zt1, lower=True)
        sy = linalg.solve_triangular(chol, d * self.zty, lower=True)
        x_hx = self.n - s1 @ s1
        x_hy = self.sum_y - s1 @ sy
        y_hy = self.yy - sy @ sy
        ypy = y_hy - x_hy**2 / x_hx
        value = (self.n - 1) * np.log(ypy) + logdet_h + np.log(x_hx)
        return float(value), float(ypy), float(x_hx), float(x_hy)

    def __call__(self, log_ratios: np.ndarray) -> float:
        return self.terms(log_ratios)[0]


def variance_components_reml(scores: object, *, start: tuple[float, float] | None = None
                             ) -> VarianceComponents:
    """Variance components of a p x i design with missing cells, by REML.

    ``scores``: vignettes x raters, NaN where a rater did not see a vignette. On complete data
    with positive components the result equals :func:`variance_components_anova`. ``start``:
    log variance ratios to start from (a bootstrap starts from the full data's fit), in place
    of the two default starts.

    Example::

        >>> vc = variance_components_reml([[1, 2, None], [2, 4, 3], [3, None, 5], [2, 3, 4]])
        >>> vc.method
        'REML'
    """
    x = _clean(scores)
    n_i, n_p = x.shape
    if n_i < 2 or n_p < 2:
        raise ValueError("a G-study needs at least two raters and two vignettes")
    vi, vp = np.nonzero(~np.isnan(x))
    y = x[vi, vp]
    if y.size <= n_p + n_i - 1:
        raise ValueError("too few scores to separate rater, vignette and residual variance")
    profile = _RemlProfile(y, vp, vi, n_p, n_i)
    best = None
    for begin in ((start,) if start is not None else ((-1.0, -1.0), (-6.0, -6.0))):
        res = optimize.minimize(profile, np.array(begin), method="L-BFGS-B",
                                bounds=[(-25.0, 12.0)] * 2,
                                options={"ftol": 1e-14, "gtol": 1e-9, "maxiter": 500})
        if best is None or res.fun < best.fun:
            best = res
    _, ypy, x_hx, x_hy = profile.terms(best.x)
    residual = ypy / (y.size - 1)
    gp, gi = np.exp(best.x)
    # A ratio pinned at the lower bound is a zero component.
    rater = 0.0 if best.x[0] <= -24.0 else gp * residual
    vignette = 0.0 if best.x[1] <= -24.0 else gi * residual
    return VarianceComponents(
        rater=float(rater), vignette=float(vignette), residual=float(residual),
        grand_mean=float(x_hy / x_hx), n_raters=n_p, n_vignettes=n_i, n_scores=int(y.size),
        method="REML",
    )


def g_study(scores: object, *, start: tuple[float, float] | None = None) -> VarianceComponents:
    """ANOVA estimates for complete data, REML otherwise (``start``: see REML)."""
    x = _clean(scores)
    return variance_components_anova(x) if not np.isnan(x).any() else \
        variance_components_reml(x, start=start)


def _log_ratios(vc: VarianceComponents) -> tuple[float, float] | None:
    if vc.residual <= 0:
        return None
    return (float(np.log(max(vc.rater / vc.residual, 1e-10))),
            float(np.log(max(vc.vignette / vc.residual, 1e-10))))


def _counts(vc: VarianceComponents) -> dict[str, int]:
    return {"n_units": vc.n_vignettes, "n_raters": vc.n_raters, "n_pairable": vc.n_scores}


def g_coefficient(vc: VarianceComponents, n_vignettes: int | None = None) -> Estimate:
    """G (relative): sigma2(p) / (sigma2(p) + sigma2(pi,e) / n').

    Example (Brennan 2001, Table 6.5: .729 with 12 items)::

        >>> vc = VarianceComponents(.6258, .8840, 2.7872, 5.0, 10, 12, 120, "ANOVA")
        >>> round(g_coefficient(vc, 12).value, 3)
        0.729
    """
    n = n_vignettes or vc.n_vignettes
    name = f"G coefficient (relative, {n} vignettes)"
    denom = vc.rater + vc.residual / n
    if denom <= 0:
        return undefined(name, "no variance between raters or within them", **_counts(vc))
    return Estimate(name=name, value=vc.rater / denom, ci95=None, undefined_reason=None,
                    extra={"relative_error_variance": vc.residual / n}, **_counts(vc))


def phi_coefficient(vc: VarianceComponents, n_vignettes: int | None = None) -> Estimate:
    """Phi (absolute dependability): sigma2(p) / (sigma2(p) + (sigma2(i) + sigma2(pi,e)) / n').

    Example (Brennan 2001, Table 6.5: .672 with 12 items)::

        >>> vc = VarianceComponents(.6258, .8840, 2.7872, 5.0, 10, 12, 120, "ANOVA")
        >>> round(phi_coefficient(vc, 12).value, 3)
        0.672
    """
    n = n_vignettes or vc.n_vignettes
    name = f"Phi (absolute, {n} vignettes)"
    abs_err = (vc.vignette + vc.residual) / n
    if vc.rater + abs_err <= 0:
        return undefined(name, "all variance components are zero", **_counts(vc))
    return Estimate(name=name, value=vc.rater / (vc.rater + abs_err), ci95=None,
                    undefined_reason=None, extra={"absolute_error_variance": abs_err},
                    **_counts(vc))


def mean_variance(vc: VarianceComponents) -> float:
    """sigma2(mean) of the grand mean of a complete p x i G-study:
    ``sigma2(p)/n_p + sigma2(i)/n_i + sigma2(pi,e)/(n_p n_i)`` (the G-study's own sample sizes:
    it is the error of the mean that was actually computed)."""
    return (vc.rater / vc.n_raters + vc.vignette / vc.n_vignettes
            + vc.residual / (vc.n_raters * vc.n_vignettes))


def phi_lambda(vc: VarianceComponents, cut: float, n_vignettes: int | None = None, *,
               mean: float | None = None, var_mean: float | None = None) -> Estimate:
    """Phi(lambda): dependability of pass/fail decisions at the cut score ``cut``.

    ``(sigma2(p) + D) / (sigma2(p) + D + sigma2(Delta))`` with
    ``sigma2(Delta) = (sigma2(i) + sigma2(pi,e)) / n'`` and ``D``, the estimate of
    (mu - lambda)^2, ``max(0, (mean - lambda)^2 - sigma2(mean))`` (Brennan 2001, ch. 2). By
    default ``mean`` is the G-study's grand mean and ``sigma2(mean)`` :func:`mean_variance`;
    :func:`decision_dependability` passes the exact variance of the mean of unbalanced data.

    Example (``D`` truncated at 0 when the cut sits at the mean, so Phi(lambda) = Phi)::

        >>> vc = VarianceComponents(.6258, .8840, 2.7872, 4.9917, 10, 12, 120, "ANOVA")
        >>> round(phi_lambda(vc, 4.9917, 12).value, 3), round(phi_coefficient(vc, 12).value, 3)
        (0.672, 0.672)
    """
    n = n_vignettes or vc.n_vignettes
    name = f"Phi(lambda = {cut:g}) ({n} vignettes)"
    abs_err = (vc.vignette + vc.residual) / n
    mean = vc.grand_mean if mean is None else mean
    var_mean = mean_variance(vc) if var_mean is None else var_mean
    raw = (mean - cut) ** 2 - var_mean
    dist2 = max(raw, 0.0)
    num = vc.rater + dist2
    if num + abs_err <= 0:
        return undefined(name, "no variance between raters or vignettes and the mean sits on "
                         "the cut score", **_counts(vc))
    value = num / (num + abs_err)
    return Estimate(name=name, value=value, ci95=None, undefined_reason=None,
                    extra={"absolute_error_variance": abs_err, "mean": mean,
                           "mean_variance": var_mean, "mean_minus_cut_sq_raw": raw,
                           "mean_minus_cut_sq": dist2, "truncated": float(raw < 0)},
                    **_counts(vc))


@dataclass(frozen=True)
class DStudy:
    """How many vignettes a rater must score to reach a target coefficient."""

    criterion: str
    target: float
    n_vignettes: int | None  # None when not reached within the curve
    curve: tuple[tuple[int, float | None], ...]


def d_study(
    components: VarianceComponents,
    target: float = 0.80,
    criterion: str = "phi",
    lambda_: float | None = None,
    max_vignettes: int = 100,
) -> DStudy:
    """The smallest number of vignettes whose G, Phi or Phi(lambda) reaches ``target``.

    ``criterion``: ``"g"``, ``"phi"`` or ``"phi_lambda"`` (needs ``lambda_``, the cut score).
    ``curve`` lists (n', coefficient) for n' = 1 ... ``max_vignettes``.

    Example (Brennan 2001 synthetic data: Phi = .672 at 12 items; 24 reach .80)::

        >>> vc = VarianceComponents(.6258, .8840, 2.7872, 5.0, 10, 12, 120, "ANOVA")
        >>> d_study(vc, 0.80, "phi").n_vignettes
        24
    """
    if criterion not in ("g", "phi", "phi_lambda"):
        raise ValueError("criterion must be 'g', 'phi' or 'phi_lambda'")
    if criterion == "phi_lambda" and lambda_ is None:
        raise ValueError("phi_lambda needs the cut score lambda_")
    curve = []
    reached = None
    for n in range(1, max_vignettes + 1):
        if criterion == "g":
            est = g_coefficient(components, n)
        elif criterion == "phi":
            est = phi_coefficient(components, n)
        else:
            est = phi_lambda(components, lambda_, n)
        curve.append((n, est.value))
        if reached is None and est.value is not None and est.value >= target - 1e-12:
            reached = n
    return DStudy(criterion=criterion, target=target, n_vignettes=reached, curve=tuple(curve))


# --- the D-study of the decision an exam rule makes ----------------------------------------


@dataclass(frozen=True)
class DecisionDependability:
    """Phi(lambda) of the pass/fail decision a rule makes on one per-vignette score.

    ``estimate`` is Phi(lambda) at the rule's ``n_vignettes`` (its ``extra`` holds the mean,
    sigma2(mean), the raw and the truncated (mu - lambda)^2 and sigma2(Delta)); ``ci95`` its
    percentile bootstrap interval over raters and vignettes (``n_boot_used`` of ``n_boot``
    resamples gave a defined value); ``vignettes_needed`` the smallest n' whose point estimate
    reaches ``target`` (None: not within ``max_vignettes``).
    """

    cut: float
    n_vignettes: int
    target: float
    components: VarianceComponents
    estimate: Estimate
    ci95: tuple[float, float] | None
    n_boot: int
    n_boot_used: int
    seed: int
    vignettes_needed: int | None
    max_vignettes: int
    curve: tuple[tuple[int, float | None], ...]


def observed_mean_variance(scores: object, vc: VarianceComponents) -> float:
    """sigma2(mean) of the plain mean of the observed scores under the p x i random model.

    With m_p scores of rater p, m_i of vignette i and N scores in all:
    ``(sigma2(p) sum m_p^2 + sigma2(i) sum m_i^2 + sigma2(pi,e) N) / N^2``; on complete data
    this is :func:`mean_variance`.
    """
    seen = ~np.isnan(_clean(scores))
    n = seen.sum()
    m_p, m_i = seen.sum(axis=0), seen.sum(axis=1)
    return float((vc.rater * np.sum(m_p**2) + vc.vignette * np.sum(m_i**2) + vc.residual * n)
                 / n**2)


def _phi_at(x: np.ndarray, cut: float, n_vignettes: int, start=None
            ) -> tuple[VarianceComponents, Estimate]:
    vc = g_study(x, start=start)
    est = phi_lambda(vc, cut, n_vignettes, mean=float(np.nanmean(x)),
                     var_mean=observed_mean_variance(x, vc))
    return vc, est


def decision_dependability(
    scores: object, cut: float, n_vignettes: int, *, target: float = 0.80,
    max_vignettes: int = 100, n_boot: int = 200, seed: int = 20011,
) -> DecisionDependability:
    """Phi(lambda) of a rule's pass/fail decision, its bootstrap interval and the exam length
    that reaches ``target``.

    ``scores``: vignettes x raters, NaN where a rater did not see a vignette; each score is the
    rater's per-vignette score the rule averages over an exam (1/0 for "total within the
    tolerance", or the share of items agreeing with the reference), and ``cut`` the share the
    rule requires (lambda). The mean used for (mu - lambda)^2 is the plain mean of the observed
    scores and sigma2(mean) :func:`observed_mean_variance`; (mu - lambda)^2 is truncated at 0.

    The interval resamples raters and vignettes with replacement (Brennan 2001, ch. 6,
    "boot-p,i"), refits the G-study and takes the 2.5th and 97.5th percentiles; Brennan shows
    this double resampling biases single variance components, so the interval is approximate.

    Example (4 vignettes x 3 raters of 0/1, cut 0.80, exam of 10 vignettes; worked by hand
    in tests/training/reliability/test_gtheory.py: sigma2(p) = 1/9, (mu - lambda)^2 truncated
    to 0, sigma2(Delta) = (1/36 + 5/36) / 10, Phi(lambda) = 20/23)::

        >>> d = decision_dependability([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 0]], 0.8, 10,
        ...                            n_boot=0)
        >>> round(d.estimate.value, 4), d.vignettes_needed
        (0.8696, 6)
    """
    x = _clean(scores)
    vc, est = _phi_at(x, cut, n_vignettes)
    curve, needed = [], None
    for n in range(1, max_vignettes + 1):
        value = phi_lambda(vc, cut, n, mean=est.extra["mean"],
                           var_mean=est.extra["mean_variance"]).value
        curve.append((n, value))
        if needed is None and value is not None and value >= target - 1e-12:
            needed = n
    rng = np.random.default_rng(seed)
    n_i, n_p = x.shape
    start = _log_ratios(vc)
    values = []
    for _ in range(n_boot):
        xb = x[rng.integers(0, n_i, n_i)][:, rng.integers(0, n_p, n_p)]
        try:
            value = _phi_at(xb, cut, n_vignettes, start)[1].value
        except (ValueError, np.linalg.LinAlgError):
            continue
        if value is not None:
            values.append(value)
    ci = None
    if n_boot and len(values) >= 0.9 * n_boot:
        ci = (float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5)))
    return DecisionDependability(
        cut=cut, n_vignettes=n_vignettes, target=target, components=vc, estimate=est, ci95=ci,
        n_boot=n_boot, n_boot_used=len(values), seed=seed, vignettes_needed=needed,
        max_vignettes=max_vignettes, curve=tuple(curve),
    )
