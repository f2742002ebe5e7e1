"""How fast the cohort dashboard's data is ready, cold and warm, on SQLite and PostgreSQL.

A cohort of N trainees x 60 vignettes on one instrument (STABLE-2007: 13 items), one rating
per trainee and vignette, is written straight into a scratch database with bulk inserts
(the rows a sealed rating has, frozen codes included). Then the work the dashboard view does
before rendering is timed (training/teaching/views.py dashboard: the cohort's snapshot, the
severity model, every trainee's row, reliability per month, per-item reliability, rounds,
item agreement, band consistency), with every statistic computed on each request:

- cold: no snapshot of the cohort cached (it is read from the database and stored);
- warm: the snapshot cached (training/teaching/snapshot.py), the statistics computed.

Printed: median wall time and median CPU time of 3 runs (on a machine whose cores other work
shares, the CPU time is what an unloaded machine would take), the queries of one request
(which must not grow with N), and the peak memory of one request (tracemalloc).

Goals (docs/performance.md): 2,000 trainees under 1 s warm and 2 s cold; 10,000 trainees under 3 s warm;
under 500 MB at 10,000. Each (database, size) runs in its own process because Django reads
DATABASE_URL once. PostgreSQL is used where it answers: DASHBOARD_PG_URL, default
postgres://postgres@127.0.0.1:5432/perfbench (created and dropped). DASHBOARD_SIZES
(e.g. "2000,10000") chooses the sizes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ._timing import Measurement

SIZES = tuple(int(n) for n in os.environ.get("DASHBOARD_SIZES", "2000,10000").split(","))
VIGNETTES = 60
PG_URL = os.environ.get("DASHBOARD_PG_URL", "postgres://postgres@127.0.0.1:5432/perfbench")
ROOT = Path(__file__).resolve().parents[1]


def _pg_admin(url: str) -> tuple[str, str]:
    base, name = url.rsplit("/", 1)
    return base.replace("postgres://", "postgresql://", 1) + "/postgres", name


def _postgres_available() -> bool:
    try:
        import psycopg

        psycopg.connect(_pg_admin(PG_URL)[0], connect_timeout=3).close()
        return True
    except Exception:
        return False


def _pg(sql: str) -> None:
    import psycopg

    with psycopg.connect(_pg_admin(PG_URL)[0], autocommit=True) as conn:
        conn.execute(sql)


def worker(module: str, args: list[str], label: str, url: str | None) -> dict:
    """Run a benchmark worker in a fresh scratch database; its last JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        if url is None:
            db_url = f"sqlite:///{tmp}/bench.sqlite3"
        else:
            name = _pg_admin(url)[1]
            _pg(f"DROP DATABASE IF EXISTS {name}")
            _pg(f"CREATE DATABASE {name}")
            db_url = url
        env = dict(os.environ, DATABASE_URL=db_url, DEBUG="1",
                   DJANGO_SETTINGS_MODULE="config.settings.base")
        env.pop("REDIS_URL", None)
        try:
            proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                                  capture_output=True, text=True)
        finally:
            if url is not None:
                _pg(f"DROP DATABASE IF EXISTS {_pg_admin(url)[1]}")
    if proc.returncode != 0:
        raise RuntimeError(f"{module} failed ({label}, {args}):\n{proc.stderr[-3000:]}")
    line = proc.stdout.strip().splitlines()[-1]
    print(f"# {module} {label} {' '.join(args)}: {line}", flush=True)  # as soon as measured
    return json.loads(line)


def targets(suffix: str = "") -> list[tuple[str, str | None]]:
    """SQLite, and PostgreSQL where it answers (database PG_URL's name + suffix, so that two
    benchmarks can run at once)."""
    out = [("sqlite", None)]
    if _postgres_available():
        out.append(("postgresql", PG_URL + suffix))
    else:
        print("PostgreSQL does not answer: measuring SQLite only.")
    return out


def run() -> list[Measurement]:
    out = []
    for label, url in targets():
        for size in SIZES:
            r = worker("benchmarks._dashboard_worker", [str(size), str(VIGNETTES)], label, url)
            name = (f"dashboard data, {label}, {size} trainees x {VIGNETTES} vignettes "
                    f"({r['ratings']} ratings)")
            out.append(Measurement(
                name=f"{name}: generated in {r['generate_s']:.1f} s", ours_s=0.0,
                shown=f"queries cold {r['cold_queries']}, warm {r['warm_queries']}; peak "
                      f"memory cold {r['cold_mb']:.0f} MB, warm {r['warm_mb']:.0f} MB",
                goal="< 500 MB" if size >= 10000 else "",
                passed=max(r["cold_mb"], r["warm_mb"]) < 500 if size >= 10000 else None))
            cold_goal = 2.0 if size <= 2000 else None
            warm_goal = 1.0 if size <= 2000 else 3.0 if size <= 10000 else None
            out.append(Measurement(
                name=f"{name}: cold", ours_s=r["cold_s"],
                shown=f"wall {r['cold_s']:.2f} s, CPU {r['cold_cpu_s']:.2f} s",
                goal=f"< {cold_goal:g} s" if cold_goal else "reported",
                passed=(r["cold_s"] < cold_goal) if cold_goal else None))
            out.append(Measurement(
                name=f"{name}: warm", ours_s=r["warm_s"],
                shown=f"wall {r['warm_s']:.2f} s, CPU {r['warm_cpu_s']:.2f} s",
                goal=f"< {warm_goal:g} s" if warm_goal else "reported",
                passed=(r["warm_s"] < warm_goal) if warm_goal else None))
    return out
