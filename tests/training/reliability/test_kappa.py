import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats import inter_rater

from training.reliability import (
    brennan_prediger,
    cohen_kappa,
    fleiss_kappa,
    gwet_ac1,
    gwet_ac2,
    percent_agreement,
    scott_pi,
)

from .strategies import rating_matrices

CATS = (1, 2, 3, 4)
PROPERTY = settings(max_examples=40, deadline=None)


def _irrcac(x, weights="identity", categories=CATS):
    from irrCAC.raw import CAC

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CAC(pd.DataFrame(x), weights=weights, categories=list(map(float, categories)),
                   digits=15)


def _assert_like_irrcac(ours, theirs):
    est = theirs["est"]
    assert ours.value == pytest.approx(est["coefficient_value"], abs=1e-9)
    assert ours.extra["se"] == pytest.approx(est["se"], abs=1e-9)
    assert ours.ci95 == pytest.approx(est["confidence_interval"], abs=1e-9)


def _defined_for_irrcac(x):
    r = (~np.isnan(x)).sum(axis=1)
    return (r >= 2).sum() >= 2


# --- Gwet's AC1/AC2, Brennan-Prediger, Fleiss with missing ratings vs irrCAC -------------

@PROPERTY
@given(x=rating_matrices(missing=0.25))
def test_gwet_ac1_matches_irrcac(x):
    assume(_defined_for_irrcac(x))
    _assert_like_irrcac(gwet_ac1(x, categories=CATS), _irrcac(x).gwet())


@PROPERTY
@given(x=rating_matrices(missing=0.25))
def test_gwet_ac2_matches_irrcac(x):
    assume(_defined_for_irrcac(x))
    for weights in ("linear", "quadratic"):
        _assert_like_irrcac(gwet_ac2(x, weights, categories=CATS), _irrcac(x, weights).gwet())


@PROPERTY
@given(x=rating_matrices(missing=0.25))
def test_brennan_prediger_matches_irrcac(x):
    assume(_defined_for_irrcac(x))
    ours = brennan_prediger(x, categories=CATS)
    theirs = _irrcac(x).bp()["est"]
    assert ours.value == pytest.approx(theirs["coefficient_value"], abs=1e-9)
    assert ours.extra["se"] == pytest.approx(theirs["se"], abs=1e-9)
    assert ours.ci95 == pytest.approx(theirs["confidence_interval"], abs=1e-9)


@PROPERTY
@given(x=rating_matrices(missing=0.25))
def test_fleiss_with_missing_matches_irrcac(x):
    assume(_defined_for_irrcac(x))
    ours = fleiss_kappa(x, categories=CATS)
    assume(ours.value is not None)
    _assert_like_irrcac(ours, _irrcac(x).fleiss())


def test_irrcac_documented_example():
    # irrCAC's own docstring example (Gwet's 4 raters x 12 units): AC1 .77544, Fleiss .76117.
    x = [[1, 1, None, 1], [2, 2, 3, 2], [3, 3, 3, 3], [3, 3, 3, 3], [2, 2, 2, 2],
         [1, 2, 3, 4], [4, 4, 4, 4], [1, 1, 2, 1], [2, 2, 2, 2], [None, 5, 5, 5],
         [None, None, 1, 1], [None, None, 3, None]]
    ac1 = gwet_ac1(x)
    assert round(ac1.value, 5) == 0.77544
    assert round(ac1.extra["se"], 5) == 0.14295
    assert round(ac1.ci95[0], 5) == 0.46081
    assert ac1.ci95[1] == 1.0
    assert round(fleiss_kappa(x).value, 5) == 0.76117


@PROPERTY
@given(x=rating_matrices(missing=0.25))
def test_fleiss_without_per_category_is_the_same_overall(x):
    full = fleiss_kappa(x, categories=CATS)
    overall = fleiss_kappa(x, categories=CATS, per_category=False)
    assert overall.per_category == {}
    assert (overall.value, overall.undefined_reason, overall.n_units) == (
        full.value, full.undefined_reason, full.n_units)
    assert (overall.ci95 is None) == (full.ci95 is None)
    if full.ci95 is not None:
        assert overall.ci95 == pytest.approx(full.ci95, nan_ok=True)
    assert overall.extra == pytest.approx(full.extra, nan_ok=True)


