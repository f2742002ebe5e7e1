"""Requests for another organisation's objects: answered with the ordinary 404, and recorded.

Each one becomes a structured warning on the `calibrate.security` logger (one JSON object per
line in production, config/logging.py): who asked (user id), from which active organisation,
for what (object type and id, and the organisation it belongs to), how (method, path) and
from where (client IP). A log line rather than an audit event: the audit trail is each
organisation's own record, shown to its admins, and an outsider's probe belongs to neither
organisation's trail; a log line also costs the database nothing, so probing cannot grow it.
The user is named by id only: logs are kept outside the reach of a data-protection erasure.

Per user, at most `DENIALS_LOGGED_PER_MINUTE` lines a minute are written, then one summary
line; the rest of that minute is counted in the cache but not logged.
"""

from __future__ import annotations

import logging

from django.core.cache import cache
from django.utils import timezone

from config.throttling import client_address
from training.exceptions import ObjectInOtherOrganization
from training.models import Organization

logger = logging.getLogger("calibrate.security")

DENIALS_LOGGED_PER_MINUTE = 10
_WINDOW_SECONDS = 60


def _denials_this_minute(user_id) -> int:
    """How many denials this user has had in the current minute, this one included."""
    window = int(timezone.now().timestamp()) // _WINDOW_SECONDS
    key = f"security:cross-organization:{user_id}:{window}"
    cache.add(key, 0, timeout=2 * _WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=2 * _WINDOW_SECONDS)
        return 1


def cross_organization_denied(request, *, organization, denial: ObjectInOtherOrganization
                              ) -> None:
    """Record a request for an object of another organisation than the active one."""
    user_id = getattr(request.user, "pk", None)
    count = _denials_this_minute(user_id)
    if count > DENIALS_LOGGED_PER_MINUTE + 1:
        return
    fields = {
        "event": "cross_organization_denied",
        "user_id": user_id,
        "organization": getattr(organization, "slug", None),
        "object_type": denial.object_type,
        "object_id": denial.object_id,
        "object_organization": (
            Organization.objects.filter(pk=denial.object_organization_id)
            .values_list("slug", flat=True).first()
        ),
        "method": request.method,
        "path": request.path,
        "ip": client_address(request),
    }
    if count == DENIALS_LOGGED_PER_MINUTE + 1:
        fields = {
            "event": "cross_organization_denied_suppressed",
            "user_id": user_id,
            "organization": fields["organization"],
            "logged": DENIALS_LOGGED_PER_MINUTE,
            "ip": fields["ip"],
        }
    # Readable where logs are plain text; the same fields as JSON in production.
    message = " ".join(f"{key}={value}" for key, value in fields.items())
    logger.warning(message, extra={"security": fields})
