"""Turning array-likes of ratings into the arrays the statistics work on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def as_ratings(ratings: object) -> np.ndarray:
    """A units x raters float array; ``None`` and NaN both mean missing."""
    if isinstance(ratings, np.ndarray) and ratings.dtype.kind == "f":
        x = ratings
    else:
        arr = np.asarray(ratings, dtype=object)
        if arr.ndim == 2 and arr.dtype == object:
            arr = np.where(np.equal(arr, None), np.nan, arr)
        x = np.asarray(arr, dtype=float)
    if x.ndim == 1 and x.size == 0:
        x = x.reshape(0, 0)
    if x.ndim != 2:
        raise ValueError("ratings must be a units x raters matrix (2-D)")
    if np.isinf(x).any():
        raise ValueError("ratings contain an infinite value")
    return x


def as_vector(values: object) -> np.ndarray:
    """A 1-D float array; ``None`` and NaN both mean missing."""
    arr = np.asarray(values, dtype=object).ravel()
    arr = np.where(np.equal(arr, None), np.nan, arr)
    return np.asarray(arr, dtype=float)


def category_values(x: np.ndarray, categories: Sequence[float] | None) -> np.ndarray:
    """The sorted category values: declared ones if given, else the observed ones.

    A value outside the declared categories is an error in the data, not a statistical
    edge case, so it raises ``ValueError``.
    """
    if categories is None:
        observed = x[~np.isnan(x)]
        return np.unique(observed)
    cats = np.unique(np.asarray(list(categories), dtype=float))
    observed = x[~np.isnan(x)]
    if observed.size:
        pos = np.clip(np.searchsorted(cats, observed), 0, max(cats.size - 1, 0))
        bad = cats.size == 0 or not np.all(cats[pos] == observed)
        if bad:
            strays = np.setdiff1d(observed, cats)
            raise ValueError(
                f"ratings contain values outside the declared categories: "
                f"{', '.join(f'{v:g}' for v in strays[:5])}"
            )
    return cats


@dataclass(frozen=True)
class CountTable:
    """Per unit, how many raters chose each category (units x categories)."""

    counts: np.ndarray  # float, units x q
    categories: np.ndarray  # q sorted values
    n_raters: int

    @property
    def per_unit(self) -> np.ndarray:
        return self.counts.sum(axis=1)


def count_table(x: np.ndarray, categories: Sequence[float] | None = None) -> CountTable:
    """Build the units x categories count table with one ``bincount``."""
    fast = _integer_count_table(x, categories)
    if fast is not None:
        return fast
    cats = category_values(x, categories)
    n_units, n_raters = x.shape
    q = cats.size
    mask = ~np.isnan(x)
    if q == 0:
        return CountTable(np.zeros((n_units, 0)), cats, n_raters)
    rows = np.nonzero(mask)[0]
    idx = np.searchsorted(cats, x[mask])
    counts = np.bincount(rows * q + idx, minlength=n_units * q).reshape(n_units, q)
    return CountTable(counts.astype(float), cats, n_raters)


_MAX_FAST_SPAN = 4096


def _integer_count_table(
    x: np.ndarray, categories: Sequence[float] | None
) -> CountTable | None:
    """Fast path for integer codes in a small range (every real instrument): no sorting.

    Each cell becomes ``unit * (span + 2) + (value - min)`` (missing cells go to an overflow
    column) and a single ``bincount`` counts them all. Returns None when the codes are not
    small integers, and the general path is used.
    """
    n_units, n_raters = x.shape
    if x.size == 0:
        return None
    lo = np.fmin.reduce(x, axis=None)
    hi = np.fmax.reduce(x, axis=None)
    if not np.isfinite(lo) or hi - lo > _MAX_FAST_SPAN:
        return None
    span = int(hi - lo)
    finite = ~np.isnan(x)
    offset = np.where(finite, x - lo, span + 1)
    codes = offset.astype(np.intp)
    if not np.array_equal(codes, offset):
        return None
    width = span + 2
    codes += np.arange(n_units, dtype=np.intp)[:, None] * width
    counts = np.bincount(codes.ravel(), minlength=n_units * width).reshape(n_units, width)
    counts = counts[:, : span + 1]
    present = np.flatnonzero(counts.sum(axis=0))
    observed = lo + present
    if categories is None:
        return CountTable(counts[:, present].astype(float), observed.astype(float), n_raters)
    cats = np.unique(np.asarray(list(categories), dtype=float))
    pos = np.searchsorted(cats, observed)
    inside = pos < cats.size
    if not (np.all(inside) and np.array_equal(cats[pos], observed)):
        strays = np.setdiff1d(observed, cats)
        raise ValueError(
            f"ratings contain values outside the declared categories: "
            f"{', '.join(f'{v:g}' for v in strays[:5])}"
        )
    full = np.zeros((n_units, cats.size))
    full[:, pos] = counts[:, present]
    return CountTable(full, cats, n_raters)


def weight_matrix(categories: np.ndarray, weights: str | None) -> np.ndarray:
    """Agreement weights from category VALUES (the irrCAC / Krippendorff convention).

    ``None``/``"identity"``: 1 on the diagonal; ``"linear"``: 1 - |a-b| / (max-min);
    ``"quadratic"``: 1 - (a-b)^2 / (max-min)^2. On evenly spaced codes these equal the rank
    weights of R irr, scikit-learn and statsmodels.
    """
    q = categories.size
    if weights in (None, "identity", "unweighted"):
        return np.eye(q)
    if q < 2:
        return np.ones((q, q))
    span = categories[-1] - categories[0]
    diff = np.abs(categories[:, None] - categories[None, :]) / span
    if weights == "linear":
        return 1.0 - diff
    if weights == "quadratic":
        return 1.0 - diff**2
    raise ValueError(f"unknown weights {weights!r}: use None, 'linear' or 'quadratic'")
