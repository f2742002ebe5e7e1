"""The audit trail: one append-only row per change that matters."""

from __future__ import annotations

import datetime as dt

from django.db import models
from django.utils import timezone

from training.models import AuditEvent, Organization


def audit_record(
    *,
    actor,
    organization: Organization | None,
    obj: models.Model | None = None,
    object_type: str = "",
    action: str,
    before: dict | None = None,
    after: dict | None = None,
    now: dt.datetime | None = None,
) -> AuditEvent:
    if obj is not None:
        object_type = object_type or obj._meta.label
    return AuditEvent.objects.create(
        at=now or timezone.now(),
        actor=actor if getattr(actor, "pk", None) else None,
        actor_repr=getattr(actor, "username", "") or "system",
        organization=organization,
        object_type=object_type,
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=str(obj)[:300] if obj is not None else "",
        action=action,
        before=before,
        after=after,
    )
