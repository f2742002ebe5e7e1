"""The user's own profile: the organisation they act in, and the content notice they
acknowledge once."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _

from training.models import (
    Membership,
)
from training.tenancy import profile_for


def profile_switch_organization(*, user, organization_slug: str):
    membership = Membership.objects.filter(
        user=user, organization__slug=organization_slug
    ).select_related("organization").first()
    if membership is None:
        raise ValidationError({"organization": _("You are not a member of that organisation.")})
    profile = profile_for(user)
    profile.active_organization = membership.organization
    profile.save(update_fields=["active_organization"])
    return membership


def profile_acknowledge_content_notice(*, user, now: dt.datetime | None = None) -> None:
    profile = profile_for(user)
    if profile.content_notice_seen_at is None:
        profile.content_notice_seen_at = now or timezone.now()
        profile.save(update_fields=["content_notice_seen_at"])
