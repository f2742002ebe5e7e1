"""Decision consistency at band boundaries, by hand."""

import numpy as np
import pytest

from training.reliability import decision_consistency

STATIC_99R = [("I", -3, -2), ("II", -1, 0), ("III", 1, 3), ("IVa", 4, 5), ("IVb", 6, 12)]


def test_per_boundary_shares_by_hand():
    # reference totals around the III/IVa boundary at 4 (near = 2: 2, 3 below; 4, 5 above)
    reference = [2, 3, 3, 4, 5, 5, 8, np.nan]
    trainee = [2, 4, 3, 3, 5, 6, 8, 4]
    dc = decision_consistency(trainee, reference, STATIC_99R)
    assert [b.cut for b in dc.boundaries] == [-1, 1, 4, 6]
    b = dc.boundaries[2]
    assert (b.lower, b.upper) == ("III", "IVa")
    # below: 2->2 stays, 3->4 crosses, 3->3 stays: 1 of 3
    assert b.from_below.value == pytest.approx(1 / 3) and b.from_below.n_units == 3
    # above: 4->3 crosses, 5->5 stays, 5->6 stays above the cut: 1 of 3
    assert b.from_above.value == pytest.approx(1 / 3) and b.from_above.n_units == 3
    assert b.crossed.value == pytest.approx(2 / 6) and b.crossed.n_units == 6
    assert b.crossed.ci95[0] < 2 / 6 < b.crossed.ci95[1]
    # the IVa/IVb boundary at 6: references 4, 5, 5 below (5->6 crosses); none at 6 or 7
    top = dc.boundaries[3]
    assert top.from_below.value == pytest.approx(1 / 3)
    assert top.from_above.value is None and "no reference total" in top.from_above.undefined_reason
    # the pair with a missing reference is left out everywhere
    assert dc.band_agreement.n_units == 7
    # totals differing: 3->4 (III->IVa), 4->3 (IVa->III), 5->6 (IVa->IVb): all change band
    assert dc.disagreements_changing_band.value == 1.0
    assert dc.disagreements_changing_band.n_units == 3
    assert dc.band_agreement.value == pytest.approx(4 / 7)


def test_no_disagreement_is_undefined_not_zero():
    dc = decision_consistency([1, 2], [1, 2], STATIC_99R)
    assert dc.band_agreement.value == 1.0
    assert dc.disagreements_changing_band.value is None


def test_near_must_be_positive():
    with pytest.raises(ValueError):
        decision_consistency([1], [1], STATIC_99R, near=0)