def test_estimates_survive_pickling():
    # The dashboard caches window statistics; an Estimate's read-only mappings must pickle.
    import pickle
    from types import MappingProxyType

    x = [[1, 1, 2], [2, 2, 2], [1, 2, 2], [3, 3, 1], [1, 1, 1]]
    kappa = fleiss_kappa(x)
    again = pickle.loads(pickle.dumps(kappa))
    assert type(again) is type(kappa) and again == kappa
    assert isinstance(again.extra, MappingProxyType)
    assert isinstance(again.per_category, MappingProxyType)
    assert again.per_category[1.0] == kappa.per_category[1.0]
    undefined = fleiss_kappa([[1, 1], [1, 1]])
    assert pickle.loads(pickle.dumps(undefined)).undefined_reason == undefined.undefined_reason


# --- Fleiss on complete data vs statsmodels ------------------------------------------------

@PROPERTY
@given(x=rating_matrices())
def test_fleiss_complete_matches_statsmodels(x):
    ours = fleiss_kappa(x, categories=CATS)
    assume(ours.value is not None)
    table, _ = inter_rater.aggregate_raters(x.astype(int), n_cat=None)
    assert ours.value == pytest.approx(inter_rater.fleiss_kappa(table, method="fleiss"),
                                       abs=1e-9)


# --- Cohen's kappas vs scikit-learn and statsmodels ---------------------------------------

@PROPERTY
@given(x=rating_matrices(max_raters=2, min_units=4, missing=0.1))
def test_cohen_kappas_match_sklearn_and_statsmodels(x):
    both = x[~np.isnan(x).any(axis=1)]
    for weights in (None, "linear", "quadratic"):
        ours = cohen_kappa(x, weights, categories=CATS)
        assume(ours.value is not None)
        sk = cohen_kappa_score(both[:, 0], both[:, 1], weights=weights, labels=list(CATS))
        table = np.zeros((4, 4))
        np.add.at(table, (both[:, 0].astype(int) - 1, both[:, 1].astype(int) - 1), 1)
        sm = inter_rater.cohens_kappa(table, wt={None: None}.get(weights, weights))
        # A constant rater makes the references' variance 0/0; that case is tested apart.
        assume(np.isfinite(sk) and np.isfinite(sm.std_kappa))
        assert ours.value == pytest.approx(sk, abs=1e-9)
        assert ours.value == pytest.approx(sm.kappa, abs=1e-9)
        # The large-sample variance of Fleiss, Cohen & Everitt (1969); compared squared, as
        # at perfect agreement both sides hold only round-off whose square root is ~1e-8.
        assert ours.extra["se"] ** 2 == pytest.approx(sm.std_kappa**2, abs=1e-12)
        assert ours.extra["se"] == pytest.approx(sm.std_kappa, abs=1e-9, rel=1e-9) or \
            sm.std_kappa < 1e-7


def test_weights_come_from_category_values():
    # Static-99R's age item: -3, -1, 0, 1. A -3 vs 1 disagreement is 4 units apart, -1 vs 0 one.
    x = [[-3, -3], [-1, 0], [0, 0], [1, 1], [1, -3], [0, 1]]
    lin = cohen_kappa(x, "linear")
    # p_o with weights 1 - |a-b|/4: (1 + .75 + 1 + 1 + 0 + .75) / 6
    assert lin.extra["p_a"] == pytest.approx(4.5 / 6)
    # The same codes relabelled 1..4 weight by rank instead, as sklearn does.
    ranks = [[{-3: 1, -1: 2, 0: 3, 1: 4}[v] for v in row] for row in x]
    assert cohen_kappa(ranks, "linear").value == pytest.approx(
        cohen_kappa_score(*np.array(ranks).T, weights="linear"))
    assert cohen_kappa(ranks, "linear").value != pytest.approx(lin.value)


# --- Scott's pi ---------------------------------------------------------------------------

@PROPERTY
@given(x=rating_matrices(max_raters=2, min_units=4))
def test_scott_pi_is_fleiss_for_two_raters_like_statsmodels(x):
    ours = scott_pi(x, categories=CATS)
    assume(ours.value is not None)
    table, _ = inter_rater.aggregate_raters(x.astype(int))
    assert ours.value == pytest.approx(inter_rater.fleiss_kappa(table), abs=1e-9)
    p = (np.bincount(x.astype(int).ravel(), minlength=5) / x.size)
    po = np.mean(x[:, 0] == x[:, 1])
    assert ours.value == pytest.approx((po - p @ p) / (1 - p @ p), abs=1e-12)


