import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import optimize

from training.reliability.severity import (
    FEWER_VIGNETTES,
    FLAGGED,
    INCLUDES_MARGIN,
    MODEL_ALONE,
    MODEL_CROSSED,
    NO_RATINGS,
    NOT_CONFIRMED,
    benjamini_hochberg,
    cohort_severity,
    margin_for_tolerance,
    margin_p_value,
)


def _unbalanced(seed, trainees=9, pool=12, per_trainee=(5, 11), sd_trainee=0.8):
    """Each trainee rates a different random subset of the pool, as free practice does."""
    rng = np.random.default_rng(seed)
    effects = rng.normal(0, 0.6, pool)
    severity = rng.normal(0, sd_trainee, trainees)
    t, v = [], []
    for k in range(trainees):
        n = rng.integers(per_trainee[0], per_trainee[1] + 1)
        picks = rng.choice(pool, n, replace=False)
        t += [k] * n
        v += picks.tolist()
    t, v = np.array(t), np.array(v)
    d = np.round(severity[t] + effects[v] + rng.normal(0, 1.2, t.size))
    return d, t, v


def _dense_reml(d, t, v):
    """Brute force: -2 log L_R = log|V| + log|X'V^-1X| + y'Py on the full N x N covariance,
    minimised over both variances; then the mixed-model equations, inverted whole."""
    n = d.size
    X = (v[:, None] == np.unique(v)[None, :]).astype(float)
    Z = (t[:, None] == np.unique(t)[None, :]).astype(float)

    def crit(logs):
        sa, se = np.exp(logs)
        V = sa * Z @ Z.T + se * np.eye(n)
        Vi = np.linalg.inv(V)
        XtViX = X.T @ Vi @ X
        P = Vi - Vi @ X @ np.linalg.solve(XtViX, X.T @ Vi)
        return (np.linalg.slogdet(V)[1] + np.linalg.slogdet(XtViX)[1] + d @ P @ d)

    best = min((optimize.minimize(crit, start, method="Nelder-Mead",
                                  options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000})
                for start in ([0.0, 0.0], [-2.0, 0.5])), key=lambda r: r.fun)
    sa, se = np.exp(best.x)
    p, q = X.shape[1], Z.shape[1]
    C = np.block([[X.T @ X, X.T @ Z], [Z.T @ X, Z.T @ Z + np.eye(q) * se / sa]])
    sol = np.linalg.solve(C, np.concatenate([X.T @ d, Z.T @ d]))
    Cinv = np.linalg.inv(C)
    beta, a = sol[:p], sol[p:]
    severity, pev = [], []
    for k in range(q):
        w = np.concatenate([np.full(p, 1 / p), np.eye(q)[k]])
        severity.append(beta.mean() + a[k])
        pev.append(se * w @ Cinv @ w)
    return sa, se, np.array(severity), np.sqrt(pev)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reml_blup_and_prediction_error_match_a_dense_brute_force(seed):
    d, t, v = _unbalanced(seed)
    ours = cohort_severity(d, trainees=t, vignettes=v, min_vignettes=1)
    sa, se, severity, pev_se = _dense_reml(d, t, v)
    assert ours.method == MODEL_CROSSED
    assert ours.var_trainee == pytest.approx(sa, rel=2e-3, abs=1e-5)
    assert ours.var_residual == pytest.approx(se, rel=1e-4)
    assert [x.estimate for x in ours.trainees] == pytest.approx(severity, abs=2e-4)
    assert [x.se for x in ours.trainees] == pytest.approx(pev_se, rel=1e-3)
    for x in ours.trainees:
        assert x.ci95 == pytest.approx((x.estimate - 1.959964 * x.se,
                                        x.estimate + 1.959964 * x.se))


