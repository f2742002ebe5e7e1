"""Drift after certification: run lengths of the standardised CUSUMs as they are used.

``python -m benchmarks drift`` simulates, per bundled instrument, certified raters whose
baseline (mean and SD of their signed total deviations) is estimated from a 10-vignette exam
and shrunk towards the instrument's pooled SD, then monitors their later cases with the
default k and h (training.certification.drift). It prints:

* ARL0: cases to the first (false) alarm with no drift: mean (the unconditional ARL of Jones,
  Champ & Rigdon 2004), median, and the share of raters falsely alarmed within 100 cases and
  within the certificate's validity at the default recalibration rate;
* ARL1: cases and months to the alarm after a 1-point shift in the total deviation from the
  first monitored case, and the probability it comes within the validity;
* the same for the lower-sided item-agreement CUSUM (no drift, and a 10-point drop);
* the retired raw-point checks (k 0.5, h 4 points; rolling agreement window 5 against the
  rule's threshold) for comparison.

Seeded (numbers reproduce exactly on the same NumPy); the run time is printed.
Goals: ARL0 >= 370 and median run length >= 256 (= 370 ln 2, what a known-parameter chart
with ARL0 370 gives) for both CUSUMs; >= 80 % of 1-point shifts found within the validity.
"""

from __future__ import annotations

import math
import os
import time

import django
import numpy as np

from training.reliability.drift import simulate_agreement_run_lengths, simulate_run_lengths

from ._timing import Measurement

# The defaults under test live with the models (training.certification); read them, never copy.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
django.setup()
from training.certification import drift  # noqa: E402
from training.certification.recalibration import (  # noqa: E402
    DEFAULT_INTERVAL_DAYS,
    DEFAULT_SIZE,
    RECALIBRATION_DUE_DAYS,
)

# Within-rater SD of the signed total deviation on first ratings in the demo cohort
# (seed_demo; pooled over trainees), and items per instrument.
INSTRUMENTS = (
    ("CPORT", 1.2, 7),
    ("STABLE-2007", 1.9, 13),
    ("Static-99R", 1.9, 10),
)
RATERS = 10_000
AGREEMENT_RATERS = 5_000
EXAM_CASES = 10
VALIDITY_MONTHS = 24
MAX_CASES = 5_000
SEED = 20261206


