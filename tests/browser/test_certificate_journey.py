"""Certification in a real browser: the trainee's certificates, the printable certificate with
its QR code and the holder's display choice, the public verification page for a valid, a
revoked and an unknown code, the org admin's pages and forms (edit a rule and create one,
acknowledge and resolve a drift alert, suspend and revoke a certificate). Fails on any CSP
violation, JavaScript error, CSRF refusal or server error."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from tests.browser.conftest import WatchedPage, sign_in, unlabelled_controls
from tests.conftest import api_for, make_member
from tests.training.helpers import reference_body
from training.certification import rules
from training.models import (
    AlertStatus,
    Assignment,
    Certificate,
    CertificationRule,
    Cohort,
    DriftAlert,
    FeedbackPolicy,
    Mode,
    Rating,
    Role,
)
from training.organisation.cohorts import assignment_save
from vignettes.models import VignetteSet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_certificate_journey_and_public_verification(content, live_server, watched, browser):
    from django.db import connection

    from training.models import Organization

    org = Organization.objects.create(name="Browser Certifiers", slug="browser-cert")
    admin = make_member(org, Role.ORG_ADMIN, "cert-admin")
    instructor = make_member(org, Role.INSTRUCTOR, "cert-instructor")
    trainee = make_member(org, Role.TRAINEE, "cert-trainee")
    rules.rule_save(actor=admin, organization=org, instrument_slug="cport")
    cohort = Cohort.objects.create(organization=org, name="Cert cohort")
    cohort.trainees.add(trainee)
    cohort.instructors.add(instructor)
    now = timezone.now()
    exam = assignment_save(
        actor=instructor, organization=org, title="CPORT exam", cohort=cohort,
        vignette_set=VignetteSet.objects.get(slug="cport-exam-pool", owner__isnull=True),
        instrument_slugs=["cport"], mode=Mode.EXAM, opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=30), time_limit_minutes=120, attempts_allowed=2,
        feedback_policy=FeedbackPolicy.NEVER, now=now,
    )
    Assignment.objects.filter(pk=exam.pk).update(draw_size=10)
    api = api_for(trainee)
    attempt = api.post("/api/v1/attempts/", {"assignment": exam.pk, "accept_undertaking": True}, format="json").json()
    for v in attempt["vignettes"]:  # coded from the reference: a pass
        api.put(f"/api/v1/attempts/{attempt['id']}/ratings/",
                json.dumps(reference_body(v["slug"], "cport")), content_type="application/json")
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
    cert = Certificate.objects.get(holder=trainee)
    # A drift alert on the certificate, as the standardised CUSUM raises it: the ratings
    # behind it, the baseline and the path (in SD units) that crossed h.
    rating_ids = list(Rating.objects.filter(attempt_id=attempt["id"]).order_by("pk")
                      .values_list("pk", flat=True)[:3])
    alert = DriftAlert.objects.create(
        organization=org, certificate=cert, kind="deviation", raised_at=now,
        evidence={"method": "standardised-cusum", "units": "sd", "sides": "both", "n": 3,
                  "baseline": {"mean": 0.0, "sd": 1.4, "n": 10, "own_sd": 0.5,
                               "pooled_sd": 1.9, "pooled_n": 0, "source": "own",
                               "reason": ""},
                  "rating_ids": rating_ids, "times": [now.isoformat()] * 3,
                  "raw": [9.0, 9.0, 9.0], "series": [6.43, 6.43, 6.43],
                  "upper": [6.18, 12.36, 18.54], "lower": [0, 0, 0],
                  "threshold": 16.0, "target": 0, "slack": 0.25, "alarm_index": 2,
                  "direction": "upper", "alarm_rating_id": rating_ids[2]})
    connection.close()

    page = watched.page
    sign_in(page, live_server.url, "cert-trainee")
    page.click("text=Certificates")
    page.wait_for_url("**/certification/")
    watched.shot("1-trainee-certificates")
    page.click("text=Certificate and verification")
    assert page.locator("figure.qr svg").count() == 1
    # Initials by default, shown once with their own full stops ("C.T.", never "C.T..").
    assert page.locator(".public-holder").inner_text() == "C.T."
    assert "C.T.." not in page.content()
    assert unlabelled_controls(page, "main") == []
    watched.shot("2-certificate")
    page.check("input[name=show_full_name][value=full]")
    page.click("text=Save")
    page.wait_for_url(f"**/certification/certificates/{cert.pk}/")
    assert page.locator(".public-holder").inner_text() == "cert-trainee"

    public = browser.new_context()
    anon = public.new_page()
    anon_watched = WatchedPage(anon, "test_certificate_journey-public")

    def verify(code, *, status, step):
        response = anon.goto(f"{live_server.url}/verify/{code}")
        assert response.status == status
        assert anon.locator("meta[name=robots]").get_attribute("content").startswith("noindex")
        assert response.headers["x-robots-tag"].startswith("noindex")
        # The public page has no navigation into the application.
        assert anon.locator("header nav a").all_inner_texts() == ["Calibrate", "Sign in"]
        anon_watched.shot(step)
        return anon.locator("dl.verification")

    valid = verify(cert.verification_code, status=200, step="3-verify-valid")
    assert valid.locator("dd").first.inner_text() == "cert-trainee"
    assert valid.locator("dd.status-active").inner_text().startswith("Active, valid until ")
    assert "Browser Certifiers" in valid.inner_text()
    assert "not issued or endorsed by the authors" in anon.locator(".statement").inner_text()
    unknown = verify("A" * 32, status=404, step="4-verify-unknown")
    assert unknown.count() == 0
    assert "No certificate with this code." in anon.locator("main").inner_text()

    watched.page.context.clear_cookies()
    sign_in(page, live_server.url, "cert-admin")
    page.click("text=Certification")
    page.wait_for_url("**/certification/manage/")
    watched.shot("5-admin-certification")
    page.click("text=CPORT")
    watched.shot("6-rule-and-d-study")
    # Edit the CPORT rule (a longer validity), then create one for STABLE-2007.
    page.get_by_label("Validity (months)").fill("36")
    page.get_by_role("button", name="Save rule").click()
    page.get_by_text("Certification rule saved.").wait_for()
    page.goto(f"{live_server.url}/certification/manage/")
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Instrument").select_option("stable-2007")
    page.get_by_label("Drift CUSUM threshold h (in SD units)").fill("18")
    page.get_by_role("button", name="Save rule").click()
    page.get_by_text("Certification rule saved.").wait_for()
    assert set(CertificationRule.objects.filter(organization=org).values_list(
        "instrument__slug", "validity_months", "cusum_threshold")) == {
        ("cport", 36, None), ("stable-2007", 24, 18.0)}

    # The drift alert: confirm it (the certificate shows "recalibration due"), then resolve it
    # with a note.
    page.get_by_role("link", name="Alerts", exact=True).click()
    page.wait_for_url("**/recalibration/alerts/")
    page.locator(f"a[href$='/alerts/{alert.pk}/']").click()
    assert "Standardised CUSUM path, n = 3 ratings" in page.content()
    page.get_by_label("Action").select_option("confirm")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Alert updated.").wait_for()
    watched.shot("6b-alert-acknowledged")
    page.get_by_label("Action").select_option("resolve")
    page.get_by_label("Note (required to resolve)").fill("Talked it through; recalibrated.")
    page.get_by_role("button", name="Apply").click()
    page.get_by_text("Alert updated.").wait_for()
    alert.refresh_from_db()
    assert (alert.status, alert.note) == (AlertStatus.RESOLVED, "Talked it through; recalibrated.")
    page.goto(f"{live_server.url}/certification/manage/certificates/")
    assert unlabelled_controls(page, "main") == []
    page.select_option(f"#action-{cert.pk}", "suspend")
    page.fill(f"#reason-{cert.pk}", "Under review")
    page.click("text=Apply")
    page.wait_for_url("**/certification/manage/certificates/")
    assert "Under review" in page.content()
    watched.shot("7-admin-certificates")
    page.select_option(f"#action-{cert.pk}", "revoke")
    page.fill(f"#reason-{cert.pk}", "Withdrawn after review")
    page.click("text=Apply")
    page.wait_for_url("**/certification/manage/certificates/")
    assert "Withdrawn after review" in page.content()
    assert page.locator(f"#action-{cert.pk}").count() == 0  # revoked is final
    watched.shot("8-admin-revoked")

    # The same code, now revoked: the public page says so (and still nothing more).
    revoked = verify(cert.verification_code, status=200, step="9-verify-revoked")
    assert revoked.locator("dd.status-revoked").inner_text().startswith("Revoked on ")
    assert "Valid" not in anon.locator("main").inner_text()
    assert "Withdrawn after review" not in anon.content()
    assert cert.verification_code not in anon.locator("main").inner_text()
    public.close()
    anon_watched.assert_clean()
    watched.assert_clean()
