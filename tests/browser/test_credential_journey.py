"""The holder chooses, at their new certificate, what the public page shows of their name and
downloads the signed credential; a visitor types the code into the /verify/ box. Fails on any
CSP violation, JavaScript error, CSRF refusal, server error or axe violation."""

import datetime as dt
from pathlib import Path

import jwt as pyjwt
import pytest
from django.utils import timezone

from tests.browser.conftest import WatchedPage, sign_in, unlabelled_controls
from tests.conftest import make_member
from training.certification import rules
from training.models import (
    Attempt,
    AttemptStatus,
    Certificate,
    CertificationDecision,
    Mode,
    Organization,
    Role,
)
from vignettes.models import Instrument

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_holder_consents_downloads_and_a_visitor_verifies(content, live_server, watched,
                                                          browser, settings):
    from django.db import connection

    settings.CALIBRATE_ISSUER_BASE_URL = live_server.url
    org = Organization.objects.create(name="Credential Issuers", slug="cred-issuers")
    admin = make_member(org, Role.ORG_ADMIN, "cred-admin")
    holder = make_member(org, Role.TRAINEE, "cred-holder")
    holder.first_name, holder.last_name = "Casey", "Holder"
    holder.save()
    rule = rules.rule_save(actor=admin, organization=org, instrument_slug="cport")
    now = timezone.now()
    version = Instrument.objects.bundled().get(slug="cport").current_version
    attempt = Attempt.objects.create(user=holder, organization=org, mode=Mode.EXAM,
                                     status=AttemptStatus.FINALISED, started_at=now,
                                     submitted_at=now)
    decision = CertificationDecision.objects.create(
        organization=org, attempt=attempt, user=holder, rule=rule, instrument_version=version,
        passed=True, criteria=[], decided_at=now)
    cert = Certificate.objects.create(
        organization=org, holder=holder, instrument_version=version, decision=decision,
        issued_at=now, expires_at=now + dt.timedelta(days=700),
        verification_code="CredJourney_" + "k" * 20)
    connection.close()

    page = watched.page
    sign_in(page, live_server.url, "cred-holder")
    page.goto(f"{live_server.url}/certification/certificates/{cert.pk}/")
    # Nothing chosen yet: the page asks, and nothing is preselected.
    assert "Until you choose, it shows your initials only." in page.content()
    assert page.locator("input[name=show_full_name]:checked").count() == 0
    assert unlabelled_controls(page, "main") == []
    watched.shot("1-choose-name-display")
    page.get_by_label("Full name (recommended").check()
    page.get_by_role("button", name="Save my choice").click()
    page.get_by_text("Your choice for the public page was saved.").wait_for()
    assert page.locator(".public-holder").inner_text() == "Casey Holder"
    cert.refresh_from_db()
    assert cert.show_full_name and cert.display_consented_by_id == holder.pk
    watched.shot("2-choice-recorded")

    with page.expect_download() as info:
        page.get_by_role("link", name="Download the credential").click()
    token = Path(info.value.path()).read_text()
    jwks = page.request.get(f"{live_server.url}/issuers/cred-issuers/jwks.json").json()
    kid = pyjwt.get_unverified_header(token)["kid"]
    key = pyjwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == kid)).key
    claims = pyjwt.decode(token, key, algorithms=["ES256"],
                          issuer=f"{live_server.url}/issuers/cred-issuers")
    assert claims["credentialSubject"]["identifier"][0]["identityHash"] == "Casey Holder"

    visitor = browser.new_context().new_page()
    anon = WatchedPage(visitor, "test_credential_journey-visitor")
    visitor.goto(f"{live_server.url}/verify/")
    assert unlabelled_controls(visitor, "main") == []
    anon.shot("3-verify-box")
    visitor.get_by_label("Verification code").fill("not a code")
    visitor.get_by_role("button", name="Verify").click()
    visitor.get_by_text("A verification code has 32 characters").wait_for()
    anon.shot("4-verify-box-error")
    visitor.get_by_label("Verification code").fill(cert.verification_code)
    visitor.get_by_role("button", name="Verify").click()
    visitor.wait_for_url(f"**/verify/{cert.verification_code}")
    status = visitor.locator(".verification-status").inner_text()
    assert status.startswith("Active, valid until ")
    assert "Casey Holder" in visitor.locator("dl.verification").inner_text()
    assert "identity document" in visitor.locator(".identity-note").inner_text()
    anon.shot("5-verified")
    anon.assert_clean()
    watched.assert_clean()
