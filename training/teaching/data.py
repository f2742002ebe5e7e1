"""A cohort's first and later ratings on one instrument as arrays (the one read every instructor statistic starts from), and the cohorts an instructor may see."""

from __future__ import annotations

import datetime as dt
import functools
import json
import operator
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.db import connection
from django.db.models import Count, Func, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

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

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
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
    submitted_us: np.ndarray  # int64 microseconds since the epoch, UTC
    applicable: np.ndarray  # 1 yes, 0 no, -1 undecided
    ref_applicable: np.ndarray  # 1 / 0
    total: np.ndarray  # NaN where none
    ref_total: np.ndarray
    band: np.ndarray  # str
    ref_band: np.ndarray  # str
    first: np.ndarray  # bool: first submitted rating of this trainee on this revision x version
    codes: np.ndarray  # ratings x items: trainee codes (NaN unscored, OMITTED omitted)
    ref_codes: np.ndarray  # ratings x items
    revisions: dict[int, tuple[str, str, int]]  # revision id -> (slug, title, number)
    reference_ids: np.ndarray
    rationale: dict[tuple[int, str], str] = field(default_factory=dict)  # (ref id, code)
    # (code, min, max) of the published bands (the current version's); empty without bands
    bands: list[tuple[str, int, int]] = field(default_factory=list)
    total_tolerance: int | None = None  # the organisation's rule for the instrument, if any

    @functools.cached_property
    def submitted_at(self) -> list[dt.datetime]:
        """The submitted times as aware datetimes (UTC), built when first asked for."""
        naive = self.submitted_us.astype("datetime64[us]").tolist()
        return [t.replace(tzinfo=dt.UTC) for t in naive]

    def time_of(self, i: int) -> dt.datetime:
        """The submitted time of rating i (without building every rating's datetime)."""
        return _EPOCH + dt.timedelta(microseconds=int(self.submitted_us[i]))

    @functools.cached_property
    def submitted_s(self) -> np.ndarray:
        """The submitted times as seconds since the epoch."""
        return self.submitted_us / 1_000_000

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


def _fetch_chunks(queryset, size: int = 20000):
    """The rows of a values_list queryset through the raw cursor, a chunk at a time."""
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while chunk := cursor.fetchmany(size):
            yield chunk


def _code_columns(item_codes: list[str]) -> dict | None:
    """One SQL expression per item code reading the rating's frozen code: the value, OMITTED
    where it is null (omitted), NULL where the code is absent (unscored). The database does
    what json.loads would do per rating, without a Python dict per rating. None on a
    database without these JSON functions (the codes are then read as JSON text)."""
    column = f'"{Rating._meta.db_table}"."codes"'
    omitted = int(OMITTED)
    out = {}
    for j, code in enumerate(item_codes):
        if connection.vendor == "sqlite":
            path = '$."' + code.replace('"', '\\"') + '"'
            sql = (f"CASE json_type({column}, %s) WHEN 'null' THEN {omitted} "
                   f"ELSE json_extract({column}, %s) END")
            out[f"code_{j}"] = RawSQL(sql, (path, path))
        elif connection.vendor == "postgresql":
            sql = (f"CASE WHEN {column} ? %s THEN "
                   f"COALESCE(({column} ->> %s)::integer, {omitted}) END")
            out[f"code_{j}"] = RawSQL(sql, (code, code))
        else:
            return None
    return out


