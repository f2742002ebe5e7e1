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
from django.utils.translation import gettext_lazy

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

    @property
    def sentence(self) -> str:
        return event_sentence(self)

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


# --- sentences -----------------------------------------------------------------------------

# What each action reads as. %(actor)s did it, %(object)s is the object's label (already a
# neutral "certificate #12" for objects about a person), %(of)s is " of <person>" when the
# event is about someone. An action missing here reads as the generic sentence below.
SENTENCES = {
    "account.signed_out_everywhere": gettext_lazy("%(actor)s signed out of every session and "
                                                  "API token"),
    "api_token.created": gettext_lazy("%(actor)s created an API token%(of)s"),
    "api_token.revoked": gettext_lazy("%(actor)s revoked an API token%(of)s"),
    "api_token.revoked_all": gettext_lazy("%(actor)s revoked every API token%(of)s"),
    "appeal.filed": gettext_lazy("%(actor)s filed %(object)s%(of)s"),
    "appeal.upheld": gettext_lazy("%(actor)s upheld the decision under appeal: %(object)s%(of)s"),
    "appeal.overturned": gettext_lazy("%(actor)s overturned the decision under appeal: "
                                      "%(object)s%(of)s"),
    "attempt.voided": gettext_lazy("%(actor)s voided exam attempt %(object)s%(of)s"),
    "attempt.void_overturned": gettext_lazy("%(actor)s lifted the void of exam attempt "
                                            "%(object)s%(of)s on appeal"),
    "assignment.created": gettext_lazy("%(actor)s created assignment %(object)s"),
    "assignment.changed": gettext_lazy("%(actor)s changed assignment %(object)s"),
    "certificate.issued": gettext_lazy("%(actor)s issued %(object)s%(of)s"),
    "certificate.suspended": gettext_lazy("%(actor)s suspended %(object)s%(of)s"),
    "certificate.revoked": gettext_lazy("%(actor)s revoked %(object)s%(of)s"),
    "certificate.active": gettext_lazy("%(actor)s reinstated %(object)s%(of)s"),
    "certificate.superseded": gettext_lazy("%(actor)s marked %(object)s%(of)s as superseded "
                                           "by a renewal"),
    "certificate.expired": gettext_lazy("%(actor)s recorded that %(object)s%(of)s expired"),
    "certificate.display_changed": gettext_lazy("%(actor)s changed how %(object)s%(of)s shows "
                                                "the holder's name"),
    "certificate.restored_on_appeal": gettext_lazy("%(actor)s restored %(object)s%(of)s on "
                                                   "appeal"),
    "certificate.credential_issued": gettext_lazy("%(actor)s had a signed credential issued "
                                                  "of %(object)s%(of)s"),
    "certificate.recalibration_due": gettext_lazy("%(actor)s marked %(object)s%(of)s as "
                                                  "recalibration due"),
    "certificate.recalibration_cleared": gettext_lazy("%(actor)s cleared the recalibration "
                                                      "flag of %(object)s%(of)s"),
    "certification.decided": gettext_lazy("%(actor)s recorded the certification decision "
                                          "%(object)s%(of)s"),
    "certification.superseded": gettext_lazy("%(actor)s marked the certification decision "
                                             "%(object)s%(of)s as superseded on appeal"),
    "certification_rule.created": gettext_lazy("%(actor)s created certification rule "
                                               "%(object)s"),
    "certification_rule.changed": gettext_lazy("%(actor)s changed certification rule "
                                               "%(object)s"),
    "certification_rule.short_exam_accepted": gettext_lazy(
        "%(actor)s accepted a short exam for certification rule %(object)s"),
    "certification_rule.drift_units_migrated": gettext_lazy(
        "%(actor)s moved the drift limits of certification rule %(object)s to SD units"),
    "cohort.created": gettext_lazy("%(actor)s created cohort %(object)s"),
    "cohort.changed": gettext_lazy("%(actor)s changed cohort %(object)s"),
    "comment.added": gettext_lazy("%(actor)s commented on a rating%(of)s"),
    "credential_key.created": gettext_lazy("%(actor)s created the organisation's credential "
                                           "signing key %(object)s"),
    "credential_key.rotated": gettext_lazy("%(actor)s rotated the organisation's credential "
                                           "signing key to %(object)s"),
    "drift.alert_raised": gettext_lazy("%(actor)s raised %(object)s%(of)s"),
    "drift.alert_acknowledged": gettext_lazy("%(actor)s confirmed %(object)s%(of)s"),
    "drift.alert_resolved": gettext_lazy("%(actor)s resolved %(object)s%(of)s"),
    "exam.undertaking_accepted": gettext_lazy("%(actor)s accepted the exam's confidentiality "
                                              "undertaking%(of)s"),
    "exam.accommodation_granted": gettext_lazy("%(actor)s granted extra exam time%(of)s"),
    "invitation.created": gettext_lazy("%(actor)s sent %(object)s"),
    "invitation.revoked": gettext_lazy("%(actor)s revoked %(object)s"),
    "invitation.accepted": gettext_lazy("%(actor)s accepted %(object)s"),
    "member.erased": gettext_lazy("%(actor)s erased a member's personal data%(of)s"),
    "member.pseudonymised": gettext_lazy("%(actor)s pseudonymised a member%(of)s under the "
                                         "retention policy"),
    "member.exported": gettext_lazy("%(actor)s exported the personal data%(of)s"),
    "membership.created": gettext_lazy("%(actor)s added a member%(of)s"),
    "membership.role_changed": gettext_lazy("%(actor)s changed the role%(of)s"),
    "membership.removed": gettext_lazy("%(actor)s removed a member%(of)s"),
    "organization.appeal_settings_changed": gettext_lazy("%(actor)s changed the appeal "
                                                         "settings"),
    "organization.retention_changed": gettext_lazy("%(actor)s changed the retention policy"),
    "retention.applied": gettext_lazy("%(actor)s applied the retention policy"),
    "pack.import": gettext_lazy("%(actor)s imported a content pack"),
    "panel.create": gettext_lazy("%(actor)s started %(object)s"),
    "panel.score": gettext_lazy("%(actor)s scored in %(object)s"),
    "reference.consensus": gettext_lazy("%(actor)s recorded the panel's consensus as "
                                        "%(object)s"),
    "reference.correct": gettext_lazy("%(actor)s corrected the reference: %(object)s"),
    "recalibration.assigned": gettext_lazy("%(actor)s assigned %(object)s%(of)s"),
    "recalibration.completed": gettext_lazy("%(actor)s recorded %(object)s%(of)s as "
                                            "completed"),
    "recalibration.retest_drawn": gettext_lazy("%(actor)s drew a retest case into %(object)s"),
    "set.create": gettext_lazy("%(actor)s created set %(object)s"),
    "set.edit": gettext_lazy("%(actor)s changed set %(object)s"),
    "two_factor.enabled": gettext_lazy("%(actor)s turned on two-factor sign-in%(of)s"),
    "two_factor.disabled": gettext_lazy("%(actor)s turned off two-factor sign-in%(of)s"),
    "two_factor.backup_codes_replaced": gettext_lazy("%(actor)s replaced the backup "
                                                     "codes%(of)s"),
    "two_factor.removed_by_staff": gettext_lazy("%(actor)s removed two-factor sign-in%(of)s"),
    "user.deleted": gettext_lazy("%(actor)s deleted the account%(of)s"),
    "user.deactivated": gettext_lazy("%(actor)s deactivated the account%(of)s"),
    "user.reactivated": gettext_lazy("%(actor)s reactivated the account%(of)s"),
    "vignette.create": gettext_lazy("%(actor)s created vignette %(object)s"),
    "vignette.edit": gettext_lazy("%(actor)s edited vignette %(object)s"),
    "vignette.submit_for_review": gettext_lazy("%(actor)s submitted vignette %(object)s for "
                                               "review"),
    "vignette.return_to_draft": gettext_lazy("%(actor)s returned vignette %(object)s to "
                                             "draft"),
    "vignette.publish": gettext_lazy("%(actor)s published vignette %(object)s"),
    "vignette.retire": gettext_lazy("%(actor)s retired vignette %(object)s"),
}
GENERIC_SENTENCE = gettext_lazy("%(actor)s: %(action)s on %(object)s%(of)s")


