"""How fast the cohort dashboard's data is ready, on SQLite and on PostgreSQL.

A cohort of N trainees x 60 vignettes on one instrument (STABLE-2007: 13 items), one rating
per trainee and vignette, is written straight into a scratch database with bulk inserts (the
services would take hours for 120,000 ratings; the rows are the same shape). Then the work
the dashboard view does is timed: load the cohort's rows, per-trainee agreement with the
reference, reliability among trainees per month, all-time per-item statistics. The number of
SQL queries is printed too: it must not grow with N.

Goal: under 1 s at 300 trainees on each database. 2,000 trainees is measured and
reported. Each (database, size) runs in its own process because Django reads DATABASE_URL
once. PostgreSQL is used where 127.0.0.1:5432 answers (a scratch database
`calibrate_bench` is created and dropped).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ._timing import Measurement

SIZES = (300, 2000)
VIGNETTES = 60
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_BENCH = "calibrate_bench"
ROOT = Path(__file__).resolve().parents[1]


def _postgres_available() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
        return True
    except Exception:
        return False


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def run() -> list[Measurement]:
    out = []
    targets = [("sqlite", None)]
    if _postgres_available():
        targets.append(("postgresql", f"postgres://postgres@127.0.0.1:5432/{PG_BENCH}"))
    else:
        print("PostgreSQL does not answer at 127.0.0.1:5432: measuring SQLite only.")
    for label, url in targets:
        for size in SIZES:
            with tempfile.TemporaryDirectory() as tmp:
                if url is None:
                    db_url = f"sqlite:///{tmp}/bench.sqlite3"
                else:
                    _pg(f"DROP DATABASE IF EXISTS {PG_BENCH}")
                    _pg(f"CREATE DATABASE {PG_BENCH}")
                    db_url = url
                env = dict(os.environ, DATABASE_URL=db_url, DEBUG="1",
                           DJANGO_SETTINGS_MODULE="config.settings.base")
                proc = subprocess.run(
                    [sys.executable, "-m", "benchmarks._dashboard_worker", str(size),
                     str(VIGNETTES)],
                    cwd=ROOT, env=env, capture_output=True, text=True,
                )
                if url is not None:
                    _pg(f"DROP DATABASE IF EXISTS {PG_BENCH}")
            if proc.returncode != 0:
                raise RuntimeError(f"dashboard worker failed ({label}, {size}):\n"
                                   f"{proc.stderr[-3000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            goal = "< 1 s" if size == 300 else "reported"
            out.append(Measurement(
                name=f"dashboard data, {label}, {size} trainees x {VIGNETTES} vignettes "
                     f"({result['ratings']} ratings, {result['item_ratings']} item ratings, "
                     f"{result['queries']} queries)",
                ours_s=result["seconds"],
                goal=goal,
                passed=(result["seconds"] < 1.0) if size == 300 else None,
            ))
    return out
