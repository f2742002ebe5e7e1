"""Exams as attempts: who may start one and when (the rule's retake wait), which cases a draw gives (never a case the person has been drawn before), and how many draws a pool can still give."""

from __future__ import annotations

import datetime as dt
import secrets
from collections import defaultdict
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from training import formatting
from training.attempts import disclosure
from training.audit import audit_record
from training.exceptions import Conflict
from training.models import (
    Assignment,
    Attempt,
    AttemptStatus,
    AttemptVignette,
    CertificationRule,
    ExamAccommodation,
    ExamStart,
    FeedbackPolicy,
    Membership,
    Mode,
    Organization,
    Rating,
)
from vignettes.models import ContentStatus, ReferenceScoring, VignetteSetMember

# --- exams: starting and drawing -----------------------------------------------------------


def _rules_for_instruments(organization, instrument_ids):
    return CertificationRule.objects.filter(
        organization=organization, instrument_id__in=instrument_ids
    )


def rule_wait_days(*, organization: Organization, instrument_ids) -> int:
    """The longest retake wait of the organisation's rules for these instruments (0: none)."""
    waits = _rules_for_instruments(organization, list(instrument_ids)).values_list(
        "retake_wait_days", flat=True)
    return max(waits, default=0)


def exam_wait_days(*, organization: Organization, assignment: Assignment) -> int:
    """The wait between exam attempts: the assignment may lengthen the rule's, never shorten
    it (an assignment saved before the rule was lengthened still waits the rule's)."""
    rule_wait = rule_wait_days(
        organization=organization,
        instrument_ids=assignment.instruments.values_list("pk", flat=True))
    return max(rule_wait, assignment.retake_wait_days or 0)


def exam_start_check(*, user, organization: Organization, assignment: Assignment,
                     now: dt.datetime) -> None:
    """Before an exam attempt starts (the caller holds the membership row lock): no other exam
    attempt in progress, and the waiting period since the last one on these instruments over."""
    instrument_ids = list(assignment.instruments.values_list("pk", flat=True))
    earlier = Attempt.objects.filter(
        user=user, organization=organization, mode=Mode.EXAM,
        instrument_versions__instrument_id__in=instrument_ids,
    ).distinct()
    if earlier.filter(status=AttemptStatus.IN_PROGRESS).exists():
        raise Conflict(_("You already have an exam attempt in progress; finish it first."),
                       code="exam_in_progress")
    wait = exam_wait_days(organization=organization, assignment=assignment)
    last = earlier.exclude(submitted_at__isnull=True).order_by("-submitted_at").first()
    if wait and last is not None:
        allowed_from = last.submitted_at + dt.timedelta(days=wait)
        if now < allowed_from:
            raise Conflict(
                ngettext("You may retake this exam from %(t)s (a waiting period of %(d)d day "
                         "after your last attempt).",
                         "You may retake this exam from %(t)s (a waiting period of %(d)d days "
                         "after your last attempt).", wait)
                % {"t": formatting.when(allowed_from, organization), "d": wait},
                code="waiting_period",
                allowed_from=allowed_from.isoformat(),
            )


def draw_stratified(pool, *, n: int, strata: dict, seen: set, rng) -> list:
    """Draw `n` of `pool` stratified by `strata[x]` in proportion to the pool (largest
    remainder), preferring members not in `seen`; the result is in random order.

    Example: a pool of 6 A and 3 B, n = 3 -> 2 A and 1 B."""
    pool = list(pool)
    n = min(n, len(pool))
    groups = defaultdict(list)
    for x in pool:
        groups[strata[x]].append(x)
    keys = sorted(groups)
    exact = {k: n * len(groups[k]) / len(pool) for k in keys}
    quota = {k: int(exact[k]) for k in keys}
    order = sorted(keys, key=lambda k: (-(exact[k] - quota[k]), rng.random()))
    for k in order[: n - sum(quota.values())]:
        quota[k] += 1
    chosen, leftovers_fresh, leftovers_seen = [], [], []
    for k in keys:
        fresh = [x for x in groups[k] if x not in seen]
        old = [x for x in groups[k] if x in seen]
        rng.shuffle(fresh)
        rng.shuffle(old)
        take = fresh[: quota[k]]
        short = quota[k] - len(take)
        leftovers_fresh.extend(fresh[quota[k]:])
        leftovers_seen.extend(old)
        chosen.extend(take)
        chosen.extend([None] * short)  # empty slots, filled from unseen elsewhere first
    missing = chosen.count(None)
    chosen = [x for x in chosen if x is not None]
    rng.shuffle(leftovers_fresh)
    fill = leftovers_fresh[:missing]
    # Where the pool does not allow an unseen vignette, a seen one of the same stratum.
    rest = missing - len(fill)
    chosen.extend(fill)
    chosen.extend(leftovers_seen[:rest])
    rng.shuffle(chosen)
    return chosen


