"""Data protection: retention. Attempts older than the organisation's retention period are deleted, except what a certificate still rests on; the settings an admin keeps."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from training.audit import audit_record
from training.models import (
    Attempt,
    AttemptStatus,
    Certificate,
    CertificateStatus,
    CertificationDecision,
    ErasureReason,
    Membership,
    Mode,
    Organization,
    Rating,
    RatingComment,
    Recalibration,
)
from training.organisation.erasure import _erase_in_organization

# --- retention -----------------------------------------------------------------------------


@dataclass
class RetentionResult:
    organization: str
    drafts_deleted: int = 0
    attempts_cleared: int = 0
    comments_deleted: int = 0
    people_pseudonymised: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.drafts_deleted or self.attempts_cleared or self.comments_deleted
                    or self.people_pseudonymised)


def protected_attempt_ids(organization: Organization, now: dt.datetime) -> set[int]:
    """Attempts that underpin a current (not expired, not revoked or superseded) certificate:
    its exam attempt and its recalibration attempts. Retention never touches them."""
    current = Certificate.objects.filter(
        organization=organization,
        status__in=[CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED],
        expires_at__gt=now,
    )
    exam = set(CertificationDecision.objects.filter(certificate__in=current)
               .values_list("attempt_id", flat=True))
    recal = set(Recalibration.objects.filter(certificate__in=current, attempt__isnull=False)
                .values_list("attempt_id", flat=True))
    return exam | recal


def _retention_for(organization: Organization, now: dt.datetime) -> RetentionResult:
    result = RetentionResult(organization=organization.slug)
    protected = protected_attempt_ids(organization, now)
    if organization.draft_retention_days:
        cutoff = now - dt.timedelta(days=organization.draft_retention_days)
        drafts = (
            Attempt.objects.filter(organization=organization, mode=Mode.PRACTICE,
                                   status=AttemptStatus.IN_PROGRESS, started_at__lte=cutoff)
            .exclude(pk__in=protected)
            .annotate(last_saved=Max("ratings__updated_at"))
        )
        stale = [
            a.pk for a in drafts
            if max(t for t in (a.started_at, a.opened_at, a.last_saved) if t) <= cutoff
        ]
        if stale:
            Attempt.objects.filter(pk__in=stale).delete()
        result.drafts_deleted = len(stale)
    if organization.attempt_retention_days:
        cutoff = now - dt.timedelta(days=organization.attempt_retention_days)
        old = (
            Attempt.objects.filter(organization=organization, submitted_at__lte=cutoff,
                                   status__in=[AttemptStatus.SUBMITTED, AttemptStatus.FINALISED])
            .exclude(pk__in=protected)
        )
        ratings = Rating.objects.filter(attempt__in=old).exclude(rationale="", notes={})
        touched = set(ratings.values_list("attempt_id", flat=True))
        ratings.update(rationale="", notes={})
        comments = RatingComment.objects.filter(rating__attempt__in=old)
        touched |= set(comments.values_list("rating__attempt_id", flat=True))
        result.comments_deleted = comments.delete()[0]
        result.attempts_cleared = len(touched)
        # People who have left: no membership here, nothing newer than the cutoff, no
        # current certificate here. Their records are pseudonymised as in an erasure.
        members = Membership.objects.filter(organization=organization).values("user_id")
        recent = Attempt.objects.filter(organization=organization).filter(
            Q(started_at__gt=cutoff) | Q(submitted_at__gt=cutoff) | Q(pk__in=protected)
        ).values("user_id")
        current_holders = Certificate.objects.filter(
            organization=organization,
            status__in=[CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED],
            expires_at__gt=now,
        ).values("holder_id")
        departed = (
            get_user_model().objects.filter(attempts__in=old).distinct()
            .exclude(pk__in=members).exclude(pk__in=recent).exclude(pk__in=current_holders)
            .exclude(profile__erased_at__isnull=False)
        )
        for user in departed:
            _erase_in_organization(actor=None, organization=organization, user=user,
                                   reason=ErasureReason.RETENTION, now=now)
            result.people_pseudonymised += 1
    return result


def retention_apply(*, now: dt.datetime | None = None, dry_run: bool = False,
                    organizations=None) -> list[RetentionResult]:
    """Apply every organisation's retention settings. Idempotent; each organisation in its own
    transaction (its row locked, so concurrent runs queue). A dry run does the same work
    and rolls it back, so it reports exactly what a real run would do."""
    now = now or timezone.now()
    qs = organizations if organizations is not None else Organization.objects.all()
    qs = qs.filter(Q(draft_retention_days__isnull=False) |
                   Q(attempt_retention_days__isnull=False)).order_by("slug")
    results = []
    for org_id in qs.values_list("pk", flat=True):
        with transaction.atomic():
            organization = Organization.objects.select_for_update().get(pk=org_id)
            result = _retention_for(organization, now)
            if dry_run:
                transaction.set_rollback(True)
            elif result.changed:
                audit_record(
                    actor=None, organization=organization, obj=organization,
                    action="retention.applied",
                    after={
                        "draft_retention_days": organization.draft_retention_days,
                        "attempt_retention_days": organization.attempt_retention_days,
                        "drafts_deleted": result.drafts_deleted,
                        "attempts_cleared": result.attempts_cleared,
                        "comments_deleted": result.comments_deleted,
                        "people_pseudonymised": result.people_pseudonymised,
                    },
                    now=now,
                )
        results.append(result)
    return results


def retention_settings_save(*, actor, organization: Organization,
                            draft_retention_days: int | None,
                            attempt_retention_days: int | None) -> Organization:
    errors = {}
    for name, value in (("draft_retention_days", draft_retention_days),
                        ("attempt_retention_days", attempt_retention_days)):
        if value is not None and not 1 <= value <= 36500:
            errors[name] = _("Between 1 and 36500 days, or empty to keep forever.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        before = {"draft_retention_days": organization.draft_retention_days,
                  "attempt_retention_days": organization.attempt_retention_days}
        after = {"draft_retention_days": draft_retention_days,
                 "attempt_retention_days": attempt_retention_days}
        if before != after:
            organization.draft_retention_days = draft_retention_days
            organization.attempt_retention_days = attempt_retention_days
            organization.save(update_fields=["draft_retention_days", "attempt_retention_days"])
            audit_record(actor=actor, organization=organization, obj=organization,
                         action="organization.retention_changed", before=before, after=after)
    return organization
