"""A certificate as an Open Badges 3.0 credential (VC Data Model 2.0), secured as a VC-JWT:
the credential is the JWT's claim set, signed ES256 by the organisation's current key (its
`kid` names the key in the organisation's JWK set), with the registered claims iss, jti, iat,
nbf and exp restating issuer, id, signing time, validFrom and validUntil for JWT libraries
(every claim is a term the named JSON-LD contexts define, so a JSON-LD processor drops none).
Its status is in the organisation's Bitstring Status Lists (status_list.py)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from joserfc import jwt

from training.audit import audit_record
from training.certification.certificates import (
    ISSUER_STATEMENT,
    certificate_public,
    holder_erased,
)
from training.certification.credentials import keys, status_list
from training.exceptions import Conflict
from training.models import Certificate, CertificateStatus, Organization

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
MEDIA_TYPE = "application/vc+jwt"
STATUS_LIST_HOURS = 24  # how long a signed status list may be relied on


def _absolute(path: str) -> str:
    return settings.CALIBRATE_ISSUER_BASE_URL + path


def issuer_url(organization: Organization) -> str:
    return _absolute(reverse("credentials:issuer", args=[organization.slug]))


def jwks_url(organization: Organization) -> str:
    return _absolute(reverse("credentials:jwks", args=[organization.slug]))


def status_list_url(organization: Organization, purpose: str) -> str:
    return _absolute(reverse("credentials:status-list", args=[organization.slug, purpose]))


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def issuer_profile(organization: Organization) -> dict:
    """What the issuer URL answers: the organisation as an Open Badges Profile, and where its
    public keys are."""
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": issuer_url(organization),
        "type": ["Profile"],
        "name": organization.name,
        "url": settings.CALIBRATE_ISSUER_BASE_URL,
        "jwks_uri": jwks_url(organization),
    }


def _sign(organization: Organization, claims: dict, *, now: dt.datetime) -> str:
    row = keys.signing_key(organization, now=now)
    header = {"alg": row.algorithm, "kid": row.kid, "typ": "vc+jwt", "cty": "vc"}
    return jwt.encode(header, claims, keys.private_key(row), algorithms=[row.algorithm])


def credential_claims(cert: Certificate, *, now: dt.datetime) -> dict:
    organization = cert.organization
    version = cert.instrument_version
    instrument = version.instrument
    public = certificate_public(cert, now=now)
    index = str(status_list.status_index_assign(cert))
    credential_id = _absolute(reverse("verify", args=[cert.verification_code]))
    issuer = issuer_url(organization)
    title = _("Certificate of scoring reliability: %(inst)s") % {"inst": instrument.short_name}
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": credential_id,
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": title,
        "issuer": {"id": issuer, "type": ["Profile"], "name": organization.name,
                   "url": settings.CALIBRATE_ISSUER_BASE_URL},
        "validFrom": _iso(cert.issued_at),
        "validUntil": _iso(cert.expires_at),
        "credentialSubject": {
            "type": ["AchievementSubject"],
            # The holder as they consented to be shown on the public page.
            "identifier": [{"type": "IdentityObject", "identityType": "name", "hashed": False,
                            "identityHash": public["holder"]}],
            "achievement": {
                "id": f"{issuer}/achievements/{instrument.slug}/{version.number}",
                "type": ["Achievement"],
                "achievementType": "Certification",
                "name": title,
                "description": str(ISSUER_STATEMENT) % {"org": organization.name},
                "criteria": {"narrative": _(
                    "Passed %(org)s's certification exam on %(inst)s %(version)s: scoring "
                    "agreement with the reference codes on every criterion of the "
                    "organisation's certification rule."
                ) % {"org": organization.name, "inst": instrument.short_name,
                     "version": public["instrument_version"]}},
                "version": public["instrument_version"],
            },
        },
        "credentialStatus": [
            {"id": f"{status_list_url(organization, purpose)}#{index}",
             "type": "BitstringStatusListEntry", "statusPurpose": purpose,
             "statusListIndex": index,
             "statusListCredential": status_list_url(organization, purpose)}
            for purpose in status_list.PURPOSES
        ],
        "iss": issuer,
        "jti": credential_id,
        "iat": int(now.timestamp()),
        "nbf": int(cert.issued_at.timestamp()),
        "exp": int(cert.expires_at.timestamp()),
    }


NOT_ISSUABLE = {CertificateStatus.REVOKED, CertificateStatus.SUPERSEDED,
                CertificateStatus.EXPIRED}


def _issuing_status(cert: Certificate, now: dt.datetime) -> str:
    if cert.expires_at <= now:  # a suspended certificate past its date has expired too
        return CertificateStatus.EXPIRED
    return cert.effective_status(now)


def credential_issuable(cert: Certificate, *, now: dt.datetime | None = None) -> bool:
    return (_issuing_status(cert, now or timezone.now()) not in NOT_ISSUABLE
            and not holder_erased(cert))


def certificate_credential(*, cert: Certificate, actor, now: dt.datetime | None = None) -> str:
    """The certificate as a signed VC-JWT. Refused (409) for a certificate that is revoked,
    superseded, expired or whose holder was erased: nothing may be carried for it."""
    now = now or timezone.now()
    status = _issuing_status(cert, now)
    if status in NOT_ISSUABLE or holder_erased(cert):
        raise Conflict(_("This certificate is %(s)s: no credential is issued for it.")
                       % {"s": _("erased") if holder_erased(cert)
                          else CertificateStatus(status).label.lower()},
                       code="not_issuable")
    token = _sign(cert.organization, credential_claims(cert, now=now), now=now)
    audit_record(actor=actor, organization=cert.organization, obj=cert,
                 action="certificate.credential_issued",
                 after={"status_list_index": cert.status_list_index,
                        "holder_shown_as": "full_name" if cert.show_full_name else "initials"},
                 now=now)
    return token


def status_list_credential(organization: Organization, purpose: str, *,
                           now: dt.datetime | None = None) -> str:
    """The organisation's status list for `purpose` as a signed VC-JWT."""
    now = (now or timezone.now()).replace(microsecond=0)
    url = status_list_url(organization, purpose)
    until = now + dt.timedelta(hours=STATUS_LIST_HOURS)
    issuer = issuer_url(organization)
    claims = {
        "@context": [VC_CONTEXT],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer,
        "validFrom": _iso(now),
        "validUntil": _iso(until),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": status_list.encoded_list(organization, purpose, now=now),
            "ttl": 5 * 60 * 1000,
        },
        "iss": issuer,  # no jti: the VC context does not define it (the OB context does)
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(until.timestamp()),
    }
    return _sign(organization, claims, now=now)
