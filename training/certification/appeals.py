"""Appeals and voided exam attempts: a candidate appeals a certification decision, a
suspension, a revocation or a voided attempt within the organisation's period; an org admin
with no training relationship with the candidate decides (site staff where none is eligible);
an overturn makes a new decision or restores what was taken away. The old decision is kept and
marked superseded; everything is audited and the candidate is told."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from training import formatting
from training.audit import audit_record
from training.certification.certificates import certificate_issue
from training.certification.decisions import (
    VignetteEvidence,
    attempt_evidence,
    decision_visible_to_trainee,
    evaluate_evidence,
)
from training.certification.rules import RULE_FIELDS
from training.exceptions import Conflict
from training.models import (
    Appeal,
    AppealKind,
    AppealStatus,
    Attempt,
    AttemptStatus,
    AttemptVoid,
    AuditEvent,
    Certificate,
    CertificateStatus,
    CertificationDecision,
    CertificationRule,
    Cohort,
    Membership,
    Mode,
    Organization,
    Role,
)
from training.tenancy import int_or_404, not_found_in
from vignettes.models import ReferenceScoring

MAX_TEXT = 5000


def _text(value: str, field: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError({field: _("Give %(what)s; it is kept with the record.")
                               % {"what": what}})
    if len(value) > MAX_TEXT:
        raise ValidationError({field: _("At most %(n)d characters.") % {"n": MAX_TEXT}})
    return value


def _notify(user, subject: str, message: str) -> None:
    """E-mail the candidate; the appeal page is where they read it in the app."""
    if user.email:
        send_mail(subject=subject, message=message, from_email=settings.DEFAULT_FROM_EMAIL,
                  recipient_list=[user.email], fail_silently=True)


# --- impartiality --------------------------------------------------------------------------


def teaches(*, user, candidate, organization: Organization) -> bool:
    """Is `user` an instructor of any of the candidate's cohorts in this organisation?"""
    return Cohort.objects.filter(organization=organization, trainees=candidate,
                                 instructors=user).exists()


def ineligibility(*, user, candidate, organization: Organization) -> str:
    """Why `user` may not decide about this candidate (appeal or void); empty when they may.
    Site staff are not judged here (see `appeal_decider_refusal`)."""
    membership = Membership.objects.filter(user=user, organization=organization).first()
    if membership is None or membership.role != Role.ORG_ADMIN:
        return _("Only an organisation admin may do this.")
    if user.pk == candidate.pk:
        return _("You cannot decide about your own exam or appeal.")
    if organization.impartial_appeals and teaches(user=user, candidate=candidate,
                                                  organization=organization):
        return _("You teach one of this candidate's cohorts; the organisation's impartiality "
                 "setting keeps a candidate's instructors from deciding their appeals and "
                 "voiding their attempts. Another organisation admin must do it.")
    return ""


def _decision_taker(appeal: Appeal | None) -> tuple[int | None, str]:
    """Who took the decision appealed, and what they are told: an appeal is not decided by
    the admin who voided the attempt, or who last suspended or revoked the certificate (the
    audit trail names them). (None, "") where nobody is excluded this way."""
    if appeal is None:
        return None, ""
    if appeal.attempt_void_id is not None:
        return appeal.attempt_void.voided_by_id, _(
            "You voided this attempt; another organisation admin must decide the appeal "
            "against it.")
    action = {AppealKind.SUSPENSION: "certificate.suspended",
              AppealKind.REVOCATION: "certificate.revoked"}.get(appeal.kind)
    if action and appeal.certificate_id is not None:
        last = (AuditEvent.objects.filter(organization=appeal.organization, action=action,
                                          object_type="training.Certificate",
                                          object_id=str(appeal.certificate_id))
                .order_by("-at", "-pk").values_list("actor_id", flat=True).first())
        return last, _("You took the decision under appeal; another organisation admin must "
                       "decide the appeal against it.")
    return None, ""


def eligible_admins(*, candidate, organization: Organization, appeal: Appeal | None = None
                    ) -> list:
    taker, _refusal = _decision_taker(appeal)  # one audit read, not one per admin
    admins = Membership.objects.filter(organization=organization, role=Role.ORG_ADMIN
                                       ).select_related("user").order_by("user__username")
    return [m.user for m in admins
            if not ineligibility(user=m.user, candidate=candidate, organization=organization)
            and (taker is None or m.user.pk != taker)]


