"""One dashboard measurement in a fresh database (run by benchmarks/dashboard.py)."""

from __future__ import annotations

import datetime as dt
import json
import random
import sys


def main(trainees: int, vignettes: int) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from training.models import (
        Attempt,
        AttemptStatus,
        Cohort,
        Membership,
        Mode,
        Organization,
        Rating,
        RatingItem,
        Role,
    )
    from training.teaching import data as teaching_data
    from training.teaching import reliability as cohort_reliability
    from training.teaching import trainees as trainee_stats
    from vignettes.models import Instrument, ReferenceScoring, Vignette

    from ._timing import median_time

    call_command("migrate", verbosity=0)
    call_command("load_content", verbosity=0)
    rng = random.Random(1)
    instrument = Instrument.objects.get(slug="stable-2007")
    version = instrument.current_version
    items = list(version.items.all())
    cases = list(Vignette.objects.filter(pool="practice", owner__isnull=True))
    cases = (cases * ((vignettes // len(cases)) + 1))[:vignettes]
    refs = {
        r.vignette_revision_id: r
        for r in ReferenceScoring.objects.filter(instrument_version=version)
    }
    ref_states = {rid: r.item_states() for rid, r in refs.items()}
    now = timezone.now()
    start = now - dt.timedelta(days=180)
    with transaction.atomic():
        org = Organization.objects.create(name="Bench", slug="bench")
        cohort = Cohort.objects.create(organization=org, name="Bench cohort")
        User = get_user_model()
        password = make_password("bench-password")
        users = User.objects.bulk_create(
            User(username=f"bench-{i}", password=password) for i in range(trainees))
        Membership.objects.bulk_create(
            Membership(user=u, organization=org, role=Role.TRAINEE) for u in users)
        cohort.trainees.add(*users)
        attempts = Attempt.objects.bulk_create(
            Attempt(user=u, organization=org, mode=Mode.PRACTICE,
                    status=AttemptStatus.SUBMITTED,
                    started_at=start + dt.timedelta(minutes=k),
                    submitted_at=start + dt.timedelta(minutes=k + 1))
            for u in users for k in range(len(cases))
        )
    rating_rows = []
    for n, attempt in enumerate(attempts):
        case = cases[n % len(cases)]
        ref = refs[case.current_revision_id]
        when = start + dt.timedelta(days=180 * (n % len(cases)) / len(cases),
                                    minutes=n % 997)
        rating_rows.append(Rating(
            attempt=attempt, vignette_revision_id=case.current_revision_id,
            instrument_version=version, applicable=True, revision=1, updated_at=when,
            submitted_at=when, reference_scoring=ref, total=0, band_code="",
        ))
    with transaction.atomic():
        ratings = Rating.objects.bulk_create(rating_rows, batch_size=2000)
    item_rows = []
    for rating in ratings:
        states = ref_states[rating.vignette_revision_id]
        total = 0
        rating.codes = {}
        for item in items:
            value = states.get(item.code)
            if value is not None and rng.random() < 0.2:
                value = max(0, min(2, value + rng.choice((-1, 1))))
            total += value or 0
            rating.codes[item.code] = value
            item_rows.append(RatingItem(rating=rating, item=item, value=value))
        rating.total = total
    with transaction.atomic():
        RatingItem.objects.bulk_create(item_rows, batch_size=5000)
        Rating.objects.bulk_update(ratings, ["total", "codes"], batch_size=2000)

    # Fresh bulk-loaded tables have no planner statistics; a real database has them (autovacuum).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    def dashboard():
        data = teaching_data.cohort_data(cohort=cohort, instrument=instrument)
        trainee_stats.trainee_rows(data, now=now)
        cohort_reliability.reliability_over_time(data, tz="Europe/London")
        cohort_reliability.overall_item_reliability(data)
        return data

    with CaptureQueriesContext(connection) as ctx:
        data = dashboard()
    seconds = median_time(dashboard, repeats=3, warmup=1)
    print(json.dumps({"seconds": seconds, "queries": len(ctx.captured_queries),
                      "ratings": data.n, "item_ratings": len(item_rows)}))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
