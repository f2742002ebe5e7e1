"""Calibration analytics for one cohort on one instrument.

`cohort_data` pulls every submitted rating of the cohort's trainees in a constant number of
queries (plain `values_list` rows into NumPy arrays); everything else is computed from that
snapshot with `training.reliability`. The rules of DESIGN.md apply: agreement *with the
reference* uses every submitted rating; reliability *among trainees* uses each trainee's first
submitted rating per vignette revision x instrument version; item and total statistics use only
ratings where trainee and reference both judged the instrument applicable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace

import numpy as np
from django.core.cache import cache
from django.db import connection
from django.db.models import Q

from training.models import Cohort, Rating, RatingComment, RatingItem
from training.reliability import (
    Estimate,
    bland_altman,
    calendar_windows,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    icc,
    krippendorff_alpha,
    mean_signed_deviation,
    percent_agreement,
)
from training.reliability.result import undefined
from training.tenancy import not_found_in
from vignettes.models import (
    Instrument,
    Item,
    ItemValue,
    ReferenceItemScore,
    ReferenceScoring,
    VignetteRevision,
)

OMITTED = -999.0  # an omitted item (e.g. STABLE-3 without a child victim), for comparisons


@dataclass
class CohortData:
    """Every submitted rating of a cohort on one instrument, as aligned arrays."""

    cohort: Cohort
    instrument: Instrument
    trainee_names: dict[int, str]
    item_codes: list[str]
    item_names: dict[str, str]
    item_values: dict[str, list[float]]  # allowed values per item code
    rating_ids: np.ndarray
    trainee: np.ndarray  # user id per rating
    revision: np.ndarray  # vignette revision id
    attempt: np.ndarray
    submitted_at: list[dt.datetime]
    applicable: np.ndarray  # 1 yes, 0 no, -1 undecided
    ref_applicable: np.ndarray  # 1 / 0
    total: np.ndarray  # NaN where none
    ref_total: np.ndarray
    band: list[str]
    ref_band: list[str]
    first: np.ndarray  # bool: first submitted rating of this trainee on this revision x version
    codes: np.ndarray  # ratings x items: trainee codes (NaN unscored, OMITTED omitted)
    ref_codes: np.ndarray  # ratings x items
    revisions: dict[int, tuple[str, str, int]]  # revision id -> (slug, title, number)
    reference_ids: np.ndarray
    rationale: dict[tuple[int, str], str] = field(default_factory=dict)  # (ref id, code)

    @property
    def n(self) -> int:
        return len(self.rating_ids)

    @property
    def both(self) -> np.ndarray:
        """Ratings where trainee and reference both judged the instrument applicable."""
        return (self.applicable == 1) & (self.ref_applicable == 1)

    def matches(self) -> np.ndarray:
        """ratings x items: 1 agree, 0 disagree, NaN where the reference has no code."""
        present = ~np.isnan(self.ref_codes)
        out = np.where(present, (self.codes == self.ref_codes).astype(float), np.nan)
        return out


def _fetch(queryset) -> list[tuple]:
    """Rows of a values_list queryset through the raw cursor: the dashboard reads hundreds of
    thousands of item ratings, and Django's row-by-row conversion would dominate."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _as_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    # SQLite returns text; stored values are UTC.
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)


