"""Drift after certification: a CUSUM on a certified rater's per-case scores, standardised
against the rater's own baseline at certification, and the simulation that sets its k and h.

A certified rater's per-case score (the signed total deviation from the reference, or the
share of items coded as the reference) is watched after certification. A stable, accepted
bias is not drift, so the target is the rater's own mean on the exam that certified them,
and the unit is the in-control standard deviation of their scores::

    z_t = (x_t - baseline mean) / baseline SD

on which a two-sided (deviation) or lower-sided (item agreement) tabular CUSUM with slack k
and threshold h runs (Page 1954; Montgomery, *Introduction to Statistical Quality Control*,
ch. 9). The baseline comes from about ten exam vignettes, so its mean and SD are estimates;
an SD estimated from ten cases is often far too small, and the in-control average run length
(ARL0) of a CUSUM with estimated parameters is much shorter and far more variable than the
textbook value (Jones, Champ & Rigdon 2004). Two defences, both tuned by simulation
(``simulate_run_lengths``; ``python -m benchmarks drift``):

* the SD is shrunk towards the instrument's pooled within-rater SD, as if the pooled value
  were ``prior_df`` further degrees of freedom of evidence::

      SD^2 = (prior_df * pooled^2 + (n - 1) * s^2) / (prior_df + n - 1)

* h is chosen so that ARL0 >= 370 cases *averaged over the estimation error* of the
  baseline, not for known parameters.

A baseline from fewer than ``min_cases`` exam cases, or with no spread, is not usable: the
pooled SD is used instead, with the reason stated.

Pure NumPy; never imports Django.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .timeseries import Cusum, cusum

PRIOR_DF = 10
MIN_BASELINE_CASES = 5
OWN = "own"
POOLED = "pooled"


@dataclass(frozen=True)
class DriftBaseline:
    """The in-control mean and SD a rater's later scores are standardised against.

    ``sd`` is the SD used (shrunk, or the pooled one); ``own_sd`` the rater's own sample SD
    (None below two cases); ``source`` is "own" (the rater's mean, shrunk SD) or "pooled"
    (the rater's baseline was unusable: ``reason`` says why).
    """

    mean: float
    sd: float
    n: int
    own_sd: float | None
    pooled_sd: float
    pooled_n: int
    source: str
    reason: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DriftBaseline:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def shrunk_sd(own_sd: float, n: int, pooled_sd: float, prior_df: float = PRIOR_DF) -> float:
    """sqrt((prior_df * pooled^2 + (n-1) * own^2) / (prior_df + n - 1)).

    >>> round(shrunk_sd(0.5, 10, 1.9, prior_df=10), 3)
    1.421
    """
    df = max(0, n - 1)
    return math.sqrt((prior_df * pooled_sd ** 2 + df * own_sd ** 2) / (prior_df + df))


def drift_baseline(
    scores: Sequence[float], *, pooled_sd: float, pooled_n: int = 0,
    prior_df: float = PRIOR_DF, min_cases: int = MIN_BASELINE_CASES,
    fallback_mean: float = 0.0,
) -> DriftBaseline:
    """The baseline from a rater's exam scores (e.g. the signed total deviations on the exam
    that certified them).

    With at least ``min_cases`` scores and some spread: their mean and the shrunk SD. Else the
    pooled SD, and the rater's mean when there are at least ``min_cases`` scores (all equal),
    else ``fallback_mean`` (0 = the reference).

    >>> b = drift_baseline([1, 0, 1, 2, 1, 0, 1, 1, 2, 1], pooled_sd=1.9)
    >>> (b.source, b.mean, round(b.sd, 2), b.n)
    ('own', 1.0, 1.45, 10)
    >>> drift_baseline([0, 0], pooled_sd=1.9).reason
    'only 2 exam cases (at least 5 needed)'
    """
    if pooled_sd <= 0:
        raise ValueError("pooled_sd must be positive")
    x = np.asarray([float(v) for v in scores if v is not None and not np.isnan(float(v))])
    n = int(x.size)
    own_sd = float(np.std(x, ddof=1)) if n >= 2 else None
    common = {"n": n, "own_sd": own_sd, "pooled_sd": float(pooled_sd), "pooled_n": pooled_n}
    if n < min_cases:
        reason = f"only {n} exam cases (at least {min_cases} needed)"
        mean = fallback_mean
        return DriftBaseline(mean=mean, sd=float(pooled_sd), source=POOLED, reason=reason,
                             **common)
    mean = float(x.mean())
    if not own_sd:
        return DriftBaseline(mean=mean, sd=float(pooled_sd), source=POOLED,
                             reason="no spread in the exam cases (SD 0)", **common)
    return DriftBaseline(mean=mean, sd=shrunk_sd(own_sd, n, pooled_sd, prior_df), source=OWN,
                         **common)


def standardise(values: Sequence[float], baseline: DriftBaseline) -> list[float]:
    """(x - mean) / sd for each value."""
    return [(float(v) - baseline.mean) / baseline.sd for v in values]


def standardised_cusum(values: Sequence[float], baseline: DriftBaseline, *, slack: float,
                       threshold: float) -> tuple[list[float], Cusum]:
    """The standardised series and its two-sided CUSUM (target 0, k and h in SD units).

    >>> b = DriftBaseline(mean=1.0, sd=2.0, n=10, own_sd=2.0, pooled_sd=2.0, pooled_n=0,
    ...                   source="own")
    >>> z, c = standardised_cusum([1, 1, 5, 5, 5], b, slack=0.5, threshold=3)
    >>> z, c.upper_alarms
    ([0.0, 0.0, 2.0, 2.0, 2.0], (4,))
    """
    z = standardise(values, baseline)
    return z, cusum(z, target=0.0, slack=slack, threshold=threshold)


def pooled_within_sd(groups: Sequence[Sequence[float]]) -> tuple[float | None, int]:
    """Pooled within-group SD, sqrt(sum (n_i - 1) s_i^2 / sum (n_i - 1)), and its df.

    >>> pooled_within_sd([[0, 2], [1, 1, 4]])
    (1.632993161855452, 3)
    """
    ss = 0.0
    df = 0
    for g in groups:
        x = np.asarray(g, dtype=float)
        if x.size >= 2:
            ss += float(((x - x.mean()) ** 2).sum())
            df += x.size - 1
    return (math.sqrt(ss / df) if df else None), df


# --- simulation ----------------------------------------------------------------------------


def simulate_run_lengths(
    *, rng: np.random.Generator, raters: int, baseline_cases: int, sd: float,
    thresholds: Sequence[float], slack: float, shift: float = 0.0, sides: str = "both",
    prior_df: float = PRIOR_DF, sd_spread: float = 0.25, max_cases: int = 3000,
    integer: bool = True, min_cases: int = MIN_BASELINE_CASES,
) -> np.ndarray:
    """Run lengths (cases to the first alarm) of the standardised CUSUM as it is used.

    Each simulated rater has an in-control SD drawn around the instrument's typical SD
    ``sd`` (log-normal, ``sd_spread`` on the log scale) and a mean drawn from N(0, 0.5);
    their baseline is estimated from ``baseline_cases`` exam cases (integer deviations when
    ``integer``, as totals are integers) and shrunk towards the pooled SD ``sd``; from the
    first monitored case on, their mean moves by ``shift`` points. Returns an array
    raters x thresholds; a rater with no alarm within ``max_cases`` gets ``max_cases`` (so an
    ARL0 read from it is an underestimate: conservative).
    """
    thresholds = np.asarray(thresholds, dtype=float)
    sigma_obs = sd * np.exp(rng.normal(0.0, sd_spread, raters))
    # The typical SD is that of integer deviations; the latent SD excludes the rounding.
    latent = np.sqrt(np.maximum(sigma_obs ** 2 - (1 / 12 if integer else 0.0), 1e-6))
    mu = rng.normal(0.0, 0.5, raters)

    def draw(mean, size=None):
        x = mean + latent * rng.standard_normal(raters if size is None else (size, raters))
        return np.round(x) if integer else x

    exam = draw(mu, baseline_cases)
    mean = exam.mean(axis=0)
    own = exam.std(axis=0, ddof=1) if baseline_cases >= 2 else np.zeros(raters)
    df = max(0, baseline_cases - 1)
    shrunk = np.sqrt((prior_df * sd ** 2 + df * own ** 2) / (prior_df + df))
    usable = (own > 0) & (baseline_cases >= min_cases)
    scale = np.where(usable, shrunk, sd)
    mean = np.where(baseline_cases >= min_cases, mean, 0.0)

    hi = np.zeros(raters)
    lo = np.zeros(raters)
    peak = np.zeros(raters)
    first = np.full((raters, thresholds.size), max_cases, dtype=np.int64)
    for t in range(1, max_cases + 1):
        z = (draw(mu + shift) - mean) / scale
        hi = np.maximum(0.0, hi + z - slack)
        lo = np.maximum(0.0, lo - z - slack)
        cur = {"both": np.maximum(hi, lo), "upper": hi, "lower": lo}[sides]
        grew = cur > peak
        if grew.any():
            idx = np.nonzero(grew)[0]
            crossed = (cur[idx, None] > thresholds) & (first[idx] == max_cases)
            first[idx] = np.where(crossed, t, first[idx])
            peak[idx] = cur[idx]
        if (first < max_cases).all():
            break
    return first


def simulate_agreement_run_lengths(
    *, rng: np.random.Generator, raters: int, baseline_cases: int, items: int,
    agreement: float, thresholds: Sequence[float], slack: float, pooled_sd: float,
    drop: float = 0.0, case_spread: float = 0.8, prior_df: float = PRIOR_DF,
    max_cases: int = 3000, min_cases: int = MIN_BASELINE_CASES,
) -> np.ndarray:
    """Run lengths of the lower-sided standardised CUSUM on per-case item agreement.

    A rater's chance of coding an item as the reference on a case is
    logistic(logit(p_r) + N(0, case_spread)) (cases differ in difficulty), p_r drawn around
    ``agreement``; a case's score is the share of its ``items`` items agreed. From the first
    monitored case the rater's logit falls so that their typical agreement drops by ``drop``.
    """
    thresholds = np.asarray(thresholds, dtype=float)
    logit = np.log(agreement / (1 - agreement)) + rng.normal(0.0, 0.4, raters)
    p_after = 1 / (1 + np.exp(-logit)) - drop
    logit_after = np.log(np.clip(p_after, 1e-3, 1 - 1e-3) / (1 - np.clip(p_after, 1e-3,
                                                                             1 - 1e-3)))

    def draw(lg, size=None):
        shape = (raters,) if size is None else (size, raters)
        p = 1 / (1 + np.exp(-(lg + rng.normal(0.0, case_spread, shape))))
        return rng.binomial(items, p) / items

    exam = draw(logit, baseline_cases)
    mean = exam.mean(axis=0)
    own = exam.std(axis=0, ddof=1)
    df = baseline_cases - 1
    shrunk = np.sqrt((prior_df * pooled_sd ** 2 + df * own ** 2) / (prior_df + df))
    scale = np.where((own > 0) & (baseline_cases >= min_cases), shrunk, pooled_sd)
    lo = np.zeros(raters)
    peak = np.zeros(raters)
    first = np.full((raters, thresholds.size), max_cases, dtype=np.int64)
    for t in range(1, max_cases + 1):
        z = (draw(logit_after) - mean) / scale
        lo = np.maximum(0.0, lo - z - slack)
        grew = lo > peak
        if grew.any():
            idx = np.nonzero(grew)[0]
            crossed = (lo[idx, None] > thresholds) & (first[idx] == max_cases)
            first[idx] = np.where(crossed, t, first[idx])
            peak[idx] = lo[idx]
        if (first < max_cases).all():
            break
    return first
