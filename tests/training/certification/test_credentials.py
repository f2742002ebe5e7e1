"""Verifiable credentials, checked by an implementation that is not the project's own: PyJWT
(with `cryptography`) verifies the signature against the JWK set the organisation publishes,
and the status bits are read from the status list credential's bitstring decoded here by
hand (gzip + base64url), before and after a suspension."""

import base64
import datetime as dt
import gzip
import io
import json

import jwt as pyjwt
import pytest
import time_machine
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command

from tests.conftest import api_for, browser_for
from tests.training.helpers import make_certificate
from training.certification import certificates
from training.certification.credentials import keys, status_list
from training.certification.credentials.views import CONTEXT_FILES, CONTEXTS_DIR
from training.models import AuditEvent, CredentialSigningKey, Profile

pytestmark = pytest.mark.django_db

BASE = "https://calibrate.example.org"
NOW = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.CALIBRATE_ISSUER_BASE_URL = BASE
    settings.CREDENTIAL_KEY_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with time_machine.travel(NOW, tick=False):
        yield


def fetch(client, url):
    """What a verifier fetching `url` gets (the test client stands in for HTTPS)."""
    assert url.startswith(BASE + "/"), url
    response = client.get(url[len(BASE):])
    assert response.status_code == 200, (url, response.status_code)
    return response


def verify_jwt(client, token, issuer):
    """PyJWT: the key named by the header's kid, from the issuer's published JWK set."""
    profile = fetch(client, issuer).json()
    jwks = fetch(client, profile["jwks_uri"]).json()
    kid = pyjwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    key = pyjwt.PyJWK(jwk).key
    return pyjwt.decode(token, key, algorithms=["ES256"], issuer=issuer,
                        options={"require": ["iss", "iat", "nbf", "exp"]})


