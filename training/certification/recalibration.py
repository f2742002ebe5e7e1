"""Keeping certified raters calibrated: recalibration assignments, drift monitoring (two-sided
CUSUM), expiry and recalibration reminders, and the periodic `certification_tick`.

Services write in one transaction each and are audited; selectors read. Every service takes
an injectable clock (`now`).

Recalibration draws from the organisation's published recalibration-pool vignettes; when it
has none that the holder has never rated (the bundled recalibration pool is empty), it falls
back to published bundled practice vignettes the holder has never rated. Now and then one case
is instead a recalibration-pool case the holder rated at least six months before, a retest
(training.certification.retest), shown like any other.

Drift is watched on every submitted rating the holder made on the certificate's instrument
after the certificate was issued (recalibration and further practice; exams excluded), and
after the last resolved alert of that kind, by standardised CUSUMs against the holder's own
baseline at certification (training.certification.drift):
- signed total deviation, two-sided, slack and threshold (in SD units) from the rule;
- item agreement per case, lower side only (drift.AGREEMENT_SLACK, AGREEMENT_THRESHOLD).
"""

from __future__ import annotations

import datetime as dt
import random
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from training import formatting
from training.audit import audit_record
from training.certification import drift, retest
from training.charts import line_chart
from training.models import (
    AlertStatus,
    Attempt,
    AttemptVignette,
    Certificate,
    CertificateStatus,
    CertificationRule,
    DriftAlert,
    DriftKind,
    Mode,
    Organization,
    Rating,
    Recalibration,
    Reminder,
    RetestDraw,
)
from training.tenancy import int_or_404, not_found_in
from vignettes.models import ContentStatus, Pool, ReferenceScoring, Vignette, next_number

# 10 vignettes every 30 days: enough cases that a 1-point shift in total deviation is found
# within a 24-month certificate with >= 80 % probability on every bundled instrument
# (docs/statistics.md "Drift after certification"; python -m benchmarks drift).
DEFAULT_INTERVAL_DAYS = 30
DEFAULT_SIZE = 10
DEFAULT_SLACK = drift.DEFAULT_SLACK
DEFAULT_THRESHOLD = drift.DEFAULT_THRESHOLD
RECALIBRATION_DUE_DAYS = 30
EXPIRY_REMINDER_DAYS = (60, 14)
ADVISORY_LOCK_KEY = 802_208  # pg advisory lock: one certification_tick at a time

RECALIBRATION_DUE = "recalibration_due"


@dataclass(frozen=True)
class RuleParams:
    interval_days: int
    size: int
    slack: float
    threshold: float


def params_for(rule: CertificationRule | None) -> RuleParams:
    def pick(name, default):
        value = getattr(rule, name, None) if rule is not None else None
        return default if value is None else value

    return RuleParams(
        interval_days=pick("recalibration_interval_days", DEFAULT_INTERVAL_DAYS),
        size=pick("recalibration_size", DEFAULT_SIZE),
        slack=pick("cusum_slack", DEFAULT_SLACK),
        threshold=pick("cusum_threshold", DEFAULT_THRESHOLD),
    )


def display_status(cert: Certificate, now=None) -> str:
    """The status shown to the holder, the org admin and the public: 'recalibration_due'
    while an active certificate is flagged, else the certificate's effective status."""
    status = cert.effective_status(now)
    if status == CertificateStatus.ACTIVE and cert.recalibration_flagged_at is not None:
        return RECALIBRATION_DUE
    return status


def _rule_for(cert: Certificate) -> CertificationRule | None:
    return CertificationRule.objects.filter(
        organization_id=cert.organization_id,
        instrument_id=cert.instrument_version.instrument_id).first()


def _state(cert: Certificate) -> dict:
    return {"status": cert.status,
            "recalibration_due_at": cert.recalibration_due_at.isoformat()
            if cert.recalibration_due_at else None,
            "recalibration_flagged": cert.recalibration_flagged_at is not None,
            "reason": cert.recalibration_reason}


