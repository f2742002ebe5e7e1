"""``irr`` end to end, as whole processes, next to pandas + the krippendorff package.

``python -m benchmarks irr`` writes a seeded long-format CSV (unit,rater,value; 5 categories,
70 % of raters give a unit's true code, 30 % of cells missing, rows in rater order) of
2,000 raters x 500 units (about 700,000 ratings) and times, best of 3 (wall clock, subprocess),

* ours: ``python -m training.reliability FILE.csv`` asked for Krippendorff's alpha at the
  four levels (``--statistic krippendorff_alpha_nominal`` ... ``_ratio``);
* reference: ``benchmarks/_irr_reference.py`` (``pandas.read_csv``, pivot,
  ``krippendorff.alpha`` at the same four levels),

checks that both print the same four alphas, and reports each child's peak memory
(``ru_maxrss`` from ``wait4``) above its baseline: the same command on a four-row CSV (the
interpreter with the same imports). Goals: ours within 1.5x of the reference
(ratio reference/ours >= 0.67) and ours below 4x the CSV's size above the baseline.

``BENCH_IRR_5M=1`` (or ``python -m benchmarks.irr --5m``) adds the 10,000 raters x 715 units
case (about 5 million ratings, a 75 MB file; it takes a few minutes with the generation).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ._timing import Measurement

REPO = Path(__file__).resolve().parent.parent
LEVELS = ("nominal", "ordinal", "interval", "ratio")
OURS = [sys.executable, "-m", "training.reliability"]
OURS_ARGS = [arg for level in LEVELS for arg in ("--statistic", f"krippendorff_alpha_{level}")]
REFERENCE = [sys.executable, str(REPO / "benchmarks" / "_irr_reference.py")]
SIZES = {"700k": (500, 2000, 20251206), "5M": (715, 10000, 20251207)}


def write_csv(path: Path, units: int, raters: int, seed: int) -> int:
    """The seeded ratings file; returns the number of ratings."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, size=units)
    ratings = 0
    with path.open("w") as out:
        out.write("unit,rater,value\n")
        names = [f"u{u:04d}" for u in range(units)]
        for start in range(0, raters, 500):  # rater by rater, in slices to bound memory
            stop = min(raters, start + 500)
            codes = np.where(rng.random((stop - start, units)) < 0.7, truth,
                             rng.integers(1, 6, size=(stop - start, units)))
            kept = rng.random(codes.shape) >= 0.30
            lines = []
            for j in range(stop - start):
                rater = f"r{start + j:05d}"
                row = codes[j]
                lines.extend(f"{names[u]},{rater},{row[u]}\n" for u in np.flatnonzero(kept[j]))
            ratings += len(lines)
            out.writelines(lines)
    return ratings


def _child(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in bytes and stdout of one whole process."""
    with tempfile.TemporaryFile("w+") as out:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, cwd=REPO,
                                   env=env)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode:
            raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode()}")
        process.stderr.close()
        out.seek(0)
        return elapsed, usage.ru_maxrss * 1024, out.read()


def _best(command: list[str], repeats: int = 3) -> tuple[float, int, str]:
    runs = [_child(command) for _ in range(repeats)]
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[0][2]


def _alphas_ours(stdout: str) -> dict[str, float]:
    stats = json.loads(stdout)["statistics"]
    return {level: stats[f"krippendorff_alpha_{level}"]["value"] for level in LEVELS}


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MB"


def run(large: bool | None = None) -> list[Measurement]:
    if large is None:
        large = os.environ.get("BENCH_IRR_5M", "") not in ("", "0")
    out: list[Measurement] = []
    with tempfile.TemporaryDirectory(prefix="irr-bench-") as tmp:
        tiny = Path(tmp) / "tiny.csv"
        tiny.write_text("unit,rater,value\nu1,a,1\nu1,b,2\nu2,a,1\nu2,b,1\n")
        base_ours = _best([*OURS, str(tiny), *OURS_ARGS])[1]
        base_ref = _best([*REFERENCE, str(tiny)])[1]
        for label, (units, raters, seed) in SIZES.items():
            if label == "5M" and not large:
                continue
            path = Path(tmp) / f"ratings-{label}.csv"
            ratings = write_csv(path, units, raters, seed)
            size = path.stat().st_size
            ours_s, ours_rss, ours_out = _best([*OURS, str(path), *OURS_ARGS])
            ref_s, ref_rss, ref_out = _best([*REFERENCE, str(path)])
            ours_alpha, ref_alpha = _alphas_ours(ours_out), json.loads(ref_out)
            for level in LEVELS:
                assert abs(ours_alpha[level] - ref_alpha[level]) < 1e-9, (level, ours_alpha,
                                                                          ref_alpha)
            what = f"irr, alpha at 4 levels, {ratings:,} ratings ({raters:,} x {units}, {_mb(size)})"
            out.append(Measurement(what, ours_s, ref_s, "pandas + krippendorff",
                                   "ratio >= 0.67 (within 1.5x)", ref_s / ours_s >= 1 / 1.5))
            above, ref_above = ours_rss - base_ours, ref_rss - base_ref
            out.append(Measurement(
                f"  peak memory above baseline ({label})", 0.0, goal="< 4x the CSV",
                passed=above < 4 * size,
                shown=(f"ours {_mb(above)} = {above / size:.2f}x the CSV (peak {_mb(ours_rss)},"
                       f" baseline {_mb(base_ours)}); reference {_mb(ref_above)} = "
                       f"{ref_above / size:.2f}x (peak {_mb(ref_rss)}, baseline "
                       f"{_mb(base_ref)})")))
            path.unlink()
    return out


if __name__ == "__main__":
    for m in run(large="--5m" in sys.argv[1:]):
        if m.shown:
            print(f"{m.name}: {m.shown}  goal {m.goal} {'ok' if m.passed else 'MISSED'}")
        else:
            print(f"{m.name}: ours {m.ours_s:.3f} s, {m.reference_name} {m.reference_s:.3f} s,"
                  f" ratio {m.ratio:.2f}x  goal {m.goal} {'ok' if m.passed else 'MISSED'}")
