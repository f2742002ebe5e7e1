import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from training.reliability import (
    VarianceComponents,
    d_study,
    g_coefficient,
    g_study,
    phi_coefficient,
    phi_lambda,
    variance_components_anova,
    variance_components_reml,
)

# Brennan, R. L. (2001). Generalizability Theory. Springer. Synthetic Data Set No. 4
# (Table 3.2, p. 73) recast as a p x i design (p. 182): 10 persons x 12 items. Published
# (Table 6.2, p. 182): MS(p) = 10.2963, MS(i) = 11.6273, MS(pi) = 2.7872,
# sigma2(p) = .6258, sigma2(i) = .8840, sigma2(pi,e) = 2.7872;
# (Table 6.5, p. 198) with n'_i = 12: E rho^2 = .729, Phi = .672.
PERSONS = [
    [5, 6, 5, 5, 5, 3, 4, 5, 6, 7, 3, 3],
    [9, 3, 7, 7, 7, 5, 5, 5, 7, 7, 5, 2],
    [3, 4, 3, 3, 5, 3, 3, 5, 6, 5, 1, 6],
    [7, 5, 5, 3, 3, 1, 4, 3, 5, 3, 3, 5],
    [9, 2, 9, 7, 7, 7, 3, 7, 2, 7, 5, 3],
    [3, 4, 3, 5, 3, 3, 6, 3, 4, 5, 1, 2],
    [7, 3, 7, 7, 7, 5, 5, 7, 5, 5, 5, 4],
    [5, 8, 5, 7, 7, 5, 5, 4, 3, 2, 1, 1],
    [9, 9, 8, 8, 6, 6, 6, 5, 5, 8, 1, 1],
    [4, 4, 4, 3, 3, 5, 6, 5, 5, 7, 1, 1],
]
# Our matrices are vignettes (items) x raters (persons).
SYNTHETIC_4 = np.array(PERSONS, dtype=float).T


def test_brennan_synthetic_data_set_4_anova():
    vc = variance_components_anova(SYNTHETIC_4)
    assert vc.ms_rater == pytest.approx(10.2963, abs=1e-4)
    assert vc.ms_vignette == pytest.approx(11.6273, abs=1e-4)
    assert vc.ms_residual == pytest.approx(2.7872, abs=1e-4)
    assert vc.rater == pytest.approx(0.6258, abs=1e-4)
    assert vc.vignette == pytest.approx(0.8840, abs=1e-4)
    assert vc.residual == pytest.approx(2.7872, abs=1e-4)
    assert round(g_coefficient(vc, 12).value, 3) == 0.729
    assert round(phi_coefficient(vc, 12).value, 3) == 0.672


def test_reml_equals_anova_on_complete_data():
    anova = variance_components_anova(SYNTHETIC_4)
    reml = variance_components_reml(SYNTHETIC_4)
    assert reml.rater == pytest.approx(anova.rater, rel=1e-5)
    assert reml.vignette == pytest.approx(anova.vignette, rel=1e-5)
    assert reml.residual == pytest.approx(anova.residual, rel=1e-5)
    assert reml.grand_mean == pytest.approx(SYNTHETIC_4.mean())


def _statsmodels_reml(x):
    vi, vp = np.nonzero(~np.isnan(x))
    data = pd.DataFrame({"y": x[vi, vp], "rater": vp, "vignette": vi, "all": 1})
    model = sm.MixedLM.from_formula(
        "y ~ 1", groups="all", re_formula="0", data=data,
        vc_formula={"rater": "0 + C(rater)", "vignette": "0 + C(vignette)"})
    fit = model.fit(reml=True)
    names = model.exog_vc.names
    return dict(zip(names, fit.vcomp, strict=True)), fit.scale


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reml_on_random_exam_draws_matches_statsmodels(seed):
    # Each rater draws a different subset of vignettes, as random exam draws do.
    rng = np.random.default_rng(seed)
    n_vignettes, n_raters = 15, 12
    truth = (rng.normal(0, 1.0, n_raters)[None, :] + rng.normal(0, 0.7, n_vignettes)[:, None]
             + rng.normal(0, 1.2, (n_vignettes, n_raters)))
    x = np.round(truth + 5, 0)
    x[rng.random(x.shape) < 0.4] = np.nan
    ours = variance_components_reml(x)
    comps, scale = _statsmodels_reml(x)
    assert ours.residual == pytest.approx(scale, rel=1e-3)
    assert ours.rater == pytest.approx(comps["rater"], rel=2e-3, abs=1e-4)
    assert ours.vignette == pytest.approx(comps["vignette"], rel=2e-3, abs=1e-4)
    assert g_study(x).method == "REML"


def test_negative_anova_component_is_set_to_zero():
    x = np.array([[1, 2], [2, 1], [1, 2], [2, 1]], dtype=float)  # no rater differences at all
    vc = variance_components_anova(x)
    assert vc.raw_rater < 0
    assert vc.rater == 0.0


def test_d_study_finds_the_smallest_number_of_vignettes():
    vc = variance_components_anova(SYNTHETIC_4)
    d = d_study(vc, 0.80, "phi")
    assert d.n_vignettes == 24
    assert dict(d.curve)[23] < 0.80 <= dict(d.curve)[24]
    assert d_study(vc, 0.80, "g").n_vignettes == 18
    assert d_study(vc, 0.99, "phi", max_vignettes=30).n_vignettes is None


def test_phi_lambda_grows_with_distance_from_the_mean():
    vc = variance_components_anova(SYNTHETIC_4)
    near = phi_lambda(vc, vc.grand_mean, 12).value
    far = phi_lambda(vc, vc.grand_mean + 3, 12).value
    # (mean - lambda)^2 - sigma2(mean) is negative at the mean: truncated at 0, so Phi(lambda)
    # never falls below Phi, its minimum (it did, untruncated).
    assert near == pytest.approx(phi_coefficient(vc, 12).value)
    assert phi_lambda(vc, vc.grand_mean, 12).extra["truncated"] == 1.0
    assert near < far < 1
    mean_var = vc.rater / 10 + vc.vignette / 12 + vc.residual / 120
    signal = vc.rater + 9 - mean_var
    assert far == pytest.approx(signal / (signal + (vc.vignette + vc.residual) / 12))
    d = d_study(vc, 0.9, "phi_lambda", lambda_=vc.grand_mean + 3)
    assert d.n_vignettes is not None
    with pytest.raises(ValueError, match="cut score"):
        d_study(vc, 0.9, "phi_lambda")


def test_zero_variance_is_undefined_not_nan():
    vc = VarianceComponents(0.0, 0.0, 0.0, 1.0, 5, 5, 25, "ANOVA")
    assert g_coefficient(vc).value is None
    assert phi_coefficient(vc).undefined_reason