def appeal_decider_refusal(*, user, appeal: Appeal) -> str:
    """Why `user` may not decide this appeal; empty when they may. Site staff may decide
    only where no organisation admin is eligible."""
    if user.is_staff and not eligible_admins(candidate=appeal.user,
                                             organization=appeal.organization, appeal=appeal):
        return ""
    refusal = ineligibility(user=user, candidate=appeal.user, organization=appeal.organization)
    if refusal:
        return refusal
    taker, took_it = _decision_taker(appeal)
    return took_it if taker is not None and taker == user.pk else ""


# --- voiding an exam attempt ---------------------------------------------------------------


def _void_state(void: AttemptVoid) -> dict:
    return {"attempt": void.attempt_id, "reason": void.reason,
            "revoked_certificates": void.revoked_certificates,
            "in_force": void.in_force}


def voidable_attempt_get(*, organization: Organization, attempt_id) -> Attempt:
    attempt = Attempt.objects.filter(organization=organization, mode=Mode.EXAM,
                                     pk=int_or_404(attempt_id)).select_related("user").first()
    if attempt is None:
        raise not_found_in(Attempt, organization=organization, pk=int(attempt_id))
    return attempt


@transaction.atomic
def attempt_void(*, actor, organization: Organization, attempt_id, reason: str,
                 now: dt.datetime | None = None) -> AttemptVoid:
    """Void a sealed exam attempt for misconduct. Its decisions stop counting and the
    certificates they issued are revoked (revocation is what the public page and the
    credentials already report); the candidate is told and may appeal."""
    now = now or timezone.now()
    attempt = voidable_attempt_get(organization=organization, attempt_id=attempt_id)
    refusal = ineligibility(user=actor, candidate=attempt.user, organization=organization)
    if refusal:
        raise PermissionDenied(refusal)
    reason = _text(reason, "reason", _("the reason"))
    attempt = Attempt.objects.select_for_update().get(pk=attempt.pk)
    if attempt.status == AttemptStatus.IN_PROGRESS:
        raise Conflict(_("This exam is still in progress; it can be voided once it is "
                         "submitted or finalised."), code="in_progress")
    if AttemptVoid.objects.filter(attempt=attempt).exists():
        raise Conflict(_("This attempt has already been voided."), code="already_voided")
    void = AttemptVoid.objects.create(attempt=attempt, organization=organization, reason=reason,
                                      voided_by=actor, voided_at=now)
    revoked = []
    for cert in Certificate.objects.select_for_update().filter(
            decision__attempt=attempt,
            status__in=[CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED]):
        before = {"status": cert.status, "reason": cert.status_reason}
        cert.status = CertificateStatus.REVOKED
        cert.status_reason = _("Exam attempt voided: %(r)s") % {"r": reason}
        cert.status_changed_at = now
        cert.save(update_fields=["status", "status_reason", "status_changed_at"])
        audit_record(actor=actor, organization=organization, obj=cert,
                     action="certificate.revoked", before=before,
                     after={"status": cert.status, "reason": cert.status_reason,
                            "attempt_void": void.pk}, now=now)
        revoked.append(cert.pk)
    void.revoked_certificates = revoked
    void.save(update_fields=["revoked_certificates"])
    audit_record(actor=actor, organization=organization, obj=void, action="attempt.voided",
                 after=_void_state(void), now=now)
    _notify(attempt.user, _("Calibrate: your exam attempt was voided"),
            _("Your exam attempt of %(d)s was voided by %(o)s. Reason: %(r)s\n\nIts result no "
              "longer counts. You may appeal within %(n)d days on the Appeals page.")
            % {"d": formatting.day(attempt.started_at, organization), "o": organization.name, "r": reason,
               "n": organization.appeal_days})
    return void


# --- filing an appeal ----------------------------------------------------------------------


@dataclass(frozen=True)
class Appealable:
    """Something a candidate may appeal now: its kind, the object's id, a label, the date
    the period runs from and the last day to appeal."""

    kind: str
    object_id: int
    label: str
    since: dt.datetime
    until: dt.datetime

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.object_id}"


def _deadline(organization: Organization, since: dt.datetime) -> dt.datetime:
    return since + dt.timedelta(days=organization.appeal_days)


