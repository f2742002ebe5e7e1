"""Reading long-format ratings CSV files (one row per rating) into units x raters matrices.

Two shapes are read:

* the plain format: ``unit,rater,value`` with an optional ``item`` column and an optional
  ``reference`` column whose 1 marks the rows of the reference rater;
* Calibrate's cohort export (``trainee,vignette,vignette_revision,...,item,value,
  reference_value,attempt,first_rating,...``) as is: without ``unit``/``rater`` columns the
  unit is the vignette revision (``slug@rN``) and the rater the trainee; the
  ``reference_value`` of each row is the reference code for that vignette and item, and when a
  ``first_rating`` column is present only first ratings enter the among-raters matrix (repeated
  practice must not inflate reliability) while every row counts for agreement with the
  reference.

Any problem raises :class:`RatingsFileError` with one line naming the row and column.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._csvfast import Doubt, read_fast

_TRUE = {"1", "true", "t", "yes", "y"}
_FALSE = {"0", "false", "f", "no", "n", ""}


class RatingsFileError(ValueError):
    """A ratings file that cannot be read; the message is one line naming row and column."""


@dataclass
class RatingsMatrix:
    """One item's ratings: a units x raters matrix and, if known, the reference per rater."""

    units: list[str]
    raters: list[str]
    matrix: np.ndarray  # units x raters, NaN = missing
    # For agreement with the reference: per rater, aligned (trainee values, reference values).
    reference_pairs: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @property
    def ratings(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.matrix)))

    @property
    def missing(self) -> int:
        return int(self.matrix.size - self.ratings)


@dataclass
class RatingsFile:
    """Everything read from one file: one :class:`RatingsMatrix` per item (``None`` = no item
    column), and whether a reference was present."""

    items: dict[str | None, RatingsMatrix]
    has_reference: bool


def _open_text(source: str | Path | io.TextIOBase) -> tuple[io.TextIOBase, str]:
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            return path.open(newline="", encoding="utf-8-sig"), path.name
        except OSError as exc:
            raise RatingsFileError(f"{path}: cannot open ({exc.strerror})") from None
    return source, getattr(source, "name", "<input>")


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise RatingsFileError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise RatingsFileError(f"{where}: {text!r} is not a finite number")
    return value


def read_ratings_csv(
    source: str | Path | io.TextIOBase,
    *,
    unit_column: str = "unit",
    rater_column: str = "rater",
    value_column: str = "value",
    item_column: str | None = None,
    reference_column: str | None = None,
    reference_flag_column: str | None = None,
    first_rating_column: str | None = None,
) -> RatingsFile:
    """Read a long-format ratings CSV.

    ``item_column`` defaults to ``item`` when that column exists. A reference comes either
    from ``reference_flag_column`` (default ``reference`` when present: 1 marks the reference
    rater's rows) or from ``reference_column`` (default ``reference_value`` when present: the
    reference code on every row). ``first_rating_column`` defaults to ``first_rating`` when
    present. Empty value cells are missing ratings.

    Example::

        >>> f = io.StringIO("unit,rater,value\\nv1,a,1\\nv1,b,2\\nv2,a,0\\nv2,b,\\n")
        >>> read_ratings_csv(f).items[None].matrix.tolist()
        [[1.0, 2.0], [0.0, nan]]
    """
    options = {"unit_column": unit_column, "rater_column": rater_column,
                   "value_column": value_column, "item_column": item_column,
                   "reference_column": reference_column,
                   "reference_flag_column": reference_flag_column,
                   "first_rating_column": first_rating_column}
    start = None
    if not isinstance(source, (str, Path)):
        if not source.seekable():
            label = getattr(source, "name", "<input>")
            source = io.StringIO(source.read())
            source.name = label
        start = source.tell()
    try:
        return _read(source, fast=True, **options)
    except Doubt:
        # Something the vectorised reader is not sure of: the row-by-row reader decides and
        # names the row (or, on files both accept, returns the same result).
        if start is not None:
            source.seek(start)
        return _read(source, fast=False, **options)


