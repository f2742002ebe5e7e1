"""A cohort's first and later ratings on one instrument as arrays (the one read every instructor statistic starts from), and the cohorts an instructor may see."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.db import connection

from training.models import CertificationRule, Cohort, Rating, RatingComment, RatingItem
from training.tenancy import int_or_404, not_found_in
from vignettes.models import (
    Band,
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
    # (code, min, max) of the published bands (the current version's); empty without bands
    bands: list[tuple[str, int, int]] = field(default_factory=list)
    total_tolerance: int | None = None  # the organisation's rule for the instrument, if any

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
        bands=sorted(((code, low, high) for low, high, code in bands_by_version.get(
            instrument.current_version_id, [])), key=lambda b: b[1]),
        total_tolerance=CertificationRule.objects.filter(
            organization=cohort.organization, instrument=instrument,
        ).values_list("total_tolerance", flat=True).first(),
    )


def _bands(instrument) -> dict[int, list[tuple[int, int, str]]]:

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
    cohort_id = int_or_404(cohort_id)
    for cohort in instructor_cohorts(membership=membership):
        if cohort.pk == cohort_id:
            return cohort
    raise not_found_in(Cohort, organization=membership.organization, pk=cohort_id)


def instruments_rated(cohort: Cohort):
    return Instrument.objects.visible_to(cohort.organization).filter(
        current_version__isnull=False
    ).order_by("short_name")
