"""Public verification a third party can rely on: the /verify/ box, a status line that cannot
be misread for each status, the JSON endpoint's added fields (the old ones keep their
meaning), and the holder's recorded choice of what the page shows of their name."""

import datetime as dt
import re

import pytest
import time_machine

from tests.conftest import api_for, browser_for
from tests.training.helpers import make_certificate
from training import formatting
from training.certification import certificates
from training.models import AuditEvent, CertificateStatus, Profile

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _clock_and_cache(settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "verify-page-tests"}}
    from django.core.cache import cache

    cache.clear()
    with time_machine.travel(NOW, tick=False):
        yield


def page(client, cert):
    response = client.get(f"/verify/{cert.verification_code}")
    assert response.status_code == 200
    return response.content.decode()


def api_body(client, cert):
    response = client.get(f"/api/v1/certificates/verify/{cert.verification_code}/")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize("state, line, status, since, reason", [
    ({}, "Active, valid until 2028-02-20", "active", None, None),
    ({"status": "suspended", "status_changed_at": dt.datetime(2026, 5, 4, tzinfo=dt.UTC)},
     "Suspended since 2026-05-04 (other reason)", "suspended", "2026-05-04", "other"),
    ({"recalibration_flagged_at": dt.datetime(2026, 5, 20, tzinfo=dt.UTC)},
     "Suspended since 2026-05-20 (recalibration due)", "recalibration due", "2026-05-20",
     "recalibration_due"),
    ({"status": "revoked", "status_changed_at": dt.datetime(2026, 4, 1, tzinfo=dt.UTC)},
     "Revoked on 2026-04-01", "revoked", "2026-04-01", None),
    ({"months": 3}, "Expired on 2026-05-31", "expired", "2026-05-31", None),
    ({"months": 3, "status": "suspended",
      "status_changed_at": dt.datetime(2026, 5, 4, tzinfo=dt.UTC)},
     "Expired on 2026-05-31 (suspended since 2026-05-04)", "suspended", "2026-05-31", "other"),
    ({"status": "superseded", "status_changed_at": dt.datetime(2026, 6, 1, tzinfo=dt.UTC)},
     "Superseded on 2026-06-01 by a renewed certificate", "superseded", "2026-06-01", None),
])
def test_each_status_has_a_line_that_cannot_be_misread(org, trainee, rule, client, state,
                                                       line, status, since, reason):
    state = dict(state)
    cert = make_certificate(org, trainee, rule, months=state.pop("months", 24), **state)
    html = page(client, cert)
    # The page shows its days as every page does ("4 May 2026"); the JSON keeps ISO days.
    shown = re.sub(r"\d{4}-\d{2}-\d{2}",
                   lambda m: formatting.day(m.group(0)), line)
    assert shown in html
    if status != "active":
        # Never "Valid ..." (nor "valid until") for a certificate that is not active.
        assert "Valid" not in html and "valid until" not in html
    body = api_body(client, cert)
    assert body["status"] == status  # the existing field keeps its values
    assert body["status_line"] == line
    assert body["active"] is (status == "active")
    assert body["status_since"] == since
    assert body["suspension_reason"] == reason
    assert body["valid_until"] == ("2028-02-20" if status == "active" else None)


def test_json_keeps_its_fields_and_meanings_and_adds_the_new_ones(org, trainee, rule, client):
    cert = make_certificate(org, trainee, rule)
    body = api_body(client, cert)
    assert {"holder", "instrument", "instrument_version", "organization", "status",
            "issued_at", "expires_at", "statement"} <= set(body)
    assert (body["holder"], body["organization"], body["issued_at"], body["expires_at"]) == (
        "T.A.", "North Service", "2026-03-02", cert.expires_at.date().isoformat())
    assert set(body) - {"holder", "instrument", "instrument_version", "organization",
                        "status", "issued_at", "expires_at", "statement"} == {
        "active", "status_line", "status_since", "suspension_reason", "valid_until",
        "holder_shown_as", "identity_note"}
    assert body["holder_shown_as"] == "initials"
    assert "confirm the holder's identity another way" in body["identity_note"]


def test_page_shows_credential_instrument_version_and_organisation(org, trainee, rule, client):
    cert = make_certificate(org, trainee, rule)
    html = page(client, cert)
    version = cert.instrument_version
    assert "Certificate of scoring reliability: CPORT" in html
    assert f"{version.version_label} (revision {version.number})" in html
    assert "North Service" in html
    assert "confirm the holder&#x27;s identity another way" in html


def test_the_box_finds_a_code_or_a_pasted_link_and_explains_a_bad_one(org, trainee, rule,
                                                                     client):
    cert = make_certificate(org, trainee, rule)
    empty = client.get("/verify/")
    assert empty.status_code == 200 and 'name="code"' in empty.content.decode()
    found = client.get("/verify/", {"code": f"  {cert.verification_code} "})
    assert found.status_code == 302 and found["Location"] == f"/verify/{cert.verification_code}"
    pasted = client.get("/verify/", {"code": f"https://x.example/verify/{cert.verification_code}"})
    assert pasted["Location"] == f"/verify/{cert.verification_code}"
    bad = client.get("/verify/", {"code": "12<b>"})
    assert bad.status_code == 400
    text = bad.content.decode()
    assert "32 characters" in text and "<b>" not in text and 'name="code"' in text
    unknown = client.get("/verify/" + "Z" * 32)
    assert unknown.status_code == 404
    assert "No certificate with this code" in unknown.content.decode()
    assert 'name="code"' in unknown.content.decode()  # the box again, to retype


