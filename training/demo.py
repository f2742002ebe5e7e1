"""Demo data: an organisation, accounts in every role, a cohort with months of simulated
history written through the services, and open assignments, so every page shows real data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from training.models import Assignment, Cohort, Mode, Organization, Rating, Role
from training.services.people import assignment_save, membership_set_role
from training.simulation import PlantedTruth, simulate_cohort
from training.tenancy import profile_for
from vignettes.models import VignetteSet

DEMO_ORG_SLUG = "demo-probation-service"
DEMO_COHORT = "Demo cohort 2026"
SIMULATED_TRAINEES = 12  # demo-trainee, demo-trainee2, ... demo-trainee12
HISTORY_MONTHS = 6
HISTORY_VIGNETTES = 16
RATINGS_PER_TRAINEE = 10


@dataclass
class DemoResult:
    organization: Organization
    accounts: list[tuple[str, str]]
    truth: PlantedTruth | None


def _user(username: str, hashed_password: str, *, staff: bool = False):
    User = get_user_model()
    user, _ = User.objects.get_or_create(
        username=username, defaults={"email": f"{username}@example.org"}
    )
    # One hash for every demo account: hashing is deliberately slow.
    user.password = hashed_password
    if staff:
        user.is_staff = user.is_superuser = True
    user.save()
    return user


def seed_demo(*, password: str, now: dt.datetime | None = None) -> DemoResult:
    now = now or timezone.now()
    password = make_password(password)
    with transaction.atomic():
        org, _ = Organization.objects.get_or_create(
            slug=DEMO_ORG_SLUG,
            defaults={"name": "Demo Probation Service", "time_zone": "Europe/London"},
        )
        staff = _user("demo-staff", password, staff=True)
        admin = _user("demo-admin", password)
        instructor = _user("demo-instructor", password)
        membership_set_role(actor=staff, organization=org, user=admin, role=Role.ORG_ADMIN)
        membership_set_role(actor=admin, organization=org, user=instructor, role=Role.INSTRUCTOR)
        # Experts for reference panels on the organisation's own vignettes (issue 9).
        experts = [_user(f"demo-expert{i}", password) for i in (1, 2)]
        for expert in experts:
            membership_set_role(actor=admin, organization=org, user=expert, role=Role.INSTRUCTOR)
        trainees = []
        for i in range(1, SIMULATED_TRAINEES + 1):
            user = _user("demo-trainee" if i == 1 else f"demo-trainee{i}", password)
            membership_set_role(actor=admin, organization=org, user=user, role=Role.TRAINEE)
            trainees.append(user)
        for user in (admin, instructor, *experts, *trainees):
            profile = profile_for(user)
            profile.active_organization = org
            profile.save(update_fields=["active_organization"])
        cohort, _ = Cohort.objects.get_or_create(organization=org, name=DEMO_COHORT)
        cohort.trainees.add(*trainees)
        cohort.instructors.add(instructor)

    truth = None
    if not Rating.objects.filter(attempt__organization=org).exists():
        truth = simulate_cohort(
            organization=org,
            cohort=cohort,
            trainees=len(trainees),
            vignettes=HISTORY_VIGNETTES,
            months=HISTORY_MONTHS,
            seed=2026,
            start=now - dt.timedelta(days=30 * HISTORY_MONTHS + 1),
            ratings_per_trainee=RATINGS_PER_TRAINEE,
            users=trainees,
        )

    with transaction.atomic():
        if not Assignment.objects.filter(organization=org).exists():
            practice = VignetteSet.objects.get(slug="stable-2007-practice", owner__isnull=True)
            assignment_save(
                actor=instructor,
                organization=org,
                title="STABLE-2007 practice: dynamic risk factors",
                cohort=cohort,
                vignette_set=practice,
                instrument_slugs=["stable-2007"],
                mode=Mode.PRACTICE,
                opens_at=now - dt.timedelta(days=7),
                closes_at=now + dt.timedelta(days=30),
                now=now,
            )
    with transaction.atomic():
        _seed_certification(org=org, cohort=cohort, admin=admin, instructor=instructor, now=now)
    accounts = [
        ("demo-staff", "site staff (Django admin)"),
        ("demo-admin", "organisation admin"),
        ("demo-instructor", "instructor"),
        ("demo-expert1, demo-expert2", "instructors (reference panel experts)"),
        ("demo-trainee", "trainee"),
        (f"demo-trainee2 ... demo-trainee{SIMULATED_TRAINEES}", "trainees (simulated history)"),
    ]
    return DemoResult(organization=org, accounts=accounts, truth=truth)


def _seed_certification(*, org, cohort, admin, instructor, now) -> None:
    """A CPORT certification rule (DESIGN.md's thresholds) and an exam for the demo cohort."""
    from training.certification import rule_save
    from training.models import CertificationRule, FeedbackPolicy

    if not CertificationRule.objects.filter(organization=org).exists():
        rule_save(actor=admin, organization=org, instrument_slug="cport", now=now,
                  retake_wait_days=1)
    if not Assignment.objects.filter(organization=org, mode=Mode.EXAM).exists():
        exam = assignment_save(
            actor=instructor,
            organization=org,
            title="CPORT certification exam",
            cohort=cohort,
            vignette_set=VignetteSet.objects.get(slug="cport-exam-pool", owner__isnull=True),
            instrument_slugs=["cport"],
            mode=Mode.EXAM,
            opens_at=now - dt.timedelta(days=1),
            closes_at=now + dt.timedelta(days=60),
            time_limit_minutes=180,
            attempts_allowed=3,
            feedback_policy=FeedbackPolicy.IMMEDIATE,
            now=now,
        )
        Assignment.objects.filter(pk=exam.pk).update(draw_size=10)
