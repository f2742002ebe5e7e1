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


DISPLAY_CHOICES = {"full": True, "initials": False}


@transaction.atomic
def certificate_set_display(*, user, organization: Organization, certificate_id,
                            show_full_name: bool | str, now: dt.datetime | None = None
                            ) -> Certificate:
    """The holder chooses whether the public page shows their full name (recommended: a third
    party can match it to an identity document) or initials; the choice is their consent,
    recorded with who and when. Only the holder may choose (anyone else: 404)."""
    now = now or timezone.now()
    if isinstance(show_full_name, str):
        if show_full_name not in DISPLAY_CHOICES:
            raise ValidationError({"show_full_name": _(
                "Choose what the public page shows: your full name or your initials.")})
        show_full_name = DISPLAY_CHOICES[show_full_name]
    cert = Certificate.objects.select_for_update().filter(
        organization=organization, holder=user, pk=int_or_404(certificate_id)).first()
    if cert is None:
        raise not_found_in(Certificate, organization=organization, pk=int(certificate_id))
    before = {"show_full_name": cert.show_full_name,
              "consented_at": cert.display_consented_at.isoformat()
              if cert.display_consented_at else None}
    cert.show_full_name = bool(show_full_name)
    cert.display_consented_at = now
    cert.display_consented_by = user
    cert.save(update_fields=["show_full_name", "display_consented_at", "display_consented_by"])
    audit_record(actor=user, organization=organization, obj=cert,
                 action="certificate.display_changed", before=before,
                 after={"show_full_name": cert.show_full_name,
                        "consented_at": now.isoformat()}, now=now)
    return cert


def holder_erased(cert: Certificate) -> bool:
    return Profile.objects.filter(user_id=cert.holder_id, erased_at__isnull=False).exists()


def holder_display(cert: Certificate) -> str:
    user = cert.holder
    if holder_erased(cert):
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


def certificate_public(cert: Certificate, *, now=None, for_people: bool = False) -> dict:
    """Only what the public may see: holder (as consented), instrument, organisation, status,
    validity, and a status line that cannot be misread ("Active, valid until ...", never
    "Valid ..." for a certificate that is not active)."""
    version = cert.instrument_version
    erased = holder_erased(cert)
    shown_as = "erased" if erased else "full_name" if cert.show_full_name else "initials"
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
        "holder_shown_as": shown_as,
        "identity_note": str(IDENTITY_NOTES[shown_as]),
        **public_status(cert, now=now, for_people=for_people),
    }


IDENTITY_NOTES = {
    "full_name": gettext_lazy(
        "The holder chose to show their full name: compare it with an identity document."),
    "initials": gettext_lazy(
        "The holder chose to show initials only, so this page cannot tell you who holds the "
        "certificate: confirm the holder's identity another way (for example, ask the "
        "organisation that issued it)."),
    "erased": gettext_lazy(
        "The holder's personal data has been erased; this certificate can no longer be tied "
        "to a person."),
}


def _iso_day(moment: dt.datetime | None, organization) -> str | None:
    return formatting.local_date(moment, organization).isoformat() if moment else None


def public_status(cert: Certificate, *, now=None, for_people: bool = False) -> dict:
    """The status as a third party must read it: `active` (true only when the certificate
    may be relied on now), `status_line`, `status_since`, `suspension_reason`
    (recalibration_due or other) and `valid_until` (only while active). A certificate whose
    holder must recalibrate is shown as suspended since it was flagged. Days are the issuing
    organisation's: ISO for machines, or as every page shows a day (`for_people`) in the line."""
    status = display_status(cert, now)
    org = cert.organization

    def _day(moment):
        return _iso_day(moment, org)

    def _shown(iso_day):
        return formatting.day(iso_day) if for_people and iso_day else iso_day

    since, reason, valid_until = None, None, None
    if status == CertificateStatus.ACTIVE:
        valid_until = _day(cert.expires_at)
        line = _("Active, valid until %(d)s") % {"d": _shown(valid_until)}
    elif status == RECALIBRATION_DUE:
        since, reason = _day(cert.recalibration_flagged_at), "recalibration_due"
        line = _("Suspended since %(d)s (recalibration due)") % {"d": _shown(since)}
    elif status == CertificateStatus.SUSPENDED and cert.expires_at <= (now or timezone.now()):
        # Suspended, and its validity has ended since: expired is what a reader must see.
        since, reason = _day(cert.expires_at), "other"
        line = _("Expired on %(d)s (suspended since %(s)s)") % {
            "d": _shown(since), "s": _shown(_day(cert.status_changed_at))}
    elif status == CertificateStatus.SUSPENDED:
        since, reason = _day(cert.status_changed_at), "other"
        line = _("Suspended since %(d)s (other reason)") % {"d": _shown(since)}
    elif status == CertificateStatus.REVOKED:
        since = _day(cert.status_changed_at)
        line = _("Revoked on %(d)s") % {"d": _shown(since)}
    elif status == CertificateStatus.SUPERSEDED:
        since = _day(cert.status_changed_at)
        line = _("Superseded on %(d)s by a renewed certificate") % {"d": _shown(since)}
    else:  # expired
        since = _day(cert.expires_at)
        line = _("Expired on %(d)s") % {"d": _shown(since)}
    return {"active": status == CertificateStatus.ACTIVE, "status_line": line,
            "status_since": since, "suspension_reason": reason, "valid_until": valid_until}


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


def code_from_input(raw: str) -> str | None:
    """The verification code typed or pasted into the /verify/ box: the code itself, or the
    verification URL it ends; None when it cannot be one."""
    text = (raw or "").strip().rstrip("/")
    if "/" in text:
        text = text.rsplit("/", 1)[1]
    return text if CODE_PATTERN.match(text) else None


def certificate_verify(code: str, *, now=None, for_people: bool = False) -> dict | None:
    """The public view of the certificate with this code; None for unknown or malformed
    codes alike (callers answer both the same way)."""
    if not isinstance(code, str) or not CODE_PATTERN.match(code):
        return None
    cert = Certificate.objects.filter(verification_code=code).select_related(
        "holder", "organization", "instrument_version__instrument").first()
    if cert is None:
        return None
    return certificate_public(cert, now=now, for_people=for_people)


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
    rows = list(certificates_for_admin_query(organization=organization, filter_=filter_,
                                             now=now, search=search))
    for cert in rows:
        cert.current_status = cert.effective_status(now)
    return rows


def certificates_for_admin_query(*, organization: Organization, filter_: str = "", now=None,
                                 search: str = ""):
    """The register's certificates as a query, for a page of them (thousands of holders)."""
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
    return qs.order_by("expires_at", "pk")


def certificates_csv_rows(certificates):
    yield ["certificate", "holder", "instrument", "instrument_version", "status", "reason",
           "issued_at", "expires_at"]
    for c in certificates:
        yield [c.pk, c.holder.get_username(), c.instrument_version.instrument.slug,
               str(c.instrument_version), c.current_status, c.status_reason,
               c.issued_at.isoformat(), c.expires_at.isoformat()]