def vignettes_seen(*, user) -> set[int]:
    """Every vignette this person has been drawn or has rated, in any organisation (bundled
    exam vignettes are shared by every organisation that uses the bundled pool)."""
    return set(
        AttemptVignette.objects.filter(attempt__user=user).values_list(
            "vignette_revision__vignette_id", flat=True)
    ) | set(
        Rating.objects.filter(attempt__user=user).values_list(
            "vignette_revision__vignette_id", flat=True)
    )


def exam_draw(*, user, organization: Organization, assignment: Assignment, members):
    """The members of the exam set this trainee gets: `assignment.draw_size` (default: all),
    stratified by case type, only vignettes they have never been drawn or rated anywhere, in
    random order. Returns (seed, members); the seed reproduces the draw.

    When the pool holds fewer unseen vignettes than a full draw, the attempt is refused
    (Conflict `pool_exhausted`): a retake that repeats cases can be learned."""
    import random

    n = assignment.draw_size or len(members)
    seen = vignettes_seen(user=user)
    fresh = [m for m in members if m.vignette_id not in seen]
    if len(fresh) < n:
        raise Conflict(
            _("This exam cannot give you a fair draw: it needs %(n)d cases you have never "
              "been given, and its pool has only %(k)d left for you. Ask your instructor or "
              "organisation admin to add cases to the exam pool.")
            % {"n": n, "k": len(fresh)},
            code="pool_exhausted", needed=n, unseen=len(fresh),
        )
    seed = secrets.randbits(62)
    rng = random.Random(seed)
    by_vignette = {m.vignette_id: m for m in fresh}
    strata = parallel_form_strata(assignment=assignment, members=members)
    drawn = draw_stratified(list(by_vignette), n=n, strata=strata, seen=set(), rng=rng)
    return seed, [by_vignette[v] for v in drawn]


CASE_GROUPS = {"csem": "csem", "luring": "online", "sextortion": "online", "ncii": "online",
               "contact": "contact"}


def _case_group(case_types) -> str:
    """A coarse case group (CSEM / online offending / contact): fine enough for every form to
    hold the pool's mix, coarse enough that a 10-case draw can follow it."""
    for prefix, group in CASE_GROUPS.items():
        if any(c.startswith(prefix) for c in case_types or []):
            return group
    return "-"