def cohort_data(*, cohort: Cohort, instrument: Instrument) -> CohortData:
    """Load the snapshot: a fixed number of queries whatever the number of trainees or
    ratings."""
    trainee_names = dict(cohort.trainees.values_list("id", "username"))
    ratings_q = Rating.objects.filter(
        attempt__organization=cohort.organization,
        attempt__user__cohorts_as_trainee=cohort,
        submitted_at__isnull=False,
        instrument_version__instrument=instrument,
    )
    rows = _fetch(
        ratings_q.order_by("submitted_at", "id").values_list(
            "id", "attempt__user_id", "vignette_revision_id", "instrument_version_id",
            "attempt_id", "submitted_at", "applicable", "reference_scoring_id",
            "reference_scoring__applicable", "total", "band_code", "codes",
        )
    )
    items = list(
        Item.objects.filter(instrument_version__instrument=instrument)
        .order_by("order")
        .values_list("id", "code", "name", "instrument_version_id")
    )
    item_codes: list[str] = []
    item_names: dict[str, str] = {}
    code_of_item = {}
    for item_id, code, name, _version in items:
        code_of_item[item_id] = code
        if code not in item_names:
            item_codes.append(code)
            item_names[code] = name
    column = {code: i for i, code in enumerate(item_codes)}
    allowed: dict[str, set[float]] = defaultdict(set)
    for item_id, value in ItemValue.objects.filter(
        item__instrument_version__instrument=instrument
    ).values_list("item_id", "value"):
        allowed[code_of_item[item_id]].add(float(value))

    n = len(rows)
    rating_ids = np.array([row[0] for row in rows], dtype=np.int64)
    codes = np.full((n, len(item_codes)), np.nan)
    # Submitted ratings carry their codes frozen as JSON (one row per rating); ratings from
    # before that snapshot existed are read from their item rows.
    legacy = [row[0] for row in rows if row[11] is None]
    texts = [row[11] for row in rows]
    if texts and isinstance(texts[0], str | type(None)):
        # SQLite hands JSON back as text: decode every rating's codes in one call.
        frozen = json.loads("[" + ",".join(t if t is not None else "{}" for t in texts) + "]")
    else:
        frozen = [t if t is not None else {} for t in texts]
    for code, j in column.items():
        codes[:, j] = [
            np.nan if code not in f else (OMITTED if f[code] is None else f[code])
            for f in frozen
        ]
    if legacy:
        position = {rating_id: i for i, rating_id in enumerate(rating_ids.tolist())}
        for rating_id, item_id, value in RatingItem.objects.filter(
            rating_id__in=legacy
        ).values_list("rating_id", "item_id", "value"):
            codes[position[rating_id], column[code_of_item[item_id]]] = (
                OMITTED if value is None else value)

    ref_ids = {row[7] for row in rows if row[7]}
    ref_rows = defaultdict(dict)
    rationale = {}
    for ref_id, item_id, value, text in ReferenceItemScore.objects.filter(
        reference_scoring_id__in=ref_ids
    ).values_list("reference_scoring_id", "item_id", "value", "rationale"):
        code = code_of_item[item_id]
        ref_rows[ref_id][code] = OMITTED if value is None else float(value)
        rationale[(ref_id, code)] = text
    reference_ids = np.array([row[7] or 0 for row in rows], dtype=np.int64)
    # One row of reference codes per reference scoring, broadcast to its ratings.
    ref_list = sorted(ref_rows)
    ref_table = np.full((len(ref_list) + 1, len(item_codes)), np.nan)
    for k, ref_id in enumerate(ref_list, start=1):
        for code, value in ref_rows[ref_id].items():
            ref_table[k, column[code]] = value
    ref_index = {ref_id: k for k, ref_id in enumerate(ref_list, start=1)}
    ref_codes = ref_table[[ref_index.get(int(r), 0) for r in reference_ids]] if n else (
        np.full_like(codes, np.nan))

    # Reference totals and bands from the scoring function's rule: the sum of the scored values.
    bands_by_version = _bands(instrument)
    ref_total = np.where(
        np.isnan(ref_codes).all(axis=1),
        np.nan,
        np.nansum(np.where(ref_codes == OMITTED, 0, ref_codes), axis=1),
    )
    ref_applicable = np.array([1 if row[8] else 0 for row in rows], dtype=np.int8)
    ref_total[ref_applicable == 0] = np.nan
    band_cache = {}
    ref_band = []
    for i, row in enumerate(rows):
        key = (row[3], ref_total[i])
        if key not in band_cache:
            band_cache[key] = _band_for(bands_by_version.get(row[3], []), ref_total[i])
        ref_band.append(band_cache[key])
    revisions = {
        rid: (slug, title, number)
        for rid, slug, title, number in VignetteRevision.objects.filter(
            id__in={row[2] for row in rows}
        ).values_list("id", "vignette__slug", "title", "number")
    }
    seen = set()
    first = np.zeros(n, dtype=bool)
    for i, row in enumerate(rows):
        key = (row[1], row[2], row[3])
        if key not in seen:
            seen.add(key)
            first[i] = True
    return CohortData(
        cohort=cohort,
        instrument=instrument,
        trainee_names=trainee_names,
        item_codes=item_codes,
        item_names=item_names,
        item_values={c: sorted(v) for c, v in allowed.items()},
        rating_ids=rating_ids,
        trainee=np.array([row[1] for row in rows], dtype=np.int64),
        revision=np.array([row[2] for row in rows], dtype=np.int64),
        attempt=np.array([row[4] for row in rows], dtype=np.int64),
        submitted_at=[_as_datetime(row[5]) for row in rows],
        applicable=np.array([-1 if row[6] is None else int(row[6]) for row in rows],
                            dtype=np.int8),
        ref_applicable=ref_applicable,
        total=np.array([np.nan if row[9] is None else row[9] for row in rows], dtype=float),
        ref_total=ref_total,
        band=[row[10] or "" for row in rows],
        ref_band=ref_band,
        first=first,
        codes=codes,
        ref_codes=ref_codes,
        revisions=revisions,
        reference_ids=reference_ids,
        rationale=rationale,
    )


