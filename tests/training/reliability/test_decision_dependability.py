"""The D-study of the decision a certification rule makes, against a hand computation."""

import numpy as np
import pytest

from training.reliability import (
    clustered_share_interval,
    decision_dependability,
    icc_pool_check,
    phi_lambda,
)
from training.reliability.reference import wilson_interval

# 4 vignettes (rows) x 3 raters (columns); 1 = the rater's total within the tolerance.
WITHIN = [[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 0]]

# By hand. Grand mean 8/12 = 2/3. Rater means 1, 3/4, 1/4; vignette means 1, 2/3, 1/3, 2/3.
# MS(p) = 4 * ((1/3)^2 + (1/12)^2 + (5/12)^2) / 2 = 7/12
# MS(i) = 3 * ((1/3)^2 + 0 + (1/3)^2 + 0) / 3 = 2/9
# SS(total) = 8 (1/3)^2 + 4 (2/3)^2 = 24/9; SS(p) = 7/6; SS(i) = 2/3
# MS(pi) = (24/9 - 7/6 - 2/3) / 6 = (5/6) / 6 = 5/36
# sigma2(p) = (7/12 - 5/36) / 4 = 1/9; sigma2(i) = (2/9 - 5/36) / 3 = 1/36; sigma2(pi) = 5/36
# sigma2(mean) = (1/9)/3 + (1/36)/4 + (5/36)/12 = 1/18
SIGMA_P, SIGMA_I, SIGMA_PI, VAR_MEAN = 1 / 9, 1 / 36, 5 / 36, 1 / 18


def test_phi_lambda_of_the_share_within_tolerance_by_hand():
    d = decision_dependability(WITHIN, 0.8, 10, n_boot=0)
    vc = d.components
    assert (vc.rater, vc.vignette, vc.residual) == pytest.approx((SIGMA_P, SIGMA_I, SIGMA_PI))
    extra = d.estimate.extra
    assert extra["mean"] == pytest.approx(2 / 3)
    assert extra["mean_variance"] == pytest.approx(VAR_MEAN)
    # (2/3 - 0.8)^2 - 1/18 = 4/225 - 1/18 < 0: truncated at 0.
    assert extra["mean_minus_cut_sq_raw"] == pytest.approx(4 / 225 - 1 / 18)
    assert extra["mean_minus_cut_sq"] == 0.0
    # sigma2(Delta) = (1/36 + 5/36) / 10 = 1/60; Phi(lambda) = (1/9) / (1/9 + 1/60) = 20/23.
    assert extra["absolute_error_variance"] == pytest.approx(1 / 60)
    assert d.estimate.value == pytest.approx(20 / 23)
    # Phi(lambda) at n' = n / (n + 1.5) reaches 0.80 at exactly 6 vignettes.
    assert d.vignettes_needed == 6
    assert dict(d.curve)[5] == pytest.approx(5 / 6.5)


def test_phi_lambda_far_from_the_cut_is_not_truncated():
    d = decision_dependability(WITHIN, 0.2, 10, n_boot=0)
    # (2/3 - 1/5)^2 - 1/18 = 49/225 - 1/18 = 73/450; Phi = (1/9 + 73/450) / (same + 1/60)
    assert d.estimate.extra["mean_minus_cut_sq"] == pytest.approx(73 / 450)
    assert d.estimate.value == pytest.approx((123 / 450) / (123 / 450 + 1 / 60))


def test_unbalanced_data_use_the_exact_variance_of_the_observed_mean():
    x = np.array([[1, 1, np.nan], [1, 0, 0], [np.nan, 1, 0], [1, 1, 1], [0, np.nan, 1]])
    d = decision_dependability(x, 0.8, 10, n_boot=0)
    vc = d.components
    assert vc.method == "REML"
    # m_p = 4, 4, 4 scores per rater; m_i = 2, 3, 2, 3, 2 per vignette; N = 12.
    expected = (vc.rater * 48 + vc.vignette * 30 + vc.residual * 12) / 144
    assert d.estimate.extra["mean_variance"] == pytest.approx(expected)
    assert d.estimate.extra["mean"] == pytest.approx(8 / 12)


def test_the_bootstrap_interval_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(3)
    skill = rng.normal(0.8, 0.1, 12)
    x = (rng.random((15, 12)) < np.clip(skill, 0, 1)).astype(float)
    a = decision_dependability(x, 0.8, 10, n_boot=60, seed=7)
    b = decision_dependability(x, 0.8, 10, n_boot=60, seed=7)
    assert a.ci95 == b.ci95
    assert a.n_boot_used == 60
    low, high = a.ci95
    assert 0 <= low <= high <= 1


def test_phi_lambda_never_falls_below_phi():
    vc = decision_dependability(WITHIN, 0.8, 10, n_boot=0).components
    for cut in np.linspace(0, 1, 21):
        assert phi_lambda(vc, cut, 10).value >= 20 / 23 - 1e-12


def test_clustered_item_agreement_interval_widens_with_one_missed_vignette():
    # 72 of 80 items agree, but all 8 misses sit on one vignette (applicability missed).
    clustered = clustered_share_interval([(0, 8)] + [(8, 8)] * 9)
    assert clustered["value"] == pytest.approx(0.9)
    assert clustered["deff"] == pytest.approx(0.01 / (0.09 / 80))
    naive = wilson_interval(72, 80)
    assert clustered["ci95"][0] < naive[0] - 0.2
    # The misses spread one per vignette, as if independent: no widening (deff floored at 1).
    spread = clustered_share_interval([(7, 8)] * 8 + [(8, 8)] * 2)
    assert spread["deff"] == 1.0
    assert spread["ci95"] == pytest.approx(wilson_interval(72, 80))
    assert clustered_share_interval([])["value"] is None


def test_icc_criterion_discriminates_only_on_a_spread_pool():
    narrow = icc_pool_check([4, 5, 5, 6, 4, 5, 6, 5], tolerance=1, share=0.8, threshold=0.8)
    assert narrow.discriminates is False
    # s* = 1.5 / z(0.90) = 1.5 / 1.2816; boundary variance S^2 = 4 * s*^2 / 2 = 2.74 (SD 1.66)
    assert narrow.boundary_sd == pytest.approx(1.5 / 1.2815516)
    wide = icc_pool_check([0, 2, 4, 6, 8, 3, 5, 1], tolerance=1, share=0.8, threshold=0.8)
    assert wide.discriminates is True
    assert wide.expected_icc == pytest.approx(
        wide.pool_sd**2 / (wide.pool_sd**2 + wide.boundary_sd**2 / 2))
    assert icc_pool_check([3, 4], tolerance=1, share=0.8, threshold=0.8).discriminates is None
