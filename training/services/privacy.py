"""Data protection: export a member's data, erase a member, apply retention.

Everything here acts inside one organisation and never reads or changes another's records.

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
comments written or received, drift-alert notes, reminder texts, certificate status reasons),
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
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from training import disclosure
from training.models import (
    ApiToken,
    Assignment,
    Attempt,
    AttemptStatus,
    AuditEvent,
    AuditRedaction,
    Certificate,
    CertificateStatus,
    CertificationDecision,
    Cohort,
    DriftAlert,
    Erasure,
    ErasureReason,
    Invitation,
    Membership,
    Mode,
    Organization,
    Profile,
    Rating,
    RatingComment,
    Recalibration,
    Reminder,
    Role,
)
from training.services.audit import (
    RECORDED_BY_SERVICE,
    audit_display,
    audit_record,
    user_ref,
)
from training.services.people import PSEUDONYM_PREFIX, other_admins
from training.tenancy import profile_for

DRIFT_REFERENCE_KEYS = ("series", "upper", "lower")
WITHHELD_NOTE = gettext_lazy("Withheld until the exam or recalibration feedback policy "
                             "releases the reference scoring of these cases.")
EXPORT_FORMAT = "calibrate-member-export"
EXPORT_VERSION = 1
ERASED_REASON = "holder erased"


def _iso(value):
    return value.isoformat() if value is not None else None


def is_erased(user) -> bool:
    return Profile.objects.filter(user=user, erased_at__isnull=False).exists()


# --- export --------------------------------------------------------------------------------


def _released_rating_ids(organization, user) -> set[int]:
    """The member's ratings whose reference they may see now (training.disclosure): the
    export is handed to the member, so it carries nothing derived from a reference the
    policy still withholds (an instructor's comment may quote it; a drift series is the
    distance from it)."""
    return set(disclosure.released_ratings(
        Rating.objects.filter(attempt__organization=organization, attempt__user=user)
    ).values_list("pk", flat=True))


def _drift_evidence(evidence: dict, released: set[int]) -> dict:
    if set(evidence.get("rating_ids", [])) <= released:
        return evidence
    kept = {k: v for k, v in evidence.items() if k not in DRIFT_REFERENCE_KEYS}
    return kept | {"withheld": str(WITHHELD_NOTE)}


def _attempts_export(organization, user, released: set[int]) -> list[dict]:
    attempts = (
        Attempt.objects.filter(organization=organization, user=user)
        .select_related("assignment")
        .prefetch_related(
            "attempt_vignettes__vignette_revision__vignette",
            "ratings__vignette_revision__vignette",
            "ratings__instrument_version__instrument",
            "ratings__items__item",
            "ratings__comments__author",
        )
        .order_by("started_at", "pk")
    )
    out = []
    for attempt in attempts:
        out.append({
            "id": attempt.pk,
            "mode": attempt.mode,
            "status": attempt.status,
            "assignment": (
                {"id": attempt.assignment_id, "title": attempt.assignment.title}
                if attempt.assignment_id else None
            ),
            "started_at": _iso(attempt.started_at),
            "opened_at": _iso(attempt.opened_at),
            "deadline": _iso(attempt.deadline),
            "submitted_at": _iso(attempt.submitted_at),
            "vignettes": [
                {"vignette": av.vignette_revision.vignette.slug,
                 "revision": av.vignette_revision.number}
                for av in attempt.attempt_vignettes.all()
            ],
            "ratings": [
                {
                    "id": rating.pk,
                    "vignette": rating.vignette_revision.vignette.slug,
                    "vignette_revision": rating.vignette_revision.number,
                    "instrument": rating.instrument_version.instrument.slug,
                    "instrument_version": rating.instrument_version.number,
                    "applicable": rating.applicable,
                    "items": {ri.item.code: ri.value for ri in rating.items.all()},
                    "notes": rating.notes or {},
                    "rationale": rating.rationale,
                    "total": rating.total,
                    "band": rating.band_code,
                    "revision": rating.revision,
                    "updated_at": _iso(rating.updated_at),
                    "submitted_at": _iso(rating.submitted_at),
                    "comments_received": [
                        {"id": c.pk, "author": c.author.get_username() if c.author else None,
                         "text": c.text, "created_at": _iso(c.created_at)}
                        for c in rating.comments.all()
                    ] if rating.pk in released else [],
                } | ({} if rating.pk in released or not rating.comments.all() else {
                    "comments_withheld": len(rating.comments.all()), "withheld": str(WITHHELD_NOTE),
                })
                for rating in attempt.ratings.all()
            ],
        })
    return out


def member_export(*, actor, organization: Organization, user,
                  now: dt.datetime | None = None) -> dict:
    """Everything this organisation holds about `user`, as one JSON-ready dict. Nothing from
    any other organisation. Audited (`member.exported`)."""
    now = now or timezone.now()
    released = _released_rating_ids(organization, user)
    memberships = Membership.objects.filter(organization=organization, user=user)
    profile = profile_for(user)
    cohorts = Cohort.objects.filter(organization=organization)
    as_trainee = list(cohorts.filter(trainees=user).order_by("name"))
    as_instructor = list(cohorts.filter(instructors=user).order_by("name"))
    assignments = (
        Assignment.objects.filter(organization=organization)
        .filter(Q(cohort__in=as_trainee) | Q(created_by=user) | Q(attempts__user=user))
        .distinct().select_related("cohort", "vignette_set").order_by("opens_at", "pk")
    )
    decisions = (
        CertificationDecision.objects.filter(organization=organization, user=user)
        .select_related("instrument_version__instrument").order_by("decided_at", "pk")
    )
    certificates = list(
        Certificate.objects.filter(organization=organization, holder=user)
        .select_related("instrument_version__instrument").order_by("issued_at", "pk")
    )
    recalibrations = Recalibration.objects.filter(certificate__in=certificates).order_by(
        "certificate", "period")
    alerts = DriftAlert.objects.filter(organization=organization, certificate__in=certificates)
    reminders = Reminder.objects.filter(certificate__in=certificates).order_by("sent_at", "pk")
    invitations = Invitation.objects.filter(organization=organization).filter(
        Q(accepted_by=user) | (Q(email__iexact=user.email) if user.email else Q(pk__in=[]))
    ).order_by("created_at", "pk")
    comments_written = RatingComment.objects.filter(
        rating__attempt__organization=organization, author=user).order_by("created_at", "pk")
    events = AuditEvent.objects.filter(organization=organization).filter(
        Q(actor=user) | Q(subject=user)).order_by("at", "pk")
    panels = []
    if apps.is_installed("vignettes"):
        from vignettes.models import PanelMember

        for member in PanelMember.objects.filter(
            user=user, panel__vignette__owner=organization
        ).select_related("panel__vignette", "panel__instrument_version__instrument"):
            scoring = getattr(member, "scoring", None)
            panels.append({
                "panel": member.panel_id,
                "vignette": member.panel.vignette.slug,
                "instrument": member.panel.instrument_version.instrument.slug,
                "lead": member.panel.lead_id == user.pk,
                "scoring": {
                    "applicable": scoring.applicable,
                    "not_applicable_reason": scoring.not_applicable_reason,
                    "codes": scoring.codes,
                    "rationales": scoring.rationales,
                    "submitted_at": _iso(scoring.submitted_at),
                } if scoring else None,
            })

    data = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": _iso(now),
        "organization": {"name": organization.name, "slug": organization.slug},
        "account": {
            "username": user.get_username(),
            "first_name": user.first_name,
            "last_name": user.last_name,
            "email": user.email,
            "date_joined": _iso(user.date_joined),
            "last_login": _iso(user.last_login),
            "is_active": user.is_active,
            "erased": profile.erased_at is not None,
        },
        "memberships": [
            {"organization": organization.slug, "role": m.role, "created_at": _iso(m.created_at)}
            for m in memberships
        ],
        "profile": {
            "content_notice_seen_at": _iso(profile.content_notice_seen_at),
            "active_organization": (
                organization.slug
                if profile.active_organization_id == organization.pk else None
            ),
            "erased_at": _iso(profile.erased_at),
        },
        "cohorts": (
            [{"id": c.pk, "name": c.name, "as": "trainee"} for c in as_trainee]
            + [{"id": c.pk, "name": c.name, "as": "instructor"} for c in as_instructor]
        ),
        "assignments": [
            {
                "id": a.pk, "title": a.title, "cohort": a.cohort.name, "mode": a.mode,
                "vignette_set": a.vignette_set.slug, "opens_at": _iso(a.opens_at),
                "closes_at": _iso(a.closes_at), "time_limit_minutes": a.time_limit_minutes,
                "attempts_allowed": a.attempts_allowed, "feedback_policy": a.feedback_policy,
                "created_by_member": a.created_by_id == user.pk,
            }
            for a in assignments
        ],
        "attempts": _attempts_export(organization, user, released),
        "comments_written": [
            {"id": c.pk, "rating": c.rating_id, "text": c.text, "created_at": _iso(c.created_at)}
            for c in comments_written
        ],
        "certification_decisions": [
            {
                "id": d.pk, "attempt": d.attempt_id,
                "instrument": d.instrument_version.instrument.slug,
                "instrument_version": d.instrument_version.number, "passed": d.passed,
                "criteria": d.criteria, "rule": d.rule_snapshot, "decided_at": _iso(d.decided_at),
            }
            for d in decisions
        ],
        "certificates": [
            {
                "id": c.pk, "instrument": c.instrument_version.instrument.slug,
                "instrument_version": c.instrument_version.number, "decision": c.decision_id,
                "issued_at": _iso(c.issued_at), "expires_at": _iso(c.expires_at),
                "status": c.effective_status(now), "status_reason": c.status_reason,
                "status_changed_at": _iso(c.status_changed_at),
                "verification_code": c.verification_code, "show_full_name": c.show_full_name,
                "recalibration_due_at": _iso(c.recalibration_due_at),
                "recalibration_flagged_at": _iso(c.recalibration_flagged_at),
                "recalibration_reason": c.recalibration_reason,
            }
            for c in certificates
        ],
        "recalibrations": [
            {
                "certificate": r.certificate_id, "period": r.period, "attempt": r.attempt_id,
                "assigned_at": _iso(r.assigned_at), "due_at": _iso(r.due_at),
                "completed_at": _iso(r.completed_at), "overdue_at": _iso(r.overdue_at),
            }
            for r in recalibrations
        ],
        "drift_alerts": [
            {
                "id": a.pk, "certificate": a.certificate_id, "kind": a.kind, "status": a.status,
                "evidence": _drift_evidence(a.evidence, released),
                "raised_at": _iso(a.raised_at),
                "acknowledged_at": _iso(a.acknowledged_at), "resolved_at": _iso(a.resolved_at),
                "note": a.note,
            }
            for a in alerts
        ],
        "reminders": [
            {"certificate": r.certificate_id, "kind": r.kind, "period": r.period,
             "message": r.message, "sent_at": _iso(r.sent_at)}
            for r in reminders
        ],
        "invitations": [
            {"email": i.email, "role": i.role, "created_at": _iso(i.created_at),
             "expires_at": _iso(i.expires_at), "accepted_at": _iso(i.accepted_at)}
            for i in invitations
        ],
        "reference_panels": panels,
        "audit_events": [
            {
                "at": _iso(view.event.at), "action": view.event.action, "actor": view.actor,
                "about": view.subject or None, "object_type": view.event.object_type,
                "object_id": view.event.object_id, "object": view.object_repr,
                "before": view.before, "after": view.after,
            }
            for view in audit_display(events, organization=organization)
        ],
    }
    audit_record(
        actor=actor, organization=organization, obj=user, action="member.exported",
        after={"user": user_ref(user)}, now=now,
    )
    return data


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
    if apps.is_installed("vignettes"):
        from vignettes.models import CorrectionDecision, PanelMember, ReferencePanel

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
    redactions = []
    if patterns:
        for event in AuditEvent.objects.filter(organization=organization, at__lte=now).only(
                "pk", "actor_repr", "object_repr", "before", "after").iterator():
            paths = _redaction_paths(event, patterns)
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


# --- retention -----------------------------------------------------------------------------


@dataclass
class RetentionResult:
    organization: str
    drafts_deleted: int = 0
    attempts_cleared: int = 0
    comments_deleted: int = 0
    people_pseudonymised: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.drafts_deleted or self.attempts_cleared or self.comments_deleted
                    or self.people_pseudonymised)


def protected_attempt_ids(organization: Organization, now: dt.datetime) -> set[int]:
    """Attempts that underpin a current (not expired, not revoked or superseded) certificate:
    its exam attempt and its recalibration attempts. Retention never touches them."""
    current = Certificate.objects.filter(
        organization=organization,
        status__in=[CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED],
        expires_at__gt=now,
    )
    exam = set(CertificationDecision.objects.filter(certificate__in=current)
               .values_list("attempt_id", flat=True))
    recal = set(Recalibration.objects.filter(certificate__in=current, attempt__isnull=False)
                .values_list("attempt_id", flat=True))
    return exam | recal


def _retention_for(organization: Organization, now: dt.datetime) -> RetentionResult:
    result = RetentionResult(organization=organization.slug)
    protected = protected_attempt_ids(organization, now)
    if organization.draft_retention_days:
        cutoff = now - dt.timedelta(days=organization.draft_retention_days)
        drafts = (
            Attempt.objects.filter(organization=organization, mode=Mode.PRACTICE,
                                   status=AttemptStatus.IN_PROGRESS, started_at__lte=cutoff)
            .exclude(pk__in=protected)
            .annotate(last_saved=Max("ratings__updated_at"))
        )
        stale = [
            a.pk for a in drafts
            if max(t for t in (a.started_at, a.opened_at, a.last_saved) if t) <= cutoff
        ]
        if stale:
            Attempt.objects.filter(pk__in=stale).delete()
        result.drafts_deleted = len(stale)
    if organization.attempt_retention_days:
        cutoff = now - dt.timedelta(days=organization.attempt_retention_days)
        old = (
            Attempt.objects.filter(organization=organization, submitted_at__lte=cutoff,
                                   status__in=[AttemptStatus.SUBMITTED, AttemptStatus.FINALISED])
            .exclude(pk__in=protected)
        )
        ratings = Rating.objects.filter(attempt__in=old).exclude(rationale="", notes={})
        touched = set(ratings.values_list("attempt_id", flat=True))
        ratings.update(rationale="", notes={})
        comments = RatingComment.objects.filter(rating__attempt__in=old)
        touched |= set(comments.values_list("rating__attempt_id", flat=True))
        result.comments_deleted = comments.delete()[0]
        result.attempts_cleared = len(touched)
        # People who have left: no membership here, nothing newer than the cutoff, no
        # current certificate here. Their records are pseudonymised as in an erasure.
        members = Membership.objects.filter(organization=organization).values("user_id")
        recent = Attempt.objects.filter(organization=organization).filter(
            Q(started_at__gt=cutoff) | Q(submitted_at__gt=cutoff) | Q(pk__in=protected)
        ).values("user_id")
        current_holders = Certificate.objects.filter(
            organization=organization,
            status__in=[CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED],
            expires_at__gt=now,
        ).values("holder_id")
        departed = (
            get_user_model().objects.filter(attempts__in=old).distinct()
            .exclude(pk__in=members).exclude(pk__in=recent).exclude(pk__in=current_holders)
            .exclude(profile__erased_at__isnull=False)
        )
        for user in departed:
            _erase_in_organization(actor=None, organization=organization, user=user,
                                   reason=ErasureReason.RETENTION, now=now)
            result.people_pseudonymised += 1
    return result


def retention_apply(*, now: dt.datetime | None = None, dry_run: bool = False,
                    organizations=None) -> list[RetentionResult]:
    """Apply every organisation's retention settings. Idempotent; each organisation in its own
    transaction (its row locked, so concurrent runs queue). A dry run does the same work
    and rolls it back, so it reports exactly what a real run would do."""
    now = now or timezone.now()
    qs = organizations if organizations is not None else Organization.objects.all()
    qs = qs.filter(Q(draft_retention_days__isnull=False) |
                   Q(attempt_retention_days__isnull=False)).order_by("slug")
    results = []
    for org_id in qs.values_list("pk", flat=True):
        with transaction.atomic():
            organization = Organization.objects.select_for_update().get(pk=org_id)
            result = _retention_for(organization, now)
            if dry_run:
                transaction.set_rollback(True)
            elif result.changed:
                audit_record(
                    actor=None, organization=organization, obj=organization,
                    action="retention.applied",
                    after={
                        "draft_retention_days": organization.draft_retention_days,
                        "attempt_retention_days": organization.attempt_retention_days,
                        "drafts_deleted": result.drafts_deleted,
                        "attempts_cleared": result.attempts_cleared,
                        "comments_deleted": result.comments_deleted,
                        "people_pseudonymised": result.people_pseudonymised,
                    },
                    now=now,
                )
        results.append(result)
    return results


def retention_settings_save(*, actor, organization: Organization,
                            draft_retention_days: int | None,
                            attempt_retention_days: int | None) -> Organization:
    errors = {}
    for name, value in (("draft_retention_days", draft_retention_days),
                        ("attempt_retention_days", attempt_retention_days)):
        if value is not None and not 1 <= value <= 36500:
            errors[name] = _("Between 1 and 36500 days, or empty to keep forever.")
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        organization = Organization.objects.select_for_update().get(pk=organization.pk)
        before = {"draft_retention_days": organization.draft_retention_days,
                  "attempt_retention_days": organization.attempt_retention_days}
        after = {"draft_retention_days": draft_retention_days,
                 "attempt_retention_days": attempt_retention_days}
        if before != after:
            organization.draft_retention_days = draft_retention_days
            organization.attempt_retention_days = attempt_retention_days
            organization.save(update_fields=["draft_retention_days", "attempt_retention_days"])
            audit_record(actor=actor, organization=organization, obj=organization,
                         action="organization.retention_changed", before=before, after=after)
    return organization
