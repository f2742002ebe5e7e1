"""Speed of training/reliability next to the reference packages, measured in the same run.

* Krippendorff's alpha, 2,000 raters x 500 units, 5 categories, 30 % missing, each level,
  vs ``krippendorff.alpha`` (goal: at least as fast).
* All six ICC forms, 200 units x 50 raters, vs ``pingouin.intraclass_corr`` (goal: >= 100x).
* The full per-item report of one instrument, 13 items x 200 vignettes x 50 raters
  (goal: < 200 ms).
"""

from __future__ import annotations

import numpy as np

from training.reliability import LEVELS, icc_all, item_report, krippendorff_alpha

from ._timing import Measurement, median_time


def _kripp_data(rng: np.random.Generator) -> np.ndarray:
    units, raters = 500, 2000
    truth = rng.integers(1, 6, size=units)
    x = np.where(rng.random((units, raters)) < 0.7, truth[:, None],
                 rng.integers(1, 6, size=(units, raters))).astype(float)
    x[rng.random(x.shape) < 0.30] = np.nan
    return x


def run() -> list[Measurement]:
    import krippendorff
    import pandas as pd
    import pingouin as pg

    rng = np.random.default_rng(20251122)
    out: list[Measurement] = []

    x = _kripp_data(rng)
    xt = np.ascontiguousarray(x.T)  # the krippendorff package wants raters x units
    for level in LEVELS:
        ours_value = krippendorff_alpha(x, level).value
        ref_value = krippendorff.alpha(xt, level_of_measurement=level)
        assert abs(ours_value - ref_value) < 1e-9, (level, ours_value, ref_value)
        ours = median_time(lambda level=level: krippendorff_alpha(x, level))
        ref = median_time(lambda level=level: krippendorff.alpha(xt, level_of_measurement=level))
        out.append(Measurement(f"Krippendorff's alpha ({level}), 2000 raters x 500 units",
                               ours, ref, "krippendorff.alpha", "ratio >= 1",
                               ref / ours >= 1))

    y = rng.normal(size=(200, 1)) + rng.normal(scale=0.8, size=(200, 50))
    long = pd.DataFrame({"unit": np.repeat(np.arange(200), 50),
                         "rater": np.tile(np.arange(50), 200), "score": y.ravel()})
    ours = median_time(lambda: icc_all(y), repeats=15, inner=50)
    ref = median_time(lambda: pg.intraclass_corr(long, targets="unit", raters="rater",
                                                 ratings="score"), repeats=7)
    out.append(Measurement("ICC, all six forms, 200 units x 50 raters", ours, ref,
                           "pingouin.intraclass_corr", "ratio >= 100", ref / ours >= 100))

    items = [rng.integers(0, 4, size=(200, 50)).astype(float) for _ in range(13)]
    for m in items:
        m[rng.random(m.shape) < 0.1] = np.nan

    def report():
        for m in items:
            item_report(m, categories=[0, 1, 2, 3])

    ours = median_time(report, repeats=7)
    out.append(Measurement("Full item report, 13 items x 200 vignettes x 50 raters", ours,
                           goal="< 200 ms", passed=ours < 0.200))
    return out