def test_two_rater_statistics_refuse_other_shapes():
    with pytest.raises(ValueError, match="exactly two raters"):
        cohen_kappa([[1, 2, 3]])
    with pytest.raises(ValueError, match="exactly two raters"):
        scott_pi([[1, 2, 3]])


# --- Per-category Fleiss ------------------------------------------------------------------

@PROPERTY
@given(x=rating_matrices(missing=0.2))
def test_per_category_kappa_is_fleiss_on_the_recoded_item(x):
    ours = fleiss_kappa(x, categories=CATS)
    for cat, est in ours.per_category.items():
        recoded = np.where(np.isnan(x), np.nan, (x == cat).astype(float))
        again = fleiss_kappa(recoded, categories=[0, 1])
        assert est.value == again.value or est.value == pytest.approx(again.value, abs=1e-12)


# --- Percent agreement --------------------------------------------------------------------

def _pairwise_share(row, tolerance):
    v = row[~np.isnan(row)]
    pairs = [(a, b) for i, a in enumerate(v) for b in v[i + 1:]]
    return np.mean([abs(a - b) <= tolerance for a, b in pairs])


@PROPERTY
@given(x=rating_matrices(missing=0.3))
def test_percent_agreement_is_the_mean_pairwise_share(x):
    for tolerance in (0, 1):
        rows = [row for row in x if (~np.isnan(row)).sum() >= 2]
        ours = percent_agreement(x, tolerance=tolerance)
        if not rows:
            assert ours.value is None
            continue
        assert ours.value == pytest.approx(np.mean([_pairwise_share(r, tolerance) for r in rows]),
                                           abs=1e-12)
        assert ours.n_units == len(rows)


# --- Undefined cases ----------------------------------------------------------------------

@pytest.mark.parametrize("fn", [fleiss_kappa, gwet_ac1, brennan_prediger,
                                lambda x: gwet_ac2(x, "linear"), percent_agreement])
def test_no_pairable_unit_is_undefined(fn):
    est = fn([[1, None], [None, 2], [3, None]])
    assert est.value is None
    assert "two or more raters" in est.undefined_reason


def test_chance_agreement_of_one_is_undefined():
    x = [[1, 1, 1], [1, 1, 1], [1, 1, 1]]
    for est in (fleiss_kappa(x), cohen_kappa([[1, 1], [1, 1]]), scott_pi([[1, 1], [1, 1]]),
                gwet_ac1(x)):
        assert est.value is None
        assert "chance agreement is 1" in est.undefined_reason


def test_single_declared_category_is_not_enough_for_ac1():
    assert gwet_ac1([[1, 1], [1, 1]], categories=[1]).value is None
    # With the item's real categories declared, perfect agreement on one of them is AC1 = 1.
    assert gwet_ac1([[1, 1], [1, 1]], categories=[0, 1]).value == 1.0


def test_perfect_agreement_with_varying_units_is_one():
    x = [[0, 0, 0], [1, 1, 1], [2, 2, 2], [1, 1, 1]]
    for est in (fleiss_kappa(x), gwet_ac1(x), gwet_ac2(x, "quadratic"), brennan_prediger(x),
                percent_agreement(x), cohen_kappa(np.array(x)[:, :2]),
                scott_pi(np.array(x)[:, :2])):
        assert est.value == pytest.approx(1.0)


def test_values_outside_declared_categories_are_an_error():
    with pytest.raises(ValueError, match="outside the declared categories"):
        fleiss_kappa([[1, 2], [3, 7]], categories=[1, 2, 3])


def test_kappa_paradox_low_prevalence():
    # 0/1 item, 1 is rare: raters agree on 18 of 20 units, kappa is near zero, AC1 is not.
    x = [[0, 0]] * 18 + [[1, 0], [0, 1]]
    assert percent_agreement(x).value == pytest.approx(0.9)
    assert cohen_kappa(x).value < 0
    assert gwet_ac1(x).value > 0.85


def test_one_constant_rater_gives_kappa_zero_not_undefined():
    # p_e = 0 when one rater always says 1 and the other never does: kappa = p_o = 0.
    est = cohen_kappa([[1, 2], [1, 4]], categories=CATS)
    assert est.value == 0.0
