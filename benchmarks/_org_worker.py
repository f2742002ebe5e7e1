"""Organisation-wide pages at N raters, in a fresh database (run by benchmarks/orgviews.py).

An organisation of N trainees in cohorts of 200, each holding a certificate (STABLE-2007)
with one drift alert in twenty, is written with bulk inserts. Then each page an org admin
opens over the whole organisation is requested through Django's test client, signed in:
the cohorts (calibration list and management list), the API's cohort list, the certificate
register and the drift alerts. Prints one JSON line: per page the cold and warm times, the
queries and the peak memory (tracemalloc)."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sys
import time
import tracemalloc

COHORT_SIZE = 200
PAGES = {
    "calibration cohorts (/teach/)": "/teach/",
    "manage cohorts (/manage/cohorts/)": "/manage/cohorts/",
    "API cohort list (/api/v1/cohorts/)": "/api/v1/cohorts/",
    "certificate register (/certification/manage/certificates/)":
        "/certification/manage/certificates/",
    "API certificate list (/api/v1/certificates/)": "/api/v1/certificates/",
    "drift alerts (/recalibration/alerts/)": "/recalibration/alerts/",
}


def populate(org, raters: int, *, cohort_size: int = COHORT_SIZE, now=None):
    """N trainees of `org` in cohorts of `cohort_size`, each certified on STABLE-2007, one
    in twenty with an open drift alert. Bulk inserts only (fast at 10,000)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.db import transaction
    from django.utils import timezone

    from training.models import (
        Attempt,
        AttemptStatus,
        Certificate,
        CertificationDecision,
        CertificationRule,
        Cohort,
        DriftAlert,
        Membership,
        Mode,
        Role,
    )
    from vignettes.models import Instrument

    now = now or timezone.now()
    User = get_user_model()
    version = Instrument.objects.get(slug="stable-2007").current_version
    with transaction.atomic():
        rule, _ = CertificationRule.objects.get_or_create(
            organization=org, instrument=version.instrument, defaults={"updated_at": now})
        password = make_password(secrets.token_hex(8))
        first = User.objects.filter(username__startswith=f"{org.slug}-rater-").count()
        users = User.objects.bulk_create(
            (User(username=f"{org.slug}-rater-{i:05d}", password=password)
             for i in range(first, first + raters)), batch_size=2000)
        Membership.objects.bulk_create(
            (Membership(user=u, organization=org, role=Role.TRAINEE) for u in users),
            batch_size=2000)
        named = Cohort.objects.filter(organization=org).count()
        cohorts = Cohort.objects.bulk_create(
            Cohort(organization=org, name=f"Cohort {named + k:03d}")
            for k in range((raters + cohort_size - 1) // cohort_size))
        Cohort.trainees.through.objects.bulk_create(
            (Cohort.trainees.through(cohort_id=cohorts[i // cohort_size].pk, user_id=u.pk)
             for i, u in enumerate(users)), batch_size=5000)
        attempts = Attempt.objects.bulk_create(
            (Attempt(user=u, organization=org, mode=Mode.EXAM, status=AttemptStatus.SUBMITTED,
                     started_at=now - dt.timedelta(days=30),
                     submitted_at=now - dt.timedelta(days=30)) for u in users),
            batch_size=2000)
        decisions = CertificationDecision.objects.bulk_create(
            (CertificationDecision(organization=org, user=u, rule=rule, attempt=a,
                                   instrument_version=version, passed=True, criteria=[],
                                   rule_snapshot={}, decided_at=now - dt.timedelta(days=30))
             for u, a in zip(users, attempts, strict=True)), batch_size=2000)
        certificates = Certificate.objects.bulk_create(
            (Certificate(organization=org, holder=u, instrument_version=version, decision=d,
                         issued_at=now - dt.timedelta(days=30),
                         expires_at=now + dt.timedelta(days=700),
                         verification_code=secrets.token_urlsafe(24))
             for u, d in zip(users, decisions, strict=True)), batch_size=2000)
        DriftAlert.objects.bulk_create(
            (DriftAlert(organization=org, certificate=c, kind="deviation",
                        raised_at=now - dt.timedelta(days=1),
                        evidence={"series": [0.0], "upper": [0.0], "lower": [0.0]})
             for c in certificates[::20]), batch_size=2000)
    return cohorts


def _peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def main(raters: int) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from training.models import Membership, Organization, Role

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    call_command("load_content", verbosity=0)
    org = Organization.objects.create(name="Bench", slug="bench")
    started = time.perf_counter()
    populate(org, raters)
    generated = time.perf_counter() - started
    from tests.conftest import make_member

    admin = make_member(org, Role.ORG_ADMIN, "bench-admin")
    assert Membership.objects.filter(user=admin, organization=org).exists()
    client = Client()
    client.force_login(admin)
    headers = {"HTTP_X_ORGANIZATION": org.slug}
    out = {"generate_s": generated, "pages": {}}
    for label, url in PAGES.items():
        def get(url=url):
            response = client.get(url, **headers)
            assert response.status_code == 200, (url, response.status_code)
            return response

        reset_queries()
        with CaptureQueriesContext(connection) as ctx:
            started = time.perf_counter()
            response = get()
            cold = time.perf_counter() - started
        times = []
        for _ in range(3):
            started = time.perf_counter()
            get()
            times.append(time.perf_counter() - started)
        out["pages"][label] = {
            "cold_s": cold, "warm_s": sorted(times)[1], "queries": len(ctx.captured_queries),
            "peak_mb": _peak_mb(get), "bytes": len(response.content),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main(int(sys.argv[1]))