@pytest.mark.parametrize("seed", [4, 5])
def test_reml_matches_statsmodels_mixedlm(seed):
    d, t, v = _unbalanced(seed, trainees=15, pool=14, per_trainee=(8, 14))
    ours = cohort_severity(d, trainees=t, vignettes=v, min_vignettes=1)
    frame = pd.DataFrame({"d": d, "trainee": t, "vignette": v})
    fit = smf.mixedlm("d ~ 0 + C(vignette)", frame, groups="trainee").fit(reml=True)
    assert ours.var_residual == pytest.approx(fit.scale, rel=1e-3)
    assert ours.var_trainee == pytest.approx(float(fit.cov_re.iloc[0, 0]), rel=5e-3, abs=1e-4)
    mu = float(np.mean(fit.fe_params))
    blups = [mu + float(fit.random_effects[k].iloc[0]) for k in range(15)]
    assert [x.estimate for x in ours.trainees] == pytest.approx(blups, abs=2e-3)


def test_balanced_data_give_the_anova_estimates():
    # Every trainee rates every vignette: REML = the two-way ANOVA estimates when positive.
    rng = np.random.default_rng(7)
    T, V = 12, 10
    x = rng.normal(0, 1, T)[:, None] + rng.normal(0, 0.5, V)[None, :] + rng.normal(0, 1, (T, V))
    t, v = np.repeat(np.arange(T), V), np.tile(np.arange(V), T)
    ours = cohort_severity(x.ravel(), trainees=t, vignettes=v)
    grand = x.mean()
    ms_t = V * ((x.mean(axis=1) - grand) ** 2).sum() / (T - 1)
    resid = x - x.mean(axis=1, keepdims=True) - x.mean(axis=0, keepdims=True) + grand
    ms_e = (resid ** 2).sum() / ((T - 1) * (V - 1))
    assert ms_t > ms_e
    assert ours.var_residual == pytest.approx(ms_e, rel=1e-5)
    assert ours.var_trainee == pytest.approx((ms_t - ms_e) / V, rel=1e-4)
    # Balanced: the BLUP is the trainee mean shrunk towards the grand mean by one factor.
    shrink = ours.var_trainee / (ours.var_trainee + ours.var_residual / V)
    expected = grand + shrink * (x.mean(axis=1) - grand)
    assert [r.estimate for r in ours.trainees] == pytest.approx(expected, abs=1e-4)


def test_a_vignette_whose_reference_sits_high_does_not_make_its_raters_severe():
    # Half the trainees rated the five vignettes with a reference 2 points low (everyone's
    # deviation +2 there): fixed vignette effects take that out.
    rng = np.random.default_rng(3)
    offset = np.r_[np.full(5, 2.0), np.zeros(20)]
    t, v = [], []
    for k in range(30):
        picks = list(range(5)) + list(rng.choice(np.arange(5, 25), 10, replace=False)) \
            if k < 15 else list(rng.choice(np.arange(5, 25), 15, replace=False))
        picks += [0] if k >= 15 and k % 3 == 0 else []
        t += [k] * len(picks)
        v += picks
    t, v = np.array(t), np.array(v)
    d = offset[v] + np.round(rng.normal(0, 0.8, t.size))
    result = cohort_severity(d, trainees=t, vignettes=v)
    assert result.flagged == ()
    assert max(abs(x.estimate) for x in result.trainees) < 0.5


def test_flags_need_ten_vignettes_an_interval_beyond_the_margin_and_bh():
    rng = np.random.default_rng(11)
    t, v, d = [], [], []
    truth = {0: 3.0, 1: -3.0, 2: 3.0}  # 2 rates only 6 vignettes
    for k in range(20):
        n = 6 if k == 2 else 20
        picks = rng.choice(30, n, replace=False)
        t += [k] * n
        v += picks.tolist()
        d += (truth.get(k, 0.0) + rng.normal(0, 0.7, n)).round().tolist()
    result = cohort_severity(d, trainees=t, vignettes=v, all_trainees=list(range(21)))
    by = {x.trainee: x for x in result.trainees}
    assert (by[0].tendency, by[0].reason) == ("severe", FLAGGED)
    assert (by[1].tendency, by[1].reason) == ("lenient", FLAGGED)
    assert by[0].ci95[0] > 0.5 and by[1].ci95[1] < -0.5
    assert by[2].tendency == "" and by[2].reason == FEWER_VIGNETTES.format(n=10)
    assert by[2].p_value is None and by[2].n_vignettes == 6
    assert by[20].reason == NO_RATINGS and by[20].estimate is None and by[20].n_ratings == 0
    assert {x.reason for k, x in by.items() if k > 2 and k < 20} == {INCLUDES_MARGIN}
    assert result.n_trainees == 20 and result.margin == 0.5 and result.fdr == 0.10


