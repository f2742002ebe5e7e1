"""Test–retest agreement of one rater (training.reliability.retest), checked by hand."""

import pytest

from training.reliability import icc
from training.reliability.retest import MIN_PAIRS_ICC, Occasion, retest_agreement


def occ(*codes, applicable=True):
    values = dict(zip("ABC", codes, strict=False))
    total = sum(v for v in codes if v is not None) if applicable else None
    return Occasion(applicable=applicable, codes=values if applicable else {}, total=total)


def test_three_pairs_by_hand():
    # Items: 2 + 3 + 1 of 9 identical; totals 3->4, 1->1, 4->2: |d| = 1, 0, 2; d = +1, 0, -2.
    r = retest_agreement([(occ(1, 0, 2), occ(1, 1, 2)), (occ(0, 0, 1), occ(0, 0, 1)),
                          (occ(2, 1, 1), occ(1, 1, 0))])
    assert (r.n_pairs, r.n_scored_pairs, r.n_items) == (3, 3, 9)
    assert r.item_agreement == pytest.approx(6 / 9)
    assert r.mean_abs_total_difference == pytest.approx(1.0)
    assert r.mean_total_difference == pytest.approx(-1 / 3)
    assert r.applicability_agreement == 1.0
    assert r.reason is None
    assert r.icc is None and r.icc_reason == "not enough data: 3 pairs, at least 10 needed"


def test_below_the_minimum_nothing_is_shown_and_the_reason_counts_the_pairs():
    r = retest_agreement([(occ(1, 0, 2), occ(1, 1, 2)), (occ(0, 0, 1), occ(0, 0, 1))])
    assert r.item_agreement is None and r.mean_abs_total_difference is None
    assert r.reason == "not enough data: 2 pairs, at least 3 needed"
    assert retest_agreement([]).reason == "not enough data: 0 pairs, at least 3 needed"
    assert retest_agreement([]).applicability_agreement is None


def test_applicability_disagreements_count_as_pairs_but_not_as_scored_pairs():
    pairs = [(occ(1, 0, 2), occ(applicable=False))] + [(occ(1, 1, 1), occ(1, 1, 1))] * 3
    r = retest_agreement(pairs)
    assert (r.n_pairs, r.n_scored_pairs) == (4, 3)
    assert r.applicability_agreement == pytest.approx(0.75)
    assert r.item_agreement == 1.0 and r.mean_abs_total_difference == 0.0


def test_omitted_on_both_occasions_is_identical_unscored_on_one_is_not():
    first = Occasion(True, {"A": 1, "B": None, "C": 0}, 1)
    second = Occasion(True, {"A": 1, "B": None}, 1)
    r = retest_agreement([(first, second)] * 3)
    assert r.n_items == 9 and r.item_agreement == pytest.approx(6 / 9)


def test_icc_from_ten_pairs_is_the_kernels_icc_a1_and_marked_indicative():
    totals = [(3, 4), (1, 1), (4, 2), (6, 6), (2, 3), (5, 5), (7, 6), (0, 1), (8, 8), (4, 4)]
    pairs = [(Occasion(True, {"T": a}, a), Occasion(True, {"T": b}, b)) for a, b in totals]
    r = retest_agreement(pairs)
    assert len(pairs) == MIN_PAIRS_ICC
    expected = icc([list(t) for t in totals], "ICC(A,1)")
    assert r.icc.value == pytest.approx(expected.value)
    assert r.icc.value == pytest.approx(0.9328, abs=1e-4)  # pingouin intraclass_corr: 0.932836
    assert r.icc.ci95 == pytest.approx((0.75, 0.98), abs=0.005)
    assert r.indicative and r.icc_reason is None
    assert r.as_dict()["icc_a1"] == pytest.approx(expected.value)
