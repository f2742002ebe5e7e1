"""The cohort's reliability among trainees, over calendar or rolling windows, cached by the ratings each window holds."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, replace

import numpy as np
from django.core.cache import cache

from training.reliability import (
    Estimate,
    calendar_windows,
    fleiss_kappa,
    gwet_ac1,
    icc,
    krippendorff_alpha,
    percent_agreement,
    specific_agreement,
)
from training.reliability.result import undefined
from training.teaching.data import OMITTED, CohortData

# --- among trainees, over time --------------------------------------------------------------


def _matrix(data: CohortData, sel: np.ndarray, values: np.ndarray):
    """units (vignette revisions) x raters (trainees) matrix of `values` for selected ratings."""
    idx = np.nonzero(sel)[0]
    units, u = np.unique(data.revision[idx], return_inverse=True)
    raters, r = np.unique(data.trainee[idx], return_inverse=True)
    m = np.full((len(units), len(raters)), np.nan)
    m[u, r] = values[idx]
    return m, units.tolist(), raters.tolist()


def crossed_subset(matrix: np.ndarray) -> np.ndarray:
    """The largest fully crossed block found greedily: the vignettes rated by most trainees,
    and the trainees who rated all of them, maximising vignettes x trainees (each >= 2).

    Returns the sub-matrix (possibly empty). Finding the true maximum is NP-hard; the greedy
    answer is stated as such on the page.
    """
    if matrix.size == 0:
        return matrix[:0, :0]
    rated = ~np.isnan(matrix)
    order = np.argsort(-rated.sum(axis=1), kind="stable")
    best = (0, None, None)
    raters = np.ones(matrix.shape[1], dtype=bool)
    for k in range(1, len(order) + 1):
        raters &= rated[order[k - 1]]
        n_raters = int(raters.sum())
        if n_raters < 2:
            break
        if k >= 2 and k * n_raters > best[0]:
            best = (k * n_raters, order[:k].copy(), raters.copy())
    if best[1] is None:
        return matrix[:0, :0]
    return matrix[np.ix_(np.sort(best[1]), np.nonzero(best[2])[0])]


@dataclass
class WindowReliability:
    start: dt.datetime
    end: dt.datetime
    ratings: int
    alpha_total: Estimate
    alpha_items: dict[str, Estimate]
    icc_crossed: Estimate
    fleiss_crossed: Estimate  # mean over items, on the crossed subset
    ac1_crossed: Estimate
    crossed_shape: tuple[int, int]


def _items_matrix(data, sel, j):
    values = data.codes[:, j].copy()
    values[values == OMITTED] = np.nan
    return _matrix(data, sel, values)[0]


def reliability_for(data: CohortData, sel: np.ndarray) -> WindowReliability:
    """Among-trainee reliability on the selected (first, applicable) ratings."""
    totals, _units, _raters = _matrix(data, sel, data.total)
    alpha_total = krippendorff_alpha(totals, level="interval")
    alpha_items = {}
    fleiss_values, ac1_values = [], []
    crossed_total = crossed_subset(totals)
    for j, code in enumerate(data.item_codes):
        m = _items_matrix(data, sel, j)
        categories = data.item_values.get(code)
        alpha_items[code] = krippendorff_alpha(m, level="ordinal", categories=categories)
        sub = crossed_subset(m)
        if sub.size:
            f = fleiss_kappa(sub, categories=categories, per_category=False)
            a = gwet_ac1(sub, categories=categories)
            if f.value is not None:
                fleiss_values.append(f.value)
            if a.value is not None:
                ac1_values.append(a.value)
    shape = crossed_total.shape
    if crossed_total.size:
        icc_est = icc(crossed_total, "ICC(2,1)")
    else:
        icc_est = undefined("ICC(2,1) = ICC(A,1)", "no fully crossed subset of trainees and "
                            "vignettes (at least 2 x 2) in this window")
    fleiss = _mean_estimate("Fleiss' kappa, mean over items (crossed subsets)", fleiss_values,
                            shape)
    ac1 = _mean_estimate("Gwet's AC1, mean over items (crossed subsets)", ac1_values, shape)
    return WindowReliability(
        start=None, end=None, ratings=int(sel.sum()), alpha_total=alpha_total,
        alpha_items=alpha_items, icc_crossed=icc_est, fleiss_crossed=fleiss,
        ac1_crossed=ac1, crossed_shape=shape,
    )


def _mean_estimate(name, values, shape) -> Estimate:
    if not values:
        return undefined(name, "no fully crossed subset, or undefined on every item")
    return Estimate(name=name, value=float(np.mean(values)), ci95=None,
                    undefined_reason=None, n_units=shape[0], n_raters=shape[1],
                    n_pairable=0)


# Windows are cached by the ratings they contain: a submitted rating never changes, so a
# window whose ratings are the same has the same statistics. Only the window still receiving
# ratings (the current month) is computed again on each refresh of a dashboard.
WINDOW_CACHE_SECONDS = 24 * 3600


def _window_key(data: CohortData, mask: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(np.ascontiguousarray(data.rating_ids[mask], dtype=np.int64).tobytes())
    digest.update(json.dumps([data.item_codes, data.item_values], sort_keys=True).encode())
    return f"calibrate:window-reliability:v1:{digest.hexdigest()}"


def _reliability_cached(data: CohortData, masks: list[np.ndarray]) -> list[WindowReliability]:
    keys = [_window_key(data, mask) for mask in masks]
    try:
        found = cache.get_many(keys)
    except Exception:  # a cache that is down must not take the dashboard with it
        found = {}
    out, fresh = [], {}
    for key, mask in zip(keys, masks, strict=True):
        result = found.get(key)
        if not isinstance(result, WindowReliability):
            result = fresh[key] = reliability_for(data, mask)
        out.append(result)
    if fresh:
        with contextlib.suppress(Exception):
            cache.set_many(fresh, WINDOW_CACHE_SECONDS)
    return out


def reliability_over_time(
    data: CohortData, *, window: str = "month", size: int = 50, tz: str = "UTC"
) -> list[WindowReliability]:
    """The cohort's reliability among itself per calendar month/week or per rolling window of
    `size` first ratings."""
    sel_all = data.first & data.both
    idx = np.nonzero(sel_all)[0]
    if idx.size == 0:
        return []
    bounds, masks = [], []
    if window in ("month", "week"):
        for w in calendar_windows(
            [data.submitted_at[i] for i in idx], idx, lambda sub: _Wrap(sub), period=window,
            tz=tz, include_empty=False,
        ):
            mask = np.zeros(data.n, dtype=bool)
            mask[w.estimate.indices] = True
            bounds.append((w.start, w.end))
            masks.append(mask)
    else:
        # Rolling: consecutive windows of `size` first ratings, half-overlapping.
        size = max(4, int(size))
        step = max(1, size // 2)
        for begin in range(0, max(1, idx.size - size + 1), step):
            chunk = idx[begin:begin + size]
            mask = np.zeros(data.n, dtype=bool)
            mask[chunk] = True
            bounds.append((data.submitted_at[chunk[0]], data.submitted_at[chunk[-1]]))
            masks.append(mask)
    return [
        replace(result, start=start, end=end)
        for result, (start, end) in zip(_reliability_cached(data, masks), bounds, strict=True)
    ]


class _Wrap:
    """Carries the selected indices through calendar_windows unchanged."""

    def __init__(self, indices):
        self.indices = indices


def overall_item_reliability(data: CohortData) -> dict[str, dict[str, Estimate]]:
    """All-time among-trainee statistics per item on first ratings (what `manage.py irr`
    computes from the export)."""
    sel = data.first & data.both
    out = {}
    for j, code in enumerate(data.item_codes):
        m = _items_matrix(data, sel, j)
        out[code] = {
            "krippendorff_alpha_ordinal": krippendorff_alpha(
                m, level="ordinal", categories=data.item_values.get(code)),
            "percent_agreement": percent_agreement(m),
        } | {
            # Positive/negative (per code) agreement: whether trainees agree on the rare code.
            f"specific_agreement_{value:g}": est
            for value, est in specific_agreement(m, data.item_values.get(code)).items()
        }
    return out
