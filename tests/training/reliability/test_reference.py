import numpy as np
import pytest
from scipy import stats

from training.reliability import (
    applicability_agreement,
    bland_altman,
    exact_agreement,
    mean_signed_deviation,
    reference_report,
    tolerance_agreement,
)

# Bland & Altman (1986), Lancet i:307-310, Table 1: PEFR (l/min), first reading of each meter.
WRIGHT = [494, 395, 516, 434, 476, 557, 413, 442, 650, 433, 417, 656, 267, 478, 178, 423, 427]
MINI = [512, 430, 520, 428, 500, 600, 364, 380, 658, 445, 432, 626, 260, 477, 259, 350, 451]


def test_bland_altman_1986_pefr_published_figures():
    ba = bland_altman(WRIGHT, MINI, z=2, method="1986")
    # Published: mean difference -2.1 l/min, SD 38.8 l/min.
    assert round(ba.bias.value, 1) == -2.1
    assert round(ba.sd, 1) == 38.8
    # Published limits -79.7 and 75.5 were computed from the rounded mean and SD.
    assert ba.lower_limit.value == pytest.approx(-79.7, abs=0.1)
    assert ba.upper_limit.value == pytest.approx(75.5, abs=0.1)
    n = 17
    t = stats.t.ppf(0.975, n - 1)
    assert round(t, 2) == 2.12
    # SE(bias) = s / sqrt(n) = 9.4; SE(limit) = sqrt(3 s^2 / n) = 16.3 (1986 approximation).
    assert round(ba.bias.extra["se"], 1) == 9.4
    assert round(ba.lower_limit.extra["se"], 1) == 16.3
    se = ba.bias.extra["se"]
    assert ba.bias.ci95 == pytest.approx((ba.bias.value - t * se, ba.bias.value + t * se))


def test_bland_altman_1999_limit_se():
    ba = bland_altman(WRIGHT, MINI)
    s, n = ba.sd, 17
    se = s * np.sqrt(1 / n + 1.96**2 / (2 * (n - 1)))
    assert ba.upper_limit.extra["se"] == pytest.approx(se)
    assert ba.upper_limit.value == pytest.approx(ba.bias.value + 1.96 * s)
    low, high = ba.upper_limit.ci95
    assert (low + high) / 2 == pytest.approx(ba.upper_limit.value)


def test_deviation_is_trainee_minus_reference():
    msd = mean_signed_deviation([5, 6, 7], [4, 4, 4])
    assert msd.value == pytest.approx(2.0)  # positive = more severe
    assert msd.ci95[0] < 2.0 < msd.ci95[1]
    assert mean_signed_deviation([4, 4, 4], [5, 6, 7]).value == pytest.approx(-2.0)


def test_exact_and_tolerance_agreement_skip_missing_pairs():
    t = [1, 2, None, 3, 0]
    r = [1, 3, 2, None, 2]
    exact = exact_agreement(t, r)
    assert exact.value == pytest.approx(1 / 3)
    assert exact.n_units == 3
    assert tolerance_agreement(t, r, 1).value == pytest.approx(2 / 3)
    low, high = exact.ci95
    assert 0 <= low < 1 / 3 < high <= 1


def test_wilson_interval_known_value():
    # 8 of 10: Wilson 95 % interval (0.490, 0.943).
    est = exact_agreement([1] * 8 + [0] * 2, [1] * 10)
    assert est.ci95 == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_applicability_agreement_counts():
    est = applicability_agreement([True, True, False, False], [True, False, False, True])
    assert est.value == 0.5
    assert dict(est.extra) | {} == {"agreements": 2.0, "both_applicable": 1.0,
                                    "trainee_only": 1.0, "reference_only": 1.0, "neither": 1.0}


def test_undefined_without_pairs():
    assert exact_agreement([None], [1]).value is None
    assert mean_signed_deviation([], []).undefined_reason
    ba = bland_altman([1], [2])
    assert ba.bias.value is None and ba.upper_limit.undefined_reason


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="lengths differ"):
        exact_agreement([1, 2], [1])


def test_reference_report_names():
    report = reference_report([3, 4, 5, 6], [3, 5, 5, 7])
    assert set(report) == {"exact_agreement", "tolerance_agreement", "mean_signed_deviation",
                           "bland_altman_bias", "bland_altman_lower", "bland_altman_upper",
                           "icc_a1_with_reference"}
    assert report["mean_signed_deviation"].value == pytest.approx(-0.5)
    assert report["icc_a1_with_reference"].name == "ICC(2,1) = ICC(A,1)"