def _bands(instrument) -> dict[int, list[tuple[int, int, str]]]:
    from vignettes.models import Band

    out = defaultdict(list)
    for version_id, low, high, code in Band.objects.filter(
        instrument_version__instrument=instrument
    ).values_list("instrument_version_id", "min_total", "max_total", "code"):
        out[version_id].append((low, high, code))
    return out


def _band_for(bands, total) -> str:
    if total is None or np.isnan(total):
        return ""
    for low, high, code in bands:
        if low <= total <= high:
            return code
    return ""


# --- per trainee ---------------------------------------------------------------------------


@dataclass
class TraineeRow:
    user_id: int
    username: str
    ratings: int
    item_agreement: float | None
    within_one: float | None
    band_agreement: float | None
    applicability_agreement: float | None
    deviation: Estimate
    tendency: str  # "severe" / "lenient" / "" (only when the CI excludes 0)
    recent_agreement: float | None  # last 8 weeks
    previous_agreement: float | None  # the 8 weeks before


def _share(mask_hits: np.ndarray) -> float | None:
    mask_hits = mask_hits[~np.isnan(mask_hits)] if mask_hits.dtype.kind == "f" else mask_hits
    return float(np.mean(mask_hits)) if mask_hits.size else None


def trainee_rows(data: CohortData, *, now: dt.datetime) -> list[TraineeRow]:
    matches = data.matches()
    both = data.both
    times = np.array([t.timestamp() for t in data.submitted_at]) if data.n else np.zeros(0)
    recent_start = (now - dt.timedelta(weeks=8)).timestamp()
    previous_start = (now - dt.timedelta(weeks=16)).timestamp()
    # Group the ratings by trainee once (a stable sort keeps time order within a trainee).
    order = np.argsort(data.trainee, kind="stable")
    ids, starts = np.unique(data.trainee[order], return_index=True)
    groups = dict(zip(ids.tolist(), np.split(order, starts[1:]), strict=True)) if data.n else {}
    band_hit = np.array([b == r for b, r in zip(data.band, data.ref_band, strict=True)],
                        dtype=bool)
    recent_mask = times >= recent_start
    previous_mask = (times >= previous_start) & ~recent_mask
    out = []
    empty = np.zeros(0, dtype=np.int64)
    for user_id, username in sorted(data.trainee_names.items(), key=lambda kv: kv[1]):
        mine = groups.get(user_id, empty)
        sel = mine[both[mine]]
        totals = data.total[sel]
        refs = data.ref_total[sel]
        ok = ~np.isnan(totals) & ~np.isnan(refs)
        deviation = mean_signed_deviation(totals[ok], refs[ok])
        tendency = ""
        if deviation.value is not None and deviation.ci95 is not None:
            if deviation.ci95[0] > 0:
                tendency = "severe"
            elif deviation.ci95[1] < 0:
                tendency = "lenient"
        out.append(
            TraineeRow(
                user_id=user_id,
                username=username,
                ratings=int(mine.size),
                item_agreement=_nanmean(matches[sel]),
                within_one=float(np.mean(np.abs(totals[ok] - refs[ok]) <= 1)) if ok.any()
                else None,
                band_agreement=float(np.mean(band_hit[sel])) if sel.size else None,
                applicability_agreement=float(np.mean(
                    data.applicable[mine] == data.ref_applicable[mine])) if mine.size else None,
                deviation=deviation,
                tendency=tendency,
                recent_agreement=_nanmean(matches[sel[recent_mask[sel]]]),
                previous_agreement=_nanmean(matches[sel[previous_mask[sel]]]),
            )
        )
    return out