def parallel_form_strata(*, assignment: Assignment, members) -> dict:
    """vignette id -> stratum, so that every draw is a parallel form of the others: the same
    share of cases where the exam's (first) instrument does not apply, the same spread of
    reference totals (pool terciles) among those where it does, and the same mix of case
    groups. Computed over the whole pool, so a retake's form matches the first's."""
    instrument = assignment.instruments.order_by("slug").select_related("current_version").first()
    totals: dict[int, int | None] = {}
    if instrument is not None and instrument.current_version_id:
        refs = ReferenceScoring.objects.filter(
            vignette_revision__in=[m.vignette.current_revision_id for m in members],
            instrument_version_id=instrument.current_version_id,
        ).order_by("number").select_related("instrument_version")
        by_revision = {}
        for ref in refs:
            by_revision[ref.vignette_revision_id] = ref
        for m in members:
            ref = by_revision.get(m.vignette.current_revision_id)
            if ref is None or not ref.applicable:
                totals[m.vignette_id] = None
            else:
                totals[m.vignette_id] = ref.result().total
    known = sorted(t for t in totals.values() if t is not None)
    cuts = (known[len(known) // 3], known[2 * len(known) // 3]) if len(known) >= 3 else None

    def form(vignette_id) -> str:
        total = totals.get(vignette_id)
        if vignette_id in totals and total is None:
            return "does-not-apply"
        if total is None or cuts is None:
            return "-"
        return "low" if total < cuts[0] else ("middle" if total < cuts[1] else "high")

    return {m.vignette_id: f"{form(m.vignette_id)}|"
            f"{_case_group(m.vignette.current_revision.case_types)}" for m in members}


@dataclass
class PoolCapacity:
    """How far an exam's pool carries its candidates when no case may be drawn twice."""

    pool: int
    draw: int
    attempts_allowed: int | None
    attempts_supported: int
    more_needed: int  # cases to add so that every allowed attempt gets an unseen draw
    candidates_blocked: int  # cohort trainees who can no longer get a full unseen draw


@dataclass
class ExamOverview:
    assignment: Assignment
    feedback_policy: str  # the effective one
    feedback_policy_label: str
    tightened_by_rule: bool
    wait_days: int
    capacity: PoolCapacity


def exam_overview(*, assignment: Assignment) -> ExamOverview:
    """What an exam assignment really gives its candidates, for instructors and org admins:
    the effective feedback policy and retake wait, and how far its pool carries them."""
    policy = disclosure.assignment_policy(assignment)
    return ExamOverview(
        assignment=assignment, feedback_policy=policy,
        feedback_policy_label=str(FeedbackPolicy(policy).label),
        tightened_by_rule=policy != assignment.feedback_policy,
        wait_days=exam_wait_days(organization=assignment.organization, assignment=assignment),
        capacity=exam_pool_capacity(assignment=assignment),
    )


def exam_overviews(*, organization: Organization) -> list[ExamOverview]:
    exams = Assignment.objects.filter(organization=organization, mode=Mode.EXAM).select_related(
        "cohort", "vignette_set", "organization").order_by("-opens_at", "title")
    return [exam_overview(assignment=a) for a in exams]


def exam_pool_capacity(*, assignment: Assignment) -> PoolCapacity:
    """For instructors and org admins: pool of P cases, N drawn per attempt, A attempts
    allowed -> P // N attempts per candidate, and N * A - P more cases needed (unlimited
    attempts: counted as one more than the pool supports). Candidates who have already seen
    cases (here or in another organisation) count as blocked when fewer than N remain."""

    pool_ids = set(VignetteSetMember.objects.filter(
        vignette_set=assignment.vignette_set, vignette__status=ContentStatus.PUBLISHED,
        vignette__current_revision__isnull=False,
    ).values_list("vignette_id", flat=True))
    pool = len(pool_ids)
    draw = min(assignment.draw_size or pool, pool) if pool else (assignment.draw_size or 0)
    supported = pool // draw if draw else 0
    wanted = assignment.attempts_allowed if assignment.attempts_allowed is not None \
        else supported + 1
    more = max(0, draw * wanted - pool)
    blocked = 0
    for user in assignment.cohort.trainees.all():
        if draw and len(pool_ids - vignettes_seen(user=user)) < draw:
            blocked += 1
    return PoolCapacity(pool=pool, draw=draw, attempts_allowed=assignment.attempts_allowed,
                        attempts_supported=supported, more_needed=more,
                        candidates_blocked=blocked)


# --- the candidate's path: briefing, undertaking, accommodations, frozen rules -------------

# The confidentiality undertaking a candidate accepts before an exam's clock starts. A change
# of wording is a new version: each start records the version its candidate accepted.
UNDERTAKING_VERSION = "2026-12-1"
UNDERTAKING_TEXT = gettext_lazy(
    "I will not copy, record, photograph or share the exam's cases or my answers, and I will "
    "not tell anyone what the cases contain, during or after the exam. I will work on my own.")
MAX_EXTRA_MINUTES = 24 * 60
MAX_REASON_CHARS = 2000


def rule_snapshot(rule: CertificationRule) -> dict:
    """The rule's settings as they stand, JSON-ready (what an exam started now is decided by)."""
    out = {}
    for f in CertificationRule._meta.concrete_fields:
        if f.name in ("id", "organization", "instrument", "short_exam_accepted_by"):
            continue
        value = getattr(rule, f.attname)
        out[f.name] = value.isoformat() if isinstance(value, dt.datetime) else value
    return out


def accommodation_for(*, user, assignment: Assignment) -> ExamAccommodation | None:
    return ExamAccommodation.objects.filter(user=user, assignment=assignment).first()


def exam_start_record(*, attempt: Attempt, user, assignment: Assignment,
                      now: dt.datetime) -> ExamStart:
    """Called as the exam attempt is created, once the candidate accepted the undertaking:
    records the acceptance, the extra time granted and the rules as they stand (audited)."""
    accommodation = accommodation_for(user=user, assignment=assignment)
    rules = {r.instrument.slug: rule_snapshot(r) for r in _rules_for_instruments(
        assignment.organization, assignment.instruments.values_list("pk", flat=True)
    ).select_related("instrument")}
    start = ExamStart.objects.create(
        attempt=attempt, user=user, undertaking_version=UNDERTAKING_VERSION,
        undertaking_accepted_at=now,
        extra_minutes=accommodation.extra_minutes if accommodation else 0, rules=rules)
    audit_record(actor=user, organization=assignment.organization, obj=attempt,
                 action="exam.undertaking_accepted", subject=user,
                 after={"assignment": assignment.pk, "undertaking_version": UNDERTAKING_VERSION,
                        "extra_minutes": start.extra_minutes}, now=now)
    return start


@transaction.atomic
def accommodation_grant(*, actor, organization: Organization, assignment: Assignment, user,
                        extra_minutes, reason: str,
                        now: dt.datetime | None = None) -> ExamAccommodation:
    """An org admin grants a candidate extra time on an exam before they start it (a second
    grant replaces the first). Refused while the candidate has an attempt of it in progress:
    the clock of a started exam does not change."""
    now = now or timezone.now()
    if assignment.organization_id != organization.pk or assignment.mode != Mode.EXAM:
        raise ValidationError({"assignment": _("Extra time is granted on an exam of your "
                                               "organisation.")})
    if not assignment.cohort.trainees.filter(pk=user.pk).exists():
        raise ValidationError({"user": _("This person is not a candidate of this exam's "
                                         "cohort.")})
    try:
        extra_minutes = int(extra_minutes)
    except (TypeError, ValueError):
        raise ValidationError({"extra_minutes": _("Give the extra time as a whole number of "
                                                  "minutes.")}) from None
    if not 1 <= extra_minutes <= MAX_EXTRA_MINUTES:
        raise ValidationError({"extra_minutes": _(
            "Extra time must be between 1 and %(max)d minutes.") % {"max": MAX_EXTRA_MINUTES}})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Say why the extra time is granted (it is "
                                           "recorded).")})
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError({"reason": _("The reason is longer than %(n)d characters.")
                               % {"n": MAX_REASON_CHARS}})
    Membership.objects.select_for_update().filter(user=user, organization=organization).first()
    if Attempt.objects.filter(user=user, assignment=assignment,
                              status=AttemptStatus.IN_PROGRESS).exists():
        raise ValidationError({"user": _("This candidate has already started the exam; extra "
                                         "time is granted before the start.")})
    previous = accommodation_for(user=user, assignment=assignment)
    before = ({"extra_minutes": previous.extra_minutes, "reason": previous.reason}
              if previous else None)
    accommodation, _created = ExamAccommodation.objects.update_or_create(
        assignment=assignment, user=user,
        defaults={"organization": organization, "extra_minutes": extra_minutes,
                  "reason": reason, "granted_by": actor, "granted_at": now})
    audit_record(actor=actor, organization=organization, obj=accommodation,
                 action="exam.accommodation_granted", subject=user, before=before,
                 after={"assignment": assignment.pk, "extra_minutes": extra_minutes,
                        "reason": reason}, now=now)
    return accommodation


