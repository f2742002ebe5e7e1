"""Data protection: a member's data as one JSON document (their right of access), within one organisation. Exam and recalibration references the person may not see yet are withheld until the feedback policy releases them."""

from __future__ import annotations

import datetime as dt

from django.apps import apps
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from training.attempts import disclosure
from training.audit import audit_display, audit_record, user_ref
from training.models import (
    Appeal,
    Assignment,
    Attempt,
    AttemptVoid,
    AuditEvent,
    Certificate,
    CertificationDecision,
    Cohort,
    DriftAlert,
    Invitation,
    Membership,
    Organization,
    Rating,
    RatingComment,
    Recalibration,
    Reminder,
)
from training.tenancy import profile_for
from vignettes.models import PanelMember

DRIFT_REFERENCE_KEYS = ("series", "raw", "upper", "lower", "baseline")
WITHHELD_NOTE = gettext_lazy("Withheld until the exam or recalibration feedback policy "
                             "releases the reference scoring of these cases.")
EXPORT_FORMAT = "calibrate-member-export"
EXPORT_VERSION = 2  # 2: a reference panel covers several instruments


def _iso(value):
    return value.isoformat() if value is not None else None


# --- export --------------------------------------------------------------------------------


def _released_rating_ids(organization, user) -> set[int]:
    """The member's ratings whose reference they may see now (training.attempts.disclosure): the
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

        for member in PanelMember.objects.filter(
            user=user, panel__vignette__owner=organization
        ).select_related("panel__vignette").prefetch_related(
            "panel__instrument_versions__instrument", "scorings__instrument_version__instrument",
        ):
            panels.append({
                "panel": member.panel_id,
                "vignette": member.panel.vignette.slug,
                "instruments": sorted(v.instrument.slug
                                      for v in member.panel.instrument_versions.all()),
                "lead": member.panel.lead_id == user.pk,
                "scorings": [{
                    "instrument": scoring.instrument_version.instrument.slug,
                    "applicable": scoring.applicable,
                    "not_applicable_reason": scoring.not_applicable_reason,
                    "codes": scoring.codes,
                    "rationales": scoring.rationales,
                    "submitted_at": _iso(scoring.submitted_at),
                } for scoring in member.scorings.all()],
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
        "appeals": [
            {
                "id": a.pk, "kind": a.kind, "decision": a.decision_id,
                "certificate": a.certificate_id, "attempt_void": a.attempt_void_id,
                "grounds": a.grounds, "filed_at": _iso(a.filed_at), "status": a.status,
                "decided_at": _iso(a.decided_at), "outcome_reasons": a.outcome_reasons,
                "new_decision": a.new_decision_id,
            }
            for a in Appeal.objects.filter(organization=organization, user=user
                                           ).order_by("filed_at", "pk")
        ],
        "attempt_voids": [
            {"id": v.pk, "attempt": v.attempt_id, "reason": v.reason,
             "voided_at": _iso(v.voided_at), "overturned_at": _iso(v.overturned_at)}
            for v in AttemptVoid.objects.filter(organization=organization, attempt__user=user
                                                ).order_by("voided_at", "pk")
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