def _nanmean(values: np.ndarray) -> float | None:
    if values.size == 0 or np.isnan(values).all():
        return None
    return float(np.nanmean(values))


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
        }
    return out


# --- items ----------------------------------------------------------------------------------


@dataclass
class ItemRow:
    code: str
    name: str
    scored: int
    agreement: float | None
    kappa: Estimate
    ac1: Estimate
    confusion: list[list[int]]  # rows: trainee value, columns: reference value
    labels: list[str]
    most_common_wrong: str
    wrong_vignettes: list[tuple[str, str, int]]  # slug, title, count
    notes: list[dict]


def _label(value: float) -> str:
    if value == OMITTED:
        return "omitted"
    if np.isnan(value):
        return "unscored"
    return str(int(value))


@dataclass
class ItemAgreement:
    code: str
    name: str
    agreement: float | None


def item_agreements(data: CohortData) -> list[ItemAgreement]:
    """Each item's exact agreement with the reference (as in `item_rows`, without the
    confusion matrices, kappas and notes that only the item page shows)."""
    both = data.both
    out = []
    for j, code in enumerate(data.item_codes):
        mine = data.codes[both, j]
        ref = data.ref_codes[both, j]
        present = ~np.isnan(ref)
        mine, ref = mine[present], ref[present]
        out.append(ItemAgreement(code=code, name=data.item_names[code],
                                 agreement=float(np.mean(mine == ref)) if mine.size else None))
    return out


def item_rows(data: CohortData, *, with_notes_for: str | None = None) -> list[ItemRow]:
    both = data.both
    out = []
    notes = _notes(data, with_notes_for) if with_notes_for else []
    for j, code in enumerate(data.item_codes):
        mine = data.codes[both, j]
        ref = data.ref_codes[both, j]
        present = ~np.isnan(ref)
        mine, ref = mine[present], ref[present]
        revs = data.revision[both][present]
        values = sorted(set(data.item_values.get(code, [])) | set(ref.tolist())
                        | {v for v in mine.tolist() if not np.isnan(v)})
        labels = [_label(v) for v in values]
        pos = {v: i for i, v in enumerate(values)}
        confusion = [[0] * len(values) for _ in values]
        wrong = Counter()
        wrong_where = defaultdict(Counter)
        for a, b, rev in zip(mine.tolist(), ref.tolist(), revs.tolist(), strict=True):
            if not np.isnan(a):
                confusion[pos[a]][pos[b]] += 1
            if a != b:
                wrong[_label(a)] += 1
                wrong_where[_label(a)][rev] += 1
        common = wrong.most_common(1)[0][0] if wrong else ""
        pair = np.column_stack([np.where(mine == OMITTED, np.nan, mine),
                                np.where(ref == OMITTED, np.nan, ref)])
        categories = data.item_values.get(code)
        out.append(ItemRow(
            code=code,
            name=data.item_names[code],
            scored=int(present.sum()),
            agreement=float(np.mean(mine == ref)) if mine.size else None,
            kappa=cohen_kappa(pair, categories=categories),
            ac1=gwet_ac1(pair, categories=categories),
            confusion=confusion,
            labels=labels,
            most_common_wrong=common,
            wrong_vignettes=[
                (data.revisions[r][0], data.revisions[r][1], c)
                for r, c in wrong_where[common].most_common(5)
            ] if common else [],
            notes=[n for n in notes if n["item"] == code],
        ))
    return out