def _candidate_items(*, user, organization: Organization, now) -> list[Appealable]:
    """Everything of this candidate that can be appealed, within the period or not."""
    items = []
    for d in CertificationDecision.objects.filter(
            organization=organization, user=user, superseded_at__isnull=True,
            attempt__void__isnull=True,
    ).select_related("attempt__assignment", "instrument_version__instrument"):
        if decision_visible_to_trainee(d, now=now):
            items.append(Appealable(
                AppealKind.DECISION, d.pk,
                _("Decision on %(i)s of %(d)s (%(r)s)") % {
                    "i": d.instrument_version.instrument.short_name,
                    "d": formatting.day(d.decided_at, organization),
                    "r": _("pass") if d.passed else _("fail")},
                d.decided_at, _deadline(organization, d.decided_at)))
    for cert in Certificate.objects.filter(
            organization=organization, holder=user,
            status__in=[CertificateStatus.SUSPENDED, CertificateStatus.REVOKED],
            status_changed_at__isnull=False,
    ).select_related("instrument_version__instrument"):
        kind = (AppealKind.SUSPENSION if cert.status == CertificateStatus.SUSPENDED
                else AppealKind.REVOCATION)
        items.append(Appealable(
            kind, cert.pk, _("%(k)s: certificate on %(i)s, %(d)s") % {
                "k": AppealKind(kind).label, "i": cert.instrument_version.instrument.short_name,
                "d": formatting.day(cert.status_changed_at, organization)},
            cert.status_changed_at, _deadline(organization, cert.status_changed_at)))
    for void in AttemptVoid.objects.filter(organization=organization, attempt__user=user,
                                           overturned_at__isnull=True):
        items.append(Appealable(
            AppealKind.VOID, void.pk, _("Voided exam attempt of %(d)s") % {
                "d": formatting.day(void.attempt.started_at, organization)},
            void.voided_at, _deadline(organization, void.voided_at)))
    return items


def appealable_for(*, user, organization: Organization, now=None) -> list[Appealable]:
    """What the candidate may appeal now: within the period and with no appeal open on it."""
    now = now or timezone.now()
    open_keys = {f"{a.kind}:{_object_id(a)}" for a in Appeal.objects.filter(
        organization=organization, user=user, status=AppealStatus.OPEN)}
    return [i for i in _candidate_items(user=user, organization=organization, now=now)
            if now <= i.until and i.key not in open_keys]


def appeal_period_ended(*, user, organization: Organization, now=None) -> list[Appealable]:
    """What the candidate could have appealed but whose period has ended (the page says when)."""
    now = now or timezone.now()
    return [i for i in _candidate_items(user=user, organization=organization, now=now)
            if now > i.until]


def _object_id(appeal: Appeal) -> int | None:
    return {AppealKind.DECISION: appeal.decision_id,
            AppealKind.SUSPENSION: appeal.certificate_id,
            AppealKind.REVOCATION: appeal.certificate_id,
            AppealKind.VOID: appeal.attempt_void_id}[appeal.kind]


def _appeal_state(appeal: Appeal) -> dict:
    return {"kind": appeal.kind, "object": _object_id(appeal), "status": appeal.status,
            "user": appeal.user_id,
            "decided_by_staff": appeal.decided_by_staff,
            "new_decision": appeal.new_decision_id}


