"""Certificates: issue, suspension and revocation, the holder's display choice, public verification, the register."""

from __future__ import annotations

import datetime as dt
import re
import secrets

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.throttling import rate_limit_hit
from training import formatting
from training.audit import audit_record
from training.certification import drift
from training.certification.recalibration import RECALIBRATION_DUE, display_status
from training.exceptions import Conflict
from training.models import (
    Certificate,
    CertificateStatus,
    CertificationDecision,
    CertificationRule,
    Membership,
    Organization,
    Profile,
    Role,
)
from training.paging import search_filter
from training.tenancy import int_or_404, not_found_in

VERIFY_RATE_LIMIT = 30  # requests per IP and window
VERIFY_RATE_WINDOW = 60  # seconds
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{32}$")
EXPIRING_DAYS = 60


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month = moment.month - 1 + months
    year = moment.year + month // 12
    month = month % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise ValueError(moment)


# --- certificates --------------------------------------------------------------------------


def _certificate_state(cert: Certificate) -> dict:
    return {"status": cert.status, "reason": cert.status_reason,
            "expires_at": cert.expires_at.isoformat()}


def certificate_issue(*, decision: CertificationDecision, rule: CertificationRule,
                      now: dt.datetime) -> Certificate:
    cert = Certificate.objects.create(
        organization=decision.organization, holder=decision.user,
        instrument_version=decision.instrument_version, decision=decision,
        issued_at=now, expires_at=_add_months(now, rule.validity_months),
        verification_code=secrets.token_urlsafe(24),
    )
    # The holder's own in-control baseline, fixed now: drift is judged against it.
    cert.drift_baseline = drift.baseline_compute(cert)
    cert.save(update_fields=["drift_baseline"])
    # Renewal: earlier certificates of this holder on this instrument are superseded.
    earlier = Certificate.objects.select_for_update().filter(
        organization=decision.organization, holder=decision.user,
        instrument_version__instrument_id=decision.instrument_version.instrument_id,
        status__in=[CertificateStatus.ACTIVE, CertificateStatus.SUSPENDED],
    ).exclude(pk=cert.pk)
    for old in earlier:
        before = _certificate_state(old)
        old.status = CertificateStatus.SUPERSEDED
        old.superseded_by = cert
        old.status_changed_at = now
        old.save(update_fields=["status", "superseded_by", "status_changed_at"])
        audit_record(actor=None, organization=old.organization, obj=old,
                     action="certificate.superseded", before=before,
                     after=_certificate_state(old), now=now)
    audit_record(actor=None, organization=cert.organization, obj=cert,
                 action="certificate.issued", after=_certificate_state(cert), now=now)
    return cert


STATUS_ACTIONS = {
    "suspend": CertificateStatus.SUSPENDED,
    "revoke": CertificateStatus.REVOKED,
    "reinstate": CertificateStatus.ACTIVE,
}


@transaction.atomic
def certificate_set_status(*, actor, organization: Organization, certificate_id, action: str,
                           reason: str, now: dt.datetime | None = None) -> Certificate:
    """Suspend, revoke or reinstate (a suspended one) one of the organisation's certificates.
    A reason is required; revoked is final. Another organisation's certificate: 404."""
    now = now or timezone.now()
    cert = Certificate.objects.select_for_update().filter(
        organization=organization, pk=int_or_404(certificate_id)).first()
    if cert is None:
        raise not_found_in(Certificate, organization=organization, pk=int(certificate_id))
    if action not in STATUS_ACTIONS:
        raise ValidationError({"action": _("Choose suspend, revoke or reinstate.")})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("Give the reason; it is kept in the audit trail.")})
    if len(reason) > 2000:
        raise ValidationError({"reason": _("At most 2000 characters.")})
    if cert.status in (CertificateStatus.REVOKED, CertificateStatus.SUPERSEDED):
        raise Conflict(_("This certificate is %(s)s; its status can no longer change.")
                       % {"s": cert.get_status_display()}, code="final")
    if action == "reinstate" and cert.status != CertificateStatus.SUSPENDED:
        raise Conflict(_("Only a suspended certificate can be reinstated."), code="not_suspended")
    before = _certificate_state(cert)
    cert.status = STATUS_ACTIONS[action]
    cert.status_reason = reason
    cert.status_changed_at = now
    cert.save(update_fields=["status", "status_reason", "status_changed_at"])
    audit_record(actor=actor, organization=organization, obj=cert,
                 action=f"certificate.{cert.status}", before=before,
                 after=_certificate_state(cert), now=now)
    return cert


@transaction.atomic
def certificate_set_display(*, user, organization: Organization, certificate_id,
                            show_full_name: bool) -> Certificate:
    """The holder chooses whether the public page shows their full name or initials."""
    cert = Certificate.objects.select_for_update().filter(
        organization=organization, holder=user, pk=int_or_404(certificate_id)).first()
    if cert is None:
        raise not_found_in(Certificate, organization=organization, pk=int(certificate_id))
    cert.show_full_name = bool(show_full_name)
    cert.save(update_fields=["show_full_name"])
    audit_record(actor=user, organization=organization, obj=cert,
                 action="certificate.display_changed",
                 after={"show_full_name": cert.show_full_name})
    return cert