def _chunk_arrays(rows: list[tuple], item_codes: list[str], in_sql: bool) -> tuple:
    """One chunk of rating rows as arrays (see cohort_data for the columns)."""
    n = len(rows)
    width = 12 + (len(item_codes) if in_sql else 0)
    cols = list(zip(*rows, strict=True)) if n else [()] * width
    if in_sql:
        legacy = np.array(cols[11], dtype=bool)
        codes = (np.array([row[12:] for row in rows], dtype=float) if n
                 else np.full((0, len(item_codes)), np.nan))
    else:
        texts = list(cols[11])
        legacy = np.array([t is None for t in texts], dtype=bool)
        codes = _codes_matrix(texts, item_codes)
    return (
        np.array(cols[0], dtype=np.int64),
        np.array(cols[1], dtype=np.int64),
        np.array(cols[2], dtype=np.int64),
        np.array(cols[3], dtype=np.int64),
        np.array(cols[4], dtype=np.int64),
        _timestamps_us(list(cols[5])),
        np.array([-1 if a is None else int(a) for a in cols[6]], dtype=np.int8),
        np.array([r or 0 for r in cols[7]], dtype=np.int64),
        np.array([1 if a else 0 for a in cols[8]], dtype=np.int8),
        np.array([np.nan if t is None else t for t in cols[9]], dtype=float),
        np.array([b or "" for b in cols[10]], dtype=object).astype(str) if n
        else np.zeros(0, dtype="<U1"),
        codes,
        legacy,
    )


def _as_datetime(value) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    # SQLite returns text; stored values are UTC.
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=dt.UTC)


class EpochMicroseconds(Func):
    """A datetime column as whole microseconds since the epoch (PostgreSQL), or as its stored
    UTC text (SQLite, which NumPy parses): no datetime object per rating."""

    output_field = TextField()

    def as_sql(self, compiler, connection, **extra_context):
        return self.as_sqlite(compiler, connection, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return super().as_sql(compiler, connection, template="CAST(%(expressions)s AS TEXT)",
                              **extra_context)

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler, connection,
            template="(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint", **extra_context)


def _timestamps_us(values) -> np.ndarray:
    """Microseconds since the epoch (UTC) of the submitted times (see EpochMicroseconds)."""
    if not values:
        return np.zeros(0, dtype=np.int64)
    first = values[0]
    if isinstance(first, int):
        return np.array(values, dtype=np.int64)
    if isinstance(first, dt.datetime):
        return np.array([round(_as_datetime(v).timestamp() * 1_000_000) for v in values],
                        dtype=np.int64)
    # Stored UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]": NumPy reads it as is.
    return np.array(values, dtype="datetime64[us]").astype(np.int64)


def _codes_matrix(texts: list, item_codes: list[str]) -> np.ndarray:
    """ratings x items from each rating's frozen codes as JSON text: NaN where a code is
    absent (unscored), OMITTED where it is null (omitted)."""
    n = len(texts)
    codes = np.full((n, len(item_codes)), np.nan)
    if not n or not item_codes:
        return codes
    # The codes are item codes mapped to integers or null: null is never part of a key.
    joined = "[" + ",".join(t if t is not None else "{}" for t in texts) + "]"
    frozen = json.loads(joined.replace("null", repr(OMITTED)))
    if len(item_codes) == 1:
        getter = operator.itemgetter(item_codes[0])
        try:
            codes[:, 0] = [getter(f) for f in frozen]
            return codes
        except KeyError:
            pass
    else:
        try:
            codes[:] = list(map(operator.itemgetter(*item_codes), frozen))
            return codes
        except KeyError:
            pass  # some rating lacks a code (unscored, or another version's items)
    for j, code in enumerate(item_codes):
        codes[:, j] = [f.get(code, np.nan) for f in frozen]
    return codes