def _notes(data: CohortData, code: str) -> list[dict]:
    """Trainees' notes on one item beside the reference rationale."""
    j = data.item_codes.index(code)
    ratings = dict(
        Rating.objects.filter(id__in=data.rating_ids.tolist())
        .exclude(notes={}).values_list("id", "notes")
    )
    out = []
    for i, rating_id in enumerate(data.rating_ids.tolist()):
        note = (ratings.get(rating_id) or {}).get(code)
        if not note:
            continue
        out.append({
            "item": code,
            "trainee": data.trainee_names.get(int(data.trainee[i]), "?"),
            "vignette": data.revisions[int(data.revision[i])][1],
            "value": _label(data.codes[i, j]),
            "reference_value": _label(data.ref_codes[i, j]),
            "note": note,
            "rationale": data.rationale.get((int(data.reference_ids[i]), code), ""),
        })
    return out[:50]


# --- vignettes ------------------------------------------------------------------------------


@dataclass
class VignetteRow:
    revision_id: int
    slug: str
    title: str
    ratings: int
    exact_total: float | None
    mean_abs_deviation: float | None
    splitting_items: list[tuple[str, float]]  # item, share agreeing with the modal code
    flagged: list[str]  # items where the cohort consensus differs from the reference


def vignette_rows(data: CohortData, *, min_ratings: int = 3, consensus: float = 0.6):
    both = data.both
    out = []
    for rev_id, (slug, title, _number) in sorted(data.revisions.items(), key=lambda kv: kv[1][0]):
        sel = both & (data.revision == rev_id)
        n = int(sel.sum())
        totals, refs = data.total[sel], data.ref_total[sel]
        ok = ~np.isnan(totals) & ~np.isnan(refs)
        splitting, flagged = [], []
        for j, code in enumerate(data.item_codes):
            codes = data.codes[sel, j]
            codes = codes[~np.isnan(codes)]
            if codes.size < min_ratings:
                continue
            counts = Counter(codes.tolist())
            modal, modal_n = counts.most_common(1)[0]
            share = modal_n / codes.size
            splitting.append((code, share))
            ref = data.ref_codes[sel, j]
            ref_value = ref[0] if ref.size else np.nan
            if share >= consensus and not np.isnan(ref_value) and modal != ref_value:
                flagged.append(f"{code}: cohort {_label(modal)} ({share:.0%}), "
                               f"reference {_label(ref_value)}")
        splitting.sort(key=lambda kv: kv[1])
        out.append(VignetteRow(
            revision_id=rev_id, slug=slug, title=title, ratings=n,
            exact_total=float(np.mean(totals[ok] == refs[ok])) if ok.any() else None,
            mean_abs_deviation=float(np.mean(np.abs(totals[ok] - refs[ok]))) if ok.any()
            else None,
            splitting_items=[s for s in splitting[:3] if s[1] < 0.8],
            flagged=flagged,
        ))
    return out


# --- one trainee ----------------------------------------------------------------------------


