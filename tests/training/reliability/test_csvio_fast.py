"""The vectorised reader (training/reliability/_csvfast.py) against the row-by-row reader.

On every file the row-by-row reader accepts, read_ratings_csv returns exactly what it returns;
on every file it refuses, the same one-line message naming the same row.
"""

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.reliability import RatingsFileError, _csvfast, csvio, read_ratings_csv

OPTIONS = {"unit_column": "unit", "rater_column": "rater", "value_column": "value",
           "item_column": None, "reference_column": None, "reference_flag_column": None,
           "first_rating_column": None}


def _slow(text, **kwargs):
    return csvio._read(io.StringIO(text), fast=False, **{**OPTIONS, **kwargs})


def _outcome(read):
    try:
        return read()
    except RatingsFileError as exc:
        return str(exc)


def _same(fast, slow):
    if isinstance(slow, str) or isinstance(fast, str):
        assert fast == slow
        return
    assert fast.has_reference == slow.has_reference
    assert list(fast.items) == list(slow.items)
    for item, a in fast.items.items():
        b = slow.items[item]
        assert a.units == b.units and a.raters == b.raters
        assert a.matrix.shape == b.matrix.shape
        assert np.array_equal(a.matrix, b.matrix, equal_nan=True)
        assert list(a.reference_pairs) == list(b.reference_pairs)
        for rater, (t, r) in a.reference_pairs.items():
            t2, r2 = b.reference_pairs[rater]
            assert t.dtype == t2.dtype == float
            assert np.array_equal(t, t2, equal_nan=True) and np.array_equal(r, r2, equal_nan=True)


def _fast_only(text, **kwargs):
    """The vectorised reader alone (raises Doubt where it would hand over)."""
    handle = io.StringIO(text)
    reader = csvio.csv.reader(handle)
    header = [h.strip() for h in next(reader)]
    columns = {name: i for i, name in enumerate(header)}
    return _csvfast.read_fast(handle, header, columns["unit"], columns["rater"],
                              columns["value"], columns.get("item"), columns.get("reference"),
                              columns["reference_value"] if kwargs.get("reference_value") else None,
                              columns.get("first_rating"), None)


# Names of up to 8 bytes are packed into NumPy keys, longer ones stay strings: mix both, and
# a non-ASCII name (that block goes the string way too).
UNITS = st.sampled_from(["v1", "v2", " v3", "v3", "v1 ", "", "a@r1", "a", "vignette-twelve",
                         "vignette-twelve ", "vé"])
RATERS = st.sampled_from(["a", "b", "c ", "c", "", "ref", "someone@example.org"])
VALUES = st.sampled_from(["0", "1", "2", " 2", "2.0", "", "x", "inf", "-0", "1e0", "nan"])
FLAGS = st.sampled_from(["0", "1", "", "yes", "N", "maybe", " true"])
ITEMS = st.sampled_from(["S1", "S2", " S2", ""])


@st.composite
def messy_files(draw):
    """Small long-format files with every kind of cell the reader must judge."""
    extra = draw(st.sampled_from(["", "item", "reference", "reference_value", "first_rating",
                                  "item,reference_value,first_rating",
                                  "vignette_revision"]))
    header = ["unit", "rater", "value"] + [c for c in extra.split(",") if c]
    rows = []
    for _ in range(draw(st.integers(0, 14))):
        kind = draw(st.integers(0, 19))
        if kind == 0:
            rows.append("")  # blank line
        elif kind == 1:
            rows.append(",".join(["v1", "a"] + ["1"] * (len(header) - 2) + ["9"]))  # too wide
        else:
            cells = [draw(UNITS), draw(RATERS), draw(VALUES)]
            for column in header[3:]:
                cells.append(draw({"item": ITEMS, "reference": FLAGS, "first_rating": FLAGS,
                                   "reference_value": VALUES,
                                   "vignette_revision": st.sampled_from(["1", "", "2"])}[
                                       column]))
            quoting = draw(st.integers(0, 19))
            if quoting < 2:
                cells[0] = f'"{cells[0]}"'  # quoted: the csv module path
            elif quoting == 2:
                cells[0] = '"v\r\n1"'  # a line end inside a quoted field stays as written
            rows.append(",".join(cells))
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    text = ending.join([",".join(header), *rows]) + draw(st.sampled_from(["", ending]))
    if "vignette_revision" in header:
        text = text.replace("unit,", "vignette,", 1)
    return text


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy_files(), st.integers(1, 64))
def test_any_file_reads_as_the_row_reader_reads_it(text, block):
    _csvfast.BLOCK, saved = block, _csvfast.BLOCK  # tiny blocks: lines cut across reads
    try:
        fast = _outcome(lambda: read_ratings_csv(io.StringIO(text)))
    finally:
        _csvfast.BLOCK = saved
    slow = _outcome(lambda: _slow(text))
    _same(fast, slow)


