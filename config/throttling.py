"""Who is asking, and how often: the client address behind the reverse proxy, a counter in
Django's cache for rate limits, and the sign-in throttle (django-axes) with a limit per
username and a higher one per address.

The client address is the socket's (REMOTE_ADDR) unless `TRUSTED_PROXY_COUNT` says how many
proxies of our own stand in front; then it is the X-Forwarded-For entry that many places from
the right, the address the outermost trusted proxy saw. Entries further left were written by
the client and are never believed.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.core.cache import cache
from django.db.models import Sum
from django.shortcuts import render


def client_address(request) -> str | None:
    """The address of the person making the request, as far as our own proxies vouch for it
    (None when the server gives none, e.g. on a Unix socket without a proxy).

    With N trusted proxies, each appends the address it received the request from to
    X-Forwarded-For, so the client is the N-th entry from the right: for "6.6.6.6, 203.0.113.7"
    behind one proxy, 203.0.113.7 (6.6.6.6 is whatever the client wrote). A header with fewer
    than N entries, or one that is not an address, did not come through all our proxies: the
    socket address is used instead.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    count = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if count <= 0:
        return remote
    entries = [e.strip() for e in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    entries = [e for e in entries if e]
    if len(entries) < count:
        return remote
    return _address_without_port(entries[-count]) or remote


def _address_without_port(entry: str) -> str | None:
    """The address in an X-Forwarded-For entry: 203.0.113.7, 203.0.113.7:51234, 2001:db8::1
    or [2001:db8::1]:51234 (some load balancers write the client's port too); else None."""
    if entry.startswith("["):
        entry = entry[1:].partition("]")[0]
    elif entry.count(":") == 1:
        entry = entry.partition(":")[0]
    try:
        return str(ipaddress.ip_address(entry))
    except ValueError:
        return None


def rate_limit_hit(bucket: str, *, limit: int, window: int, now: float | None = None) -> int | None:
    """Count one request in `bucket` for the current fixed window of `window` seconds.

    Returns None while the count is within `limit`, otherwise the seconds until the window ends
    (for Retry-After). The count lives in Django's cache (the database cache by default,
    Redis with REDIS_URL), so every worker and server shares it.
    """
    now = time.time() if now is None else now
    current = int(now // window)
    key = f"rate:{bucket}:{current}"
    cache.add(key, 0, window + 5)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window + 5)
        count = 1
    if count > limit:
        return max(1, int((current + 1) * window - now))
    return None


def bucket_for_email(email: str) -> str:
    """A cache key part for an e-mail address that does not store the address itself."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


def password_reset_allowed(*, email: str, address: str | None, now: float | None = None) -> bool:
    """Count one password-reset request; False once the address or the e-mail has had its
    share this hour (CALIBRATE_PASSWORD_RESET_PER_ADDRESS / _PER_EMAIL). A request refused
    for its address does not use up the e-mail's share."""
    window = settings.CALIBRATE_PASSWORD_RESET_WINDOW_SECONDS
    if rate_limit_hit(f"password-reset-address:{address}", now=now, window=window,
                      limit=settings.CALIBRATE_PASSWORD_RESET_PER_ADDRESS) is not None:
        return False
    return rate_limit_hit(f"password-reset-email:{bucket_for_email(email)}", now=now,
                          window=window, limit=settings.CALIBRATE_PASSWORD_RESET_PER_EMAIL) is None


class SignInThrottleHandler(AxesDatabaseHandler):
    """django-axes with two limits: AXES_FAILURE_LIMIT failures for one username, from any
    addresses, lock that username (AXES_LOCKOUT_PARAMETERS = ["username"]); and
    CALIBRATE_SIGN_IN_ADDRESS_FAILURE_LIMIT failures from one address, across usernames, lock
    that address. Axes compares one count with one limit, so the address count is added here,
    from the same failure records (axes_reset_ip clears it like any other). Both end after
    AXES_COOLOFF_TIME without failures, never later."""

    def address_failures(self, request) -> int:
        attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
        if settings.AXES_COOLOFF_TIME is not None:
            attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
        return attempts.aggregate(n=Sum("failures_since_start"))["n"] or 0

    def address_locked(self, request) -> bool:
        return (
            settings.AXES_LOCK_OUT_AT_FAILURE
            and self.address_failures(request) >= settings.CALIBRATE_SIGN_IN_ADDRESS_FAILURE_LIMIT
        )

    def is_locked(self, request, credentials=None) -> bool:
        return super().is_locked(request, credentials) or self.address_locked(request)

    def user_login_failed(self, sender, credentials, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request, **kwargs)
        if request is None or request.axes_locked_out or self.is_whitelisted(request, credentials):
            return
        if self.address_locked(request):
            request.axes_locked_out = True
            request.axes_credentials = credentials
            user_locked_out.send("axes", request=request,
                                 username=get_client_username(request, credentials),
                                 ip_address=request.axes_ip_address)


def cool_off_minutes() -> int:
    return max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))


def sign_in_locked_out(request, original_response=None, credentials=None):
    """The page a locked-out sign-in gets (429, with Retry-After and the cool-off in minutes)."""
    minutes = cool_off_minutes()
    response = render(request, "registration/locked_out.html", {"minutes": minutes},
                      status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
