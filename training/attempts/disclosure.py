"""When a trainee may learn the reference scoring of a case they rated: the one policy.

Every trainee-facing read that shows a reference or anything derived from one (feedback,
progress, items missed, lenient/severe tendency, recommendations, practice criteria, the
member export) asks this module, so no page can forget the rule.

Two kinds of ratings:
- *secure* ratings: in an exam attempt, in a recalibration attempt, or of a vignette from an
  exam or recalibration pool. Their reference is released by the stricter of the
  organisation's certification rule for the instrument (``exam_feedback_policy``; no rule =
  "never") and the assignment's own ``feedback_policy`` (an assignment can tighten the rule,
  never loosen it). A recalibration has no assignment and no closing time: "after the
  assignment closes" never comes for it.
- practice ratings: the assignment's ``feedback_policy`` as set (free practice: immediate).

The policies nest: never > after_close > immediate. "immediate" releases once the attempt is
submitted or finalised, "after_close" once the assignment has closed as well, "never" not at
all. Because they nest, the stricter of two policies releases exactly when both do, which is
what the query form below relies on.

The certification decision itself (result and criteria, never case by case) is shown under
"immediate" and "never" once the exam is sealed, and under "after_close" once it has closed.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from training.models import (
    Attempt,
    AttemptStatus,
    CertificationRule,
    FeedbackPolicy,
    Mode,
    Rating,
    Recalibration,
)
from vignettes.models import Pool

STRICTNESS = {FeedbackPolicy.IMMEDIATE: 0, FeedbackPolicy.AFTER_CLOSE: 1, FeedbackPolicy.NEVER: 2}
SECURE_POOLS = (Pool.EXAM, Pool.RECALIBRATION)


def stricter(*policies: str | None) -> str:
    """The strictest of these policies (None entries ignored): never > after_close >
    immediate. `stricter("immediate", "after_close") == "after_close"`."""
    given = [p for p in policies if p is not None]
    return max(given, key=lambda p: STRICTNESS[p]) if given else FeedbackPolicy.IMMEDIATE


def is_looser(policy: str, than: str) -> bool:
    return STRICTNESS[policy] < STRICTNESS[than]


def rule_policy(*, organization, instrument_ids) -> str:
    """The organisation's exam feedback policy for these instruments: the strictest of their
    certification rules; an instrument without a rule counts as "never"."""
    instrument_ids = set(instrument_ids)
    policies = dict(CertificationRule.objects.filter(
        organization=organization, instrument_id__in=instrument_ids,
    ).values_list("instrument_id", "exam_feedback_policy"))
    if not instrument_ids or set(policies) != instrument_ids:
        return FeedbackPolicy.NEVER
    return stricter(*policies.values())


def assignment_policy(assignment) -> str:
    """The policy an assignment's candidates actually get: an exam's own choice made no
    looser than its certification rules; a practice assignment's own choice."""
    if assignment.mode != Mode.EXAM:
        return assignment.feedback_policy
    return stricter(assignment.feedback_policy, rule_policy(
        organization=assignment.organization_id,
        instrument_ids=assignment.instruments.values_list("pk", flat=True)))


def attempt_is_secure(attempt: Attempt) -> bool:
    return (
        attempt.mode == Mode.EXAM
        or Recalibration.objects.filter(attempt=attempt).exists()
        or attempt.attempt_vignettes.filter(
            vignette_revision__vignette__pool__in=SECURE_POOLS).exists()
    )


def effective_policy(attempt: Attempt) -> str:
    """The policy that governs the references of this attempt's cases."""
    assignment = attempt.assignment
    own = assignment.feedback_policy if assignment is not None else None
    if not attempt_is_secure(attempt):
        return stricter(own)
    instrument_ids = attempt.instrument_versions.values_list("instrument_id", flat=True)
    return stricter(own, rule_policy(organization=attempt.organization_id,
                                     instrument_ids=instrument_ids))


