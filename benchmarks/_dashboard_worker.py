"""One dashboard measurement in a fresh database (run by benchmarks/dashboard.py).

Prints one JSON line: the seconds to generate the cohort, the cold and warm times of the
dashboard's data (cold: no snapshot of the cohort cached; warm: the snapshot cached, every
statistic computed), the queries of each, and the peak memory of one cold and one warm
request (tracemalloc: Python and NumPy allocations)."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import time
import tracemalloc


def generate(trainees: int, vignettes: int):
    """The cohort, written with bulk inserts: users, memberships and one practice attempt per
    trainee through bulk_create; the ratings (with their frozen codes, as a sealed rating
    has them) through executemany."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import connection, transaction
    from django.utils import timezone

    from training.models import (
        Attempt,
        AttemptStatus,
        Cohort,
        Membership,
        Mode,
        Organization,
        Rating,
        Role,
    )
    from vignettes.models import Instrument, ReferenceScoring, Vignette

    rng = random.Random(1)
    instrument = Instrument.objects.get(slug="stable-2007")
    version = instrument.current_version
    items = list(version.items.order_by("order"))
    pool = list(Vignette.objects.filter(pool="practice", owner__isnull=True))
    # More vignettes than the bundled pool: the pool again (a repeated case is a later
    # rating of it, in an attempt of its own, as in a real cohort).
    cases = (pool * ((vignettes // len(pool)) + 1))[:vignettes]
    chunks = (len(cases) + len(pool) - 1) // len(pool)
    refs = {r.vignette_revision_id: r
            for r in ReferenceScoring.objects.filter(instrument_version=version)}
    ref_states = {rid: r.item_states() for rid, r in refs.items()}
    now = timezone.now()
    start = now - dt.timedelta(days=180)
    User = get_user_model()
    with transaction.atomic():
        org = Organization.objects.create(name="Bench", slug="bench")
        cohort = Cohort.objects.create(organization=org, name="Bench cohort")
        password = make_password("bench-password")
        users = User.objects.bulk_create(
            (User(username=f"bench-{i:05d}", password=password) for i in range(trainees)),
            batch_size=2000)
        Membership.objects.bulk_create(
            (Membership(user=u, organization=org, role=Role.TRAINEE) for u in users),
            batch_size=2000)
        Cohort.trainees.through.objects.bulk_create(
            (Cohort.trainees.through(cohort_id=cohort.pk, user_id=u.pk) for u in users),
            batch_size=5000)
        attempts = Attempt.objects.bulk_create(
            (Attempt(user=u, organization=org, mode=Mode.PRACTICE,
                     status=AttemptStatus.SUBMITTED, started_at=start,
                     submitted_at=now - dt.timedelta(days=1))
             for u in users for _chunk in range(chunks)),
            batch_size=2000)
    table = Rating._meta.db_table
    columns = ("attempt_id", "vignette_revision_id", "instrument_version_id", "applicable",
               "rationale", "notes", "revision", "updated_at", "submitted_at",
               "reference_scoring_id", "total", "band_code", "codes")
    sql = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
           f"({', '.join(['%s'] * len(columns))})")
    rows = []
    n = 0
    for a in range(0, len(attempts), chunks):
        for k, case in enumerate(cases):
            attempt = attempts[a + k // len(pool)]
            states = ref_states[case.current_revision_id]
            codes = {}
            total = 0
            for item in items:
                value = states.get(item.code)
                if value is not None and rng.random() < 0.2:
                    value = max(0, min(2, value + rng.choice((-1, 1))))
                total += value or 0
                codes[item.code] = value
            when = start + dt.timedelta(days=180 * k / len(cases), minutes=n % 997)
            n += 1
            stored = connection.ops.adapt_datetimefield_value(when)  # as the ORM stores it
            rows.append((attempt.pk, case.current_revision_id, version.pk, True, "", "{}", 1,
                         stored, stored, refs[case.current_revision_id].pk, total, "",
                         json.dumps(codes)))
    with transaction.atomic(), connection.cursor() as cursor:
        for i in range(0, len(rows), 20000):
            cursor.executemany(sql, rows[i:i + 20000])
    # Fresh bulk-loaded tables have no planner statistics; a real database has them.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return cohort, instrument, now, len(rows), len(rows) * len(items)


def dashboard(cohort, instrument, now):
    """What the dashboard view computes before rendering (training/teaching/views.py)."""
    from training.teaching import bands as band_stats
    from training.teaching import items as item_stats
    from training.teaching import reliability as cohort_reliability
    from training.teaching import rounds as round_stats
    from training.teaching import snapshot
    from training.teaching import trainees as trainee_stats

    data = snapshot.cohort_snapshot(cohort=cohort, instrument=instrument)
    tendency = trainee_stats.cohort_tendency(data)
    trainee_stats.trainee_rows(data, now=now, tendency=tendency)
    cohort_reliability.reliability_over_time(data, window="month", size=30,
                                             tz="Europe/London")
    cohort_reliability.overall_item_reliability(data)
    round_stats.round_reliability(
        data, round_stats.cohort_rounds(cohort=cohort, instrument=instrument))
    item_stats.item_agreements(data)
    band_stats.cohort_band_consistency(data)
    return data


def _timed(fn, before=None, repeats=3):
    """Median wall time and median CPU time of this process (the CPU time says what an
    unloaded machine would take where other work shares the cores)."""
    walls, cpus = [], []
    for _ in range(repeats):
        if before:
            before()
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]


def _peak_mb(fn, before=None) -> float:
    if before:
        before()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main(trainees: int, vignettes: int) -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from training.teaching import snapshot

    call_command("migrate", verbosity=0)
    call_command("load_content", verbosity=0)
    started = time.perf_counter()
    cohort, instrument, now, n_ratings, n_items = generate(trainees, vignettes)
    generated = time.perf_counter() - started

    def run():
        return dashboard(cohort, instrument, now)

    def forget():
        snapshot.forget_organization(cohort.organization_id)

    # Every statistic is computed on each request (the dashboard keeps the statistics of
    # finished calendar windows in the cache; that would hide their cost here).
    from django.core.cache.backends.dummy import DummyCache

    from training.teaching import reliability as cohort_reliability

    cohort_reliability.cache = DummyCache("bench", {})
    reset_queries()
    forget()
    with CaptureQueriesContext(connection) as cold_q:
        data = run()
    with CaptureQueriesContext(connection) as warm_q:
        run()
    cold, cold_cpu = _timed(run, before=forget)
    run()
    warm, warm_cpu = _timed(run)
    cold_mb = _peak_mb(run, before=forget)
    run()
    warm_mb = _peak_mb(run)
    print(json.dumps({
        "generate_s": generated, "cold_s": cold, "warm_s": warm, "cold_cpu_s": cold_cpu,
        "warm_cpu_s": warm_cpu,
        "cold_queries": len(cold_q.captured_queries),
        "warm_queries": len(warm_q.captured_queries),
        "cold_mb": cold_mb, "warm_mb": warm_mb,
        "ratings": data.n, "item_ratings": n_items, "inserted": n_ratings,
    }))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