def test_the_box_counts_against_the_same_rate_limit(client, db):
    # A code typed into the box is counted once, by the lookup it leads to.
    for _ in range(certificates.VERIFY_RATE_LIMIT):
        assert client.get("/verify/", {"code": "C" * 32}, follow=True).status_code == 404
    assert client.get("/verify/", {"code": "C" * 32}, follow=True).status_code == 429
    assert client.get("/verify/", {"code": "bad"}).status_code == 429
    assert client.get("/verify/" + "D" * 32).status_code == 429


def test_what_cannot_be_a_code_counts_too(client, db):
    for _ in range(certificates.VERIFY_RATE_LIMIT):
        assert client.get("/verify/", {"code": "bad"}).status_code == 400
    assert client.get("/verify/", {"code": "bad"}).status_code == 429


# --- the holder's choice ---------------------------------------------------------------------


def test_holder_choice_is_recorded_with_who_and_when_and_audited(org, trainee, rule, client):
    cert = make_certificate(org, trainee, rule)
    trainee.first_name, trainee.last_name = "Tess", "Archer"
    trainee.save()
    browser = browser_for(trainee)
    html = browser.get(f"/certification/certificates/{cert.pk}/").content.decode()
    assert "Full name (recommended" in html and " checked" not in html  # nothing preselected
    token = browser.cookies["csrftoken"].value
    response = browser.post(f"/certification/certificates/{cert.pk}/display/",
                            {"show_full_name": "full", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    cert.refresh_from_db()
    assert cert.show_full_name and cert.display_consented_at == NOW
    assert cert.display_consented_by == trainee
    event = AuditEvent.objects.get(action="certificate.display_changed", object_id=str(cert.pk))
    assert event.after == {"show_full_name": True, "consented_at": NOW.isoformat()}
    body = api_body(client, cert)
    assert body["holder"] == "Tess Archer" and body["holder_shown_as"] == "full_name"
    assert "identity document" in body["identity_note"]


def test_a_choice_must_be_made_and_only_by_the_holder(org, trainee, trainee2, org_admin, rule):
    cert = make_certificate(org, trainee, rule)
    browser = browser_for(trainee)
    browser.get("/certification/")
    token = browser.cookies["csrftoken"].value
    browser.post(f"/certification/certificates/{cert.pk}/display/",
                 {"csrfmiddlewaretoken": token})
    cert.refresh_from_db()
    assert cert.display_consented_at is None
    for other in (trainee2, org_admin):
        client = browser_for(other)
        client.get("/certification/")
        response = client.post(f"/certification/certificates/{cert.pk}/display/",
                               {"show_full_name": "full",
                                "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
        assert response.status_code == 404
    cert.refresh_from_db()
    assert not cert.show_full_name and cert.display_consented_at is None


def test_certificates_issued_before_keep_their_choice(org, trainee, rule, client):
    """A holder who chose the full name before consent was recorded keeps it."""
    cert = make_certificate(org, trainee, rule, show_full_name=True)
    assert cert.display_consented_at is None
    assert api_body(client, cert)["holder"] == "trainee-a"


def test_an_erased_holder_is_said_to_be_erased(org, trainee, rule, client):
    cert = make_certificate(org, trainee, rule, show_full_name=True)
    Profile.objects.update_or_create(user=trainee, defaults={"erased_at": NOW})
    body = api_body(client, cert)
    assert body["holder"] == "(holder erased)" and body["holder_shown_as"] == "erased"


def test_api_of_another_organisation_cannot_read_the_certificate(org, trainee, rule, admin_b):
    cert = make_certificate(org, trainee, rule)
    assert api_for(admin_b).get(f"/api/v1/certificates/{cert.pk}/",
                                HTTP_X_ORGANIZATION="south").status_code == 404
    assert cert.status == CertificateStatus.ACTIVE


def test_the_holder_chooses_through_the_api_too(org, trainee, trainee2, org_admin, rule,
                                                client):
    cert = make_certificate(org, trainee, rule)
    url = f"/api/v1/certificates/{cert.pk}/display/"
    bad = api_for(trainee).put(url, {"show_full_name": "yes"}, format="json")
    assert bad.status_code == 400 and "show_full_name" in bad.json()
    for other in (trainee2, org_admin):
        assert api_for(other).put(url, {"show_full_name": "full"},
                                  format="json").status_code == 404
    done = api_for(trainee).put(url, {"show_full_name": "full"}, format="json")
    assert done.status_code == 200
    assert done.json() == {"show_full_name": True, "display_consented_at": "2026-06-10T12:00:00Z",
                           "holder": "trainee-a"}
    cert.refresh_from_db()
    assert cert.display_consented_by == trainee
    assert api_body(client, cert)["holder"] == "trainee-a"