def _read(source, *, fast: bool, unit_column: str, rater_column: str, value_column: str,
          item_column: str | None, reference_column: str | None,
          reference_flag_column: str | None, first_rating_column: str | None) -> RatingsFile:
    handle, label = _open_text(source)
    try:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise RatingsFileError(f"{label}: the file is empty") from None
        except csv.Error as exc:
            raise RatingsFileError(f"{label}, row 1: not valid CSV ({exc})") from None
        header = [h.strip() for h in header]
        if not any(header):
            raise RatingsFileError(f"{label}: the file is empty")
        columns = {name: i for i, name in enumerate(header)}

        def need(name: str, option: str) -> int:
            if name not in columns:
                raise RatingsFileError(
                    f"{label}: missing column {name!r} (columns: {', '.join(header)}; "
                    f"map yours with {option})")
            return columns[name]

        # Calibrate's cohort export names its columns for people: a vignette revision is the
        # unit and a trainee the rater, unless the file has plain unit/rater columns.
        revision_i = None
        if unit_column == "unit" and "unit" not in columns and "vignette" in columns:
            unit_column = "vignette"
            revision_i = columns.get("vignette_revision")
        if rater_column == "rater" and "rater" not in columns and "trainee" in columns:
            rater_column = "trainee"
        unit_i = need(unit_column, "--unit-column")
        rater_i = need(rater_column, "--rater-column")
        value_i = need(value_column, "--value-column")
        item_name = item_column if item_column is not None else (
            "item" if "item" in columns else None)
        item_i = need(item_name, "--item-column") if item_name else None
        ref_flag_name = reference_flag_column if reference_flag_column is not None else (
            "reference" if "reference" in columns else None)
        ref_flag_i = need(ref_flag_name, "--reference-flag-column") if ref_flag_name else None
        ref_value_name = reference_column if reference_column is not None else (
            "reference_value" if "reference_value" in columns and ref_flag_i is None else None)
        ref_value_i = need(ref_value_name, "--reference-column") if ref_value_name else None
        first_name = first_rating_column if first_rating_column is not None else (
            "first_rating" if "first_rating" in columns else None)
        first_i = need(first_name, "--first-rating-column") if first_name else None
        has_reference = ref_flag_i is not None or ref_value_i is not None
        if fast:
            items = read_fast(handle, header, unit_i, rater_i, value_i, item_i, ref_flag_i,
                              ref_value_i, first_i, revision_i)
            return RatingsFile(
                items={item: RatingsMatrix(units=units, raters=raters, matrix=matrix,
                                           reference_pairs=pairs)
                       for item, (units, raters, matrix, pairs) in items.items()},
                has_reference=has_reference)
        rows = _read_rows(reader, label, header, unit_i, rater_i, value_i, item_i,
                          ref_flag_i, ref_value_i, first_i, revision_i)
    finally:
        if isinstance(source, (str, Path)):
            handle.close()
    if not rows:
        raise RatingsFileError(f"{label}: the file has a header but no ratings")
    return _build(rows, label, has_reference=has_reference)


@dataclass
class _Row:
    line: int
    unit: str
    rater: str
    item: str | None
    value: float
    reference_flag: bool
    reference_value: float | None
    first: bool


