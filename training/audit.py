"""The audit trail: one append-only row per change that matters.

People are referenced: the actor and the person an event is about (`subject`) are foreign
keys, payloads name users by id under the keys in `USER_KEYS`, and objects that are about one
person (a membership, an attempt, a certificate...) are labelled by type and id rather than
by `str()`, which would embed a username or an e-mail. Pages resolve the references when they
render (`audit_display`), so an erased member appears under their pseudonym everywhere.

Beside the references, each event keeps the actor's and the subject's username as they were
when it was recorded (`actor_username`, `subject_username`): deleting an account empties its
foreign keys, and the trail must still say who did what. A data-protection erasure replaces
these snapshots by the pseudonym (`AppendOnlyQuerySet.pseudonymise_names`), the only change
a recorded event ever undergoes.

Deleting, deactivating and reactivating an account are themselves recorded
(`account_deleted`, `account_active_changed`), in every organisation the person belongs to, or
once site-wide for an account without any membership.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import datetime as dt
import json

from django.contrib.auth import get_user_model
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from training.models import AuditEvent, AuditRedaction, Erasure, Organization

# Payload keys whose values are user ids (or lists of user ids); pages show usernames.
USER_KEYS = frozenset({"user", "users", "trainees", "instructors", "expert", "experts",
                       "holder", "pseudonym"})
# Models whose str() names a person; their events get a neutral label instead.
PERSONAL_MODELS = frozenset({
    "auth.User", "training.Membership", "training.Profile", "training.Invitation",
    "training.Attempt", "training.Certificate", "training.CertificationDecision",
    "training.Erasure", "training.Appeal", "training.AttemptVoid",
})
REDACTED = "[redacted]"


def user_ref(user) -> int | None:
    """How payloads name a user: by id."""
    return getattr(user, "pk", None)


SUBJECT_PATHS = {
    "training.Membership": ("user",),
    "training.Profile": ("user",),
    "training.Attempt": ("user",),
    "training.CertificationDecision": ("user",),
    "training.Certificate": ("holder",),
    "training.Invitation": ("accepted_by",),
    "training.Recalibration": ("certificate", "holder"),
    "training.DriftAlert": ("certificate", "holder"),
    "training.RatingComment": ("rating", "attempt", "user"),
    "training.Appeal": ("user",),
    "training.AttemptVoid": ("attempt", "user"),
}


def _subject_of(obj):
    """The person an object is about, if it is about one."""
    if obj._meta.label == get_user_model()._meta.label:
        return obj
    path = SUBJECT_PATHS.get(obj._meta.label)
    if not path:
        return None
    for name in path:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return obj


def object_label(obj: models.Model) -> str:
    if obj._meta.label in PERSONAL_MODELS:
        return f"{obj._meta.verbose_name} #{obj.pk}"
    return str(obj)[:300]


def audit_record(
    *,
    actor,
    organization: Organization | None,
    obj: models.Model | None = None,
    object_type: str = "",
    action: str,
    before: dict | None = None,
    after: dict | None = None,
    subject=None,
    now: dt.datetime | None = None,
) -> AuditEvent:
    if obj is not None:
        object_type = object_type or obj._meta.label
        if subject is None:
            subject = _subject_of(obj)
    actor_id = getattr(actor, "pk", None)
    subject = subject if getattr(subject, "pk", None) else None
    return AuditEvent.objects.create(
        at=now or timezone.now(),
        actor=actor if actor_id else None,
        # A reference, not the username: shown only for an account deleted before events
        # kept a name snapshot.
        actor_repr=f"user #{actor_id}" if actor_id else "system",
        actor_username=actor.get_username() if actor_id else "",
        organization=organization,
        subject=subject,
        subject_username=subject.get_username() if subject is not None else "",
        object_type=object_type,
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=object_label(obj) if obj is not None else "",
        action=action,
        before=before,
        after=after,
    )


# --- accounts ------------------------------------------------------------------------------

# Who is responsible for the account changes made in the current block of code. Account
# deletions and (de)activations are recorded by signal handlers, because Django's admin and
# its querysets delete and save users without going through any service of ours; the places
# that know the person doing it (the admin) say so with `acting_as`.
_account_actor: contextvars.ContextVar = contextvars.ContextVar("audit_account_actor",
                                                                default=None)
# Set on a user instance by a service that records the change to it under its own action
# (an erasure deactivates the account and records `member.erased`).
RECORDED_BY_SERVICE = "_audit_recorded_by_service"


@contextlib.contextmanager
def acting_as(actor):
    """Account changes made inside this block are recorded with `actor` as the one who made
    them; outside any such block, as the system's."""
    token = _account_actor.set(actor if getattr(actor, "pk", None) else None)
    try:
        yield
    finally:
        _account_actor.reset(token)


def _account_event(*, user, action: str, before: dict | None = None,
                   after: dict | None = None) -> list[AuditEvent]:
    """One event per organisation the person belongs to (each organisation keeps its own
    trail), or one site-wide event for an account without any membership."""
    organizations = list(
        Organization.objects.filter(memberships__user=user).distinct().order_by("pk"))
    return [
        audit_record(actor=_account_actor.get(), organization=organization, obj=user,
                     action=action, before=before, after=after)
        for organization in organizations or [None]
    ]


