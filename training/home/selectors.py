"""What each role's home page shows: reads only, scoped to the active organisation.

A person sees every section their work gives them: the trainee's where they are in a cohort
or hold a trainee membership, the instructor's where they teach a cohort (an org admin: every
cohort), the admin's where they administer the organisation.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from django.core.cache import cache
from django.db.models import Count, Max, Q

from training.attempts import progress as progress_reads
from training.attempts import selectors as attempt_selectors
from training.attempts import services as attempt_services
from training.models import (
    AlertStatus,
    Appeal,
    AppealStatus,
    Assignment,
    AttemptStatus,
    Certificate,
    CertificateStatus,
    Cohort,
    DriftAlert,
    Invitation,
    Membership,
    Mode,
    Rating,
    Recalibration,
    Role,
)
from training.teaching import data as teaching_data
from training.teaching.trainees import cohort_tendency
from training.tenancy import STAFF_ROLES
from vignettes import selectors as content_selectors
from vignettes.models import Instrument

WEEK = dt.timedelta(days=7)
# "Near due": an assignment closing within this many days that a trainee has not started.
NEAR_DUE = dt.timedelta(days=3)
# How long after its close an unfinished assignment still counts as "overdue" on the home page.
OVERDUE_WINDOW = dt.timedelta(days=14)
EXPIRING_WITHIN = dt.timedelta(days=60)
TENDENCY_CACHE_SECONDS = 24 * 3600


# --- trainee -------------------------------------------------------------------------------


@dataclass
class AssignmentRow:
    assignment: Assignment
    progress: dict
    total: int  # cases to do: an exam's draw, or the set
    due_soon: bool


def trainee_home(*, user, organization, now: dt.datetime) -> dict:
    rows = []
    for assignment in attempt_selectors.assignments_for_trainee(
            user=user, organization=organization, now=now):
        progress = attempt_selectors.assignment_progress(user=user, assignment=assignment)
        if assignment.mode == Mode.EXAM:
            attempt = progress["exam_attempt"]
            progress["vignettes_done"] = (
                0 if attempt is None else attempt_services.exam_cases_done(attempt))
        rows.append(AssignmentRow(
            assignment=assignment, progress=progress, total=progress["total"],
            due_soon=bool(assignment.closes_at and assignment.closes_at - now <= NEAR_DUE),
        ))
    recommended = progress_reads.recommended_cases(user=user, organization=organization)
    starters = []
    if not recommended:
        # Nothing to go on yet: the first practice cases not attempted, by their neutral
        # titles only (never a case's type, and exam cases are never listed).
        starters = list(content_selectors.practice_library(
            organization=organization, user=user, attempted=False)[:3])
    return {
        "assignments": rows,
        "recent": progress_reads.recent_results(user=user, organization=organization),
        "recommended": recommended,
        "starters": starters,
        "open_attempts": attempt_selectors.attempt_list(user=user, organization=organization)
        .filter(status=AttemptStatus.IN_PROGRESS)[:10],
    }


# --- instructor ----------------------------------------------------------------------------


@dataclass
class Behind:
    username: str
    assignment: Assignment
    why: str  # "overdue" or "not started"


@dataclass
class Flagged:
    instrument: str
    username: str
    tendency: str


@dataclass
class CohortSummary:
    cohort: Cohort
    trainees: int
    behind: list[Behind] = field(default_factory=list)
    flagged: list[Flagged] = field(default_factory=list)
    # the first ratings the severity model rested on, per instrument: (name, ratings, trainees)
    tendency_n: list[tuple[str, int, int]] = field(default_factory=list)
    submitted_this_week: int = 0
    submitted_last_week: int = 0
    new_members: list[str] = field(default_factory=list)


def _behind(cohort: Cohort, trainees: dict[int, str], now: dt.datetime) -> list[Behind]:
    """Trainees with an assignment closed in the last two weeks and not finished (overdue),
    or closing within three days and not started."""
    assignments = list(
        Assignment.objects.filter(cohort=cohort, opens_at__lte=now, closes_at__isnull=False,
                                  closes_at__gt=now - OVERDUE_WINDOW,
                                  closes_at__lte=now + NEAR_DUE)
        .annotate(set_size=Count("vignette_set__members", distinct=True))
        .order_by("closes_at", "title"))
    if not assignments or not trainees:
        return []
    done = defaultdict(set)
    for user_id, assignment_id, vignette_id in (
        Rating.objects.filter(attempt__assignment__in=assignments,
                              attempt__user_id__in=trainees)
        .exclude(attempt__status=AttemptStatus.IN_PROGRESS)
        .values_list("attempt__user_id", "attempt__assignment_id",
                     "vignette_revision__vignette_id").distinct()
    ):
        done[(user_id, assignment_id)].add(vignette_id)
    started = {
        (u, a) for u, a in cohort.assignments.filter(pk__in=[a.pk for a in assignments])
        .values_list("attempts__user_id", "pk") if u is not None
    }
    out = []
    by_name = sorted(trainees.items(), key=lambda kv: kv[1].lower())
    for assignment in assignments:
        total = attempt_selectors.cases_to_do(assignment, assignment.set_size)
        overdue = assignment.closes_at <= now
        left = [(user_id, username) for user_id, username in by_name
                if not ((len(done[(user_id, assignment.pk)]) >= total) if overdue
                        else ((user_id, assignment.pk) in started))]
        if not left:
            continue
        # Practice done from the library counts toward the assignment as on the trainee's own
        # page; asked once, for those the assignment's own attempts leave behind.
        elsewhere = attempt_selectors.practice_done_elsewhere_by_user(
            users=[user_id for user_id, _name in left], assignment=assignment)
        for user_id, username in left:
            extra = elsewhere.get(user_id, set())
            if overdue and len(done[(user_id, assignment.pk)] | extra) < total:
                out.append(Behind(username, assignment, "overdue"))
            elif not overdue and not extra:
                out.append(Behind(username, assignment, "not started"))
    return out


def _tendency_key(cohort: Cohort, instrument_id: int, n: int, last_id: int,
                  trainee_ids) -> str:
    people = hashlib.sha256(",".join(map(str, sorted(trainee_ids))).encode()).hexdigest()[:16]
    return f"home:tendency:{cohort.pk}:{instrument_id}:{n}:{last_id}:{people}"


def _flagged(cohort: Cohort, trainees: dict[int, str]):
    """Who the severity model flags, per instrument the cohort has rated. One light query
    says which ratings there are; the model itself runs only when they changed since it was
    last cached (a submitted rating never changes)."""
    if not trainees:
        return [], []
    seen = list(
        Rating.objects.filter(attempt__organization=cohort.organization,
                              attempt__user_id__in=trainees, submitted_at__isnull=False)
        .values_list("instrument_version__instrument_id")
        .annotate(n=Count("id"), last=Max("id"))
        .order_by("instrument_version__instrument_id"))
    flagged, sizes = [], []
    for instrument_id, n, last in seen:
        key = _tendency_key(cohort, instrument_id, n, last, trainees)
        try:
            found = cache.get(key)
        except Exception:  # a cache that is down must not take the home page with it
            found = None
        if found is None:
            instrument = Instrument.objects.get(pk=instrument_id)
            severity = cohort_tendency(teaching_data.cohort_data(cohort=cohort,
                                                                 instrument=instrument))
            found = {
                "name": instrument.short_name,
                "flagged": [(int(t.trainee), t.tendency) for t in severity.flagged],
                "n_ratings": severity.n_ratings, "n_trainees": severity.n_trainees,
            }
            with contextlib.suppress(Exception):  # the page stands without the cache
                cache.set(key, found, TENDENCY_CACHE_SECONDS)
        sizes.append((found["name"], found["n_ratings"], found["n_trainees"]))
        flagged += [Flagged(found["name"], trainees.get(user_id, str(user_id)), tendency)
                    for user_id, tendency in found["flagged"] if user_id in trainees]
    return flagged, sizes


def instructor_home(*, membership, now: dt.datetime) -> list[CohortSummary]:
    organization = membership.organization
    summaries = []
    for cohort in teaching_data.instructor_cohorts(membership=membership):
        trainees = dict(cohort.trainees.filter(memberships__organization=organization)
                        .values_list("id", "username"))
        submitted = (
            cohort.organization.attempts.filter(user_id__in=trainees,
                                                submitted_at__gte=now - 2 * WEEK,
                                                submitted_at__lt=now)
            .aggregate(this=Count("id", filter=Q(submitted_at__gte=now - WEEK)),
                       last=Count("id", filter=Q(submitted_at__lt=now - WEEK))))
        new_members = list(
            Membership.objects.filter(organization=organization, user_id__in=trainees,
                                      created_at__gte=now - WEEK)
            .order_by("user__username").values_list("user__username", flat=True))
        flagged, sizes = _flagged(cohort, trainees)
        summaries.append(CohortSummary(
            cohort=cohort, trainees=len(trainees), behind=_behind(cohort, trainees, now),
            flagged=flagged, tendency_n=sizes,
            submitted_this_week=submitted["this"], submitted_last_week=submitted["last"],
            new_members=new_members,
        ))
    return summaries


# --- organisation admin --------------------------------------------------------------------


def admin_home(*, organization, now: dt.datetime) -> dict:
    invitations = Invitation.objects.filter(organization=organization, accepted_at__isnull=True,
                                            expires_at__gt=now).order_by("expires_at")
    expiring = (Certificate.objects.filter(organization=organization,
                                           status=CertificateStatus.ACTIVE,
                                           expires_at__gt=now,
                                           expires_at__lte=now + EXPIRING_WITHIN)
                .select_related("holder", "instrument_version__instrument")
                .order_by("expires_at"))
    alerts = (DriftAlert.objects.filter(organization=organization, status=AlertStatus.OPEN)
              .select_related("certificate__holder", "certificate__instrument_version__instrument")
              .order_by("raised_at"))
    overdue = (Recalibration.objects.filter(certificate__organization=organization,
                                            completed_at__isnull=True, due_at__lt=now)
               .select_related("certificate__holder",
                               "certificate__instrument_version__instrument")
               .order_by("due_at"))
    appeals = (Appeal.objects.filter(organization=organization, status=AppealStatus.OPEN)
               .select_related("user").order_by("filed_at"))
    return {
        "invitations": list(invitations[:10]), "invitations_n": invitations.count(),
        "expiring": list(expiring[:10]), "expiring_n": expiring.count(),
        "alerts": list(alerts[:10]), "alerts_n": alerts.count(),
        "overdue": list(overdue[:10]), "overdue_n": overdue.count(),
        "appeals": list(appeals[:10]), "appeals_n": appeals.count(),
    }


def home_sections(*, membership, now: dt.datetime) -> dict:
    """Which sections a person sees, and what is in them."""
    user, organization = membership.user, membership.organization
    sections = {"membership": membership}
    in_a_cohort = Cohort.objects.filter(organization=organization, trainees=user).exists()
    if membership.role == Role.TRAINEE or in_a_cohort:
        sections["trainee"] = trainee_home(user=user, organization=organization, now=now)
    if membership.role in STAFF_ROLES:
        sections["cohorts"] = instructor_home(membership=membership, now=now)
        sections["teaching"] = True
    if membership.role == Role.ORG_ADMIN:
        sections["admin"] = admin_home(organization=organization, now=now)
    if membership.role != Role.TRAINEE:
        sections["panels_waiting"] = list(
            content_selectors.panels_waiting_for(user=user, organization=organization))
    return sections

