"""Data protection: erasing a member under a pseudonym.

It acts inside one organisation and never reads or changes another's records.

Erasure keeps the member's ratings and item codes (cohort statistics, reliability, the
certification record) under a pseudonym `erased-<10 hex>` and removes what identifies them:

* If the account is used by this organisation only (no membership, attempt, certificate or
  audit event anywhere else, and not a site staff account), the account itself becomes the
  pseudonym: username replaced, names and e-mail blanked, password unusable, deactivated,
  API token, sessions, two-factor devices and sign-in throttling records deleted.
* Otherwise the account lives on for the other organisation(s), untouched; this
  organisation's records move to a new pseudonymous account. The `Erasure` row keeps the link
  so that this organisation's older audit events (which reference the account and are never
  rewritten) are shown under the pseudonym; the link is shown nowhere in the application.

In both cases, within this organisation: free text is cleared (rating notes and rationales,
comments written or received, drift-alert notes, reminder texts, certificate status reasons,
the reasons for exam accommodations, also redacted in their audit events,
appeal grounds and outcomes' reasons, the reasons given for voiding their exam attempts),
certificates are revoked ("holder erased"; the public page shows neither name nor initials),
invitations to the person's e-mail are deleted or blanked, the name snapshots of this
organisation's audit events that name them as actor or subject are replaced by the pseudonym,
and audit events that held their username, e-mail or name by value elsewhere get an
`AuditRedaction` (shown redacted on every page).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field

from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from training.audit import RECORDED_BY_SERVICE, audit_record
from training.models import (
    ApiToken,
    Appeal,
    Assignment,
    Attempt,
    AttemptVoid,
    AuditEvent,
    AuditRedaction,
    Certificate,
    CertificateStatus,
    CertificationDecision,
    Cohort,
    DriftAlert,
    Erasure,
    ErasureReason,
    ExamAccommodation,
    ExamStart,
    Invitation,
    Membership,
    Organization,
    Profile,
    Rating,
    RatingComment,
    Reminder,
    Role,
)
from training.organisation.members import PSEUDONYM_PREFIX, other_admins
from training.tenancy import profile_for
from vignettes.models import CorrectionDecision, PanelMember, ReferencePanel

ERASED_REASON = "holder erased"
ERASED_TEXT = "(erased)"


def is_erased(user) -> bool:
    return Profile.objects.filter(user=user, erased_at__isnull=False).exists()


# --- erasure -------------------------------------------------------------------------------


@dataclass
class ErasureResult:
    erasure: Erasure
    pseudonym: str
    in_place: bool
    counts: dict = field(default_factory=dict)


def _new_pseudonym() -> str:
    User = get_user_model()
    while True:
        name = f"{PSEUDONYM_PREFIX}{secrets.token_hex(5)}"
        if not User.objects.filter(username__iexact=name).exists():
            return name


def used_elsewhere(user, organization: Organization) -> bool:
    """Does anything outside `organization` refer to this account? Then it is not this
    organisation's to erase, only its own records of the person."""
    if user.is_staff or user.is_superuser:
        return True
    other = ~Q(organization=organization)
    return (
        Membership.objects.filter(other, user=user).exists()
        or Attempt.objects.filter(other, user=user).exists()
        or Certificate.objects.filter(other, holder=user).exists()
        or CertificationDecision.objects.filter(other, user=user).exists()
        or Appeal.objects.filter(other, user=user).exists()
        or AuditEvent.objects.filter(Q(actor=user) | Q(subject=user))
        .exclude(organization=organization).exists()
        or RatingComment.objects.filter(author=user)
        .exclude(rating__attempt__organization=organization).exists()
    )


def _identifier_patterns(user) -> list[re.Pattern]:
    names = {user.get_username(), user.email, user.get_full_name().strip()}
    return [
        re.compile(r"(?<![\w@.+-])" + re.escape(n) + r"(?![\w@.+-])", re.IGNORECASE)
        for n in names if n and len(n) >= 3
    ]


def _redaction_paths(event: AuditEvent, patterns) -> list:
    def hits(text):
        return isinstance(text, str) and any(p.search(text) for p in patterns)

    paths = []
    if hits(event.actor_repr):
        paths.append("actor_repr")
    if hits(event.object_repr):
        paths.append("object_repr")

    def walk(value, path):
        if isinstance(value, dict):
            for key, inner in value.items():
                if hits(key):
                    paths.append(path)
                    return
                walk(inner, [*path, key])
        elif isinstance(value, list):
            for i, inner in enumerate(value):
                walk(inner, [*path, i])
        elif hits(value):
            paths.append(path)

    walk(event.before, ["before"])
    walk(event.after, ["after"])
    return paths


