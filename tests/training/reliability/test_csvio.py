import io

import numpy as np
import pytest

from training.reliability import RatingsFileError, read_ratings_csv


def _read(text, **kwargs):
    return read_ratings_csv(io.StringIO(text), **kwargs)


def test_plain_long_format_with_missing_values():
    data = _read("unit,rater,value\nv1,a,1\nv1,b,2\nv2,a,0\nv2,b,\nv3,b,1\n").items[None]
    assert data.units == ["v1", "v2", "v3"]
    assert data.raters == ["a", "b"]
    assert np.array_equal(data.matrix, [[1, 2], [0, np.nan], [np.nan, 1]], equal_nan=True)
    assert data.ratings == 4 and data.missing == 2


def test_items_and_reference_flag():
    text = ("unit,rater,item,value,reference\n"
            "v1,a,x,1,0\nv1,b,x,2,0\nv1,ref,x,1,1\n"
            "v1,a,y,0,0\nv1,b,y,0,0\nv1,ref,y,1,1\n")
    result = _read(text)
    assert result.has_reference
    assert set(result.items) == {"x", "y"}
    x = result.items["x"]
    assert x.raters == ["a", "b"]  # the reference is not one of the raters
    t, r = x.reference_pairs["b"]
    assert t.tolist() == [2.0] and r.tolist() == [1.0]


def test_cohort_export_as_is():
    text = (
        "trainee,vignette,vignette_revision,instrument,instrument_version,item,value,"
        "reference_value,attempt,first_rating,submitted_at\n"
        "t1,v1,1,stable-2007,1,S1,1,1,10,true,2025-01-01T10:00:00Z\n"
        "t2,v1,1,stable-2007,1,S1,2,1,11,true,2025-01-01T10:00:00Z\n"
        "t1,v1,1,stable-2007,1,S1,2,1,12,false,2025-02-01T10:00:00Z\n"
        "t1,v2,1,stable-2007,1,S1,0,0,13,true,2025-02-01T10:00:00Z\n"
    )
    result = _read(text, unit_column="vignette", rater_column="trainee")
    s1 = result.items["S1"]
    # Only first ratings enter the among-raters matrix ...
    assert np.array_equal(s1.matrix, [[1, 2], [0, np.nan]], equal_nan=True)
    # ... while every submitted rating counts for agreement with the reference.
    t, r = s1.reference_pairs["t1"]
    assert t.tolist() == [1.0, 2.0, 0.0] and r.tolist() == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("text, message", [
    ("", "the file is empty"),
    ("unit,rater\nv1,a\n", "missing column 'value'"),
    ("unit,rater,value\nv1,a,high\n", "row 2, column 'value': 'high' is not a number"),
    ("unit,rater,value\nv1,a,1\nv2,a,2\nv1,a,3\n",
     "row 4: rater 'a' rated unit 'v1' twice (also row 2)"),
    ("unit,rater,value\nv1,a,1,9\n", "row 2: 4 fields where the header has 3"),
    ("unit,rater,value\n", "no ratings"),
    ("unit,rater,value\n,a,1\n", "row 2, column 'unit': empty"),
    ("unit,rater,value,reference\nv1,a,1,maybe\n", "'maybe' is not 0 or 1"),
    ("unit,rater,value,reference_value\nv1,a,1,1\nv1,b,1,2\n", "reference value 2"),
    ("unit,rater,value\nv1,a,inf\n", "not a finite number"),
])
def test_malformed_files_raise_one_clear_line(text, message):
    with pytest.raises(RatingsFileError) as info:
        _read(text)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_column_mapping_and_missing_mapped_column():
    data = _read("case,coder,score\nv1,a,1\nv1,b,1\n", unit_column="case",
                 rater_column="coder", value_column="score").items[None]
    assert data.matrix.tolist() == [[1.0, 1.0]]
    with pytest.raises(RatingsFileError, match="--unit-column"):
        _read("case,coder,score\nv1,a,1\n")


def test_missing_file_is_a_ratings_file_error(tmp_path):
    with pytest.raises(RatingsFileError, match="cannot open"):
        read_ratings_csv(tmp_path / "nope.csv")
