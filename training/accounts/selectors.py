"""Reads about a user's own account: their memberships and their API tokens."""

from __future__ import annotations

import datetime as dt

from django.db.models import Q
from django.utils import timezone

from training.models import (
    ApiToken,
    Membership,
)


def memberships_for(user):
    return Membership.objects.filter(user=user).select_related("organization").order_by(
        "organization__name"
    )


def api_token_list(*, user, now: dt.datetime | None = None) -> list:
    """The user's own API tokens that still work, newest first (an expired one is gone for
    good: it is deleted the next time it is presented)."""

    now = now or timezone.now()
    return list(ApiToken.objects.filter(user=user).filter(Q(expiry__isnull=True)
                                                          | Q(expiry__gt=now))
                .order_by("-created"))
