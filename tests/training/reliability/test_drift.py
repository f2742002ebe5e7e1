"""The standardised drift CUSUM and its run-length simulation (training.reliability.drift)."""

import math

import numpy as np
import pytest

from training.reliability.drift import (
    DriftBaseline,
    drift_baseline,
    pooled_within_sd,
    shrunk_sd,
    simulate_run_lengths,
    standardised_cusum,
)


def test_baseline_mean_and_shrunk_sd():
    b = drift_baseline([1, 0, 1, 2, 1, 0, 1, 1, 2, 1], pooled_sd=1.9, pooled_n=80)
    own = float(np.std([1, 0, 1, 2, 1, 0, 1, 1, 2, 1], ddof=1))
    assert (b.source, b.mean, b.n, b.pooled_n) == ("own", 1.0, 10, 80)
    assert b.own_sd == pytest.approx(own)
    assert b.sd == pytest.approx(math.sqrt((10 * 1.9 ** 2 + 9 * own ** 2) / 19))
    assert shrunk_sd(own, 10, 1.9, prior_df=0) == pytest.approx(own)
    assert DriftBaseline.from_dict(b.as_dict()) == b


@pytest.mark.parametrize("scores, reason, mean", [
    ([], "only 0 exam cases (at least 5 needed)", 0.0),
    ([2, 2, None], "only 2 exam cases (at least 5 needed)", 0.0),
    ([2] * 6, "no spread in the exam cases (SD 0)", 2.0),
])
def test_unusable_baseline_uses_the_pooled_sd_and_says_why(scores, reason, mean):
    b = drift_baseline(scores, pooled_sd=1.2)
    assert (b.source, b.sd, b.reason, b.mean) == ("pooled", 1.2, reason, mean)


def test_a_stable_bias_is_not_drift_and_the_chart_is_scale_free():
    base = DriftBaseline(mean=1.0, sd=2.0, n=10, own_sd=2.0, pooled_sd=2.0, pooled_n=0,
                         source="own")
    z, path = standardised_cusum([1.0] * 200, base, slack=0.25, threshold=16)
    assert set(z) == {0.0} and not path.alarms
    # The same rater on a scale twice as wide gives the same path.
    series = [1, 3, -1, 5, 5, 5, 5, 5, 5, 5, 5, 5]
    wide = DriftBaseline(mean=2.0, sd=4.0, n=10, own_sd=4.0, pooled_sd=4.0, pooled_n=0,
                         source="own")
    _z, narrow_path = standardised_cusum(series, base, slack=0.25, threshold=3)
    _z, wide_path = standardised_cusum([2 * x for x in series], wide, slack=0.25, threshold=3)
    assert narrow_path == wide_path and narrow_path.upper_alarms


def test_pooled_within_sd_ignores_single_cases():
    sd, df = pooled_within_sd([[0, 2], [1, 1, 4], [7]])
    assert df == 3 and sd == pytest.approx(math.sqrt((2 + 6) / 3))
    assert pooled_within_sd([[1], []]) == (None, 0)


def test_simulation_reproduces_the_textbook_arl_with_known_parameters():
    """Two-sided CUSUM k = 0.5, h = 4 on N(0, 1) with known parameters: ARL0 ~ 168
    (one-sided 336, Montgomery, Introduction to Statistical Quality Control, table 9.3)."""
    rl = simulate_run_lengths(rng=np.random.default_rng(3), raters=4000, baseline_cases=20000,
                              sd=1.0, thresholds=[4.0], slack=0.5, prior_df=0, sd_spread=0.0,
                              integer=False, max_cases=5000)
    assert rl.mean() == pytest.approx(168, rel=0.08)


def test_simulation_is_seeded():
    kwargs = {"raters": 200, "baseline_cases": 10, "sd": 1.9, "thresholds": [4.0, 8.0],
              "slack": 0.25, "max_cases": 300}
    a = simulate_run_lengths(rng=np.random.default_rng(1), **kwargs)
    b = simulate_run_lengths(rng=np.random.default_rng(1), **kwargs)
    assert (a == b).all() and (a[:, 0] <= a[:, 1]).all()
