"""The organisations' Bitstring Status Lists (W3C VC Bitstring Status List v1.0).

Each certificate gets one index, at random among the organisation's free ones (so that
neighbouring indexes say nothing about each other), the first time its credential is signed.
The same index is used in two lists: `revocation` (revoked, superseded by a renewal, expired,
or the holder erased: final) and `suspension` (suspended, or recalibration due: may clear).
A bit is 1 when the purpose applies (a suspended certificate past its date is
also revoked in this sense: it has expired). The lists are computed from the certificates at each
request, so they are never out of date.

Encoding (section 3.2 of the spec): the bitstring, index 0 being the most significant bit of
the first byte, at least 16 KiB long (131,072 entries, for herd privacy), GZIP-compressed,
base64url-encoded without padding and prefixed with "u" (multibase). Worked example: a
list of 16 entries with index 2 set is the bytes 0x20 0x00, before compression.
"""

from __future__ import annotations

import base64
import gzip
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from training.certification.certificates import holder_erased
from training.certification.recalibration import RECALIBRATION_DUE, display_status
from training.models import Certificate, CertificateStatus, Organization, Profile

MIN_ENTRIES = 131072  # 16 KiB of bits: the minimum the specification sets
PURPOSES = ("revocation", "suspension")
REVOKED_STATUSES = {CertificateStatus.REVOKED, CertificateStatus.SUPERSEDED,
                    CertificateStatus.EXPIRED}
SUSPENDED_STATUSES = {CertificateStatus.SUSPENDED, RECALIBRATION_DUE}


def status_index_assign(cert: Certificate) -> int:
    """The certificate's index in its organisation's lists, assigned once."""
    if cert.status_list_index is not None:
        return cert.status_list_index
    for _attempt in range(20):
        candidate = secrets.randbelow(MIN_ENTRIES)
        try:
            with transaction.atomic():
                updated = Certificate.objects.filter(
                    pk=cert.pk, status_list_index__isnull=True).update(
                    status_list_index=candidate)
        except IntegrityError:  # another certificate of the organisation holds it
            continue
        cert.refresh_from_db(fields=["status_list_index"])
        if updated or cert.status_list_index is not None:
            return cert.status_list_index
    raise RuntimeError("Could not assign a status list index.")  # the list is nearly full


def purposes_applying(cert: Certificate, *, erased: bool | None = None, now=None) -> set[str]:
    status = display_status(cert, now)
    if erased is None:
        erased = holder_erased(cert)
    applying = set()
    expired = cert.expires_at <= (now or timezone.now())  # a suspended one expires too
    if status in REVOKED_STATUSES or erased or expired:
        applying.add("revocation")
    if status in SUSPENDED_STATUSES:
        applying.add("suspension")
    return applying


def encode_bits(set_indexes, length: int) -> str:
    bits = bytearray(length // 8)
    for index in set_indexes:
        bits[index // 8] |= 0x80 >> (index % 8)
    # mtime=0: the same list always compresses to the same bytes.
    compressed = gzip.compress(bytes(bits), mtime=0)
    return "u" + base64.urlsafe_b64encode(compressed).decode().rstrip("=")


def encoded_list(organization: Organization, purpose: str, *, now=None) -> str:
    if purpose not in PURPOSES:
        raise ValueError(purpose)
    certs = list(Certificate.objects.filter(organization=organization,
                                            status_list_index__isnull=False))
    erased_ids = set(Profile.objects.filter(
        user_id__in={c.holder_id for c in certs}, erased_at__isnull=False,
    ).values_list("user_id", flat=True))
    highest = max((c.status_list_index for c in certs), default=0)
    length = max(MIN_ENTRIES, (highest // MIN_ENTRIES + 1) * MIN_ENTRIES)
    set_indexes = [c.status_list_index for c in certs
                   if purpose in purposes_applying(c, erased=c.holder_id in erased_ids, now=now)]
    return encode_bits(set_indexes, length)
