"""Certification in a real browser: the trainee's certificates, the printable certificate with
its QR code, the public verification page, the org admin's pages. Fails on any CSP violation
or JavaScript error."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from tests.conftest import api_for, make_member
from tests.training.helpers import reference_body
from training import certification
from training.models import Assignment, Certificate, Cohort, FeedbackPolicy, Mode, Role
from training.services.people import assignment_save
from vignettes.models import VignetteSet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, url, username):
    page.goto(f"{url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/dashboard/")


def test_certificate_journey_and_public_verification(content, live_server, watched, browser):
    from django.db import connection

    from training.models import Organization

    org = Organization.objects.create(name="Browser Certifiers", slug="browser-cert")
    admin = make_member(org, Role.ORG_ADMIN, "cert-admin")
    instructor = make_member(org, Role.INSTRUCTOR, "cert-instructor")
    trainee = make_member(org, Role.TRAINEE, "cert-trainee")
    certification.rule_save(actor=admin, organization=org, instrument_slug="cport")
    cohort = Cohort.objects.create(organization=org, name="Cert cohort")
    cohort.trainees.add(trainee)
    cohort.instructors.add(instructor)
    now = timezone.now()
    exam = assignment_save(
        actor=instructor, organization=org, title="CPORT exam", cohort=cohort,
        vignette_set=VignetteSet.objects.get(slug="cport-exam-pool", owner__isnull=True),
        instrument_slugs=["cport"], mode=Mode.EXAM, opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=30), time_limit_minutes=120, attempts_allowed=2,
        feedback_policy=FeedbackPolicy.IMMEDIATE, now=now,
    )
    Assignment.objects.filter(pk=exam.pk).update(draw_size=10)
    api = api_for(trainee)
    attempt = api.post("/api/v1/attempts/", {"assignment": exam.pk}, format="json").json()
    for v in attempt["vignettes"]:  # coded from the reference: a pass
        api.put(f"/api/v1/attempts/{attempt['id']}/ratings/",
                json.dumps(reference_body(v["slug"], "cport")), content_type="application/json")
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
    cert = Certificate.objects.get(holder=trainee)
    connection.close()

    page = watched.page
    sign_in(page, live_server.url, "cert-trainee")
    page.click("text=Certificates")
    page.wait_for_url("**/certification/")
    watched.shot("1-trainee-certificates")
    page.click("text=Certificate and verification")
    assert page.locator("figure.qr svg").count() == 1
    watched.shot("2-certificate")
    page.check("input[name=show_full_name][value=full]")
    page.click("text=Save")
    page.wait_for_url(f"**/certification/certificates/{cert.pk}/")

    public = browser.new_context()
    anon = public.new_page()
    from tests.browser.conftest import WatchedPage

    anon_watched = WatchedPage(anon, "test_certificate_journey-public")
    anon.goto(f"{live_server.url}/verify/{cert.verification_code}")
    assert anon.locator("meta[name=robots]").get_attribute("content").startswith("noindex")
    assert "cert-trainee" in anon.content() and "active" in anon.content()
    anon_watched.shot("3-verify")
    response = anon.goto(f"{live_server.url}/verify/{'A' * 32}")
    assert response.status == 404
    anon_watched.shot("4-verify-unknown")
    public.close()

    watched.page.context.clear_cookies()
    sign_in(page, live_server.url, "cert-admin")
    page.click("text=Certification")
    page.wait_for_url("**/certification/manage/")
    watched.shot("5-admin-certification")
    page.click("text=CPORT")
    watched.shot("6-rule-and-d-study")
    page.goto(f"{live_server.url}/certification/manage/certificates/")
    page.select_option(f"#action-{cert.pk}", "suspend")
    page.fill(f"#reason-{cert.pk}", "Under review")
    page.click("text=Apply")
    page.wait_for_url("**/certification/manage/certificates/")
    assert "Under review" in page.content()
    watched.shot("7-admin-certificates")
    watched.assert_clean()
