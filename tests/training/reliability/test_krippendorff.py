import warnings

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings

from training.reliability import LEVELS, krippendorff_alpha, krippendorff_alpha_levels
from training.reliability._matrix import count_table
from training.reliability.krippendorff import _coincidences, _distances

from .strategies import rating_matrices

PROPERTY = settings(max_examples=40, deadline=None)
DATA = [[1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2], [1, 2, 3, 4],
        [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5], [None, None, 1, 1],
        [None, None, 3, None]]


def _reference_defined(x):
    values = x[~np.isnan(x)]
    return np.unique(values).size >= 2 and ((~np.isnan(x)).sum(axis=1) >= 2).any()


@PROPERTY
@given(x=rating_matrices(max_units=30, max_raters=8, categories=(1, 2, 3, 4, 5), missing=0.3))
def test_all_levels_match_krippendorff_package(x):
    assume(_reference_defined(x))
    ours = krippendorff_alpha_levels(x)
    for level in LEVELS:
        # The krippendorff package wants raters x units.
        theirs = krippendorff.alpha(x.T, level_of_measurement=level)
        if np.isnan(theirs):
            assert ours[level].value is None
        else:
            assert ours[level].value == pytest.approx(theirs, abs=1e-9)


@PROPERTY
@given(x=rating_matrices(max_units=20, categories=(0, 1, 3, 7), missing=0.2))
def test_uneven_codes_use_values_like_krippendorff(x):
    assume(_reference_defined(x))
    for level in LEVELS:
        theirs = krippendorff.alpha(x.T, level_of_measurement=level)
        assume(not np.isnan(theirs))
        assert krippendorff_alpha(x, level).value == pytest.approx(theirs, abs=1e-9)


@PROPERTY
@given(x=rating_matrices(max_units=25, categories=(1, 2, 3, 4, 5), missing=0.3))
def test_interval_matches_irrcac_value_and_variance(x):
    assume(_reference_defined(x))
    assume(((~np.isnan(x)).sum(axis=1) >= 2).sum() >= 2)
    _assert_like_irrcac(x, "interval")


@PROPERTY
@given(x=rating_matrices(max_units=25, categories=(1, 2, 3, 4, 5), missing=0.3))
def test_nominal_and_ordinal_ci_match_irrcac_with_krippendorff_weights(x):
    assume(_reference_defined(x))
    assume(((~np.isnan(x)).sum(axis=1) >= 2).sum() >= 2)
    for level in ("nominal", "ordinal", "ratio"):
        _assert_like_irrcac(x, level)


def _assert_like_irrcac(x, level):
    from irrCAC.raw import CAC

    ours = krippendorff_alpha(x, level)
    if ours.value is None:
        return
    co = _coincidences(count_table(x))
    d = _distances(level, co.categories, co.n_c)
    weights = 1 - d / d.max()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = CAC(pd.DataFrame(x), weights=weights, categories=list(co.categories),
                     digits=15).krippendorff()["est"]
    assert ours.value == pytest.approx(theirs["coefficient_value"], abs=1e-9)
    assert ours.extra["se"] == pytest.approx(theirs["se"], abs=1e-9)
    assert ours.ci95 == pytest.approx(theirs["confidence_interval"], abs=1e-9)


def test_irrcac_interval_weights_are_krippendorff_interval():
    # irrCAC's built-in quadratic weights are the interval metric rescaled. (Categories are
    # passed because irrCAC 0.4.4 on pandas 3 counts NaN as a category otherwise.)
    from irrCAC.raw import CAC

    theirs = CAC(pd.DataFrame(np.array(DATA, dtype=float)), weights="quadratic",
                 categories=[1.0, 2.0, 3.0, 4.0, 5.0], digits=15).krippendorff()["est"]
    assert krippendorff_alpha(DATA, "interval").value == pytest.approx(
        theirs["coefficient_value"], abs=1e-9)


def test_declared_but_unused_categories_do_not_change_alpha():
    for level in LEVELS:
        assert krippendorff_alpha(DATA, level, categories=[0, 1, 2, 3, 4, 5, 6]).value == \
            pytest.approx(krippendorff_alpha(DATA, level).value, abs=1e-12)


def test_bootstrap_is_repeatable_and_brackets_the_value():
    a = krippendorff_alpha(DATA, "interval", bootstrap=300, seed=7)
    b = krippendorff_alpha(DATA, "interval", bootstrap=300, seed=7)
    assert a.ci95 == b.ci95
    assert a.ci_method.startswith("bootstrap")
    assert a.ci95[0] < a.value <= a.ci95[1] + 1e-12


def test_fewer_than_two_pairable_values_is_undefined():
    est = krippendorff_alpha([[1, None], [None, 2]])
    assert est.value is None
    assert "fewer than two pairable values" in est.undefined_reason


def test_no_variation_is_undefined():
    est = krippendorff_alpha([[3, 3], [3, 3], [3, None]], "ordinal")
    assert est.value is None
    assert "no variation" in est.undefined_reason


def test_perfect_agreement_with_varying_units_is_one():
    for level in LEVELS:
        assert krippendorff_alpha([[1, 1, None], [2, 2, 2], [5, None, 5]], level).value == 1.0


def test_unknown_level_is_an_error():
    with pytest.raises(ValueError, match="unknown level"):
        krippendorff_alpha(DATA, "cardinal")