def holder_display(cert: Certificate) -> str:
    user = cert.holder
    if Profile.objects.filter(user=user, erased_at__isnull=False).exists():
        return str(_("(holder erased)"))
    full = user.get_full_name().strip() or user.get_username()
    if cert.show_full_name:
        return full
    parts = [p for p in re.split(r"[\s._-]+", full) if p]
    return "".join(p[0].upper() + "." for p in parts) or "?"


def certificate_for_viewer(*, membership: Membership, certificate_id) -> Certificate:
    """The holder's own certificate, or any of the organisation's for its org admin."""
    qs = Certificate.objects.filter(
        organization=membership.organization, pk=int_or_404(certificate_id)
    ).select_related("holder", "organization", "instrument_version__instrument", "decision")
    if membership.role != Role.ORG_ADMIN:
        qs = qs.filter(holder_id=membership.user_id)
    cert = qs.first()
    if cert is None:
        raise not_found_in(Certificate, organization=membership.organization,
                           pk=int(certificate_id))
    return cert


def certificate_public(cert: Certificate, *, now=None) -> dict:
    """Only what the public may see: holder (as consented), instrument, organisation, status,
    validity."""
    version = cert.instrument_version
    return {
        "holder": holder_display(cert),
        "instrument": version.instrument.short_name,
        "instrument_version": f"{version.version_label} (revision {version.number})",
        "organization": cert.organization.name,
        "status": _display_status(cert, now),
        # ISO days (the API answers these), the days in the issuing organisation's zone.
        "issued_at": formatting.local_date(cert.issued_at, cert.organization).isoformat(),
        "expires_at": formatting.local_date(cert.expires_at, cert.organization).isoformat(),
        "statement": str(ISSUER_STATEMENT) % {"org": cert.organization.name},
    }


def _display_status(cert: Certificate, now=None) -> str:
    """'recalibration_due' while an active certificate is flagged (drift or an overdue
    recalibration), else the
    effective status (active, suspended, expired, ...)."""

    status = display_status(cert, now)
    return "recalibration due" if status == RECALIBRATION_DUE else status


ISSUER_STATEMENT = gettext_lazy(
    "This certificate is issued by %(org)s on its own authority. It is not issued or endorsed "
    "by the authors or publishers of the instrument."
)


def certificate_verify(code: str, *, now=None) -> dict | None:
    """The public view of the certificate with this code; None for unknown or malformed
    codes alike (callers answer both the same way)."""
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        return None
    cert = Certificate.objects.filter(verification_code=code).select_related(
        "holder", "organization", "instrument_version__instrument").first()
    if cert is None:
        return None
    return certificate_public(cert, now=now)


def verify_rate_limited(ip: str | None, *, now: float | None = None) -> int | None:
    """Count one verification from the client address `ip` (config.throttling.client_address);
    over the limit, the seconds to wait (Retry-After)."""
    return rate_limit_hit(f"verify:{ip}", limit=VERIFY_RATE_LIMIT, window=VERIFY_RATE_WINDOW,
                          now=now)


def certificates_for_admin(*, organization: Organization, filter_: str = "", now=None,
                           search: str = ""):
    """The register, soonest expiry first; `search` matches the holder's username, name or
    e-mail, or the certificate's number."""
    now = now or timezone.now()
    qs = Certificate.objects.filter(organization=organization).select_related(
        "holder", "instrument_version__instrument")
    if search:
        match = search_filter(search, ("holder__username", "holder__first_name",
                                       "holder__last_name", "holder__email"))
        if search.strip().lstrip("#").isdigit():
            match |= Q(pk=int(search.strip().lstrip("#")))
        qs = qs.filter(match)
    if filter_ == "expiring":
        qs = qs.filter(status=CertificateStatus.ACTIVE, expires_at__gt=now,
                       expires_at__lte=now + dt.timedelta(days=EXPIRING_DAYS))
    elif filter_ == "suspended":
        qs = qs.filter(status=CertificateStatus.SUSPENDED)
    elif filter_ == "revoked":
        qs = qs.filter(status=CertificateStatus.REVOKED)
    elif filter_ == "active":
        qs = qs.filter(status=CertificateStatus.ACTIVE, expires_at__gt=now)
    rows = list(qs.order_by("expires_at", "pk"))
    for cert in rows:
        cert.current_status = cert.effective_status(now)
    return rows


def certificates_csv_rows(certificates):
    yield ["certificate", "holder", "instrument", "instrument_version", "status", "reason",
           "issued_at", "expires_at"]
    for c in certificates:
        yield [c.pk, c.holder.get_username(), c.instrument_version.instrument.slug,
               str(c.instrument_version), c.current_status, c.status_reason,
               c.issued_at.isoformat(), c.expires_at.isoformat()]
