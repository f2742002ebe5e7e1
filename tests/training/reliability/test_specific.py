"""Specific agreement (PA/NA) against hand computations and the published 2 x 2 tables."""

import numpy as np
import pytest

from training.reliability import (
    cohen_kappa,
    gwet_ac1,
    item_report,
    percent_agreement,
    positive_negative_agreement,
    specific_agreement,
)


def _table(a, b, c, d):
    return [[1, 1]] * a + [[1, 0]] * b + [[0, 1]] * c + [[0, 0]] * d


@pytest.mark.parametrize(("cells", "kappa", "pa", "na"), [
    # Feinstein & Cicchetti (1990): two tables with the same 85 % agreement; the published
    # kappas are 0.70 and 0.32. PA and NA by hand: 2a/(2a+b+c), 2d/(2d+b+c).
    ((40, 9, 6, 45), 0.70, 80 / 95, 90 / 105),
    ((80, 10, 5, 5), 0.32, 160 / 175, 10 / 25),
])
def test_the_two_tables_of_the_kappa_paradox(cells, kappa, pa, na):
    x = _table(*cells)
    assert percent_agreement(x).value == pytest.approx(0.85)
    assert cohen_kappa(x).value == pytest.approx(kappa, abs=0.005)
    got_pa, got_na = positive_negative_agreement(*cells)
    assert got_pa.value == pytest.approx(pa)
    assert got_na.value == pytest.approx(na)
    # The second table's low kappa is a low NA: the raters rarely agree on the rare code.
    assert got_pa.n_pairable == 2 * cells[0] + cells[1] + cells[2]
    assert got_na.n_pairable == 2 * cells[3] + cells[1] + cells[2]


def test_standard_error_is_graham_and_bull():
    # Uebersax's sp.sas default table; SE = sqrt(4a(b+c)(a+b+c)) / (2a+b+c)^2.
    a, b, c, d = 10, 20, 30, 40
    pa, na = positive_negative_agreement(a, b, c, d)
    se_pa = np.sqrt(4 * a * (b + c) * (a + b + c)) / (2 * a + b + c) ** 2
    se_na = np.sqrt(4 * d * (b + c) * (d + b + c)) / (2 * d + b + c) ** 2
    assert pa.value == pytest.approx(20 / 70)
    assert na.value == pytest.approx(80 / 130)
    assert pa.extra["se"] == pytest.approx(se_pa)
    assert na.extra["se"] == pytest.approx(se_na)
    assert pa.ci95 == pytest.approx((20 / 70 - 1.959964 * se_pa, 20 / 70 + 1.959964 * se_pa),
                                    abs=1e-6)


def test_paradox_example_of_the_docs_never_agrees_on_a_positive():
    x = [[0, 0]] * 18 + [[1, 0], [0, 1]]
    assert cohen_kappa(x).value == pytest.approx(-0.0526, abs=1e-4)
    assert gwet_ac1(x).value == pytest.approx(0.89, abs=0.005)
    sa = specific_agreement(x)
    assert sa[1.0].value == 0.0
    assert sa[1.0].name == "Specific agreement on 1 (positive agreement, PA)"
    assert sa[0.0].value == pytest.approx(36 / 38)
    assert sa[0.0].name.endswith("(negative agreement, NA)")


def test_many_raters_and_missing_by_hand():
    # Unit 1: codes 0, 0, 1; unit 2: 2, 2 (one missing); unit 3: 1, 1, 1; unit 4: one rating.
    x = [[0, 0, 1], [2, 2, np.nan], [1, 1, 1], [0, np.nan, np.nan]]
    sa = specific_agreement(x, categories=[0, 1, 2])
    # code 0: agreeing pairs 2*1 = 2; possible 2*(3-1) = 4 -> 0.5 (unit 4 is not pairable)
    assert sa[0.0].value == pytest.approx(2 / 4)
    assert sa[0.0].n_pairable == 2
    # code 1: unit 1: 1*0 / 1*2; unit 3: 3*2 / 3*2 -> 6 / 8
    assert sa[1.0].value == pytest.approx(6 / 8)
    assert sa[1.0].n_units == 2
    # code 2: 2*1 / 2*1 = 1; every pair agrees, so no spread to form an interval from
    assert sa[2.0].value == 1.0 and sa[2.0].ci95 is None


def test_unused_code_is_undefined_with_a_reason():
    sa = specific_agreement([[0, 0], [0, 1]], categories=[0, 1, 2])
    assert sa[2.0].value is None
    assert "no unit rated at least twice" in sa[2.0].undefined_reason


def test_interval_is_clipped_to_zero_one_and_marked():
    pa, _na = positive_negative_agreement(1, 1, 0, 2)
    assert 0 <= pa.ci95[0] <= pa.ci95[1] <= 1
    assert pa.extra["ci_clipped"] == 1.0


def test_item_report_carries_one_entry_per_code():
    report = item_report(_table(80, 10, 5, 5), statistics=["specific_agreement"])
    assert set(report) == {"specific_agreement_0", "specific_agreement_1"}
    assert report["specific_agreement_0"].value == pytest.approx(0.4)