def _payload_value(view: EventView, key: str):
    """`key` from the shown (redacted) after-state, or else the before-state."""
    for part in (view.after, view.before):
        if isinstance(part, dict) and part.get(key) not in (None, ""):
            return part[key]
    return None


def event_sentence(view: EventView) -> str:
    """One event as a sentence: "demo-admin suspended certificate #12 of ann-b — reason: …".
    Built from what the page may show (the redacted view), never from the raw event."""
    event = view.event
    label = view.object_repr or (
        f"{event.object_type.rsplit('.', 1)[-1].lower()} #{event.object_id}"
        if event.object_id else event.object_type)
    values = {
        "actor": view.actor or _("system"),
        "object": label,
        "of": _(" of %(person)s") % {"person": view.subject} if view.subject else "",
        "action": event.action,
    }
    sentence = str(SENTENCES.get(event.action, GENERIC_SENTENCE)) % values
    extra = []
    if event.action.startswith("membership.") or event.action.startswith("invitation."):
        before = view.before.get("role") if isinstance(view.before, dict) else None
        after = view.after.get("role") if isinstance(view.after, dict) else None
        if before and after and before != after:
            extra.append(_("role: %(before)s → %(after)s") % {"before": before, "after": after})
        elif after or before:
            extra.append(_("role: %(role)s") % {"role": after or before})
    if event.action == "certification.decided":
        passed = _payload_value(view, "passed")
        if passed is not None:
            extra.append(_("passed") if passed is True else _("not passed"))
    reason = (_payload_value(view, "reason") if event.action in (
        "certificate.suspended", "certificate.revoked", "certificate.active") else None)
    if reason is None and event.action.startswith("drift.alert_"):
        reason = _payload_value(view, "note")
    if isinstance(reason, str):
        extra.append(_("reason: %(reason)s") % {"reason": reason})
    if extra:
        sentence += " — " + "; ".join(extra)
    return sentence