def validity_cases(size: int = DEFAULT_SIZE, interval: int = DEFAULT_INTERVAL_DAYS,
                   months: int = VALIDITY_MONTHS) -> int:
    """Cases completed before expiry: recalibration j is assigned on day j x interval and due
    RECALIBRATION_DUE_DAYS later."""
    days = months * 365.25 / 12
    return size * int((days - RECALIBRATION_DUE_DAYS) // interval)


def months_for(cases: float, size: int = DEFAULT_SIZE,
               interval: int = DEFAULT_INTERVAL_DAYS) -> float:
    """Months from issue to the assignment of the recalibration holding case `cases`."""
    return math.ceil(cases / size) * interval / (365.25 / 12)


def _old_deviation(rng, sd: float, raters: int, cases: int = 100) -> float:
    """Share of in-control raters falsely alarmed within `cases` by the retired CUSUM
    (target 0, k 0.5, h 4, raw points)."""
    hi = np.zeros(raters)
    lo = np.zeros(raters)
    alarmed = np.zeros(raters, dtype=bool)
    for _ in range(cases):
        x = np.round(rng.normal(0.0, math.sqrt(max(sd ** 2 - 1 / 12, 1e-6)), raters))
        hi = np.maximum(0, hi + x - 0.5)
        lo = np.maximum(0, lo - x - 0.5)
        alarmed |= (hi > 4) | (lo > 4)
    return float(alarmed.mean())


def _old_agreement(rng, items: int, raters: int, cases: int = 100) -> float:
    """Share of in-control raters (agreement around the rule's 0.85) falsely alarmed within
    `cases` by the retired check: rolling mean of 5, lower CUSUM target 0.85, k 0.05, h 0.5."""
    logit = math.log(0.85 / 0.15) + rng.normal(0.0, 0.4, raters)
    window = []
    lo = np.zeros(raters)
    alarmed = np.zeros(raters, dtype=bool)
    for _ in range(cases):
        p = 1 / (1 + np.exp(-(logit + rng.normal(0.0, 0.8, raters))))
        window = (window + [rng.binomial(items, p) / items])[-5:]
        if len(window) == 5:
            lo = np.maximum(0, lo + (0.85 - 0.05) - np.mean(window, axis=0))
            alarmed |= lo > 0.5
    return float(alarmed.mean())


def _summary(rl: np.ndarray, horizon: int) -> tuple[float, float, float, float]:
    return (float(rl.mean()), float(np.median(rl)), float((rl <= 100).mean()),
            float((rl <= horizon).mean()))


def _line(name: str, sd: str, rl0: np.ndarray, rl1: np.ndarray, horizon: int) -> str:
    arl0, med0, fa100, fa_valid = _summary(rl0, horizon)
    arl1, med1, _x, found = _summary(rl1, horizon)
    return (f"{name:<12} {sd:>4}  {arl0:>6.0f} {months_for(arl0):>5.0f} {med0:>6.0f} "
            f"{fa100:>7.1%} {fa_valid:>9.1%}  {arl1:>6.1f} {months_for(arl1):>5.1f} "
            f"{med1:>6.0f} {months_for(med1):>5.1f} {found:>12.1%}")


def run() -> list[Measurement]:
    started = time.perf_counter()
    rng = np.random.default_rng(SEED)
    horizon = validity_cases()
    k, h = drift.DEFAULT_SLACK, drift.DEFAULT_THRESHOLD
    ka, ha = drift.AGREEMENT_SLACK, drift.AGREEMENT_THRESHOLD
    print(f"{RATERS} simulated raters per deviation line ({AGREEMENT_RATERS} per agreement "
          f"line), baseline from {EXAM_CASES} exam vignettes; "
          f"deviation CUSUM k={k} h={h} SD (two-sided), agreement CUSUM k={ka} h={ha} SD "
          f"(lower side); recalibration {DEFAULT_SIZE} vignettes every {DEFAULT_INTERVAL_DAYS} "
          f"days = {horizon} cases within {VALIDITY_MONTHS} months; runs capped at "
          f"{MAX_CASES} cases (so ARL0 is a lower bound).")
    header = (f"{'instrument':<12} {'SD':>4}  {'ARL0':>6} {'(mo)':>5} {'median':>6} "
              f"{'FA<=100':>7} {'FA<=valid':>9}  {'ARL1':>6} {'(mo)':>5} {'median':>6} "
              f"{'(mo)':>5} {'found<=valid':>12}")
    print("\nSigned total deviation, 1-point shift\n" + header)
    out: list[Measurement] = []
    for name, sd, _items in INSTRUMENTS:
        lap = time.perf_counter()
        common = {"raters": RATERS, "baseline_cases": EXAM_CASES, "sd": sd,
                  "thresholds": [h], "slack": k, "max_cases": MAX_CASES}
        rl0 = simulate_run_lengths(rng=rng, **common)[:, 0]
        rl1 = simulate_run_lengths(rng=rng, shift=1.0, **common)[:, 0]
        arl0, med0, fa100, fa_valid = _summary(rl0, horizon)
        arl1, med1, _x, found = _summary(rl1, horizon)
        print(_line(name, f"{sd:.1f}", rl0, rl1, horizon))
        ok = arl0 >= 370 and med0 >= 370 * math.log(2) and found >= 0.80
        out.append(Measurement(f"deviation CUSUM, {name}", time.perf_counter() - lap,
                               goal="ARL0>=370, median>=256, found<=validity>=80%",
                               passed=ok))
    print("\nItem agreement per case, 10-point drop (agreement around 0.85)\n" + header)
    for name, _sd, items in INSTRUMENTS:
        lap = time.perf_counter()
        common = {"raters": AGREEMENT_RATERS, "baseline_cases": EXAM_CASES, "items": items,
                  "agreement": 0.85, "thresholds": [ha], "slack": ka,
                  "pooled_sd": drift.FALLBACK_POOLED_SD["agreement"], "max_cases": MAX_CASES}
        rl0 = simulate_agreement_run_lengths(rng=rng, **common)[:, 0]
        rl1 = simulate_agreement_run_lengths(rng=rng, drop=0.10, **common)[:, 0]
        arl0, med0, fa100, fa_valid = _summary(rl0, horizon)
        arl1, med1, _x, found = _summary(rl1, horizon)
        print(_line(name, "", rl0, rl1, horizon))
        ok = arl0 >= 370 and med0 >= 370 * math.log(2)
        out.append(Measurement(f"agreement CUSUM, {name}", time.perf_counter() - lap,
                               goal="ARL0>=370, median>=256", passed=ok))
    print("\nRetired checks, share of in-control raters falsely alarmed within 100 cases")
    for sd in (1.0, 1.2, 1.9):
        print(f"  raw-point deviation CUSUM (k 0.5, h 4), SD {sd}: "
              f"{_old_deviation(rng, sd, RATERS):.1%}")
    for name, _sd, items in INSTRUMENTS:
        print(f"  rolling item agreement (window 5, target 0.85), {name}: "
              f"{_old_agreement(rng, items, RATERS):.1%}")
    print(f"\nrun time {time.perf_counter() - started:.1f} s")
    return out
