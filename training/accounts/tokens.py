"""API tokens and signing out: issuing, revoking, "Sign out everywhere".

Tokens are django-rest-knox tokens (training.ApiToken): the database keeps a hash, never the
token. Each request to POST /api/v1/auth/token/ issues a new one, valid for
CALIBRATE_API_TOKEN_DAYS days. They end early when their owner revokes one (account page, or
the API), signs out everywhere, changes their password or two-factor sign-in, or when the
account is deactivated. Every revocation that ends at least one token, and every "Sign out
everywhere", goes to the audit trail of each organisation the user belongs to.
"""

from __future__ import annotations

import datetime as dt
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.db import transaction
from django.utils import timezone

from training.audit import audit_record
from training.models import ApiToken, Membership

# Why tokens ended, as the audit trail records it.
REVOKED_BY_USER = "revoked_by_user"
SIGN_OUT_EVERYWHERE = "sign_out_everywhere"
PASSWORD_CHANGED = "password_changed"
TWO_FACTOR_CHANGED = "two_factor_changed"
DEACTIVATED = "deactivated"

# A token's "last used" is written at most this often.
LAST_USED_EVERY = dt.timedelta(minutes=1)

# Session engines whose sessions live in the database and can therefore be found per user.
DATABASE_SESSION_ENGINES = ("django.contrib.sessions.backends.db",
                            "django.contrib.sessions.backends.cached_db")


def _audit(*, actor, user, action: str, after: dict, now: dt.datetime) -> None:
    """One event in each organisation the user belongs to (of none, for a user without one):
    their org admins see that the access of one of their members was ended. Tokens are named
    by their short prefix (their primary key is the hash, too long for the trail's id)."""
    organisations = [
        m.organization
        for m in Membership.objects.filter(user=user).select_related("organization")
        .order_by("organization__name")
    ] or [None]
    for organization in organisations:
        audit_record(actor=actor, organization=organization, object_type=ApiToken._meta.label, action=action, subject=user,
                     after={"user": user.pk, **after}, now=now)


@transaction.atomic
def api_token_issue(*, user) -> tuple[ApiToken, str]:
    """A new token for this user (their other tokens keep working). Returns the stored row
    and the token itself, which exists only here: show it once."""
    return ApiToken.objects.create(user=user)


def api_token_touch(*, token: ApiToken, now: dt.datetime | None = None) -> None:
    """Record that the token was just used (at most once a minute, one UPDATE)."""
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now


@transaction.atomic
def api_token_revoke(*, actor, user, digest: str, now: dt.datetime | None = None) -> ApiToken:
    """Revoke one of `user`'s own tokens, named by its digest (as the account page and the
    API know it). A token of somebody else is "not found", never revoked."""
    now = now or timezone.now()
    token = ApiToken.objects.select_for_update().filter(user=user, digest=str(digest)).first()
    if token is None:
        raise ApiToken.DoesNotExist("No such API token of yours.")
    _audit(actor=actor, user=user, action="api_token.revoked", now=now,
           after={"token": token.prefix, "reason": REVOKED_BY_USER})
    token.delete()
    return token


@transaction.atomic
def api_tokens_revoke_all(*, actor, user, reason: str, now: dt.datetime | None = None) -> int:
    """End every token of the user; returns how many there were. Recorded in the audit trail
    when there was at least one."""
    now = now or timezone.now()
    tokens = list(ApiToken.objects.select_for_update().filter(user=user)
                  .values_list("token_key", flat=True))
    if not tokens:
        return 0
    ApiToken.objects.filter(user=user).delete()
    _audit(actor=actor, user=user, action="api_token.revoked_all", now=now,
           after={"tokens": len(tokens), "reason": reason})
    return len(tokens)


def sessions_end(*, user, keep_session_key: str | None = None,
                 now: dt.datetime | None = None) -> int:
    """End the user's browser sessions (all, or all but `keep_session_key`). Sessions are
    found in the database session store, Django's default and this project's; other session
    engines cannot be searched by user (there, a password change still ends them)."""
    if settings.SESSION_ENGINE not in DATABASE_SESSION_ENGINES:
        return 0
    from django.contrib.sessions.models import Session

    now = now or timezone.now()
    store = import_module(settings.SESSION_ENGINE).SessionStore
    keys = [
        session.session_key
        for session in Session.objects.filter(expire_date__gt=now).iterator()
        if session.session_key != keep_session_key
        and str(session.get_decoded().get(SESSION_KEY)) == str(user.pk)
    ]
    for key in keys:
        store(session_key=key).delete()
    return len(keys)


@transaction.atomic
def sign_out_everywhere(*, user, now: dt.datetime | None = None) -> tuple[int, int]:
    """End every browser session and every API token of the user, this browser's too.
    Returns (tokens ended, sessions ended)."""
    now = now or timezone.now()
    tokens = api_tokens_revoke_all(actor=user, user=user, reason=SIGN_OUT_EVERYWHERE, now=now)
    sessions = sessions_end(user=user, now=now)
    _audit(actor=user, user=user, action="account.signed_out_everywhere", now=now,
           after={"tokens": tokens, "sessions": sessions})
    return tokens, sessions


# --- When the way in changes ----------------------------------------------------------------
# Connected in training/apps.py to every save of a user, wherever it comes from: the password
# change and reset pages, the admin's "change password", `changepassword`, a deactivation in
# the admin, an erasure.

ACCESS_FIELDS = frozenset({"password", "is_active"})


def remember_access_change(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """pre_save: note whether this save changes the password (the stored hash, as Django's
    session check sees it) or deactivates the account."""
    instance._calibrate_access_change = None
    if raw or instance.pk is None:
        return
    if update_fields is not None and not ACCESS_FIELDS & set(update_fields):
        return
    old = sender._default_manager.filter(pk=instance.pk).values("password", "is_active").first()
    if old is None:
        return
    if old["is_active"] and not instance.is_active:
        instance._calibrate_access_change = DEACTIVATED
    elif old["password"] != instance.password:
        instance._calibrate_access_change = PASSWORD_CHANGED


def end_access_after_change(sender, instance, raw=False, **kwargs) -> None:
    """post_save, in the same transaction: a new password or a deactivation ends every API
    token (Django itself ends the other browser sessions of a new password; a deactivated
    account's sessions are deleted here too, so a reactivation does not bring them back)."""
    reason = getattr(instance, "_calibrate_access_change", None)
    instance._calibrate_access_change = None
    if raw or reason is None:
        return
    api_tokens_revoke_all(actor=None, user=instance, reason=reason)
    if reason == DEACTIVATED:
        sessions_end(user=instance)
