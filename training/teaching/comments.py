"""Instructors comment on trainees' ratings."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from training.audit import audit_record
from training.models import Cohort, Membership, Rating, RatingComment, Role

MAX_COMMENT_CHARS = 4000


def can_teach(membership: Membership, trainee_id: int) -> bool:
    """Org admins teach everyone in their organisation; instructors their cohorts' trainees."""
    if membership.role == Role.ORG_ADMIN:
        return Membership.objects.filter(
            organization=membership.organization, user_id=trainee_id
        ).exists()
    if membership.role != Role.INSTRUCTOR:
        return False
    return Cohort.objects.filter(
        organization=membership.organization, instructors=membership.user, trainees=trainee_id
    ).exists()


@transaction.atomic
def rating_comment_add(
    *, membership: Membership, rating: Rating, text: str, now: dt.datetime | None = None
) -> RatingComment:
    if rating.attempt.organization_id != membership.organization_id or not can_teach(
        membership, rating.attempt.user_id
    ):
        raise PermissionDenied(_("You do not teach this trainee."))
    text = (text or "").strip()
    if not text:
        raise ValidationError({"text": _("Write a comment.")})
    if "\x00" in text:
        raise ValidationError({"text": _("Must not contain NUL characters.")})
    if len(text) > MAX_COMMENT_CHARS:
        raise ValidationError({"text": _("At most %(n)d characters.") % {"n": MAX_COMMENT_CHARS}})
    if rating.submitted_at is None:
        raise ValidationError(_("Comment on submitted work only."))
    comment = RatingComment.objects.create(
        rating=rating, author=membership.user, text=text, created_at=now or timezone.now()
    )
    audit_record(actor=membership.user, organization=membership.organization, obj=comment,
                 action="comment.added", after={"rating": rating.pk, "chars": len(text)},
                 now=now)
    return comment