@transaction.atomic
def appeal_file(*, user, organization: Organization, kind: str, object_id, grounds: str,
                now: dt.datetime | None = None) -> Appeal:
    """The candidate appeals one of their own decisions, suspensions, revocations or voided
    attempts, within the organisation's period, giving their grounds."""
    now = now or timezone.now()
    if kind not in AppealKind.values:
        raise ValidationError({"kind": _("Choose what you appeal: decision, suspension, "
                                         "revocation or void.")})
    try:
        object_id = int(object_id)
    except (TypeError, ValueError):
        raise ValidationError({"object_id": _("Choose the decision, certificate or voided "
                                              "attempt you appeal.")}) from None
    grounds = _text(grounds, "grounds", _("your grounds for the appeal"))
    item = next((i for i in _candidate_items(user=user, organization=organization, now=now)
                 if i.kind == kind and i.object_id == object_id), None)
    if item is None:
        raise ValidationError({"object_id": _(
            "There is no %(k)s of yours with this id that can be appealed.")
            % {"k": AppealKind(kind).label.lower()}})
    if now > item.until:
        raise ValidationError({"object_id": _(
            "The period to appeal ended on %(d)s: %(o)s allows %(n)d days from %(s)s.")
            % {"d": formatting.day(item.until, organization), "o": organization.name,
               "n": organization.appeal_days, "s": formatting.day(item.since, organization)}})
    # One open appeal per object: taken under a lock on the candidate's membership.
    Membership.objects.select_for_update().filter(user=user, organization=organization).first()
    field = {AppealKind.DECISION: "decision_id", AppealKind.VOID: "attempt_void_id"}.get(
        kind, "certificate_id")
    if Appeal.objects.filter(organization=organization, user=user, kind=kind,
                             status=AppealStatus.OPEN, **{field: object_id}).exists():
        raise Conflict(_("You already have an open appeal on this; wait for its outcome."),
                       code="appeal_open")
    appeal = Appeal.objects.create(organization=organization, user=user, kind=kind,
                                   grounds=grounds, filed_at=now, **{field: object_id})
    audit_record(actor=user, organization=organization, obj=appeal, action="appeal.filed",
                 after=_appeal_state(appeal), now=now)
    _notify(user, _("Calibrate: your appeal was received"),
            _("Your appeal (%(k)s) was received on %(d)s. An organisation admin who has not "
              "trained you will decide it; you will be told the outcome.")
            % {"k": appeal.get_kind_display(), "d": formatting.day(now, organization)})
    return appeal


# --- reading appeals -----------------------------------------------------------------------


def appeals_for(*, membership: Membership, status: str = ""):
    """The organisation's appeals for its org admins; a candidate's own for anyone else."""
    qs = Appeal.objects.filter(organization=membership.organization).select_related(
        "user", "decided_by", "decision__instrument_version__instrument",
        "certificate__instrument_version__instrument", "attempt_void__attempt")
    if membership.role != Role.ORG_ADMIN:
        qs = qs.filter(user_id=membership.user_id)
    if status:
        if status not in AppealStatus.values:
            raise ValidationError({"status": _("Choose open, upheld or overturned.")})
        qs = qs.filter(status=status)
    return qs.order_by("-filed_at", "-pk")


def appeal_get(*, membership: Membership, appeal_id) -> Appeal:
    appeal = appeals_for(membership=membership).filter(pk=int_or_404(appeal_id)).first()
    if appeal is None:
        if membership.role == Role.ORG_ADMIN:
            raise not_found_in(Appeal, organization=membership.organization,
                               pk=int(appeal_id))
        raise Http404
    return appeal


def voids_for(*, organization: Organization, limit: int = 100):
    return AttemptVoid.objects.filter(organization=organization).select_related(
        "attempt__user", "voided_by").order_by("-voided_at", "-pk")[:limit]


def appeal_get_for_staff(*, appeal_id) -> Appeal:
    appeal = Appeal.objects.filter(pk=int_or_404(appeal_id)).select_related(
        "user", "organization").first()
    if appeal is None:
        raise Http404
    return appeal


# --- re-evaluation -------------------------------------------------------------------------


def frozen_rule(decision: CertificationDecision) -> CertificationRule:
    """The rule as it was when the decision was made (its snapshot), unsaved: an appeal is
    judged on the rule the candidate sat, not on later edits."""
    base = decision.rule or CertificationRule(organization=decision.organization,
                                              instrument=decision.instrument_version.instrument)
    snapshot = decision.rule_snapshot or {}
    fields = {name: snapshot[name] for name in RULE_FIELDS if name in snapshot}
    rule = CertificationRule(pk=base.pk, organization_id=decision.organization_id,
                             instrument=decision.instrument_version.instrument,
                             **{n: getattr(base, n) for n in RULE_FIELDS} | fields)
    return rule


def _latest_references(evidence: list[VignetteEvidence]) -> list[VignetteEvidence]:
    """The same ratings against each vignette's latest reference scoring: a reference
    corrected since the exam (a new reference number) counts in a re-evaluation."""
    out = []
    for ev in evidence:
        latest = ReferenceScoring.objects.filter(
            vignette_revision_id=ev.reference.vignette_revision_id,
            instrument_version_id=ev.reference.instrument_version_id,
        ).order_by("-number").first() or ev.reference
        out.append(VignetteEvidence(applicable=ev.applicable, codes=ev.codes, total=ev.total,
                                    band_code=ev.band_code, reference=latest))
    return out