@dataclass
class Briefing:
    assignment: Assignment
    cases: int
    instruments: list
    time_limit_minutes: int | None
    extra_minutes: int
    accommodation_reason: str
    attempts_allowed: int | None
    attempts_used: int
    attempts_left: int | None
    wait_days: int
    undertaking_text: str
    undertaking_version: str

    @property
    def total_minutes(self) -> int | None:
        if self.time_limit_minutes is None:
            return None
        return self.time_limit_minutes + self.extra_minutes


def exam_briefing(*, user, assignment: Assignment) -> Briefing:
    """What a candidate reads before an exam's clock starts."""
    pool = VignetteSetMember.objects.filter(
        vignette_set=assignment.vignette_set, vignette__status=ContentStatus.PUBLISHED,
        vignette__current_revision__isnull=False).count()
    used = Attempt.objects.filter(user=user, assignment=assignment).count()
    accommodation = accommodation_for(user=user, assignment=assignment)
    allowed = assignment.attempts_allowed
    return Briefing(
        assignment=assignment, cases=min(assignment.draw_size or pool, pool),
        instruments=list(assignment.instruments.order_by("slug")),
        time_limit_minutes=assignment.time_limit_minutes,
        extra_minutes=accommodation.extra_minutes if accommodation else 0,
        accommodation_reason=accommodation.reason if accommodation else "",
        attempts_allowed=allowed, attempts_used=used,
        attempts_left=None if allowed is None else max(0, allowed - used),
        wait_days=exam_wait_days(organization=assignment.organization, assignment=assignment),
        undertaking_text=str(UNDERTAKING_TEXT), undertaking_version=UNDERTAKING_VERSION,
    )