def status_bit(client, entry, issuer):
    """Bitstring Status List v1.0 §3.2, independently: index 0 is the first byte's most
    significant bit."""
    listing = verify_jwt(client, fetch(client, entry["statusListCredential"]).content.decode(),
                         issuer)
    subject = listing["credentialSubject"]
    assert subject["statusPurpose"] == entry["statusPurpose"]
    assert "BitstringStatusListCredential" in listing["type"]
    encoded = subject["encodedList"]
    assert encoded[0] == "u"  # multibase base64url, no padding
    raw = gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)))
    assert len(raw) * 8 >= 131072
    index = int(entry["statusListIndex"])
    return (raw[index // 8] >> (7 - index % 8)) & 1


def bits(client, credential):
    return {e["statusPurpose"]: status_bit(client, e, credential["iss"])
            for e in credential["credentialStatus"]}


def download(user, cert):
    response = browser_for(user).get(f"/certification/certificates/{cert.pk}/credential.jwt")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vc+jwt"
    assert "attachment" in response["Content-Disposition"]
    return response.content.decode()


def test_a_credential_verifies_independently_and_its_status_follows_suspension(
        org, trainee, org_admin, rule, client):
    cert = make_certificate(org, trainee, rule)
    token = download(trainee, cert)
    claims = verify_jwt(client, token, f"{BASE}/issuers/north")
    header = pyjwt.get_unverified_header(token)
    assert header["alg"] == "ES256" and header["typ"] == "vc+jwt"
    # Open Badges 3.0 on the VC 2.0 data model.
    assert claims["@context"] == ["https://www.w3.org/ns/credentials/v2",
                                  "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"]
    assert claims["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert claims["issuer"]["id"] == claims["iss"] == f"{BASE}/issuers/north"
    assert claims["issuer"]["name"] == "North Service"
    assert claims["id"] == f"{BASE}/verify/{cert.verification_code}"
    assert claims["validFrom"] == "2026-03-02T09:00:00Z"
    assert claims["exp"] == int(cert.expires_at.timestamp())
    subject = claims["credentialSubject"]
    assert subject["type"] == ["AchievementSubject"]
    assert subject["identifier"][0]["identityHash"] == "T.A."  # as the holder consented
    assert subject["achievement"]["achievementType"] == "Certification"
    assert "CPORT" in subject["achievement"]["name"]
    assert {e["statusPurpose"] for e in claims["credentialStatus"]} == {"revocation",
                                                                         "suspension"}
    assert bits(client, claims) == {"revocation": 0, "suspension": 0}

    certificates.certificate_set_status(actor=org_admin, organization=org,
                                        certificate_id=cert.pk, action="suspend",
                                        reason="Supervision concerns.")
    assert bits(client, claims) == {"revocation": 0, "suspension": 1}
    # The page and the API say the same.
    assert "Suspended since 10 Jun 2026" in client.get(f"/verify/{cert.verification_code}"
                                                      ).content.decode()

    certificates.certificate_set_status(actor=org_admin, organization=org,
                                        certificate_id=cert.pk, action="reinstate",
                                        reason="Resolved.")
    assert bits(client, claims) == {"revocation": 0, "suspension": 0}
    certificates.certificate_set_status(actor=org_admin, organization=org,
                                        certificate_id=cert.pk, action="revoke",
                                        reason="Misconduct.")
    assert bits(client, claims)["revocation"] == 1
    assert AuditEvent.objects.filter(action="certificate.credential_issued",
                                     object_id=str(cert.pk)).exists()


def test_a_tampered_credential_fails_and_a_foreign_key_does_not_verify(org, other_org, trainee,
                                                                      rule, client):
    cert = make_certificate(org, trainee, rule)
    token = download(trainee, cert)
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["validUntil"] = "2099-01-01T00:00:00Z"
    forged = ".".join([head, base64.urlsafe_b64encode(json.dumps(claims).encode()
                                                      ).decode().rstrip("="), signature])
    with pytest.raises(pyjwt.InvalidSignatureError):
        verify_jwt(client, forged, f"{BASE}/issuers/north")
    # South's key set does not hold North's key.
    keys.signing_key(other_org)
    south = fetch(client, f"{BASE}/issuers/south/jwks.json").json()
    assert pyjwt.get_unverified_header(token)["kid"] not in {k["kid"] for k in south["keys"]}


def test_expiry_and_erasure_set_the_revocation_bit(org, trainee, trainee2, rule, client):
    short = make_certificate(org, trainee, rule, months=4)
    erased = make_certificate(org, trainee2, rule)
    first = verify_jwt(client, download(trainee, short), f"{BASE}/issuers/north")
    second = verify_jwt(client, download(trainee2, erased), f"{BASE}/issuers/north")
    assert bits(client, first) == bits(client, second) == {"revocation": 0, "suspension": 0}
    Profile.objects.update_or_create(user=trainee2, defaults={"erased_at": NOW})
    assert bits(client, second)["revocation"] == 1
    # Suspended first: past its date it has expired all the same.
    certificates.certificate_set_status(actor=None, organization=org, certificate_id=short.pk,
                                        action="suspend", reason="Review.")
    with time_machine.travel(short.expires_at + dt.timedelta(days=1), tick=False):
        assert bits(client, first) == {"revocation": 1, "suspension": 1}
        assert client.get(f"/api/v1/certificates/verify/{short.verification_code}/").json()[
            "status_line"].startswith("Expired on ")
        # Nothing more is issued for an expired certificate.
        response = browser_for(trainee).get(
            f"/certification/certificates/{short.pk}/credential.jwt")
        assert response.status_code == 302
    assert first["credentialStatus"][0]["statusListIndex"] != (
        second["credentialStatus"][0]["statusListIndex"])


def test_rotation_keeps_old_credentials_verifiable(org, trainee, rule, client):
    cert = make_certificate(org, trainee, rule)
    before = download(trainee, cert)
    out = io.StringIO()
    call_command("rotate_credential_keys", "--organization", "north", stdout=out)
    assert "now signing with key" in out.getvalue()
    after = download(trainee, cert)
    assert pyjwt.get_unverified_header(before)["kid"] != pyjwt.get_unverified_header(after)["kid"]
    jwks = fetch(client, f"{BASE}/issuers/north/jwks.json").json()
    assert len(jwks["keys"]) == 2
    for token in (before, after):
        assert verify_jwt(client, token, f"{BASE}/issuers/north")["jti"].endswith(
            cert.verification_code)
    with pytest.raises(CommandError):
        call_command("rotate_credential_keys", "--organization", "nowhere")


def test_private_keys_are_encrypted_at_rest_and_can_be_reencrypted(org, settings):
    row = keys.signing_key(org)
    assert "PRIVATE KEY" not in row.private_key_encrypted
    assert "d" not in row.public_jwk  # the public half only
    old = settings.CREDENTIAL_KEY_ENCRYPTION_KEY
    new = Fernet.generate_key().decode()
    settings.CREDENTIAL_KEY_ENCRYPTION_KEY = f"{new},{old}"
    out = io.StringIO()
    call_command("rotate_credential_keys", "--reencrypt", stdout=out)
    assert "1 private key(s) re-encrypted" in out.getvalue()
    settings.CREDENTIAL_KEY_ENCRYPTION_KEY = new
    assert keys.private_key(CredentialSigningKey.objects.get(pk=row.pk)).as_dict(
        private=False)["x"] == row.public_jwk["x"]


def test_only_the_holder_and_org_admins_download(org, trainee, trainee2, instructor, org_admin,
                                                 admin_b, rule):
    cert = make_certificate(org, trainee, rule)
    url = f"/certification/certificates/{cert.pk}/credential.jwt"
    assert browser_for(org_admin).get(url).status_code == 200
    for user in (trainee2, instructor, admin_b):
        assert browser_for(user).get(url).status_code == 404, user
    api_url = f"/api/v1/certificates/{cert.pk}/credential/"
    body = api_for(trainee).get(api_url).json()
    assert body["media_type"] == "application/vc+jwt"
    assert body["jwks_uri"] == f"{BASE}/issuers/north/jwks.json"
    assert api_for(trainee2).get(api_url).status_code == 404
    assert api_for(admin_b).get(api_url, HTTP_X_ORGANIZATION="south").status_code == 404


def test_public_endpoints_and_contexts_need_no_sign_in(org, client):
    # Before the organisation first signs, its issuer side answers like an unknown one, and
    # asking never makes a key.
    for path in ("/issuers/north", "/issuers/north/jwks.json",
                 "/issuers/north/status/revocation", "/issuers/nowhere"):
        assert client.get(path).status_code == 404, path
    assert not CredentialSigningKey.objects.filter(organization=org).exists()
    keys.signing_key(org)
    assert fetch(client, f"{BASE}/issuers/north").json()["type"] == ["Profile"]
    assert len(fetch(client, f"{BASE}/issuers/north/jwks.json").json()["keys"]) == 1
    assert client.get("/issuers/north/status/other").status_code == 404
    v2 = client.get("/contexts/credentials/v2")
    assert v2.status_code == 200 and "BitstringStatusListEntry" in json.dumps(v2.json())
    ob = client.get("/contexts/ob/v3p0/context-3.0.3.json")
    assert "OpenBadgeCredential" in ob.json()["@context"]
    assert client.get("/contexts/../settings").status_code == 404


def test_the_bitstring_encoding_matches_the_worked_example():
    encoded = status_list.encode_bits([2], 16)
    assert gzip.decompress(base64.urlsafe_b64decode(encoded[1:] + "==")) == b"\x20\x00"


def test_every_term_is_defined_by_the_contexts_the_credentials_name(org, trainee, rule, client):
    """A JSON-LD processor that is not ours (PyLD) expands the credential and the status list
    credential with the contexts the app ships and serves: no property is dropped as
    undefined, and no protected term of the VC context is redefined (PyLD raises if one is)."""
    from pyld import jsonld

    served = {"https://www.w3.org/ns/credentials/v2": "/contexts/credentials/v2",
              "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json":
                  "/contexts/ob/v3p0/context-3.0.3.json"}

    def loader(url, _options=None):
        response = client.get(served[url])  # nothing else may be fetched
        assert response.status_code == 200 and response["Content-Type"].startswith(
            "application/ld+json")
        shipped = CONTEXTS_DIR / CONTEXT_FILES[served[url].removeprefix("/contexts/")]
        assert response.content == shipped.read_bytes()  # served byte for byte
        return {"contextUrl": None, "documentUrl": url, "document": response.json()}

    cert = make_certificate(org, trainee, rule)
    credential = verify_jwt(client, download(trainee, cert), f"{BASE}/issuers/north")
    listing = verify_jwt(client, fetch(client, credential["credentialStatus"][0][
        "statusListCredential"]).content.decode(), f"{BASE}/issuers/north")
    for document in (credential, listing):
        dropped = []
        expanded = jsonld.expand(document, {"documentLoader": loader},
                                 on_property_dropped=dropped.append)
        assert dropped == [] and expanded
