"""How well the 95 % intervals of reliability among raters hold at the sizes a cohort has:
coverage and width by number of units, raw and after the display clipping.

    python -m benchmarks._gate_coverage [reps]

Totals (0-26, like STABLE-2007) = unit's true total + rater's error, rounded; 6 raters rate
every unit; true reliability about 0.80 (sigma_unit 3, sigma_error 1.5). The figures behind
the minimum-data gate in docs/statistics.md ("How much data a value needs").
"""

from __future__ import annotations

import sys

import numpy as np

from training.reliability import icc, krippendorff_alpha
from training.reliability.sufficiency import bounded

SIGMA_UNIT, SIGMA_ERROR, RATERS = 3.0, 1.5, 6
TRUE = SIGMA_UNIT**2 / (SIGMA_UNIT**2 + SIGMA_ERROR**2 + 1 / 12)  # rounding adds 1/12


def simulate(units: int, reps: int, seed: int = 17) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, list]] = {}
    for _ in range(reps):
        truth = rng.normal(13, SIGMA_UNIT, (units, 1))
        x = np.clip(np.round(truth + rng.normal(0, SIGMA_ERROR, (units, RATERS))), 0, 26)
        for name, est in (("alpha", krippendorff_alpha(x, level="interval")),
                          ("icc_2_1", icc(x, "ICC(2,1)"))):
            row = out.setdefault(name, {"cover": [], "width": [], "outside": [],
                                        "cover_shown": [], "unavailable": []})
            if est.ci95 is None or est.value is None:
                row["unavailable"].append(1.0)
                continue
            low, high = est.ci95
            row["cover"].append(low <= TRUE <= high)
            row["width"].append(high - low)
            row["outside"].append(low < -1 or high > 1)
            shown = bounded(est)
            ok = shown.ci95 is not None
            row["unavailable"].append(0.0 if ok else 1.0)
            if ok:
                row["cover_shown"].append(shown.ci95[0] <= TRUE <= shown.ci95[1])
    return {name: {k: float(np.mean(v)) if v else float("nan") for k, v in row.items()}
            for name, row in out.items()}


def main(argv: list[str]) -> int:
    reps = int(argv[0]) if argv else 1000
    print(f"true reliability {TRUE:.3f}; {RATERS} raters; {reps} replications per size")
    print(f"{'units':>5} {'stat':8} {'coverage':>8} {'mean width':>10} {'raw CI beyond [-1,1]':>21}")
    for units in (3, 6, 10, 25, 50):
        for name, r in simulate(units, reps).items():
            print(f"{units:5d} {name:8} {r['cover']:8.3f} {r['width']:10.3f} "
                  f"{r['outside']:21.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