def _scrub_account(user, pseudonym: str, now) -> None:
    """The account itself becomes the pseudonym: nothing left that names the person."""
    user.username = pseudonym
    user.first_name = ""
    user.last_name = ""
    user.email = ""
    user.is_active = False
    user.set_unusable_password()
    # The deactivation is part of the erasure, which is recorded as such.
    setattr(user, RECORDED_BY_SERVICE, True)
    user.save()
    ApiToken.objects.filter(user=user).delete()
    if settings.SESSION_ENGINE in ("django.contrib.sessions.backends.db",
                                   "django.contrib.sessions.backends.cached_db"):
        from django.contrib.sessions.models import Session

        for session in Session.objects.filter(expire_date__gt=now).iterator():
            if str(session.get_decoded().get("_auth_user_id")) == str(user.pk):
                session.delete()
    if apps.is_installed("django_otp"):
        from django_otp import devices_for_user

        for device in devices_for_user(user, confirmed=None):
            device.delete()


def _forget_sign_in_records(username: str) -> None:
    if apps.is_installed("axes"):
        from axes.models import AccessAttempt, AccessFailureLog, AccessLog

        for model in (AccessAttempt, AccessFailureLog, AccessLog):
            model.objects.filter(username=username).delete()


def _move_records(organization, user, pseudonym_user) -> int:
    """Move this organisation's records of `user` to the pseudonymous account."""
    moved = 0
    moved += Attempt.objects.filter(organization=organization, user=user).update(
        user=pseudonym_user)
    moved += CertificationDecision.objects.filter(organization=organization, user=user).update(
        user=pseudonym_user)
    moved += Certificate.objects.filter(organization=organization, holder=user).update(
        holder=pseudonym_user)
    for cohort in Cohort.objects.filter(organization=organization, trainees=user):
        cohort.trainees.remove(user)
        cohort.trainees.add(pseudonym_user)
    for cohort in Cohort.objects.filter(organization=organization, instructors=user):
        cohort.instructors.remove(user)
        cohort.instructors.add(pseudonym_user)
    RatingComment.objects.filter(rating__attempt__organization=organization,
                                 author=user).update(author=pseudonym_user)
    Assignment.objects.filter(organization=organization, created_by=user).update(
        created_by=pseudonym_user)
    Invitation.objects.filter(organization=organization, invited_by=user).update(
        invited_by=pseudonym_user)
    Invitation.objects.filter(organization=organization, accepted_by=user).update(
        accepted_by=pseudonym_user)
    DriftAlert.objects.filter(organization=organization, actor=user).update(actor=pseudonym_user)
    ExamStart.objects.filter(attempt__organization=organization, user=user).update(
        user=pseudonym_user)
    ExamAccommodation.objects.filter(organization=organization, user=user).update(
        user=pseudonym_user)
    ExamAccommodation.objects.filter(organization=organization, granted_by=user).update(
        granted_by=pseudonym_user)
    moved += Appeal.objects.filter(organization=organization, user=user).update(
        user=pseudonym_user)
    Appeal.objects.filter(organization=organization, decided_by=user).update(
        decided_by=pseudonym_user)
    AttemptVoid.objects.filter(organization=organization, voided_by=user).update(
        voided_by=pseudonym_user)
    if apps.is_installed("vignettes"):

        ReferencePanel.objects.filter(vignette__owner=organization, lead=user).update(
            lead=pseudonym_user)
        PanelMember.objects.filter(panel__vignette__owner=organization, user=user).update(
            user=pseudonym_user)
        CorrectionDecision.objects.filter(
            old_reference__vignette_revision__vignette__owner=organization, decided_by=user
        ).update(decided_by=pseudonym_user)
    membership = Membership.objects.filter(organization=organization, user=user).first()
    if membership is not None:
        Membership.objects.create(organization=organization, user=pseudonym_user,
                                  role=membership.role)
        membership.delete()
    profile = profile_for(user)
    if profile.active_organization_id == organization.pk:
        profile.active_organization = None
        profile.save(update_fields=["active_organization"])
    return moved