def account_deleted(sender, instance, **kwargs) -> None:
    """pre_delete of the user model: recorded while the memberships still exist; the events'
    references to the account go empty with it, their name snapshots stay."""
    _account_event(user=instance, action="user.deleted",
                   before={"is_active": instance.is_active, "is_staff": instance.is_staff})


def account_active_noted(sender, instance, raw=False, update_fields=None, **kwargs) -> None:
    """pre_save of the user model: notes a change of `is_active` for `account_active_changed`."""
    if raw or instance.pk is None or getattr(instance, RECORDED_BY_SERVICE, False):
        return
    if update_fields is not None and "is_active" not in update_fields:
        return  # a sign-in saving last_login, for instance
    was_active = (
        sender._default_manager.filter(pk=instance.pk)
        .values_list("is_active", flat=True).first()
    )
    if was_active is not None and was_active != instance.is_active:
        instance._audit_was_active = was_active


def account_active_changed(sender, instance, raw=False, **kwargs) -> None:
    """post_save of the user model: records a deactivation or reactivation once saved."""
    was_active = instance.__dict__.pop("_audit_was_active", None)
    if raw or was_active is None:
        return
    _account_event(
        user=instance,
        action="user.deactivated" if was_active else "user.reactivated",
        before={"is_active": was_active}, after={"is_active": instance.is_active},
    )


# --- display -------------------------------------------------------------------------------


def _set_path(data, path, value):
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


def _resolve_users(data, names: dict):
    """Replace user ids under USER_KEYS by the current username (recursively)."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            if key in USER_KEYS:
                if isinstance(value, int) and not isinstance(value, bool):
                    value = names.get(value, f"user #{value}")
                elif isinstance(value, list) and all(
                        isinstance(v, int) and not isinstance(v, bool) for v in value):
                    value = [names.get(v, f"user #{v}") for v in value]
                else:
                    value = _resolve_users(value, names)
            else:
                value = _resolve_users(value, names)
            out[key] = value
        return out
    if isinstance(data, list):
        return [_resolve_users(v, names) for v in data]
    return data


def _user_ids(data, found: set):
    if isinstance(data, dict):
        for key, value in data.items():
            if key in USER_KEYS:
                if isinstance(value, int) and not isinstance(value, bool):
                    found.add(value)
                elif isinstance(value, list):
                    found.update(v for v in value if isinstance(v, int)
                                 and not isinstance(v, bool))
            _user_ids(value, found)
    elif isinstance(data, list):
        for value in data:
            _user_ids(value, found)


def erasure_aliases(organization) -> dict[int, tuple[str, dt.datetime]]:
    """{original user id: (pseudonym, erased_at)} for members erased from this organisation
    whose account lives on elsewhere."""

    return {
        original_id: (pseudonym, at)
        for original_id, pseudonym, at in Erasure.objects.filter(
            organization=organization, original_user__isnull=False
        ).values_list("original_user_id", "pseudonym__username", "erased_at")
    }


class EventView:
    """One audit event as pages show it: people by their current name (or pseudonym),
    redacted parts hidden."""

    def __init__(self, event, *, actor, subject, object_repr, before, after):
        self.event = event
        self.actor = actor
        self.subject = subject
        self.object_repr = object_repr
        self.before = before
        self.after = after

    def dumps(self, which: str) -> str:
        value = getattr(self, which)
        if value is None:
            return ""
        return json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False)


def audit_display(events, *, organization) -> list[EventView]:

    events = list(events)
    aliases = erasure_aliases(organization) if organization is not None else {}
    redactions: dict[int, list] = {}
    for event_id, paths in AuditRedaction.objects.filter(
        event__in=[e.pk for e in events]
    ).values_list("event_id", "paths"):
        redactions.setdefault(event_id, []).extend(paths)
    ids: set[int] = set()
    for event in events:
        ids.update(i for i in (event.actor_id, event.subject_id) if i)
        _user_ids(event.before, ids)
        _user_ids(event.after, ids)
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username"))

    rows = []
    for event in events:
        shown = dict(names)
        for original_id, (pseudonym, erased_at) in aliases.items():
            if event.at <= erased_at:
                shown[original_id] = pseudonym
        paths = redactions.get(event.pk, [])
        before, after = copy.deepcopy(event.before), copy.deepcopy(event.after)
        parts = {"before": before, "after": after}
        object_repr = event.object_repr
        actor_repr = event.actor_repr
        for path in paths:
            if path == "object_repr":
                object_repr = REDACTED
            elif path == "actor_repr":
                actor_repr = REDACTED
            elif isinstance(path, list) and path and path[0] in parts:
                try:
                    if len(path) == 1:
                        parts[path[0]] = REDACTED
                    else:
                        _set_path(parts[path[0]], path[1:], REDACTED)
                except (KeyError, IndexError, TypeError):
                    parts[path[0]] = REDACTED
        if event.actor_id:
            actor = shown.get(event.actor_id, actor_repr)
        elif event.actor_username:
            # The account has been deleted since: the name it had when it acted.
            actor = event.actor_username
        else:
            actor = actor_repr if actor_repr != "system" else _("system")
        # A deleted account: the name the event kept.
        subject = (shown.get(event.subject_id, "") if event.subject_id
                   else event.subject_username)
        rows.append(EventView(
            event,
            actor=actor,
            subject=subject,
            object_repr=object_repr,
            before=_resolve_users(parts["before"], shown),
            after=_resolve_users(parts["after"], shown),
        ))
    return rows
