"""The minimum-data gate above the kernels (docs/statistics.md, "How much data a value needs")."""

from __future__ import annotations

import numpy as np
import pytest

from training.reliability import Estimate, icc, krippendorff_alpha
from training.reliability.sufficiency import (
    DECISION_GRADE_UNITS,
    MIN_PAIRABLE,
    MIN_UNITS,
    bounded,
    ci_note,
    gated,
    sufficiency,
    sufficiency_from_counts,
)

NAN = np.nan


def _block(units: int, raters: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 8, units)[:, None]
    return (truth + rng.integers(-1, 2, (units, raters))).astype(float)


def test_thresholds_are_the_documented_ones():
    assert (MIN_UNITS, MIN_PAIRABLE, DECISION_GRADE_UNITS) == (10, 60, 25)


def test_counts_only_units_with_two_or_more_values():
    x = [[1, 2, NAN], [2, 2, 3], [NAN, NAN, 1], [NAN, NAN, NAN]]
    gate = sufficiency(x)
    assert (gate.units, gate.pairable) == (2, 5)
    assert not gate.sufficient and not gate.decision_grade
    assert gate.units_needed >= MIN_UNITS - 2
    assert "2 vignettes with two or more ratings (10 needed)" in gate.reason
    assert gate.as_dict()["units_needed"] == gate.units_needed


def test_one_unit_is_never_enough():
    gate = sufficiency(np.arange(40, dtype=float).reshape(1, 40))
    assert not gate.sufficient
    assert gate.units_needed == MIN_UNITS - 1


def test_ten_units_need_sixty_pairable_values():
    assert not sufficiency(_block(10, 5)).sufficient  # 50 pairable values
    short = sufficiency(_block(10, 5))
    assert short.units_needed == 2  # 10 more values at 5 a unit
    ok = sufficiency(_block(10, 6))
    assert ok.sufficient and ok.units_needed == 0 and ok.reason is None
    assert ok.indicative and "indicative, not decision-grade" in ok.note


def test_decision_grade_from_25_units():
    assert sufficiency(_block(24, 3)).indicative
    gate = sufficiency(_block(25, 3))
    assert gate.decision_grade and not gate.indicative and gate.note is None


def test_negative_counts_are_an_error():
    with pytest.raises(ValueError):
        sufficiency_from_counts(-1, 0)


def test_gated_withholds_below_the_gate_and_keeps_the_kernel_intact():
    x = _block(6, 3)
    raw = krippendorff_alpha(x, level="interval")
    assert raw.value is not None  # the kernel still computes it
    shown = gated(raw, matrix=x)
    assert shown.value is None and shown.ci95 is None
    assert shown.undefined_reason.startswith("not enough data")
    assert shown.extra["units_needed"] > 0 and shown.extra["gate_units"] == 6


def test_gated_shows_above_the_gate_with_counts():
    x = _block(30, 4)
    shown = gated(krippendorff_alpha(x, level="interval"), matrix=x)
    assert shown.value is not None
    assert shown.extra["decision_grade"] == 1.0 and shown.extra["units_needed"] == 0


def test_icc_gate_uses_the_units_left_after_listwise_deletion():
    x = _block(14, 5)
    x[:6, 0] = NAN  # 8 complete units for the ICC, 14 units with >= 2 values
    shown = gated(icc(x, "ICC(A,1)"), matrix=x)
    assert shown.value is None and "8 vignettes" in shown.undefined_reason


def _est(value, ci, **extra):
    return Estimate(name="x", value=value, ci95=ci, undefined_reason=None, n_units=12,
                    n_raters=3, n_pairable=36, extra=extra, ci_method="m")


def test_interval_clipped_to_the_range_and_marked():
    out = bounded(_est(0.2, (-5.7, 1.3)))
    assert out.ci95 == (-1.0, 1.0)
    assert out.extra["ci_clipped"] == 1.0 and out.extra["ci_raw_low"] == -5.7
    assert "clipped" in ci_note(out)


def test_interval_that_excludes_its_estimate_is_unavailable():
    out = bounded(_est(0.4, (0.5, 0.5)))
    assert out.value == 0.4 and out.ci95 is None
    assert "does not contain" in ci_note(out)


def test_value_outside_the_range_is_unavailable():
    out = bounded(_est(1.4, (1.2, 1.9)))
    assert out.value is None and "outside" in out.undefined_reason


def test_icc_ak_with_non_positive_denominator_is_unavailable():
    est = Estimate(name="ICC(2,k) = ICC(A,k)", value=0.5, ci95=(0.6, 0.2), undefined_reason=None,
                   n_units=12, n_raters=3, n_pairable=36,
                   extra={"MSR": 1.0, "MSC": 0.1, "MSE": 20.0})
    out = bounded(est)
    assert out.value is None and "denominator" in out.undefined_reason