# --- locking -------------------------------------------------------------------------------


@contextmanager
def tick_lock():
    """True if this process may run the tick: a PostgreSQL session advisory lock (skip if
    another run holds it); on SQLite writes are serialised by the database anyway."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def _locked(cert_id) -> Certificate | None:
    qs = Certificate.objects.filter(pk=cert_id)
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    return qs.select_related("instrument_version__instrument", "holder", "organization").first()


# --- recalibration -------------------------------------------------------------------------


def _rated_vignette_ids(cert: Certificate) -> set[int]:
    return set(Rating.objects.filter(attempt__user_id=cert.holder_id).values_list(
        "vignette_revision__vignette_id", flat=True)) | set(
        AttemptVignette.objects.filter(attempt__user_id=cert.holder_id).values_list(
            "vignette_revision__vignette_id", flat=True))


def recalibration_candidates(cert: Certificate) -> tuple[list[Vignette], bool]:
    """(vignettes the holder has never rated with a current reference on the certificate's
    instrument version, from_organization_pool). The organisation's recalibration pool
    first; when it has none, published bundled practice vignettes (the fallback)."""
    seen = _rated_vignette_ids(cert)
    with_reference = set(ReferenceScoring.objects.filter(
        instrument_version_id=cert.instrument_version_id).values_list(
        "vignette_revision_id", flat=True))

    def usable(qs):
        return [v for v in qs.exclude(pk__in=seen).exclude(current_revision__isnull=True)
                .order_by("slug") if v.current_revision_id in with_reference]

    own = usable(Vignette.objects.filter(owner_id=cert.organization_id, pool=Pool.RECALIBRATION,
                                         status=ContentStatus.PUBLISHED))
    if own:
        return own, True
    return usable(Vignette.objects.bundled().filter(pool=Pool.PRACTICE,
                                                    status=ContentStatus.PUBLISHED)), False


def _next_recalibration_at(cert: Certificate, params: RuleParams) -> dt.datetime:
    last = cert.recalibrations.order_by("-period").first()
    since = last.assigned_at if last else cert.issued_at
    return since + dt.timedelta(days=params.interval_days)


def recalibration_assign(*, cert: Certificate, params: RuleParams, now: dt.datetime
                         ) -> Recalibration | None:
    """Give the holder their next recalibration when the interval has passed and none is
    open. Idempotent: (certificate, period) is unique."""
    if cert.recalibrations.filter(completed_at__isnull=True).exists():
        return None
    if now < _next_recalibration_at(cert, params):
        return None
    vignettes, own_pool = recalibration_candidates(cert)
    if not vignettes:
        return None
    period = next_number(cert.recalibrations.all(), field="period")
    # Now and then one case is a retest of a case the holder rated months ago
    # (training.certification.retest); it takes a new case's place, anywhere in the order.
    first_rating = retest.retest_pick(cert=cert, size=params.size, period=period, now=now)
    rng = random.Random(f"{cert.pk}:{period}")
    chosen = rng.sample(vignettes, k=min(params.size - (first_rating is not None),
                                         len(vignettes)))
    if first_rating is not None:
        chosen.insert(rng.randrange(len(chosen) + 1), first_rating.vignette_revision.vignette)
    attempt = Attempt.objects.create(user=cert.holder, organization=cert.organization,
                                     mode=Mode.PRACTICE, started_at=now)
    attempt.instrument_versions.set([cert.instrument_version])
    for order, vignette in enumerate(chosen, start=1):
        AttemptVignette.objects.create(attempt=attempt, vignette_revision=vignette.current_revision,
                                       order=order)
    due = now + dt.timedelta(days=RECALIBRATION_DUE_DAYS)
    recal = Recalibration.objects.create(certificate=cert, period=period, attempt=attempt,
                                         from_organization_pool=own_pool, assigned_at=now,
                                         due_at=due)
    if first_rating is not None:
        # Its own event, about the draw rather than the holder, so that what is handed to the
        # holder (their data export) does not single the case out.
        draw = RetestDraw.objects.create(recalibration=recal, first_rating=first_rating,
                                         drawn_at=now)
        audit_record(actor=None, organization=cert.organization, obj=draw,
                     action="recalibration.retest_drawn",
                     after={"recalibration": recal.pk, "first_rating": first_rating.pk,
                            "vignette": first_rating.vignette_revision.vignette.slug}, now=now)
    before = _state(cert)
    cert.recalibration_due_at = due
    cert.save(update_fields=["recalibration_due_at"])
    audit_record(actor=None, organization=cert.organization, obj=recal,
                 action="recalibration.assigned", before=before,
                 after=_state(cert) | {"vignettes": [v.slug for v in chosen],
                                       "from_organization_pool": own_pool}, now=now)
    _remind(cert, kind="recalibration_assigned", period=str(period), now=now,
            message=_("You have a recalibration of %(n)d vignettes on %(i)s due by %(d)s.")
            % {"n": len(chosen), "i": cert.instrument_version.instrument.short_name,
               "d": formatting.day(due, cert.organization)})
    return recal


def recalibration_check(*, cert: Certificate, now: dt.datetime) -> int:
    """Mark completed recalibrations (their attempt submitted) and overdue ones; overdue
    flags the certificate 'recalibration due'. Returns the number of changes."""
    changes = 0
    for recal in cert.recalibrations.filter(completed_at__isnull=True).select_related("attempt"):
        if recal.attempt is not None and recal.attempt.submitted_at is not None:
            recal.completed_at = recal.attempt.submitted_at
            recal.save(update_fields=["completed_at"])
            audit_record(actor=None, organization=cert.organization, obj=recal,
                         action="recalibration.completed", now=now)
            changes += 1
            if recal.overdue_at is not None and not _open_alerts(cert).exists():
                _unflag(cert, now=now)
        elif recal.overdue_at is None and recal.due_at <= now:
            recal.overdue_at = now
            recal.save(update_fields=["overdue_at"])
            _flag(cert, reason=_("Recalibration %(n)d was not completed by %(d)s.")
                  % {"n": recal.period, "d": formatting.day(recal.due_at, cert.organization)}, now=now)
            _remind(cert, kind="recalibration_overdue", period=str(recal.period), now=now,
                    message=_("Your recalibration on %(i)s is overdue; complete it to keep "
                              "your certificate in good standing.")
                    % {"i": cert.instrument_version.instrument.short_name})
            changes += 1
    return changes


def _flag(cert: Certificate, *, reason: str, now: dt.datetime) -> None:
    before = _state(cert)
    if cert.recalibration_flagged_at is None:
        cert.recalibration_flagged_at = now
    cert.recalibration_reason = reason
    cert.save(update_fields=["recalibration_flagged_at", "recalibration_reason"])
    audit_record(actor=None, organization=cert.organization, obj=cert,
                 action="certificate.recalibration_due", before=before, after=_state(cert),
                 now=now)


def _unflag(cert: Certificate, *, now: dt.datetime, actor=None) -> None:
    if cert.recalibration_flagged_at is None:
        return
    before = _state(cert)
    cert.recalibration_flagged_at = None
    cert.recalibration_reason = ""
    cert.save(update_fields=["recalibration_flagged_at", "recalibration_reason"])
    audit_record(actor=actor, organization=cert.organization, obj=cert,
                 action="certificate.recalibration_cleared", before=before, after=_state(cert),
                 now=now)


def _open_alerts(cert: Certificate):
    return cert.drift_alerts.exclude(status=AlertStatus.RESOLVED)


# --- drift ---------------------------------------------------------------------------------


def drift_evaluate(*, cert: Certificate, params: RuleParams, now: dt.datetime
                   ) -> list[DriftAlert]:
    """Run both CUSUMs; on a crossing with no unresolved alert of that kind, flag the
    certificate and raise an alert with the evidence. Idempotent."""
    raised = []
    for kind in (DriftKind.DEVIATION, DriftKind.AGREEMENT):
        if _open_alerts(cert).filter(kind=kind).exists():
            continue
        # Alerts of the retired raw-point CUSUM were closed unjudged: they restart nothing.
        last = cert.drift_alerts.filter(kind=kind, status=AlertStatus.RESOLVED,
                                        evidence__method=drift.METHOD).order_by(
            "-resolved_at").first()
        if kind == DriftKind.DEVIATION:
            slack, threshold = params.slack, params.threshold
        else:
            slack, threshold = drift.AGREEMENT_SLACK, drift.AGREEMENT_THRESHOLD
        evidence = drift.drift_check(cert=cert, kind=kind, slack=slack, threshold=threshold,
                                     since=last.resolved_at if last else None)
        if evidence is None:
            continue
        direction, ids, first = (evidence["direction"], evidence["rating_ids"],
                                 evidence["alarm_index"])
        alert = DriftAlert.objects.create(organization=cert.organization, certificate=cert,
                                          kind=kind, evidence=evidence, raised_at=now)
        audit_record(actor=None, organization=cert.organization, obj=alert,
                     action="drift.alert_raised",
                     after={"certificate": cert.pk, "kind": kind, "direction": direction,
                            "alarm_rating_id": ids[first], "rating_ids": ids[: first + 1]},
                     now=now)
        # An alarm is evidence to review, not a verdict: with ARL0 >= 370 a stable rater still
        # meets a false alarm within a 24-month certificate about as often as not at the
        # default rate (docs/statistics.md). So the public status changes only when the
        # organisation's admin confirms the drift on the alert page (alert_transition
        # "confirm"); the holder and the admin are told now.
        _remind(cert, kind="drift", period=str(alert.pk), now=now,
                message=_("Your recent ratings on %(i)s moved away from your own baseline at "
                          "certification (%(k)s). Your organisation's administrator will review "
                          "it with you; your certificate's public status changes only if the "
                          "drift is confirmed.")
                % {"i": cert.instrument_version.instrument.short_name,
                   "k": DriftKind(kind).label})
        raised.append(alert)
    return raised


# --- expiry and reminders ------------------------------------------------------------------


def _remind(cert: Certificate, *, kind: str, period: str, now: dt.datetime,
            message: str) -> bool:
    """Send (e-mail + in-app notice) once per (certificate, kind, period)."""
    _reminder, created = Reminder.objects.get_or_create(
        certificate=cert, kind=kind, period=period,
        defaults={"sent_at": now, "message": message})
    if created and cert.holder.email:
        send_mail(subject=_("Calibrate: your certificate"), message=message,
                  from_email=settings.DEFAULT_FROM_EMAIL, recipient_list=[cert.holder.email],
                  fail_silently=True)
    return created


def expiry_and_reminders(*, cert: Certificate, now: dt.datetime) -> int:
    changes = 0
    if cert.status == CertificateStatus.ACTIVE and cert.expires_at <= now:
        before = _state(cert)
        cert.status = CertificateStatus.EXPIRED
        cert.status_changed_at = now
        cert.save(update_fields=["status", "status_changed_at"])
        audit_record(actor=None, organization=cert.organization, obj=cert,
                     action="certificate.expired", before=before, after=_state(cert), now=now)
        return 1
    for days in EXPIRY_REMINDER_DAYS:
        if now < cert.expires_at <= now + dt.timedelta(days=days):
            changes += _remind(
                cert, kind=f"expiry_{days}", period=cert.expires_at.date().isoformat(), now=now,
                message=_("Your certificate on %(i)s expires on %(d)s.")
                % {"i": cert.instrument_version.instrument.short_name,
                   "d": formatting.day(cert.expires_at, cert.organization)})
    return changes


# --- the tick ------------------------------------------------------------------------------


@dataclass
class TickResult:
    ran: bool = True
    assigned: int = 0
    alerts: int = 0
    changes: int = 0
    reminders_before: int = 0
    reminders_after: int = 0

    @property
    def reminders(self) -> int:
        return self.reminders_after - self.reminders_before


def certification_tick(*, now: dt.datetime | None = None) -> TickResult:
    """Assign recalibrations, evaluate drift, expire, remind. Idempotent; a concurrent run
    skips (advisory lock) and rows locked by another run are skipped too."""
    now = now or timezone.now()
    result = TickResult(reminders_before=Reminder.objects.count())
    with tick_lock() as acquired:
        if not acquired:
            result.ran = False
            return result
        ids = list(Certificate.objects.filter(status=CertificateStatus.ACTIVE).order_by("pk")
                   .values_list("pk", flat=True))
        for cert_id in ids:
            with transaction.atomic():
                cert = _locked(cert_id)
                if cert is None or cert.status != CertificateStatus.ACTIVE:
                    continue
                result.changes += expiry_and_reminders(cert=cert, now=now)
                if cert.status != CertificateStatus.ACTIVE:
                    continue
                params = params_for(_rule_for(cert))
                result.changes += recalibration_check(cert=cert, now=now)
                if recalibration_assign(cert=cert, params=params, now=now):
                    result.assigned += 1
                result.alerts += len(drift_evaluate(cert=cert, params=params, now=now))
    result.reminders_after = Reminder.objects.count()
    return result


# --- org admin: alerts ---------------------------------------------------------------------


def alerts_for_admin(*, organization: Organization, status: str = ""):
    qs = DriftAlert.objects.filter(organization=organization).select_related(
        "certificate__holder", "certificate__instrument_version__instrument")
    if status in AlertStatus.values:
        qs = qs.filter(status=status)
    return qs


def live_certificates_for_admin(*, organization: Organization, now=None):
    """The organisation's live certificates (holder, pk order), each annotated with its
    number of open alerts: one query, however many, for holders_for_admin (page it first)."""
    now = now or timezone.now()
    return Certificate.objects.filter(
        organization=organization, status=CertificateStatus.ACTIVE, expires_at__gt=now,
    ).select_related("holder", "instrument_version__instrument").annotate(
        open_alert_count=Count("drift_alerts",
                               filter=~Q(drift_alerts__status=AlertStatus.RESOLVED)),
    ).order_by("holder__username", "pk")


def holders_for_admin(*, organization: Organization, certificates=None, now=None
                      ) -> list[dict]:
    """Each of `certificates` (live_certificates_for_admin's, or a page of them; default: all
    of them) with its drift status (the status shown, open alerts) and the
    holder's test–retest agreement on its instrument (training.certification.retest), for the
    organisation's eyes only. A constant number of queries, however many certificates."""
    now = now or timezone.now()
    if certificates is None:
        certificates = live_certificates_for_admin(organization=organization, now=now)
    certificates = list(certificates)
    summaries = retest.retest_summaries(organization=organization, certificates=certificates)
    return [{
        "certificate": cert,
        "status": display_status(cert, now),
        "open_alerts": cert.open_alert_count,
        "retest": summaries[cert.pk],
    } for cert in certificates]


