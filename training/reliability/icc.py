"""Intraclass correlation coefficients: the six Shrout & Fleiss (1979) / McGraw & Wong (1996) forms.

All six come from one two-way ANOVA of the complete units (listwise deletion):

======================  =====================================================
form                    formula (n units, k raters)
======================  =====================================================
ICC(1,1)                (MSR - MSW) / (MSR + (k-1) MSW)
ICC(2,1) = ICC(A,1)     (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)
ICC(3,1) = ICC(C,1)     (MSR - MSE) / (MSR + (k-1) MSE)
ICC(1,k)                (MSR - MSW) / MSR
ICC(2,k) = ICC(A,k)     (MSR - MSE) / (MSR + (MSC - MSE) / n)
ICC(3,k) = ICC(C,k)     (MSR - MSE) / MSR
======================  =====================================================

MSR: between units (rows), MSC: between raters (columns), MSE: residual, MSW: within units
(raters + residual pooled). Confidence intervals are the F-based intervals of McGraw & Wong
(1996), computed exactly as pingouin (and R psych) compute them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from ._matrix import as_ratings
from .result import Estimate, undefined

FORM_NAMES: dict[str, str] = {
    "1_1": "ICC(1,1)",
    "2_1": "ICC(2,1) = ICC(A,1)",
    "3_1": "ICC(3,1) = ICC(C,1)",
    "1_k": "ICC(1,k)",
    "2_k": "ICC(2,k) = ICC(A,k)",
    "3_k": "ICC(3,k) = ICC(C,k)",
}

_ALIASES: dict[str, str] = {}
for _key, _label in FORM_NAMES.items():
    for _alias in (_key, f"icc_{_key}", *(part.strip() for part in _label.split("="))):
        _ALIASES[_alias.lower().replace(" ", "")] = _key
for _alias, _key in {"1": "1_1", "a,1": "2_1", "c,1": "3_1", "k": "1_k", "a,k": "2_k",
                     "c,k": "3_k", "2,1": "2_1", "3,1": "3_1", "1,1": "1_1", "1,k": "1_k",
                     "2,k": "2_k", "3,k": "3_k"}.items():
    _ALIASES[_alias] = _key
    _ALIASES[f"icc({_alias})"] = _key

_CI_METHOD = "F-based (McGraw & Wong 1996), as pingouin and R psych"


def icc_form_key(form: str) -> str:
    """Normalise a form name ("ICC(A,1)", "2,1", "icc_2_1" ...) to its key ("2_1")."""
    key = _ALIASES.get(str(form).lower().replace(" ", ""))
    if key is None:
        raise ValueError(f"unknown ICC form {form!r}; use one of {', '.join(FORM_NAMES.values())}")
    return key


@dataclass(frozen=True)
class _Anova:
    n: int
    k: int
    n_dropped: int
    msr: float
    msc: float
    mse: float
    msw: float


_NAN = float("nan")


def _div(a: float, b: float) -> float:
    """a / b with IEEE semantics (inf, nan) instead of ZeroDivisionError."""
    if b != 0:
        return a / b
    if a == 0 or a != a:
        return _NAN
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _anova(x: np.ndarray) -> _Anova:
    # A row containing NaN has a NaN sum: cheaper than isnan(x).any(axis=1).
    row_sums = x.sum(axis=1)
    complete = ~np.isnan(row_sums)
    y, row_sums = (x, row_sums) if complete.all() else (x[complete], row_sums[complete])
    n, k = y.shape
    if n == 0 or k == 0:
        return _Anova(n, k, int(x.shape[0] - n), _NAN, _NAN, _NAN, _NAN)
    grand = float(row_sums.sum()) / (n * k)
    row = row_sums - k * grand  # row sums of the centred data
    col = y.sum(axis=0) - n * grand
    ss_rows = float(row @ row) / k
    ss_cols = float(col @ col) / n
    yc = y - grand
    ss_total = float(np.vdot(yc, yc))
    ss_err = ss_total - ss_rows - ss_cols
    # Round-off must not turn perfect agreement into an ICC of 0.9999999999999999.
    if ss_err <= 1e-12 * ss_total:
        ss_err = 0.0
    df_r, df_c, df_e = n - 1, k - 1, (n - 1) * (k - 1)
    msr = _div(ss_rows, df_r)
    msc = _div(ss_cols, df_c)
    mse = _div(ss_err, df_e)
    msw = _div(ss_cols + ss_err, n * (k - 1))
    return _Anova(n, k, int(x.shape[0] - n), msr, msc, mse, msw)


def _f_ppf(q: float, d1: float, d2: float) -> float:
    # scipy.special directly: the scipy.stats wrappers cost ~100 us a call.
    return float(special.fdtri(d1, d2, q))


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _compute(a: _Anova, keys: list[str]) -> dict[str, Estimate]:
    n, k = a.n, a.k
    counts = {"n_units": n, "n_raters": k, "n_pairable": n * k}
    base_extra = {
        "MSR": a.msr, "MSC": a.msc, "MSE": a.mse, "MSW": a.msw,
        "n_units_dropped": a.n_dropped,
    }
    reason = None
    if k < 2:
        reason = "an ICC needs at least two raters"
    elif n < 2:
        reason = (
            "an ICC needs at least two units rated by every rater "
            f"({n} complete unit{'s' if n != 1 else ''} after listwise deletion)"
        )
    elif a.msr == 0 and a.msw == 0:
        reason = "no variance: every rating is the same"
    if reason is not None:
        return {key: undefined(FORM_NAMES[key], reason, **counts, extra=base_extra)
                for key in keys}

    msr, msc, mse, msw = a.msr, a.msc, a.mse, a.msw
    df1, df_w, df_e = n - 1, n * (k - 1), (n - 1) * (k - 1)
    q = 0.975
    f1 = _div(msr, msw)
    f3 = _div(msr, mse)
    fj = _div(msc, mse)
    icc1 = _div(msr - msw, msr + (k - 1) * msw)
    icc2 = _div(msr - mse, msr + (k - 1) * mse + k * (msc - mse) / n)
    icc3 = _div(msr - mse, msr + (k - 1) * mse)
    icc1k = _div(msr - msw, msr)
    icc2k = _div(msr - mse, msr + (msc - mse) / n)
    icc3k = _div(msr - mse, msr)

    # Satterthwaite-type df for the two-way random form (McGraw & Wong 1996, Table 7).
    v = _NAN
    if _finite(fj, icc2):
        vn = df_e * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = df1 * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = _div(vn, vd)
    v_ok = _finite(v) and v > 0
    # All F quantiles in one ufunc call: each scalar call into scipy costs microseconds.
    d_num = np.array([df1, df_w, df1, df_e, df1, v if v_ok else 1.0])
    d_den = np.array([df_w, df1, df_e, df1, v if v_ok else 1.0, df1])
    quant = special.fdtri(d_num, d_den, q).tolist()
    ci1 = ci1k = ci3 = ci3k = ci2 = ci2k = None
    if _finite(f1):
        f1l, f1u = f1 / quant[0], f1 * quant[1]
        ci1 = (_div(f1l - 1, f1l + k - 1), _div(f1u - 1, f1u + k - 1))
        ci1k = (1 - _div(1, f1l), 1 - _div(1, f1u))
    if _finite(f3):
        f3l, f3u = f3 / quant[2], f3 * quant[3]
        ci3 = (_div(f3l - 1, f3l + k - 1), _div(f3u - 1, f3u + k - 1))
        ci3k = (1 - _div(1, f3l), 1 - _div(1, f3u))
    if v_ok:
        f2u, f2l = quant[4], quant[5]
        denom = k * msc + (k * n - k - n) * mse
        l2 = _div(n * (msr - f2u * mse), f2u * denom + n * msr)
        u2 = _div(n * (f2l * msr - mse), denom + n * f2l * msr)
        ci2 = (l2, u2)
        ci2k = (_div(l2 * k, 1 + l2 * (k - 1)), _div(u2 * k, 1 + u2 * (k - 1)))
    p1, p3 = special.fdtrc([df1, df1], [df_w, df_e],
                           [f1 if _finite(f1) else 0.0, f3 if _finite(f3) else 0.0]).tolist()
    p1 = p1 if _finite(f1) else 0.0
    p3 = p3 if _finite(f3) else 0.0
    table = {
        "1_1": (icc1, ci1, f1, df_w, p1),
        "2_1": (icc2, ci2, f3, df_e, p3),
        "3_1": (icc3, ci3, f3, df_e, p3),
        "1_k": (icc1k, ci1k, f1, df_w, p1),
        "2_k": (icc2k, ci2k, f3, df_e, p3),
        "3_k": (icc3k, ci3k, f3, df_e, p3),
    }
    out: dict[str, Estimate] = {}
    for key in keys:
        value, ci, f_value, df2, p = table[key]
        extra = {**base_extra, "F": f_value, "df1": df1, "df2": df2, "p_value": p}
        if _finite(value):
            if not _finite(f_value):
                # No residual variance: F is infinite and the interval collapses on the value.
                ci = (value, value)
            elif ci is not None and not _finite(*ci):
                ci = None
            out[key] = Estimate(name=FORM_NAMES[key], value=value, ci95=ci,
                                undefined_reason=None, extra=extra, ci_method=_CI_METHOD,
                                **counts)
        else:
            out[key] = undefined(
                FORM_NAMES[key], "no variance between units: the ICC's denominator is zero",
                **counts, extra=extra,
            )
    return out


def icc(ratings: object, form: str = "ICC(2,1)") -> Estimate:
    """One intraclass correlation coefficient with its F-based 95 % CI.

    ``form`` is any of the names in :data:`FORM_NAMES` (either naming, e.g. ``"ICC(A,1)"`` or
    ``"ICC(2,1)"``, or the key ``"2_1"``). Units with a missing rating are left out (listwise);
    ``extra["n_units_dropped"]`` says how many.

    Formula for ICC(2,1) = ICC(A,1) (two-way random effects, absolute agreement, one rater):
    ``(MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)``.

    Example (Shrout & Fleiss 1979, Table 2)::

        >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8],
        ...       [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
        >>> round(icc(sf, "ICC(2,1)").value, 2)
        0.29
    """
    key = icc_form_key(form)
    return _compute(_anova(as_ratings(ratings)), [key])[key]


def icc_all(ratings: object) -> dict[str, Estimate]:
    """All six ICC forms from one ANOVA, keyed ``icc_1_1`` ... ``icc_3_k``.

    Example::

        >>> sf = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8],
        ...       [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
        >>> {k: round(e.value, 2) for k, e in icc_all(sf).items()}["icc_3_k"]
        0.91
    """
    results = _compute(_anova(as_ratings(ratings)), list(FORM_NAMES))
    return {f"icc_{key}": est for key, est in results.items()}