def test_an_interval_beyond_the_margin_still_needs_bh_across_the_cohort():
    # One trainee just beyond the margin (p ~ 0.02) among many tested: BH at 10 % with 30
    # tests needs p <= 0.0033 for the smallest.
    est = np.array([1.0] + [0.0] * 29)
    se = np.array([0.24] + [0.3] * 29)
    p = margin_p_value(est, se, 0.5)
    assert est[0] - 1.96 * se[0] > 0.5 and p[0] > 0.1 / 30
    assert not benjamini_hochberg(p).any()
    assert NOT_CONFIRMED  # the reason a person reads in that case


def test_repeats_are_ignored_only_first_ratings_count():
    d, t, v = _unbalanced(8, trainees=12, pool=15, per_trainee=(10, 15))
    base = cohort_severity(d, trainees=t, vignettes=v)
    repeat_d = np.concatenate([d, d[:20] + 3])
    repeat_t = np.concatenate([t, t[:20]])
    repeat_v = np.concatenate([v, v[:20]])
    first = np.r_[np.ones(d.size, bool), np.zeros(20, bool)]
    again = cohort_severity(repeat_d, trainees=repeat_t, vignettes=repeat_v, first=first)
    assert again == base


def test_a_trainee_alone_gets_a_t_interval_on_their_own_mean():
    d = [1, 2, 1, 2, 1, 2, 2, 1, 2, 1, 2]
    result = cohort_severity(d, trainees=["me"] * 11, vignettes=list(range(11)))
    me = result.of("me")
    assert result.method == MODEL_ALONE
    assert me.estimate == pytest.approx(np.mean(d))
    half = 2.228139 * np.std(d, ddof=1) / np.sqrt(11)
    assert me.ci95 == pytest.approx((np.mean(d) - half, np.mean(d) + half), rel=1e-5)
    assert me.tendency == "severe" and me.n_vignettes == 11


def test_bh_matches_scipy():
    from scipy.stats import false_discovery_control

    rng = np.random.default_rng(2)
    for _ in range(50):
        p = rng.random(rng.integers(1, 40)) ** 3
        assert (benjamini_hochberg(p, 0.1) == (false_discovery_control(p) <= 0.1)).all()


def test_margin_p_value_is_exact_at_the_margin_and_two_sided_at_zero():
    assert margin_p_value(np.array([0.5]), np.array([1.0]), 0.5)[0] == pytest.approx(
        0.5 + 0.158655, abs=1e-5)
    assert margin_p_value(np.array([1.96]), np.array([1.0]), 0.0)[0] == pytest.approx(
        0.05, abs=1e-4)
    assert margin_for_tolerance(1) == 0.5 and margin_for_tolerance(2) == 1.0


def test_empty_and_bad_input():
    result = cohort_severity([], trainees=[], vignettes=[], all_trainees=[5])
    assert result.trainees[0].reason == NO_RATINGS
    with pytest.raises(ValueError):
        cohort_severity([1.0], trainees=[1, 2], vignettes=[1])


def test_identical_deviations_beyond_the_margin_are_flagged_within_it_are_not():
    result = cohort_severity([2] * 10 + [0.5] * 10, trainees=["a"] * 10 + ["b"] * 10,
                             vignettes=list(range(10)) * 2, first=[True] * 10 + [False] * 10)
    assert result.method == MODEL_ALONE
    assert result.of("a").tendency == "severe" and result.of("a").p_value == 0
    alone = cohort_severity([0.5] * 10, trainees=["b"] * 10, vignettes=list(range(10)))
    assert alone.of("b").tendency == "" and alone.of("b").p_value == 1