def _closed(attempt: Attempt, now: dt.datetime) -> bool:
    assignment = attempt.assignment
    return assignment is not None and assignment.closes_at is not None \
        and assignment.closes_at <= now


def _policy_releases(policy: str, attempt: Attempt, now: dt.datetime) -> bool:
    if policy == FeedbackPolicy.IMMEDIATE:
        return True
    if policy == FeedbackPolicy.AFTER_CLOSE:
        return _closed(attempt, now)
    return False


def feedback_allowed(attempt: Attempt, *, now: dt.datetime | None = None) -> bool:
    """May the attempt's owner see the item-by-item comparison with the reference now?"""
    if attempt.status == AttemptStatus.IN_PROGRESS:
        return False
    return _policy_releases(effective_policy(attempt), attempt, now or timezone.now())


def result_released(attempt: Attempt, *, now: dt.datetime | None = None) -> bool:
    """May the candidate see the certification decision of this exam (result and criteria
    only)? Under "after_close" it waits for the close with the rest of the feedback."""
    if attempt.status == AttemptStatus.IN_PROGRESS:
        return False
    if effective_policy(attempt) == FeedbackPolicy.AFTER_CLOSE:
        return _closed(attempt, now or timezone.now())
    return True


def release_note(attempt: Attempt) -> str:
    """Why the reference is not (yet) shown, in the trainee's terms; empty when it is."""
    if attempt.status == AttemptStatus.IN_PROGRESS:
        return _("Feedback is shown after you submit.")
    policy = effective_policy(attempt)
    if policy == FeedbackPolicy.AFTER_CLOSE:
        return _("Feedback is shown after the assignment closes.")
    if policy == FeedbackPolicy.NEVER:
        if attempt_is_secure(attempt):
            return _("The reference scorings of exam and recalibration cases are not shown to "
                     "candidates: your organisation's certification rule shows the result and "
                     "the criteria only.")
        return _("This assignment does not show item feedback to trainees.")
    return ""


# --- the same rule, for querysets of ratings ---------------------------------------------------


def _rule_with(policy: str):
    return Exists(CertificationRule.objects.filter(
        organization_id=OuterRef("attempt__organization_id"),
        instrument_id=OuterRef("instrument_version__instrument_id"),
        exam_feedback_policy=policy,
    ))


def released_ratings(ratings: QuerySet, *, now: dt.datetime | None = None) -> QuerySet:
    """The ratings of `ratings` whose reference their trainee may see now: submitted, and
    released by the policy that governs them (see the module docstring). Every
    reference-derived read for a trainee goes through here."""
    now = now or timezone.now()
    closed = Q(attempt__assignment__closes_at__isnull=False,
               attempt__assignment__closes_at__lte=now)
    assignment_releases = (
        Q(attempt__assignment__isnull=True)
        | Q(attempt__assignment__feedback_policy=FeedbackPolicy.IMMEDIATE)
        | (Q(attempt__assignment__feedback_policy=FeedbackPolicy.AFTER_CLOSE) & closed)
    )
    rule_releases = _rule_with(FeedbackPolicy.IMMEDIATE) | (
        _rule_with(FeedbackPolicy.AFTER_CLOSE) & closed)
    secure = (
        Q(attempt__mode=Mode.EXAM)
        | Exists(Recalibration.objects.filter(attempt_id=OuterRef("attempt_id")))
        | Q(vignette_revision__vignette__pool__in=SECURE_POOLS)
    )
    return ratings.filter(
        submitted_at__isnull=False,
        attempt__status__in=[AttemptStatus.SUBMITTED, AttemptStatus.FINALISED],
    ).filter(assignment_releases).filter(~secure | rule_releases)


def reference_released(*, rating: Rating, now: dt.datetime | None = None) -> bool:
    """May the rating's trainee see its reference now? (One rating; the same rule as
    `released_ratings`.)"""
    return released_ratings(Rating.objects.filter(pk=rating.pk), now=now).exists()
