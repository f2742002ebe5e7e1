from contextlib import contextmanager

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from training.reliability import FORM_NAMES, icc, icc_all

from .strategies import rating_matrices

SF = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]


@contextmanager
def no_pingouin_rounding():
    # pingouin rounds its CI95 column to 2 decimals by default.
    saved = dict(pg.options)
    pg.options["round.column.CI95"] = None
    try:
        yield
    finally:
        pg.options.clear()
        pg.options.update(saved)


PINGOUIN_TYPES = {"icc_1_1": "ICC(1,1)", "icc_2_1": "ICC(A,1)", "icc_3_1": "ICC(C,1)",
                  "icc_1_k": "ICC(1,k)", "icc_2_k": "ICC(A,k)", "icc_3_k": "ICC(C,k)"}


def _pingouin(x):
    n, k = x.shape
    long = pd.DataFrame({
        "unit": np.repeat(np.arange(n), k), "rater": np.tile(np.arange(k), n),
        "score": x.ravel(),
    })
    with no_pingouin_rounding():
        out = pg.intraclass_corr(long, targets="unit", raters="rater", ratings="score")
    return out.set_index("Type")


def _assert_like_pingouin(x):
    ours = icc_all(x)
    theirs = _pingouin(x)
    for key, ptype in PINGOUIN_TYPES.items():
        row = theirs.loc[ptype]
        assert ours[key].value == pytest.approx(row["ICC"], abs=1e-9, rel=1e-9)
        assert ours[key].extra["F"] == pytest.approx(row["F"], rel=1e-9)
        assert ours[key].extra["df2"] == row["df2"]
        assert ours[key].extra["p_value"] == pytest.approx(row["pval"], abs=1e-9, rel=1e-6)
        if np.isnan(row["CI95"]).any():
            assert ours[key].ci95 is None
        elif not np.isfinite(row["CI95"]).all():
            # A near-zero denominator in the F-based bound: pingouin's float arithmetic lands
            # on inf, ours on a huge finite number of the same sign; both mean "unbounded".
            for mine, bound in zip(ours[key].ci95, row["CI95"], strict=True):
                if np.isfinite(bound):
                    assert mine == pytest.approx(bound, abs=1e-9, rel=1e-9)
                else:
                    assert np.sign(mine) == np.sign(bound) and abs(mine) > 1e9
        else:
            assert ours[key].ci95 == pytest.approx(tuple(row["CI95"]), abs=1e-9, rel=1e-9)


def test_shrout_fleiss_against_pingouin():
    _assert_like_pingouin(np.array(SF, dtype=float))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=rating_matrices(min_units=3, max_units=30, max_raters=8,
                         categories=tuple(range(10))))
def test_all_six_forms_agree_with_pingouin(x):
    ours = icc_all(x)
    assume(ours["icc_2_1"].extra["MSE"] > 1e-9 and ours["icc_2_1"].extra["MSR"] > 1e-9)
    _assert_like_pingouin(x)


@settings(max_examples=25, deadline=None)
@given(x=rating_matrices(min_units=4, max_units=20, categories=tuple(range(7)), missing=0.15),
       )
def test_listwise_deletion_matches_pingouin_on_complete_units(x):
    complete = x[~np.isnan(x).any(axis=1)]
    ours = icc_all(x)
    dropped = x.shape[0] - complete.shape[0]
    assert all(e.extra["n_units_dropped"] == dropped for e in ours.values())
    assert all(e.n_units == complete.shape[0] for e in ours.values())
    assert icc_all(complete)["icc_2_1"] == ours["icc_2_1"] or dropped > 0


def test_listwise_deletion_counts():
    x = [[1, 2], [2, None], [3, 3], [4, 5]]
    result = icc(x, "ICC(A,1)")
    assert result.n_units == 3
    assert result.extra["n_units_dropped"] == 1
    assert result.value == pytest.approx(icc([[1, 2], [3, 3], [4, 5]], "2_1").value)


@pytest.mark.parametrize("form", ["ICC(2,1)", "ICC(A,1)", "A,1", "2_1", "icc_2_1", "icc(a,1)"])
def test_form_aliases(form):
    assert icc(SF, form).name == FORM_NAMES["2_1"]


def test_unknown_form_is_an_error():
    with pytest.raises(ValueError, match="unknown ICC form"):
        icc(SF, "ICC(4,1)")


def test_perfect_agreement_with_varying_units_is_one():
    x = [[1, 1, 1], [2, 2, 2], [5, 5, 5]]
    for est in icc_all(x).values():
        assert est.value == 1.0
        assert est.undefined_reason is None


@pytest.mark.parametrize("x, reason", [
    ([[3, 3], [3, 3], [3, 3]], "no variance"),
    ([[1, 2]], "at least two units"),
    ([[1], [2], [3]], "at least two raters"),
    ([[1, None], [None, 2], [3, None]], "at least two units"),
])
def test_undefined_cases_have_a_reason_and_no_nan(x, reason):
    for est in icc_all(x).values():
        assert est.value is None
        assert est.ci95 is None
        assert reason in est.undefined_reason


def test_identical_units_leave_consistency_forms_undefined():
    # Units do not differ at all, raters do: ICC(3,*) is 0/0; ICC(1,1) is -1/(k-1).
    result = icc_all([[2, 3], [2, 3]])
    assert result["icc_3_1"].value is None
    assert "no variance between units" in result["icc_3_k"].undefined_reason
    assert result["icc_1_1"].value == -1.0


def test_estimates_are_frozen_and_extra_read_only():
    est = icc(SF)
    with pytest.raises(AttributeError):
        est.value = 0.5
    with pytest.raises(TypeError):
        est.extra["F"] = 1.0


@given(st.lists(st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=2, max_size=2),
                min_size=0, max_size=6))
def test_never_raises_never_nan(rows):
    for est in icc_all(rows if rows else np.empty((0, 2))).values():
        assert est.value is None or np.isfinite(est.value)
        assert (est.value is None) == (est.undefined_reason is not None)