def cohort_data(*, cohort: Cohort, instrument: Instrument) -> CohortData:
    """Load the snapshot: a fixed number of queries whatever the number of trainees or
    ratings, and no Python loop over the item codes of every rating."""
    trainee_names = dict(cohort.trainees.values_list("id", "username"))
    ratings_q = Rating.objects.filter(
        attempt__organization=cohort.organization,
        attempt__user__cohorts_as_trainee=cohort,
        submitted_at__isnull=False,
        instrument_version__instrument=instrument,
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

    code_columns = _code_columns(item_codes)
    in_sql = code_columns is not None
    last = (RawSQL(f'"{Rating._meta.db_table}"."codes" IS NULL', ()) if in_sql
            else Cast("codes", output_field=TextField()))
    query = ratings_q.order_by("submitted_at", "id").annotate(
        codes_last=last, submitted=EpochMicroseconds("submitted_at"),
        **(code_columns or {})).values_list(
        "id", "attempt__user_id", "vignette_revision_id", "instrument_version_id",
        "attempt_id", "submitted", "applicable", "reference_scoring_id",
        "reference_scoring__applicable", "total", "band_code", "codes_last",
        *(code_columns or {}),
    )
    # Read in chunks, each turned into arrays at once: the Python objects of one chunk at a
    # time, never of every rating (a dashboard of 10,000 trainees reads 600,000 ratings).
    parts = [list(_chunk_arrays(chunk, item_codes, in_sql)) for chunk in _fetch_chunks(query)]
    cols = []
    for k, empty in enumerate(_chunk_arrays([], item_codes, in_sql)):
        cols.append(np.concatenate([p[k] for p in parts]) if parts else empty)
        for p in parts:  # let each chunk's column go as soon as it is copied
            p[k] = None
    (rating_ids, trainee, revision, version, attempt, submitted_us, applicable, reference_ids,
     ref_applicable, total, band, codes, legacy_mask) = cols
    n = len(rating_ids)
    # Submitted ratings carry their codes frozen as JSON (one row per rating); ratings from
    # before that snapshot existed are read from their item rows.
    legacy = rating_ids[legacy_mask].tolist()
    if legacy:
        position = {rating_id: i for i, rating_id in enumerate(rating_ids.tolist())}
        for rating_id, item_id, value in RatingItem.objects.filter(
            rating_id__in=legacy
        ).values_list("rating_id", "item_id", "value"):
            codes[position[rating_id], column[code_of_item[item_id]]] = (
                OMITTED if value is None else value)

    ref_ids = set(np.unique(reference_ids[reference_ids > 0]).tolist())
    ref_rows = defaultdict(dict)
    rationale = {}
    for ref_id, item_id, value, text in ReferenceItemScore.objects.filter(
        reference_scoring_id__in=ref_ids
    ).values_list("reference_scoring_id", "item_id", "value", "rationale"):
        code = code_of_item[item_id]
        ref_rows[ref_id][code] = OMITTED if value is None else float(value)
        rationale[(ref_id, code)] = text
    # One row of reference codes per reference scoring, broadcast to its ratings.
    ref_list = sorted(ref_rows)
    ref_table = np.full((len(ref_list) + 1, len(item_codes)), np.nan)
    for k, ref_id in enumerate(ref_list, start=1):
        for code, value in ref_rows[ref_id].items():
            ref_table[k, column[code]] = value
    ref_row = np.searchsorted(np.array(ref_list, dtype=np.int64), reference_ids) + 1
    known = np.isin(reference_ids, np.array(ref_list, dtype=np.int64))
    ref_row = np.where(known, ref_row, 0).astype(np.int32)

    bands_by_version = _bands(instrument)
    # First submitted rating of each trainee x revision x version (rows are in time order,
    # and np.unique names the first occurrence).
    first = np.zeros(n, dtype=bool)
    if n:
        key = np.zeros(n, dtype=np.int64)
        for part in (trainee, revision, version):
            values, dense = np.unique(part, return_inverse=True)
            key = key * len(values) + dense.reshape(-1)
        first[np.unique(key, return_index=True)[1]] = True
    revisions = {
        rid: (slug, title, number)
        for rid, slug, title, number in VignetteRevision.objects.filter(
            id__in=set(np.unique(revision).tolist())
        ).values_list("id", "vignette__slug", "title", "number")
    }
    return _assemble(
        cohort=cohort,
        instrument=instrument,
        trainee_names=trainee_names,
        item_codes=item_codes,
        item_names=item_names,
        item_values={c: sorted(v) for c, v in allowed.items()},
        rating_ids=rating_ids,
        trainee=trainee,
        revision=revision,
        version=version,
        attempt=attempt,
        submitted_us=submitted_us,
        applicable=applicable,
        ref_applicable=ref_applicable,
        total=total,
        band=band,
        first=first,
        codes=codes,
        ref_table=ref_table,
        ref_row=ref_row,
        revisions=revisions,
        reference_ids=reference_ids,
        rationale=rationale,
        bands_by_version=dict(bands_by_version),
        total_tolerance=CertificationRule.objects.filter(
            organization=cohort.organization, instrument=instrument,
        ).values_list("total_tolerance", flat=True).first(),
    )


def _assemble(*, ref_table, ref_row, version, bands_by_version, **fields) -> CohortData:
    """The CohortData of the loaded (or unpacked) arrays: the reference codes broadcast from
    one row per reference scoring, the reference totals and bands from the scoring rule (the
    sum of the scored values)."""
    instrument = fields["instrument"]
    codes = fields["codes"]
    ref_codes = ref_table[ref_row] if len(ref_row) else np.full_like(codes, np.nan)
    # Totals and bands once per reference scoring (row of ref_table), then broadcast.
    table_total = np.where(
        np.isnan(ref_table).all(axis=1),
        np.nan,
        np.nansum(np.where(ref_table == OMITTED, 0, ref_table), axis=1),
    ) if ref_table.shape[1] else np.full(len(ref_table), np.nan)
    not_applicable = fields["ref_applicable"] == 0
    ref_total = table_total[ref_row] if len(ref_row) else np.zeros(0)
    ref_total[not_applicable] = np.nan
    # A reference scoring belongs to one instrument version: its first rating names it.
    rows_of, first_of = np.unique(ref_row, return_index=True)
    table_band = np.full(len(ref_table), "", dtype=object)
    for k, i in zip(rows_of.tolist(), first_of.tolist(), strict=True):
        table_band[k] = _band_for(bands_by_version.get(int(version[i]), []), table_total[k])
    ref_band = table_band[ref_row].astype(str) if len(ref_row) else np.zeros(0, dtype="<U1")
    ref_band[not_applicable] = ""
    data = CohortData(
        ref_codes=ref_codes,
        ref_total=ref_total,
        ref_band=ref_band,
        bands=sorted(((code, low, high) for low, high, code in bands_by_version.get(
            instrument.current_version_id, [])), key=lambda b: b[1]),
        **fields,
    )
    data._packing = {"ref_table": ref_table, "ref_row": ref_row, "version": version,
                     "bands_by_version": bands_by_version}
    return data


_ARRAYS = ("rating_ids", "trainee", "revision", "attempt", "submitted_us", "applicable",
           "ref_applicable", "total", "band", "first", "reference_ids")
_SMALL = ("trainee_names", "item_codes", "item_names", "item_values", "revisions",
          "rationale", "total_tolerance")


def pack(data: CohortData) -> dict:
    """The snapshot as compact arrays (what the snapshot cache stores): codes as small
    integers where they fit, the reference codes once per reference scoring."""
    out = {name: getattr(data, name) for name in _ARRAYS + _SMALL}
    out.update(data._packing)
    codes = data.codes
    finite = codes[~np.isnan(codes)]
    if finite.size == 0 or (np.all(finite == np.round(finite))
                            and ((finite == OMITTED) | ((finite >= -100) & (finite <= 127))).all()):
        small = np.where(np.isnan(codes), -128, np.where(codes == OMITTED, -127, codes))
        out["codes"] = ("int8", small.astype(np.int8))
    else:
        out["codes"] = ("float", codes)
    return out


def unpack(packed: dict, *, cohort: Cohort, instrument: Instrument) -> CohortData:
    packed = dict(packed)
    kind, codes = packed.pop("codes")
    if kind == "int8":
        small = codes
        codes = small.astype(float)
        codes[small == -128] = np.nan
        codes[small == -127] = OMITTED
    return _assemble(cohort=cohort, instrument=instrument, codes=codes, **packed)


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


def instructor_cohorts_counted(*, membership) -> list[Cohort]:
    """instructor_cohorts with each cohort's number of trainees (``trainee_count``), in one
    query however many cohorts there are."""
    qs = Cohort.objects.filter(organization=membership.organization)
    if membership.role != "org_admin":
        qs = qs.filter(instructors=membership.user)
    return list(qs.annotate(trainee_count=Count("trainees", distinct=True)).order_by("name"))


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