def test_a_plain_file_and_the_cohort_export_are_read_without_handing_over():
    plain = "unit,rater,value\n" + "".join(f"u{u},r{r},{(u + r) % 4}\n" for u in range(30)
                                           for r in range(5) if (u * r) % 7)
    (units, raters, matrix, _), = _fast_only(plain).values()
    _same(read_ratings_csv(io.StringIO(plain)), _slow(plain))
    slow = _slow(plain).items[None]
    assert units == slow.units and raters == slow.raters
    assert np.array_equal(matrix, slow.matrix, equal_nan=True)
    export = ("unit,rater,item,value,reference_value,first_rating\n"
              "v1,t1,S1,1,1,true\nv1,t2,S1,2,1,true\nv1,t1,S1,2,1,false\nv2,t1,S1,0,0,true\n"
              "v1,t1,S2,0,0,true\nv2,t2,S2,,0,true\n")
    items = _fast_only(export, reference_value=True)
    assert list(items) == ["S1", "S2"]
    t, r = items["S1"][3]["t1"]
    assert t.tolist() == [1.0, 2.0, 0.0] and r.tolist() == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("bad, message", [
    ("u7,r3,high", "row 3002, column 'value': 'high' is not a number"),
    ("u7,,2", "row 3002, column 'rater': empty"),
    ("u7,r3,2,1", "row 3002: 4 fields where the header has 3"),
    ("u0,r0,2", "row 3002: rater 'r0' rated unit 'u0' twice (also row 2)"),
    ("u7,r3,nan", "row 3002, column 'value': 'nan' is not a finite number"),
])
def test_a_bad_row_deep_in_a_large_file_is_named_by_its_line(tmp_path, bad, message):
    rows = [f"u{i // 100},r{i % 100},{i % 5}" for i in range(6000)]
    rows.insert(3000, bad)  # line 3002: the header is line 1
    path = tmp_path / "big.csv"
    path.write_text("unit,rater,value\n" + "\n".join(rows) + "\n")
    with pytest.raises(RatingsFileError) as info:
        read_ratings_csv(path)
    assert str(info.value) == f"big.csv, {message}"


def test_blank_lines_crlf_quotes_and_a_bom_read_as_before(tmp_path):
    text = ('\ufeffunit,rater,value\r\nv1,a,1\r\n\r\n"v1",b,2\r\nv2,"a",0\r\n'
            '"v2\nsplit",b,1\r\n')
    path = tmp_path / "excel.csv"
    path.write_text(text, encoding="utf-8", newline="")
    got = read_ratings_csv(path).items[None]
    assert got.units == ["v1", "v2", "v2\nsplit"]
    path.write_text('unit,rater,value\r\n"v1\r\nx",a,1\r\n', encoding="utf-8", newline="")
    assert read_ratings_csv(path).items[None].units == ["v1\r\nx"]  # kept as written
    _same(read_ratings_csv(path), csvio._read(path, fast=False, **OPTIONS))
