"""Demo data: an organisation, accounts in every role, a cohort with months of simulated
history written through the services, and open assignments, so every page shows real data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from training.attempts.services import (
    attempt_start_assignment,
    attempt_submit,
    rating_save_draft,
)
from training.certification.rules import rule_save
from training.models import (
    Assignment,
    AssignmentKind,
    CertificationRule,
    Cohort,
    FeedbackPolicy,
    Mode,
    Organization,
    Rating,
    Role,
)
from training.organisation import rounds as round_rules
from training.organisation.cohorts import assignment_save
from training.organisation.members import membership_set_role
from training.simulation import PlantedTruth, simulate_cohort, simulate_rounds
from training.tenancy import profile_for
from vignettes.models import ReferenceScoring, VignetteSet

DEMO_ORG_SLUG = "demo-probation-service"
DEMO_COHORT = "Demo cohort 2026"
SIMULATED_TRAINEES = 12  # demo-trainee, demo-trainee2, ... demo-trainee12
HISTORY_MONTHS = 6
# The free-practice history uses few vignettes so that the practice set keeps enough new ones
# for the calibration rounds (10 each), which carry the cohort's reliability among trainees.
HISTORY_VIGNETTES = 8
ROUND_SET = "stable-2007-practice"
ROUND_INSTRUMENT = "stable-2007"
MAX_ROUNDS = 5
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
        # Experts for reference panels on the organisation's own vignettes.
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
            practice = VignetteSet.objects.bundled().get(slug="stable-2007-practice")
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
    if truth is not None:
        _seed_rounds(org=org, cohort=cohort, instructor=instructor, trainees=trainees,
                     truth=truth, now=now)
    with transaction.atomic():
        _seed_certification(org=org, cohort=cohort, admin=admin, instructor=instructor, now=now)
    accounts = [
        ("demo-staff", "site staff (Django admin)"),
        ("demo-admin", "organisation admin"),
        ("demo-instructor", "instructor"),
        ("demo-expert1, demo-expert2", "instructors (reference panel experts)"),
        ("demo-trainee", "trainee"),
        (f"demo-trainee2 ... demo-trainee{SIMULATED_TRAINEES}",
         f"trainees (simulated history; {CERTIFIED} holds a CPORT certificate)"),
    ]
    return DemoResult(organization=org, accounts=accounts, truth=truth)


def _seed_rounds(*, org, cohort, instructor, trainees, truth, now) -> int:
    """As many monthly calibration rounds on STABLE-2007 as the practice set has new vignettes
    for (10 each, at most MAX_ROUNDS; three with the bundled content), the last closing a week
    ago, every trainee rating every case of each, with planted improvement: the rounds' line
    rises and its intervals narrow."""
    source = VignetteSet.objects.bundled().get(slug=ROUND_SET)
    members = list(source.members.select_related("vignette").order_by("order"))
    version = source.instrument.current_version if source.instrument else None
    versions = [version] if version else []
    applicable = round_rules._applicable_everywhere([m.vignette for m in members], versions)
    rated = round_rules.rated_by_cohort(cohort, [m.vignette_id for m in members])
    fresh = sum(1 for m in members if m.vignette_id in applicable and not rated.get(m.vignette_id))
    count = min(MAX_ROUNDS, fresh // round_rules.DEFAULT_ROUND_VIGNETTES)
    made = []
    for k in range(count):
        opens = now - dt.timedelta(days=30 * (count - k) + 7)
        with transaction.atomic():
            assignment = assignment_save(
                actor=instructor, organization=org, cohort=cohort,
                title=f"Calibration round {k + 1}", vignette_set=source,
                instrument_slugs=[ROUND_INSTRUMENT], mode=Mode.PRACTICE,
                kind=AssignmentKind.CALIBRATION_ROUND, opens_at=opens,
                closes_at=opens + dt.timedelta(days=21), now=opens - dt.timedelta(days=2),
            )
            simulate_rounds(organization=org, rounds=[assignment], users=trainees, truth=truth,
                            seed=2026 + k, progress=k / max(1, count - 1))
        made.append(assignment)
    return len(made)


def _seed_certification(*, org, cohort, admin, instructor, now) -> None:
    """A CPORT certification rule (DESIGN.md's thresholds; exam feedback "never": candidates
    see their result and the criteria, no exam case's reference) and an exam for the demo
    cohort: 10 of the bundled exam pool's cases per attempt. No case is ever drawn twice for a
    person; the pool (59 cases) carries a candidate's retakes with fresh, parallel draws."""

    if not CertificationRule.objects.filter(organization=org).exists():
        # The demo's exam is shorter than its own D-study suggests on the simulated history;
        # the admin accepts that knowingly (recorded), and the rule page says so. CPORT has no
        # published risk bands, so band agreement is no criterion of this rule.
        rule_save(actor=admin, organization=org, instrument_slug="cport",
                  now=now - dt.timedelta(days=30), retake_wait_days=1, band_agreement=None,
                  exam_feedback_policy=FeedbackPolicy.NEVER, accept_short_exam=True)
    if not Assignment.objects.filter(organization=org, mode=Mode.EXAM).exists():
        exam = assignment_save(
            actor=instructor,
            organization=org,
            title="CPORT certification exam",
            cohort=cohort,
            vignette_set=VignetteSet.objects.bundled().get(slug="cport-exam-pool"),
            instrument_slugs=["cport"],
            mode=Mode.EXAM,
            opens_at=now - dt.timedelta(days=14),
            closes_at=now + dt.timedelta(days=60),
            time_limit_minutes=180,
            attempts_allowed=3,
            feedback_policy=FeedbackPolicy.NEVER,
            now=now - dt.timedelta(days=14),
        )
        Assignment.objects.filter(pk=exam.pk).update(draw_size=10)
        exam.refresh_from_db()
        _seed_passed_exam(org=org, exam=exam, holder=cohort.trainees.get(username=CERTIFIED),
                          taken=now - dt.timedelta(days=10))


CERTIFIED = "demo-trainee3"


def _seed_passed_exam(*, org, exam, holder, taken) -> None:
    """One trainee sat the exam ten days ago and passed, so the certificate pages, the
    organisation's register, the public verification page and the API have a real certificate
    from the start. The ratings copy the reference scoring, except one item of one case (a
    near miss, as a good rater's would be); the decision and the certificate come from the
    services, as for any exam."""

    attempt = attempt_start_assignment(user=holder, organization=org, assignment=exam,
                                       accept_undertaking=True, now=taken)
    version = attempt.instrument_versions.get()
    missed = False
    for av in attempt.attempt_vignettes.select_related("vignette_revision__vignette"):
        reference = ReferenceScoring.objects.filter(
            vignette_revision=av.vignette_revision, instrument_version=version
        ).order_by("-number").first()
        items = reference.item_states() if reference.applicable else None
        if items and not missed:
            code = min(items)
            items[code] = next(v.value for v in version.items.get(code=code).allowed_values.all()
                               if v.value != items[code])
            missed = True
        rating_save_draft(attempt=attempt, vignette=av.vignette_revision.vignette.slug,
                          instrument=version.instrument.slug, revision=0,
                          applicable=reference.applicable, items=items, now=taken)
    attempt_submit(attempt=attempt, now=taken + dt.timedelta(hours=2))