def _read_rows(reader, label, header, unit_i, rater_i, value_i, item_i, ref_flag_i,
               ref_value_i, first_i, revision_i=None) -> list[_Row]:
    rows: list[_Row] = []
    try:
        for line, record in enumerate(reader, start=2):
            if not any(cell.strip() for cell in record):
                continue
            if len(record) != len(header):
                raise RatingsFileError(
                    f"{label}, row {line}: {len(record)} fields where the header has "
                    f"{len(header)}")

            def cell(i: int, record: list[str] = record) -> str:
                return record[i].strip()

            def where(i: int, line: int = line) -> str:
                return f"{label}, row {line}, column {header[i]!r}"

            for i in (unit_i, rater_i) + ((item_i,) if item_i is not None else ()):
                if not cell(i):
                    raise RatingsFileError(f"{where(i)}: empty")
            value = _number(cell(value_i), where(value_i)) if cell(value_i) else math.nan
            flag = False
            if ref_flag_i is not None:
                text = cell(ref_flag_i).lower()
                if text not in _TRUE | _FALSE:
                    raise RatingsFileError(f"{where(ref_flag_i)}: {cell(ref_flag_i)!r} is not "
                                           "0 or 1")
                flag = text in _TRUE
            ref_value = None
            if ref_value_i is not None:
                if not cell(ref_value_i):
                    # No reference code (the reference judged the instrument not applicable,
                    # or omitted the item): such ratings enter no statistic (DESIGN.md).
                    continue
                ref_value = _number(cell(ref_value_i), where(ref_value_i))
            first = True
            if first_i is not None:
                text = cell(first_i).lower()
                if text not in _TRUE | _FALSE:
                    raise RatingsFileError(f"{where(first_i)}: {cell(first_i)!r} is not a "
                                           "boolean")
                first = text in _TRUE
            unit = cell(unit_i)
            if revision_i is not None and cell(revision_i):
                unit = f"{unit}@r{cell(revision_i)}"
            rows.append(_Row(line, unit, cell(rater_i),
                             cell(item_i) if item_i is not None else None, value, flag,
                             ref_value, first))
    except csv.Error as exc:
        raise RatingsFileError(f"{label}, row {reader.line_num}: not valid CSV ({exc})") from None
    return rows


def _build(rows: Iterable[_Row], label: str, has_reference: bool) -> RatingsFile:
    by_item: dict[str | None, list[_Row]] = {}
    for row in rows:
        by_item.setdefault(row.item, []).append(row)
    items = {item: _build_item(item_rows, label) for item, item_rows in by_item.items()}
    return RatingsFile(items=items, has_reference=has_reference)


def _build_item(rows: list[_Row], label: str) -> RatingsMatrix:
    seen: dict[tuple[str, str], int] = {}
    reference: dict[str, tuple[float, int]] = {}
    among: list[_Row] = []
    for row in rows:
        if row.reference_flag:
            if row.unit in reference:
                raise RatingsFileError(
                    f"{label}, row {row.line}: the reference rated unit {row.unit!r}"
                    f"{_item_text(row)} twice (also row {reference[row.unit][1]})")
            reference[row.unit] = (row.value, row.line)
            continue
        if row.reference_value is not None:
            known = reference.get(row.unit)
            if known is not None and known[0] != row.reference_value:
                raise RatingsFileError(
                    f"{label}, row {row.line}: reference value {row.reference_value:g} for unit "
                    f"{row.unit!r}{_item_text(row)} differs from {known[0]:g} on row {known[1]}")
            reference.setdefault(row.unit, (row.reference_value, row.line))
        if not row.first:
            continue
        key = (row.unit, row.rater)
        if key in seen:
            raise RatingsFileError(
                f"{label}, row {row.line}: rater {row.rater!r} rated unit {row.unit!r}"
                f"{_item_text(row)} twice (also row {seen[key]})")
        seen[key] = row.line
        among.append(row)
    units = list(dict.fromkeys(row.unit for row in among))
    raters = list(dict.fromkeys(row.rater for row in among))
    unit_pos = {u: i for i, u in enumerate(units)}
    rater_pos = {r: j for j, r in enumerate(raters)}
    matrix = np.full((len(units), len(raters)), np.nan)
    for row in among:
        matrix[unit_pos[row.unit], rater_pos[row.rater]] = row.value
    pairs: dict[str, tuple[list[float], list[float]]] = {}
    if reference:
        for row in rows:
            if row.reference_flag or row.unit not in reference:
                continue
            trainee, ref = pairs.setdefault(row.rater, ([], []))
            trainee.append(row.value)
            ref.append(reference[row.unit][0])
    return RatingsMatrix(
        units=units, raters=raters, matrix=matrix,
        reference_pairs={r: (np.array(t, dtype=float), np.array(v, dtype=float))
                         for r, (t, v) in pairs.items()},
    )


def _item_text(row: _Row) -> str:
    return f" (item {row.item!r})" if row.item is not None else ""
