import pytest

from vignettes import scoring

STABLE = scoring.InstrumentSpec(
    "stable-2007",
    tuple(
        scoring.ItemSpec(f"STABLE-{i}", (0, 1, 2), omissible=(i == 3)) for i in range(1, 14)
    ),
    (
        scoring.BandSpec("low", "Low", 0, 3),
        scoring.BandSpec("moderate", "Moderate", 4, 11),
        scoring.BandSpec("high", "High", 12, 26),
    ),
)
S99R = scoring.InstrumentSpec(
    "static-99r",
    (scoring.ItemSpec("S99R-1", (-3, -1, 0, 1)),)
    + tuple(scoring.ItemSpec(f"S99R-{i}", (0, 1)) for i in (2, 3, 4))
    + (scoring.ItemSpec("S99R-5", (0, 1, 2, 3)),)
    + tuple(scoring.ItemSpec(f"S99R-{i}", (0, 1)) for i in range(6, 11)),
    (
        scoring.BandSpec("I", "I", -3, -2),
        scoring.BandSpec("II", "II", -1, 0),
        scoring.BandSpec("III", "III", 1, 3),
        scoring.BandSpec("IVa", "IVa", 4, 5),
        scoring.BandSpec("IVb", "IVb", 6, 12),
    ),
)


def stable(**overrides):
    states = {f"STABLE-{i}": 1 for i in range(1, 14)}
    states.update({k.replace("_", "-"): v for k, v in overrides.items()})
    return states


def test_complete_scoring_gives_total_and_band():
    result = scoring.score(STABLE, stable())
    assert (result.total, result.band_code, result.complete) == (13, "high", True)


def test_omitted_item_counts_zero_where_allowed():
    result = scoring.score(STABLE, stable(STABLE_3=None))
    assert result.total == 12
    assert result.omitted == 1
    assert result.complete


@pytest.mark.parametrize(
    ("age", "total", "band"),
    [(-3, -3, "I"), (-1, -1, "II"), (0, 0, "II"), (1, 1, "III")],
)
def test_negative_item_values_sum_into_the_right_band(age, total, band):
    states = {f"S99R-{i}": 0 for i in range(2, 11)} | {"S99R-1": age}
    result = scoring.score(S99R, states)
    assert (result.total, result.band_code) == (total, band)


def test_unscored_item_is_a_problem_and_withholds_the_band():
    states = stable()
    del states["STABLE-7"]
    result = scoring.score(STABLE, states)
    assert [p.kind for p in result.problems] == ["unscored"]
    assert result.unscored == ("STABLE-7",)
    assert result.total == 12
    assert result.band is None


def test_unknown_item_is_a_problem():
    result = scoring.score(STABLE, stable() | {"CPORT-1": 1})
    assert [(p.item_code, p.kind) for p in result.problems] == [("CPORT-1", "unknown_item")]


@pytest.mark.parametrize("bad", [3, -1, "1", 1.0, True])
def test_value_not_allowed_is_a_problem(bad):
    result = scoring.score(STABLE, stable(STABLE_1=bad))
    assert [(p.item_code, p.kind) for p in result.problems] == [("STABLE-1", "value_not_allowed")]
    assert "allowed: 0, 1, 2" in result.problems[0].message


def test_omission_where_not_allowed_is_a_problem():
    result = scoring.score(STABLE, stable(STABLE_4=None))
    assert [(p.item_code, p.kind) for p in result.problems] == [
        ("STABLE-4", "omitted_not_allowed")
    ]


def test_band_gaps_finds_uncovered_and_overlapping_totals():
    spec = scoring.InstrumentSpec(
        "x",
        (scoring.ItemSpec("X-1", (0, 1, 2)),),
        (scoring.BandSpec("a", "A", 0, 0), scoring.BandSpec("b", "B", 0, 1)),
    )
    assert scoring.band_gaps(spec) == [
        "total 0 is in several bands (a, b)",
        "total 2 is in no band",
    ]


def test_scoring_module_is_pure_python():
    import subprocess
    import sys

    code = (
        "import sys, vignettes.scoring; "
        "assert not any(m.startswith('django') for m in sys.modules), 'imports Django'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- omitted for lack of information (the instrument's missing_information rule) ----------

def _with_missing(spec, *, items, most, total):
    rule = scoring.MissingRule(items=tuple(items), max_omitted=most, total=total)
    return scoring.InstrumentSpec(
        spec.slug,
        tuple(scoring.ItemSpec(i.code, i.values, i.omissible, i.name, i.code in items)
              for i in spec.items),
        spec.bands, missing=rule)


def test_an_item_omitted_for_missing_information_makes_the_total_not_computable():
    spec = _with_missing(STABLE, items=["STABLE-1", "STABLE-5"], most=1,
                         total=scoring.NOT_COMPUTABLE)
    result = scoring.score(spec, stable(STABLE_1=None))
    assert result.complete and result.missing == ("STABLE-1",)
    assert result.total is None and result.band is None and not result.total_computable
    # Item 3's own omission is not "missing information" and leaves the total computable.
    result = scoring.score(spec, stable(STABLE_3=None))
    assert result.missing == () and result.total == 12 and result.band_code == "high"


def test_more_missing_items_than_the_rule_allows_is_a_problem():
    spec = _with_missing(STABLE, items=["STABLE-1", "STABLE-5"], most=1,
                         total=scoring.NOT_COMPUTABLE)
    result = scoring.score(spec, stable(STABLE_1=None, STABLE_5=None))
    assert [p.kind for p in result.problems] == ["too_many_missing"]
    assert "allows at most 1" in result.problems[0].message
    # An item the rule does not list may not be omitted at all.
    result = scoring.score(spec, stable(STABLE_2=None))
    assert [p.kind for p in result.problems] == ["omitted_not_allowed"]


def test_a_total_computed_without_the_missing_item():
    cport = scoring.InstrumentSpec(
        "cport", tuple(scoring.ItemSpec(f"CPORT-{i}", (0, 1)) for i in range(1, 8)))
    spec = _with_missing(cport, items=[f"CPORT-{i}" for i in range(1, 8)], most=1,
                         total=scoring.WITHOUT_ITEM)
    states = {f"CPORT-{i}": 1 for i in range(1, 8)} | {"CPORT-6": None}
    result = scoring.score(spec, states)
    assert result.complete and result.total == 6 and result.missing == ("CPORT-6",)