def alert_get(*, organization: Organization, alert_id) -> DriftAlert:
    pk = int_or_404(alert_id)
    alert = alerts_for_admin(organization=organization).filter(pk=pk).first()
    if alert is None:
        raise not_found_in(DriftAlert, organization=organization, pk=pk)
    return alert


@transaction.atomic
def alert_transition(*, actor, organization: Organization, alert_id, action: str,
                     note: str = "", now: dt.datetime | None = None) -> DriftAlert:
    """Confirm or resolve one of the organisation's alerts (audited). Confirming (stored as
    "acknowledged") says the drift is real: the certificate shows 'recalibration due' to the
    holder, the organisation and the public. Resolving the last unresolved alert of a
    certificate with no overdue recalibration clears 'recalibration due'."""
    now = now or timezone.now()
    alert = alert_get(organization=organization, alert_id=alert_id)
    alert = DriftAlert.objects.select_for_update().get(pk=alert.pk)
    note = (note or "").strip()
    if len(note) > 2000:
        raise ValidationError({"note": _("At most 2000 characters.")})
    before = {"status": alert.status}
    if action in ("confirm", "acknowledge"):
        if alert.status != AlertStatus.OPEN:
            raise ValidationError({"action": _("Only an open alert can be confirmed.")})
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = now
    elif action == "resolve":
        if alert.status == AlertStatus.RESOLVED:
            raise ValidationError({"action": _("This alert is already resolved.")})
        if not note:
            raise ValidationError({"note": _("Say how it was resolved; it is kept in the "
                                             "audit trail.")})
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at = now
    else:
        raise ValidationError({"action": _("Choose confirm or resolve.")})
    alert.actor = actor
    if note:
        alert.note = note
    alert.save()
    audit_record(actor=actor, organization=organization, obj=alert,
                 action=f"drift.alert_{alert.status}", before=before,
                 after={"status": alert.status, "note": alert.note}, now=now)
    cert = alert.certificate
    if alert.status == AlertStatus.ACKNOWLEDGED and action != "resolve":
        _flag(cert, reason=_("Drift in your ratings (%(k)s), confirmed by your organisation; "
                             "complete a recalibration.")
              % {"k": DriftKind(alert.kind).label}, now=now)
        _remind(cert, kind="drift_confirmed", period=str(alert.pk), now=now,
                message=_("Your organisation confirmed drift in your ratings on %(i)s; your "
                          "certificate shows 'recalibration due' until it is resolved.")
                % {"i": cert.instrument_version.instrument.short_name})
    if (action == "resolve" and not _open_alerts(cert).exists()
            and not cert.recalibrations.filter(overdue_at__isnull=False,
                                               completed_at__isnull=True).exists()):
        _unflag(cert, now=now, actor=actor)
    return alert


