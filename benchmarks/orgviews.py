"""How fast the organisation-wide pages answer at thousands of raters, on SQLite and
PostgreSQL: the calibration and management cohort lists, the API's cohort and certificate
lists, the certificate register and the drift alerts, each requested whole (rendered)
through Django's test client by the organisation's admin. The organisation: N trainees in
cohorts of 200, each certified, one in twenty with a drift alert (benchmarks/_org_worker.py).

Printed per page: cold (first request) and warm (median of 3) wall time, the queries (which
must not grow with N) and the peak memory of one request. ORGVIEWS_SIZES (e.g. "2000,10000")
chooses the sizes; the databases as in benchmarks/dashboard.py (PostgreSQL: its database
name + "_org").
"""

from __future__ import annotations

import os

from ._timing import Measurement
from .dashboard import targets, worker

SIZES = tuple(int(n) for n in os.environ.get("ORGVIEWS_SIZES", "2000,10000").split(","))


def run() -> list[Measurement]:
    out = []
    for label, url in targets("_org"):
        for size in SIZES:
            r = worker("benchmarks._org_worker", [str(size)], label, url)
            for page, p in r["pages"].items():
                goal = 1.0 if size <= 2000 else 3.0
                out.append(Measurement(
                    name=f"{page}, {label}, {size} raters", ours_s=p["warm_s"],
                    shown=f"cold {p['cold_s']:.2f} s, warm {p['warm_s']:.2f} s, "
                          f"{p['queries']} queries, {p['peak_mb']:.0f} MB, "
                          f"{p['bytes'] // 1024} KiB",
                    goal=f"warm < {goal:g} s", passed=p["warm_s"] < goal))
    return out