def trainee_detail(data: CohortData, user_id: int, *, tz: str = "UTC"):
    sel = (data.trainee == user_id) & data.both
    idx = np.nonzero(sel)[0]
    matches = data.matches()
    curve = calendar_windows(
        [data.submitted_at[i] for i in idx], idx,
        lambda sub: _agreement_estimate(matches[sub]), period="month", tz=tz,
        include_empty=False,
    ) if idx.size else []
    ok = idx[~np.isnan(data.total[idx]) & ~np.isnan(data.ref_total[idx])]
    ba = bland_altman(data.total[ok], data.ref_total[ok]) if ok.size >= 2 else None
    points = [
        ((data.total[i] + data.ref_total[i]) / 2, data.total[i] - data.ref_total[i]) for i in ok
    ]
    missed = []
    for j, code in enumerate(data.item_codes):
        hits = matches[idx, j]
        hits = hits[~np.isnan(hits)]
        if hits.size and hits.mean() < 1:
            wrong = Counter(
                _label(v) for v, r in zip(data.codes[idx, j], data.ref_codes[idx, j],
                                          strict=True) if v != r
            )
            missed.append((code, data.item_names[code], int((hits == 0).sum()), int(hits.size),
                           wrong.most_common(1)[0][0] if wrong else ""))
    missed.sort(key=lambda m: (-m[2] / m[3], m[0]))
    return {"curve": curve, "bland_altman": ba, "points": points, "missed": missed}


def _agreement_estimate(hits: np.ndarray) -> Estimate:
    hits = hits[~np.isnan(hits)]
    if hits.size == 0:
        return undefined("item agreement with the reference", "no scored items")
    return Estimate(name="item agreement with the reference", value=float(hits.mean()),
                    ci95=None, undefined_reason=None, n_units=int(hits.size), n_raters=2,
                    n_pairable=int(hits.size))


def trainee_ratings_with_comments(*, cohort: Cohort, instrument: Instrument, user_id: int):
    """The trainee's latest submitted ratings with their rationale and notes, the reference
    rationale of every item they coded differently, and the instructors' comments."""
    ratings = list(
        Rating.objects.filter(
            attempt__organization=cohort.organization,
            attempt__user_id=user_id,
            submitted_at__isnull=False,
            instrument_version__instrument=instrument,
        )
        .select_related("vignette_revision__vignette", "reference_scoring")
        .prefetch_related("comments__author", "reference_scoring__item_scores__item")
        .order_by("-submitted_at")[:30]
    )
    for rating in ratings:
        rating.misses = []
        ref = rating.reference_scoring
        if ref is None or not ref.applicable or not rating.applicable:
            continue
        codes = rating.codes or {}
        for score in ref.item_scores.all():
            mine = codes.get(score.item.code, "unscored")
            if mine != score.value:
                rating.misses.append({
                    "code": score.item.code,
                    "value": "omitted" if mine is None else mine,
                    "reference": "omitted" if score.value is None else score.value,
                    "rationale": score.rationale,
                    "note": (rating.notes or {}).get(score.item.code, ""),
                })
    return ratings


def comments_for_ratings(rating_ids):
    return RatingComment.objects.filter(rating_id__in=rating_ids).select_related("author")


def reference_rationales(reference_ids) -> dict[int, str]:
    return {
        r.pk: r.not_applicable_reason
        for r in ReferenceScoring.objects.filter(pk__in=reference_ids)
    }


def instructor_cohorts(*, membership) -> list[Cohort]:
    """Instructors see the cohorts they teach; org admins every cohort of the organisation."""
    qs = Cohort.objects.filter(organization=membership.organization)
    if membership.role != "org_admin":
        qs = qs.filter(instructors=membership.user)
    return list(qs.order_by("name"))


def cohort_get(*, membership, cohort_id) -> Cohort:
    from django.http import Http404

    try:
        cohort_id = int(cohort_id)
    except (TypeError, ValueError):
        raise Http404 from None
    for cohort in instructor_cohorts(membership=membership):
        if cohort.pk == cohort_id:
            return cohort
    raise not_found_in(Cohort, organization=membership.organization, pk=cohort_id)


def instruments_rated(cohort: Cohort):
    return Instrument.objects.filter(
        Q(owner__isnull=True) | Q(owner=cohort.organization), current_version__isnull=False
    ).order_by("short_name")