def alert_chart(alert: DriftAlert):
    """The standardised CUSUM paths (SD units of the holder's own baseline) with the threshold
    h drawn; the number of ratings in the title. Alerts of the retired raw-point CUSUM are
    drawn in points, as they were raised."""
    ev = alert.evidence
    xs = [str(i + 1) for i in range(len(ev.get("series", [])))]
    standardised = ev.get("units") == "sd"
    series = [
        (_("CUSUM upper"), list(zip(xs, ev.get("upper", []), strict=False))),
        (_("CUSUM lower"), list(zip(xs, ev.get("lower", []), strict=False))),
        (_("Threshold h"), [(x, ev.get("threshold")) for x in xs]),
    ]
    if ev.get("sides") == "lower":
        series.pop(0)
    return line_chart(
        title=_("Standardised CUSUM path, n = %(n)d ratings") % {"n": len(xs)}
        if standardised else _("CUSUM path (raw points), n = %(n)d ratings") % {"n": len(xs)},
        x_label=_("Rating (in time order)"),
        y_label=_("CUSUM (SD units)") if standardised else _("CUSUM (points)"),
        series=series)


# --- the holder ----------------------------------------------------------------------------


def holder_overview(*, user, organization: Organization, now=None) -> list[dict]:
    """What each of the holder's live certificates requires of them."""
    now = now or timezone.now()
    rows = []
    for cert in Certificate.objects.filter(
            organization=organization, holder=user, status=CertificateStatus.ACTIVE
    ).select_related("instrument_version__instrument"):
        rows.append({
            "certificate": cert,
            "status": display_status(cert, now),
            "open_recalibrations": list(cert.recalibrations.filter(
                completed_at__isnull=True).select_related("attempt")),
            "alerts": list(_open_alerts(cert)),
            "notices": list(cert.reminders.all()[:10]),
        })
    return rows