def _erase_in_organization(*, actor, organization: Organization, user, reason: str,
                           now: dt.datetime) -> ErasureResult:
    """The erasure itself (no permission checks; callers hold a transaction)."""
    patterns = _identifier_patterns(user)
    old_email = user.email
    old_username = user.get_username()
    pseudonym = _new_pseudonym()
    in_place = not used_elsewhere(user, organization)
    counts: dict[str, int] = {}
    if in_place:
        target = user
        _scrub_account(user, pseudonym, now)
        _forget_sign_in_records(old_username)
    else:
        User = get_user_model()
        target = User(username=pseudonym, is_active=False)
        target.set_unusable_password()
        target.save()
        counts["records_moved"] = _move_records(organization, user, target)
    profile = profile_for(target)
    profile.erased_at = now
    profile.active_organization = None
    profile.content_notice_seen_at = None
    profile.save()

    ratings = Rating.objects.filter(attempt__organization=organization, attempt__user=target)
    counts["ratings_kept"] = ratings.count()
    counts["notes_cleared"] = ratings.exclude(rationale="", notes={}).update(
        rationale="", notes={})
    comments = RatingComment.objects.filter(rating__attempt__organization=organization).filter(
        Q(rating__attempt__user=target) | Q(author=target))
    counts["comments_deleted"] = comments.delete()[0]
    # Appeals and voids stay as records of what was decided; what the person wrote or was
    # told about them goes.
    Appeal.objects.filter(organization=organization, user=target).update(
        grounds=ERASED_TEXT, outcome_reasons=ERASED_TEXT)
    AttemptVoid.objects.filter(organization=organization, attempt__user=target).update(
        reason=ERASED_TEXT)

    certificates = Certificate.objects.select_for_update().filter(
        organization=organization, holder=target)
    revoked = 0
    for cert in certificates:
        if cert.status in (CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED):
            before = {"status": cert.status, "expires_at": cert.expires_at.isoformat()}
            cert.status = CertificateStatus.REVOKED
            cert.status_changed_at = now
            revoked += 1
            audit_record(actor=actor, organization=organization, obj=cert,
                         action="certificate.revoked", before=before,
                         after={"status": cert.status, "reason": ERASED_REASON}, now=now)
        cert.status_reason = ERASED_REASON
        cert.show_full_name = False
        cert.recalibration_reason = ""
        cert.save(update_fields=["status", "status_changed_at", "status_reason",
                                 "show_full_name", "recalibration_reason"])
    counts["certificates_revoked"] = revoked
    DriftAlert.objects.filter(organization=organization, certificate__holder=target).update(
        note="")
    Reminder.objects.filter(certificate__organization=organization,
                            certificate__holder=target).update(message="")
    invitations = Invitation.objects.filter(organization=organization)
    if old_email:
        counts["invitations_deleted"] = invitations.filter(
            email__iexact=old_email, accepted_at__isnull=True).delete()[0]
        invitations.filter(email__iexact=old_email).update(email="")
    invitations.filter(accepted_by=target).update(email="")

    erasure = Erasure.objects.create(
        organization=organization, pseudonym=target,
        original_user=None if in_place else user, reason=reason, erased_at=now,
        erased_by=actor if getattr(actor, "pk", None) else None,
    )
    # The events' name snapshots: the person appears under the pseudonym, as they do on
    # every page. Only this organisation's events, and only those recorded until now (the
    # account may live on elsewhere and act again under its own name).
    events = AuditEvent.objects.filter(organization=organization, at__lte=now)
    counts["audit_names_pseudonymised"] = (
        events.filter(actor=user).pseudonymise_names(actor_username=pseudonym)
        + events.filter(subject=user).pseudonymise_names(subject_username=pseudonym)
    )
    # The reasons for the person's exam accommodations (often about their health).
    counts["accommodation_reasons_cleared"] = ExamAccommodation.objects.filter(
        organization=organization, user=target).exclude(reason="").update(reason="")
    free_text = {
        event.pk: [[side, "reason"] for side in ("before", "after")
                   if isinstance(getattr(event, side), dict) and getattr(event, side).get("reason")]
        for event in events.filter(action="exam.accommodation_granted", subject=user)
    }
    redactions = []
    if patterns or free_text:
        for event in AuditEvent.objects.filter(organization=organization, at__lte=now).only(
                "pk", "actor_repr", "object_repr", "before", "after").iterator():
            paths = _redaction_paths(event, patterns) if patterns else []
            paths += [p for p in free_text.get(event.pk, []) if p not in paths]
            if paths:
                redactions.append(AuditRedaction(erasure=erasure, event=event, paths=paths))
    AuditRedaction.objects.bulk_create(redactions)
    counts["audit_events_redacted"] = len(redactions)
    audit_record(
        actor=actor, organization=organization, obj=erasure,
        action="member.erased" if reason == ErasureReason.REQUEST else "member.pseudonymised",
        subject=target, after={"pseudonym": target.pk, "reason": reason, **counts}, now=now,
    )
    return ErasureResult(erasure=erasure, pseudonym=pseudonym, in_place=in_place, counts=counts)


def member_erase(*, actor, organization: Organization, membership: Membership, confirm: str,
                 now: dt.datetime | None = None) -> ErasureResult:
    """Erase a member of `organization` at an org admin's request. `confirm` must be the
    member's username. Refused for yourself, an erased member, or the last org admin."""
    now = now or timezone.now()
    with transaction.atomic():
        membership = Membership.objects.select_for_update().select_related("user").filter(
            pk=membership.pk, organization=organization).first()
        if membership is None:
            raise ValidationError(_("This person is not a member of this organisation."))
        user = membership.user
        if is_erased(user):
            raise ValidationError(_("This member has already been erased."))
        if getattr(actor, "pk", None) == user.pk:
            raise ValidationError(_("You cannot erase yourself. Ask another organisation "
                                    "admin."))
        if (confirm or "").strip() != user.get_username():
            raise ValidationError({"confirm": _(
                "Type the member's username exactly to confirm; nothing was changed.")})
        if membership.role == Role.ORG_ADMIN and not other_admins(organization, membership):
            raise ValidationError(_("The organisation needs at least one organisation admin; "
                                    "make someone else an admin first."))
        return _erase_in_organization(actor=actor, organization=organization, user=user,
                                      reason=ErasureReason.REQUEST, now=now)
