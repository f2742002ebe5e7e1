"""The cohort's reliability among trainees, over calendar or count windows, cached by the
ratings each window holds. Every value passes the minimum-data gate before anyone sees it."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field, replace

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
from training.reliability.sufficiency import (
    DECISION_GRADE_UNITS,
    MIN_UNITS,
    Sufficiency,
    gated,
    sufficiency,
    sufficiency_from_counts,
)
from training.teaching.data import OMITTED, CohortData

DEFAULT_UNITS = MIN_UNITS  # vignettes per count window

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
    """Reliability among trainees in one window, as a person may see it.

    Every estimate has passed the minimum-data gate (training/reliability/sufficiency.py):
    below it the value is ``None`` with "not enough data ..." as the reason, and the counts
    travel in ``extra``. ``gate`` is the gate of the totals matrix (the window's headline).
    """

    start: dt.datetime
    end: dt.datetime
    ratings: int
    alpha_total: Estimate
    alpha_items: dict[str, Estimate]
    icc_crossed: Estimate
    fleiss_crossed: Estimate  # mean over items, on the crossed subset
    ac1_crossed: Estimate
    crossed_shape: tuple[int, int]
    gate: Sufficiency = field(default_factory=lambda: sufficiency_from_counts(0, 0))
    first_unit: int = 0  # count windows: the window's units are first_unit ... last_unit
    last_unit: int = 0  # (1-based, in the order the vignettes became pairable)
    empty: bool = False  # a calendar period without ratings: a gap, not a value

    @property
    def units(self) -> int:
        return self.gate.units


def _layout(data: CohortData, sel: np.ndarray):
    """Where each selected rating goes in the units x raters matrices (computed once for the
    totals and every item)."""
    idx = np.nonzero(sel)[0]
    units, u = np.unique(data.revision[idx], return_inverse=True)
    raters, r = np.unique(data.trainee[idx], return_inverse=True)
    return idx, u, r, (len(units), len(raters))


def _fill(layout, values: np.ndarray) -> np.ndarray:
    idx, u, r, shape = layout
    m = np.full(shape, np.nan)
    m[u, r] = values[idx]
    return m


def _items_matrix(data, sel, j, layout=None):
    values = data.codes[:, j].copy()
    values[values == OMITTED] = np.nan
    if layout is not None:
        return _fill(layout, values)
    return _matrix(data, sel, values)[0]


def reliability_for(data: CohortData, sel: np.ndarray) -> WindowReliability:
    """Among-trainee reliability on the selected (first, applicable) ratings, gated."""
    layout = _layout(data, sel)
    totals = _fill(layout, data.total)
    gate = sufficiency(totals)
    alpha_total = gated(krippendorff_alpha(totals, level="interval"), gate)
    alpha_items = {}
    fleiss_values, ac1_values, item_blocks = [], [], []
    crossed_total = crossed_subset(totals)
    for j, code in enumerate(data.item_codes):
        m = _items_matrix(data, sel, j, layout)
        categories = data.item_values.get(code)
        alpha_items[code] = gated(
            krippendorff_alpha(m, level="ordinal", categories=categories), matrix=m)
        sub = crossed_subset(m)
        if sub.size and sufficiency(sub).sufficient:
            f = fleiss_kappa(sub, categories=categories, per_category=False)
            a = gwet_ac1(sub, categories=categories)
            if f.value is not None:
                fleiss_values.append(f.value)
            if a.value is not None:
                ac1_values.append(a.value)
            item_blocks.append(sub.shape)
    shape = crossed_total.shape
    crossed_gate = sufficiency(crossed_total)
    if crossed_total.size:
        icc_est = gated(icc(crossed_total, "ICC(2,1)"), crossed_gate)
    else:
        icc_est = undefined("ICC(2,1) = ICC(A,1)", "no fully crossed subset of trainees and "
                            "vignettes (at least 2 x 2) in this window")
    fleiss = _mean_estimate("Fleiss' kappa, mean over items (crossed subsets)", fleiss_values,
                            item_blocks, crossed_gate)
    ac1 = _mean_estimate("Gwet's AC1, mean over items (crossed subsets)", ac1_values,
                         item_blocks, crossed_gate)
    return WindowReliability(
        start=None, end=None, ratings=int(sel.sum()), alpha_total=alpha_total,
        alpha_items=alpha_items, icc_crossed=icc_est, fleiss_crossed=fleiss,
        ac1_crossed=ac1, crossed_shape=shape, gate=gate,
    )


def _mean_estimate(name, values, blocks, crossed_gate: Sufficiency) -> Estimate:
    """The mean over the items whose own crossed block passes the gate."""
    counts = {"gate_units": crossed_gate.units, "gate_pairable": crossed_gate.pairable,
              "units_needed": crossed_gate.units_needed}
    if not values:
        reason = (crossed_gate.reason if not crossed_gate.sufficient else
                  "no item has a fully crossed block with enough data, or the coefficient is "
                  "undefined on every item")
        return undefined(name, reason or "no fully crossed subset", n_units=crossed_gate.units,
                         extra=counts)
    units = min(b[0] for b in blocks)
    counts = {"gate_units": units, "gate_pairable": min(b[0] * b[1] for b in blocks),
              "units_needed": 0,
              "decision_grade": 1.0 if units >= DECISION_GRADE_UNITS else 0.0}
    return Estimate(name=name, value=float(np.mean(values)), ci95=None,
                    undefined_reason=None, n_units=units, n_raters=min(b[1] for b in blocks),
                    n_pairable=min(b[0] * b[1] for b in blocks), extra=counts)


# Windows are cached by the ratings they contain: a submitted rating never changes, so a
# window whose ratings are the same has the same statistics. Only the window still receiving
# ratings (the current month) is computed again on each refresh of a dashboard.
WINDOW_CACHE_SECONDS = 24 * 3600


def _window_key(data: CohortData, mask: np.ndarray) -> str:
    digest = hashlib.blake2b(digest_size=20)
    digest.update(np.ascontiguousarray(data.rating_ids[mask], dtype=np.int64).tobytes())
    digest.update(json.dumps([data.item_codes, data.item_values], sort_keys=True).encode())
    return f"calibrate:window-reliability:v2:{digest.hexdigest()}"


def reliability_cached(data: CohortData, masks: list[np.ndarray]) -> list[WindowReliability]:
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


def _empty_window(start: dt.datetime, end: dt.datetime, item_codes) -> WindowReliability:
    reason = "no ratings in this period"
    none = {code: undefined("Krippendorff's alpha (ordinal)", reason) for code in item_codes}
    return WindowReliability(
        start=start, end=end, ratings=0,
        alpha_total=undefined("Krippendorff's alpha (interval)", reason), alpha_items=none,
        icc_crossed=undefined("ICC(2,1) = ICC(A,1)", reason),
        fleiss_crossed=undefined("Fleiss' kappa, mean over items (crossed subsets)", reason),
        ac1_crossed=undefined("Gwet's AC1, mean over items (crossed subsets)", reason),
        crossed_shape=(0, 0), empty=True,
    )


def pairable_units(data: CohortData, sel: np.ndarray) -> tuple[list[int], list[dt.datetime]]:
    """The vignette revisions with two or more selected ratings, in the order they became
    pairable (the time of their second first rating, which never changes afterwards)."""
    seen: dict[int, int] = {}
    units, times = [], []
    idx = np.nonzero(sel)[0]
    # In time order, ties by position (lexsort: the last key is the primary one).
    for i in idx[np.lexsort((idx, data.submitted_us[idx]))].tolist():
        rev = int(data.revision[i])
        seen[rev] = seen.get(rev, 0) + 1
        if seen[rev] == 2:
            units.append(rev)
            times.append(data.time_of(i))
    return units, times


def reliability_over_time(
    data: CohortData, *, window: str = "month", size: int = DEFAULT_UNITS, tz: str = "UTC"
) -> list[WindowReliability]:
    """The cohort's reliability among itself per calendar month/week (empty periods come back
    as gaps, ``empty=True``) or per count window (``window="units"``): consecutive blocks of
    ``size`` vignettes with two or more first ratings, counted back from the latest, so the
    last window is always "the last ``size`` vignettes" (``"rolling"`` is its old name)."""
    sel_all = data.first & data.both
    idx = np.nonzero(sel_all)[0]
    if idx.size == 0:
        return []
    if window == "rolling":
        window = "units"
    if window in ("month", "week"):
        periods = []
        for w in calendar_windows(
            data.submitted_s[idx], idx, lambda sub: _Wrap(sub), period=window,
            tz=tz, include_empty=True,
        ):
            mask = None
            if isinstance(w.estimate, _Wrap):
                mask = np.zeros(data.n, dtype=bool)
                mask[w.estimate.indices] = True
            periods.append((w.start, w.end, mask))
        computed = iter(reliability_cached(data, [m for _s, _e, m in periods if m is not None]))
        return [
            replace(next(computed), start=start, end=end) if mask is not None
            else _empty_window(start, end, data.item_codes)
            for start, end, mask in periods
        ]
    if window != "units":
        raise ValueError("window must be 'month', 'week' or 'units'")
    size = max(MIN_UNITS, int(size))
    units, times = pairable_units(data, sel_all)
    if not units:
        return []
    blocks = []
    for stop in range(len(units), 0, -size):
        begin = max(0, stop - size)
        blocks.append((begin, stop))
    blocks.reverse()
    masks = [sel_all & np.isin(data.revision, units[b:e]) for b, e in blocks]
    results = reliability_cached(data, masks)
    return [
        replace(result, start=times[b], end=times[e - 1], first_unit=b + 1, last_unit=e)
        for result, (b, e) in zip(results, blocks, strict=True)
    ]


class _Wrap:
    """Carries the selected indices through calendar_windows unchanged."""

    def __init__(self, indices):
        self.indices = indices


def overall_item_reliability(data: CohortData) -> dict[str, dict[str, Estimate]]:
    """All-time among-trainee statistics per item on first ratings, gated (`manage.py irr`
    computes the same values from the export and prints them with its `sufficient` flag)."""
    sel = data.first & data.both
    out = {}
    for j, code in enumerate(data.item_codes):
        m = _items_matrix(data, sel, j)
        gate = sufficiency(m)
        out[code] = {
            "krippendorff_alpha_ordinal": gated(krippendorff_alpha(
                m, level="ordinal", categories=data.item_values.get(code)), gate),
            "percent_agreement": gated(percent_agreement(m), gate),
        } | {
            # Positive/negative (per code) agreement: whether trainees agree on the rare code.
            f"specific_agreement_{value:g}": gated(est, gate)
            for value, est in specific_agreement(m, data.item_values.get(code)).items()
        }
    return out
