"""The organisations' signing keys: one ES256 (P-256) key pair signs at a time; rotation
retires it but keeps its public key in the organisation's JWK set, so that everything it
signed still verifies. Private keys are stored encrypted (Fernet) with the key(s) in
settings.CREDENTIAL_KEY_ENCRYPTION_KEY: the first encrypts, all decrypt."""

from __future__ import annotations

import datetime as dt

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone
from joserfc.jwk import ECKey

from training.audit import audit_record
from training.models import CredentialSigningKey, Organization

ALGORITHM = "ES256"
CURVE = "P-256"


def _fernet() -> MultiFernet:
    raw = [k.strip() for k in str(settings.CREDENTIAL_KEY_ENCRYPTION_KEY).split(",") if k.strip()]
    try:
        return MultiFernet([Fernet(k) for k in raw])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "CREDENTIAL_KEY_ENCRYPTION_KEY must be one or more comma-separated Fernet keys "
            "(32 url-safe base64-encoded bytes each); see docs/deploy.md.") from exc


def _create(organization: Organization, now: dt.datetime) -> CredentialSigningKey:
    key = ECKey.generate_key(CURVE)
    public = key.as_dict(private=False)
    kid = key.thumbprint()
    encrypted = _fernet().encrypt(key.as_pem(private=True)).decode()
    return CredentialSigningKey.objects.create(
        organization=organization, kid=kid, algorithm=ALGORITHM,
        public_jwk=public | {"kid": kid, "alg": ALGORITHM, "use": "sig"},
        private_key_encrypted=encrypted, created_at=now)


def signing_key(organization: Organization, *, now: dt.datetime | None = None
                ) -> CredentialSigningKey:
    """The key that signs for the organisation now; its first one is made on first use."""
    current = CredentialSigningKey.objects.filter(organization=organization,
                                                  retired_at__isnull=True).first()
    if current is not None:
        return current
    now = now or timezone.now()
    with transaction.atomic():
        # One creator at a time per organisation.
        Organization.objects.select_for_update().filter(pk=organization.pk).first()
        current = CredentialSigningKey.objects.filter(organization=organization,
                                                      retired_at__isnull=True).first()
        if current is None:
            current = _create(organization, now)
            audit_record(actor=None, organization=organization, obj=current,
                         action="credential_key.created", after={"kid": current.kid}, now=now)
    return current


def has_signed(organization: Organization) -> bool:
    return CredentialSigningKey.objects.filter(organization=organization).exists()


def private_key(row: CredentialSigningKey) -> ECKey:
    try:
        pem = _fernet().decrypt(row.private_key_encrypted.encode())
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            f"The signing key {row.kid} cannot be decrypted with CREDENTIAL_KEY_ENCRYPTION_KEY "
            "(a key that encrypted it has been removed?).") from exc
    return ECKey.import_key(pem)


@transaction.atomic
def key_rotate(*, organization: Organization, actor=None, now: dt.datetime | None = None
               ) -> CredentialSigningKey:
    """A new key signs from now on; the old one is retired and stays in the JWK set."""
    now = now or timezone.now()
    Organization.objects.select_for_update().filter(pk=organization.pk).first()
    retired = list(CredentialSigningKey.objects.filter(organization=organization,
                                                       retired_at__isnull=True))
    CredentialSigningKey.objects.filter(pk__in=[k.pk for k in retired]).update(retired_at=now)
    new = _create(organization, now)
    audit_record(actor=actor, organization=organization, obj=new, action="credential_key.rotated",
                 before={"kids": [k.kid for k in retired]}, after={"kid": new.kid}, now=now)
    return new


@transaction.atomic
def keys_reencrypt() -> int:
    """Re-encrypt every private key with the first CREDENTIAL_KEY_ENCRYPTION_KEY (after a new
    one was put first); returns how many keys were rewritten."""
    fernet = _fernet()
    count = 0
    for row in CredentialSigningKey.objects.select_for_update():
        row.private_key_encrypted = fernet.rotate(row.private_key_encrypted.encode()).decode()
        row.save(update_fields=["private_key_encrypted"])
        count += 1
    return count


def jwk_set(organization: Organization) -> dict:
    """Every public key the organisation has signed with, current first."""
    rows = sorted(CredentialSigningKey.objects.filter(organization=organization),
                  key=lambda r: (r.retired_at is not None, -r.created_at.timestamp(), -r.pk))
    return {"keys": [r.public_jwk for r in rows]}
