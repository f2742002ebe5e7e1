"""The load test's data, written through the app's services (Django must be set up).

One organisation; an instructor teaching a practice cohort of trainees with months of
simulated history (so the cohort dashboard computes real statistics) and an exam cohort;
a practice assignment and a CPORT exam with a certification rule (so each exam submission
is evaluated as in production); an exam attempt in progress for every exam taker with all
but its last rating saved. API tokens and signed-in sessions are created here, because
signing in hashes a password (deliberately slow) and is not what the load test measures.

Every draft saved here is written to the seed ledger as a confirmed save, in the format the
load-test clients use, so the no-loss check covers it.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from loadtest.ledger import Ledger
from training.attempts.services import attempt_start_assignment, rating_save_draft
from training.models import ApiToken, Assignment, Cohort, FeedbackPolicy, Mode, Organization, Role
from training.organisation.cohorts import assignment_save
from training.organisation.members import membership_set_role
from training.simulation import simulate_cohort
from training.tenancy import profile_for
from vignettes.models import ContentStatus, Instrument, Pool, Vignette, VignetteSet

ORG_SLUG = "load-test-service"
PRACTICE_INSTRUMENT = "stable-2007"
PRACTICE_SET = "stable-2007-practice"
EXAM_INSTRUMENT = "cport"
EXAM_SET = "cport-exam-pool"
EXAM_DRAW = 10


def _users(prefix: str, count: int, hashed: str) -> list:
    User = get_user_model()
    names = [f"{prefix}{i:03d}" for i in range(1, count + 1)]
    existing = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create(
        User(username=n, email=f"{n}@example.org", password=hashed)
        for n in names if n not in existing
    )
    return list(User.objects.filter(username__in=names).order_by("username"))


def _credentials(user, organization) -> dict:
    """An API token and a signed-in session (as django.contrib.auth.login would store it)."""
    _, token = ApiToken.objects.create(user=user)
    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.set_expiry(24 * 3600)
    store.create()
    profile = profile_for(user)
    profile.active_organization = organization
    profile.content_notice_seen_at = timezone.now()
    profile.save(update_fields=["active_organization", "content_notice_seen_at"])
    return {"username": user.username, "id": user.pk, "token": token,
            "session": store.session_key}


def _item_values(version) -> dict[str, list[int]]:
    return {
        item.code: sorted(v.value for v in item.allowed_values.all())
        for item in version.items.prefetch_related("allowed_values").order_by("order")
    }


def seed(
    *,
    trainees: int,
    exam_takers: int,
    history_ratings: int,
    ledger_path: Path,
    rng_seed: int = 10,
    log=print,
) -> dict:
    """Create everything; return the plan the load-test clients read (JSON-serialisable)."""
    rng = random.Random(rng_seed)
    now = timezone.now()
    started = time.monotonic()
    hashed = make_password(secrets.token_urlsafe(16))
    with transaction.atomic():
        org, _ = Organization.objects.get_or_create(
            slug=ORG_SLUG, defaults={"name": "Load Test Service", "time_zone": "Europe/London"}
        )
        staff, admin, instructor = _users("load-staff", 1, hashed) + _users(
            "load-admin", 1, hashed) + _users("load-instructor", 1, hashed)
        staff.is_staff = staff.is_superuser = True
        staff.save(update_fields=["is_staff", "is_superuser"])
        membership_set_role(actor=staff, organization=org, user=admin, role=Role.ORG_ADMIN)
        membership_set_role(actor=admin, organization=org, user=instructor, role=Role.INSTRUCTOR)
        practice_users = _users("load-trainee", trainees, hashed)
        exam_users = _users("load-exam", exam_takers, hashed)
        for user in (*practice_users, *exam_users):
            membership_set_role(actor=admin, organization=org, user=user, role=Role.TRAINEE)
        cohort, _ = Cohort.objects.get_or_create(organization=org, name="Practice cohort")
        cohort.trainees.add(*practice_users)
        cohort.instructors.add(instructor)
        exam_cohort, _ = Cohort.objects.get_or_create(organization=org, name="Exam sitting")
        exam_cohort.trainees.add(*exam_users)
        exam_cohort.instructors.add(instructor)
        accounts = {
            "instructor": _credentials(instructor, org),
            "trainees": [_credentials(u, org) for u in practice_users],
            "exam_takers": [_credentials(u, org) for u in exam_users],
        }
    log(f"  accounts: {len(practice_users)} trainees, {len(exam_users)} exam takers, "
        f"1 instructor ({time.monotonic() - started:.1f} s)")

    t = time.monotonic()
    history = 0
    if history_ratings:
        truth = simulate_cohort(
            organization=org, cohort=cohort, trainees=len(practice_users), vignettes=16,
            months=6, seed=rng_seed, start=now - dt.timedelta(days=181),
            instruments=[PRACTICE_INSTRUMENT], ratings_per_trainee=history_ratings,
            users=practice_users,
        )
        history = truth.ratings
    log(f"  history: {history} submitted ratings over 6 months ({time.monotonic() - t:.1f} s)")

    t = time.monotonic()
    with transaction.atomic():
        from training.certification.rules import rule_save
        from training.models import CertificationRule

        if not CertificationRule.objects.filter(organization=org).exists():
            # Exam takers read their feedback during the load (the rule lets them).
            rule_save(actor=admin, organization=org, instrument_slug=EXAM_INSTRUMENT, now=now,
                      retake_wait_days=0, exam_feedback_policy=FeedbackPolicy.IMMEDIATE)
        practice = assignment_save(
            actor=instructor, organization=org, title="STABLE-2007 practice (load test)",
            cohort=cohort, vignette_set=VignetteSet.objects.get(slug=PRACTICE_SET,
                                                                owner__isnull=True),
            instrument_slugs=[PRACTICE_INSTRUMENT], mode=Mode.PRACTICE,
            opens_at=now - dt.timedelta(days=1), closes_at=now + dt.timedelta(days=30), now=now,
        )
        # The deadline is moved to the burst (set_exam_deadline) just before the load starts.
        exam = assignment_save(
            actor=instructor, organization=org, title="CPORT certification exam (load test)",
            cohort=exam_cohort, vignette_set=VignetteSet.objects.get(slug=EXAM_SET,
                                                                     owner__isnull=True),
            instrument_slugs=[EXAM_INSTRUMENT], mode=Mode.EXAM,
            opens_at=now - dt.timedelta(hours=1), closes_at=now + dt.timedelta(hours=2),
            time_limit_minutes=180, attempts_allowed=1,
            feedback_policy=FeedbackPolicy.IMMEDIATE,
            draw_size=EXAM_DRAW, now=now,
        )
    exam_version = Instrument.objects.get(slug=EXAM_INSTRUMENT, owner__isnull=True).current_version
    exam_values = _item_values(exam_version)
    practice_version = Instrument.objects.get(
        slug=PRACTICE_INSTRUMENT, owner__isnull=True).current_version

    ledger = Ledger(ledger_path, source="seed")
    for account, user in zip(accounts["exam_takers"], exam_users, strict=True):
        attempt = attempt_start_assignment(user=user, organization=org, assignment=exam,
                                           accept_undertaking=True)
        slugs = list(attempt.attempt_vignettes.order_by("order").values_list(
            "vignette_revision__vignette__slug", flat=True))
        for slug in slugs[:-1]:
            items = {code: rng.choice(values) for code, values in exam_values.items()}
            saved = rating_save_draft(
                attempt=attempt, vignette=slug, instrument=EXAM_INSTRUMENT, revision=0,
                applicable=True, items=items, rationale="Seeded exam draft.",
            )
            ledger.save(attempt=attempt.pk, user=user.username, vignette=slug,
                        instrument=EXAM_INSTRUMENT, sent=items, expected=items,
                        returned=items, applicable=True, revision=saved.rating.revision,
                        status=200)
        account["attempt"] = attempt.pk
        account["final_vignette"] = slugs[-1]
        account["final_items"] = {code: rng.choice(values) for code, values in exam_values.items()}
        ledger.create(attempt=attempt.pk, user=user.username, status=201, mode="exam")
    ledger.close()
    log(f"  exam: {len(exam_users)} attempts in progress with {EXAM_DRAW - 1} of {EXAM_DRAW} "
        f"ratings saved ({time.monotonic() - t:.1f} s)")

    library = list(
        Vignette.objects.filter(owner__isnull=True, pool=Pool.PRACTICE,
                                status=ContentStatus.PUBLISHED)
        .order_by("slug").values_list("slug", flat=True)
    )
    practice_set = list(
        VignetteSet.objects.get(slug=PRACTICE_SET, owner__isnull=True).members.filter(
            vignette__status=ContentStatus.PUBLISHED).values_list("vignette__slug", flat=True)
    )
    return {
        "organization": org.slug,
        "cohort": cohort.pk,
        "exam_cohort": exam_cohort.pk,
        "practice_assignment": practice.pk,
        "practice_set": practice_set,
        "exam_assignment": exam.pk,
        "library": library,
        "instruments": {
            PRACTICE_INSTRUMENT: _item_values(practice_version),
            EXAM_INSTRUMENT: exam_values,
        },
        "practice_instrument": PRACTICE_INSTRUMENT,
        "exam_instrument": EXAM_INSTRUMENT,
        "history_ratings": history,
        "seeded_at": now.isoformat(),
        **accounts,
    }


def set_exam_deadline(exam_assignment_id: int, deadline: dt.datetime) -> None:
    """Move the exam's close to `deadline`. With a 3-hour time limit, an attempt opened now
    gets the close as its deadline."""
    Assignment.objects.filter(pk=exam_assignment_id).update(closes_at=deadline)
