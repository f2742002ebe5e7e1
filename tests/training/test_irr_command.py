import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

DATA = Path(__file__).resolve().parents[1] / "data"
SF_CSV = DATA / "shrout_fleiss_1979.csv"
# Shrout & Fleiss (1979), Table 4.
PUBLISHED = {"icc_1_1": 0.17, "icc_2_1": 0.29, "icc_3_1": 0.71,
             "icc_1_k": 0.44, "icc_2_k": 0.62, "icc_3_k": 0.91}


def _run(*args):
    from io import StringIO

    out = StringIO()
    call_command("irr", *map(str, args), stdout=out)
    return out.getvalue()


def test_shrout_fleiss_csv_prints_the_six_published_iccs():
    result = json.loads(_run(SF_CSV))
    assert (result["units"], result["raters"], result["ratings"], result["missing"]) == \
        (6, 4, 24, 0)
    for name, published in PUBLISHED.items():
        assert round(result["statistics"][name]["value"], 2) == published
    assert result["statistics"]["icc_2_1"]["name"] == "ICC(2,1) = ICC(A,1)"
    assert "cohen_kappa" not in result["statistics"]  # four raters


def test_statistic_filter_and_table_format():
    result = json.loads(_run(SF_CSV, "--statistic", "icc_2_1", "--statistic", "icc_3_k"))
    assert list(result["statistics"]) == ["icc_2_1", "icc_3_k"]
    table = _run(SF_CSV, "--format", "table", "--statistic", "icc_3_1")
    assert "ICC(3,1) = ICC(C,1)" in table and "0.7148" in table


def test_items_reference_and_column_mapping(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(
        "trainee,vignette,item,value,reference_value,first_rating\n"
        "t1,v1,S1,1,1,true\nt2,v1,S1,2,1,true\nt1,v2,S1,0,0,true\nt2,v2,S1,0,0,true\n"
        "t1,v3,S1,2,2,true\nt2,v3,S1,2,2,true\n"
        "t1,v1,S2,0,0,true\nt2,v1,S2,0,0,true\nt1,v2,S2,1,1,true\nt2,v2,S2,0,1,true\n"
    )
    result = json.loads(_run(path, "--unit-column", "vignette", "--rater-column", "trainee"))
    assert set(result["items"]) == {"S1", "S2"}
    s1 = result["items"]["S1"]
    assert s1["units"] == 3 and s1["raters"] == 2
    assert "cohen_kappa_quadratic" in s1["statistics"]
    assert s1["reference"]["t2"]["mean_signed_deviation"]["value"] == pytest.approx(1 / 3)
    assert s1["reference"]["t1"]["exact_agreement"]["value"] == 1.0


@pytest.mark.parametrize("content, message", [
    ("", "empty"),
    ("unit,rater\nv1,a\n", "missing column 'value'"),
    ("unit,rater,value\nv1,a,x\n", "row 2, column 'value'"),
    ("unit,rater,value\nv1,a,1\nv1,a,2\n", "rated unit 'v1' twice"),
])
def test_malformed_input_exits_2_with_one_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(CommandError) as info:
        _run(path)
    assert info.value.returncode == 2
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_statistic_exits_2():
    with pytest.raises(CommandError) as info:
        _run(SF_CSV, "--statistic", "kappa")
    assert info.value.returncode == 2


def test_every_value_carries_the_gate_a_page_would_apply(tmp_path):
    # The published 6-unit example still prints its values, flagged as not enough for a page:
    # 24 pairable values at 4 a unit, so 9 more units reach 60.
    result = json.loads(_run(SF_CSV))
    assert result["sufficiency"]["sufficient"] is False
    assert (result["sufficiency"]["units"], result["sufficiency"]["pairable"]) == (6, 24)
    icc21 = result["statistics"]["icc_2_1"]
    assert icc21["value"] is not None and icc21["sufficient"] is False
    assert icc21["units_needed"] == 9 and "not enough data" in icc21["gate_reason"]
    table = _run(SF_CSV, "--format", "table", "--statistic", "icc_2_1")
    assert "NOT sufficient for a page (9 more units needed)" in table
    assert "9 more units needed before a page shows it" in table
    # 12 units x 6 raters: sufficient, indicative (fewer than 25 units).
    rows = ["unit,rater,value"] + [f"u{u},r{r},{(u * 7 + r) % 5}" for u in range(12)
                                   for r in range(6)]
    path = tmp_path / "twelve.csv"
    path.write_text("\n".join(rows) + "\n")
    big = json.loads(_run(path, "--statistic", "krippendorff_alpha_interval"))
    alpha = big["statistics"]["krippendorff_alpha_interval"]
    assert alpha["sufficient"] is True and alpha["units"] == 12 and alpha["pairable"] == 72
    assert alpha["units_needed"] == 0 and alpha["decision_grade"] is False
    assert "(indicative, not decision-grade)" in _run(path, "--format", "table")