def re_evaluate(decision: CertificationDecision) -> dict:
    """The decision's attempt evaluated again under its frozen rule, against the current
    references: every criterion, the result, and how many references changed since."""
    evidence = attempt_evidence(decision.attempt, decision.instrument_version)
    latest = _latest_references(evidence)
    criteria = evaluate_evidence(latest, frozen_rule(decision))
    changed = sum(a.reference.pk != b.reference.pk for a, b in zip(evidence, latest,
                                                                    strict=True))
    return {"criteria": criteria, "passed": all(c["passed"] for c in criteria),
            "n_vignettes": len(latest), "references_changed": changed}


# --- deciding an appeal --------------------------------------------------------------------


def _restore_certificate(cert: Certificate, *, actor, appeal: Appeal, now) -> bool:
    """Make a suspended or revoked certificate active again, if nothing replaced it since."""
    cert = Certificate.objects.select_for_update().get(pk=cert.pk)
    if cert.status not in (CertificateStatus.SUSPENDED, CertificateStatus.REVOKED):
        return False
    before = {"status": cert.status, "reason": cert.status_reason}
    cert.status = CertificateStatus.ACTIVE
    cert.status_reason = _("Restored on appeal: %(r)s") % {"r": appeal.outcome_reasons}
    cert.status_changed_at = now
    cert.save(update_fields=["status", "status_reason", "status_changed_at"])
    audit_record(actor=actor, organization=appeal.organization, obj=cert,
                 action="certificate.restored_on_appeal", before=before,
                 after={"status": cert.status, "appeal": appeal.pk}, now=now)
    return True


def _overturn_decision(appeal: Appeal, *, actor, now) -> None:
    old = CertificationDecision.objects.select_for_update().get(pk=appeal.decision_id)
    if old.superseded_at:
        raise Conflict(_("This decision has been superseded already."), code="superseded")
    if AttemptVoid.objects.filter(attempt_id=old.attempt_id, overturned_at__isnull=True).exists():
        raise Conflict(_("This exam attempt was voided since; its decision cannot be "
                         "overturned unless the void is."), code="voided")
    result = appeal.re_evaluation
    if result["passed"] == old.passed:
        raise ValidationError({"outcome": _(
            "The re-evaluation gives the same result (%(r)s); an overturn needs evidence that "
            "changes it. Uphold the decision, or have the reference corrected first.")
            % {"r": _("pass") if old.passed else _("fail")}})
    rule = frozen_rule(old)
    old.superseded_at = now
    old.save(update_fields=["superseded_at"])
    new = CertificationDecision.objects.create(
        organization=old.organization, attempt=old.attempt, user=old.user, rule=old.rule,
        instrument_version=old.instrument_version, passed=result["passed"],
        criteria=result["criteria"], rule_snapshot=old.rule_snapshot, decided_at=now)
    old.superseded_by = new
    old.save(update_fields=["superseded_by"])
    audit_record(actor=actor, organization=old.organization, obj=old,
                 action="certification.superseded",
                 after={"superseded_by": new.pk, "appeal": appeal.pk}, now=now)
    audit_record(actor=actor, organization=old.organization, obj=new,
                 action="certification.decided",
                 after={"attempt": new.attempt_id, "passed": new.passed,
                        "failed": [c["key"] for c in new.criteria if not c["passed"]],
                        "appeal": appeal.pk, "supersedes": old.pk}, now=now)
    if new.passed:
        certificate_issue(decision=new, rule=rule, now=now)
    else:
        # A pass overturned: its certificate no longer stands.
        cert = Certificate.objects.filter(decision=old).first()
        if cert is not None and cert.status in (CertificateStatus.ACTIVE,
                                                CertificateStatus.SUSPENDED):
            before = {"status": cert.status, "reason": cert.status_reason}
            cert.status = CertificateStatus.REVOKED
            cert.status_reason = _("Decision overturned on appeal.")
            cert.status_changed_at = now
            cert.save(update_fields=["status", "status_reason", "status_changed_at"])
            audit_record(actor=actor, organization=old.organization, obj=cert,
                         action="certificate.revoked", before=before,
                         after={"status": cert.status, "appeal": appeal.pk}, now=now)
    appeal.new_decision = new


