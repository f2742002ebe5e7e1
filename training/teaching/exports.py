"""Long-format CSV exports: one row per item rating, readable as is by `manage.py irr` and
pingouin, and by R (irr, irrCAC) and krippendorff after one pivot (docs/statistics.md)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from training.models import Cohort, Rating, RatingItem
from vignettes.models import ReferenceItemScore

EXPORT_COLUMNS = [
    "trainee", "vignette", "vignette_revision", "instrument", "instrument_version", "item",
    "value", "reference_value", "attempt", "first_rating", "submitted_at",
]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell) -> str:
    """Spreadsheet formula injection: text that a spreadsheet would run as a formula gets a
    leading apostrophe. Numbers (including negative codes such as -3) stay numbers."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "1" if cell else "0"
    if isinstance(cell, int | float):
        return str(cell)
    text = str(cell)
    if text.startswith(_FORMULA_START):
        try:
            float(text)
        except ValueError:
            return "'" + text
    return text


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([neutralise(c) for c in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)


def cohort_export_rows(*, cohort: Cohort, instrument=None) -> Iterator[list]:
    """Every item rating of the cohort's trainees' submitted ratings, in submission order.

    `first_rating` marks each trainee's first submitted rating per vignette revision x
    instrument version (the ratings reliability among trainees uses). `reference_value` is
    empty where the reference judged the instrument not applicable or omitted the item.
    """
    yield EXPORT_COLUMNS
    ratings = Rating.objects.filter(
        attempt__organization=cohort.organization,
        attempt__user__cohorts_as_trainee=cohort,
        submitted_at__isnull=False,
    )
    if instrument is not None:
        ratings = ratings.filter(instrument_version__instrument=instrument)
    rows = list(
        ratings.order_by("submitted_at", "id").values_list(
            "id", "attempt__user__username", "vignette_revision__vignette__slug",
            "vignette_revision__number", "instrument_version__instrument__slug",
            "instrument_version__number", "attempt_id", "submitted_at", "reference_scoring_id",
            "reference_scoring__applicable", "attempt__user_id", "vignette_revision_id",
            "instrument_version_id",
        )
    )
    first, seen = set(), set()
    for row in rows:
        key = (row[10], row[11], row[12])
        if key not in seen:
            seen.add(key)
            first.add(row[0])

    reference = {
        (ref_id, item_id): value
        for ref_id, item_id, value in ReferenceItemScore.objects.filter(
            reference_scoring_id__in={r[8] for r in rows if r[8]}
        ).values_list("reference_scoring_id", "item_id", "value")
    }
    items = RatingItem.objects.filter(rating__in=ratings).order_by("rating_id", "item__order")
    by_rating: dict[int, list] = {}
    for rating_id, item_id, code, value in items.values_list(
        "rating_id", "item_id", "item__code", "value"
    ):
        by_rating.setdefault(rating_id, []).append((item_id, code, value))
    for row in rows:
        ref_applicable = bool(row[9])
        for item_id, code, value in by_rating.get(row[0], []):
            ref_value = reference.get((row[8], item_id)) if ref_applicable else None
            yield [
                row[1], row[2], row[3], row[4], row[5], code, value, ref_value, row[6],
                row[0] in first, row[7].isoformat(),
            ]