def _overturn_void(appeal: Appeal, *, actor, now) -> None:
    void = AttemptVoid.objects.select_for_update().get(pk=appeal.attempt_void_id)
    if not void.in_force:
        raise Conflict(_("This void has been overturned already."), code="not_in_force")
    void.overturned_at = now
    void.save(update_fields=["overturned_at"])
    for cert in Certificate.objects.filter(pk__in=void.revoked_certificates):
        _restore_certificate(cert, actor=actor, appeal=appeal, now=now)
    audit_record(actor=actor, organization=appeal.organization, obj=void,
                 action="attempt.void_overturned", after=_void_state(void) | {
                     "appeal": appeal.pk}, now=now)


@transaction.atomic
def appeal_decide(*, actor, appeal_id, outcome: str, reasons: str,
                  organization: Organization | None = None,
                  now: dt.datetime | None = None) -> Appeal:
    """Record the outcome of an open appeal. `organization`: the org admin's active one
    (another organisation's appeal is a 404); None for site staff, who may decide only where
    no admin of the organisation is eligible."""
    now = now or timezone.now()
    qs = Appeal.objects.select_for_update()
    if organization is not None:
        appeal = qs.filter(organization=organization, pk=int_or_404(appeal_id)).first()
        if appeal is None:
            raise not_found_in(Appeal, organization=organization, pk=int(appeal_id))
    else:
        appeal = qs.filter(pk=int_or_404(appeal_id)).first()
        if appeal is None:
            raise Http404
    refusal = appeal_decider_refusal(user=actor, appeal=appeal)
    if refusal:
        raise PermissionDenied(refusal)
    if outcome not in (AppealStatus.UPHELD, AppealStatus.OVERTURNED):
        raise ValidationError({"outcome": _("Choose upheld or overturned.")})
    reasons = _text(reasons, "reasons", _("the reasons for the outcome"))
    if appeal.status != AppealStatus.OPEN:
        raise Conflict(_("This appeal was decided on %(d)s.")
                       % {"d": formatting.day(appeal.decided_at, appeal.organization)}, code="decided")
    member = Membership.objects.filter(user=actor, organization=appeal.organization,
                                       role=Role.ORG_ADMIN).exists()
    appeal.status = outcome
    appeal.outcome_reasons = reasons
    appeal.decided_by = actor
    appeal.decided_by_staff = not member
    appeal.decided_at = now
    if appeal.kind == AppealKind.DECISION:
        appeal.re_evaluation = re_evaluate(appeal.decision)
    if outcome == AppealStatus.OVERTURNED:
        if appeal.kind == AppealKind.DECISION:
            _overturn_decision(appeal, actor=actor, now=now)
        elif appeal.kind == AppealKind.VOID:
            _overturn_void(appeal, actor=actor, now=now)
        elif not _restore_certificate(appeal.certificate, actor=actor, appeal=appeal, now=now):
            raise Conflict(_("The certificate is no longer suspended or revoked; nothing to "
                             "restore."), code="nothing_to_restore")
    appeal.save()
    audit_record(actor=actor, organization=appeal.organization, obj=appeal,
                 action=f"appeal.{outcome}",
                 after=_appeal_state(appeal) | {"reasons": reasons}, now=now)
    _notify(appeal.user, _("Calibrate: the outcome of your appeal"),
            _("Your appeal (%(k)s) of %(f)s was %(o)s on %(d)s. Reasons: %(r)s")
            % {"k": appeal.get_kind_display(), "f": formatting.day(appeal.filed_at, appeal.organization),
               "o": _("upheld: the original stands") if outcome == AppealStatus.UPHELD
               else _("overturned"), "d": formatting.day(now, appeal.organization), "r": reasons})
    return appeal


@transaction.atomic
def appeal_settings_save(*, actor, organization: Organization, appeal_days: int,
                         impartial_appeals: bool) -> Organization:
    if not 1 <= int(appeal_days) <= 3650:
        raise ValidationError({"appeal_days": _("Between 1 and 3650 days.")})
    organization = Organization.objects.select_for_update().get(pk=organization.pk)
    before = {"appeal_days": organization.appeal_days,
              "impartial_appeals": organization.impartial_appeals}
    after = {"appeal_days": int(appeal_days), "impartial_appeals": bool(impartial_appeals)}
    if before != after:
        organization.appeal_days = after["appeal_days"]
        organization.impartial_appeals = after["impartial_appeals"]
        organization.save(update_fields=["appeal_days", "impartial_appeals"])
        audit_record(actor=actor, organization=organization, obj=organization,
                     action="organization.appeal_settings_changed", before=before, after=after)
    return organization
