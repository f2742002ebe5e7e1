"""Appeals in a real browser: a candidate who failed an exam files an appeal, an org admin who
teaches the candidate's cohort is refused, an eligible admin overturns it (a new decision and a
certificate), then voids the attempt for misconduct and the candidate reads why. Fails on any
CSP violation, JavaScript error, CSRF refusal, axe violation or server error."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from tests.browser.conftest import sign_in, unlabelled_controls
from tests.conftest import api_for, make_member
from tests.training.helpers import reference_body
from training.certification import rules
from training.models import (
    Appeal,
    Assignment,
    AttemptVoid,
    Certificate,
    CertificateStatus,
    CertificationDecision,
    Cohort,
    FeedbackPolicy,
    Mode,
    Rating,
    Role,
)
from training.organisation.cohorts import assignment_save
from vignettes.models import ReferenceScoring, VignetteSet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_appeal_filed_refused_to_the_instructor_decided_and_an_attempt_voided(
        content, live_server, watched):
    from django.db import connection

    from training.models import Organization

    org = Organization.objects.create(name="Appeals Service", slug="appeals")
    admin = make_member(org, Role.ORG_ADMIN, "appeal-admin")
    teacher = make_member(org, Role.ORG_ADMIN, "appeal-teacher")
    trainee = make_member(org, Role.TRAINEE, "appeal-trainee")
    rules.rule_save(actor=admin, organization=org, instrument_slug="cport")
    cohort = Cohort.objects.create(organization=org, name="Appeal cohort")
    cohort.trainees.add(trainee)
    cohort.instructors.add(teacher)
    now = timezone.now()
    exam = assignment_save(
        actor=teacher, organization=org, title="CPORT exam", cohort=cohort,
        vignette_set=VignetteSet.objects.get(slug="cport-exam-pool", owner__isnull=True),
        instrument_slugs=["cport"], mode=Mode.EXAM, opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=30), time_limit_minutes=120, attempts_allowed=2,
        feedback_policy=FeedbackPolicy.NEVER, now=now,
    )
    Assignment.objects.filter(pk=exam.pk).update(draw_size=10)
    api = api_for(trainee)
    attempt = api.post("/api/v1/attempts/", {"assignment": exam.pk, "accept_undertaking": True}, format="json").json()
    flipped = False
    for v in attempt["vignettes"]:  # coded from the reference but for one applicability
        body = reference_body(v["slug"], "cport")
        if body["applicable"] and not flipped:
            body = {"vignette": v["slug"], "instrument": "cport", "revision": 0,
                    "applicable": False}
            flipped = True
        api.put(f"/api/v1/attempts/{attempt['id']}/ratings/", json.dumps(body),
                content_type="application/json")
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
    decision = CertificationDecision.objects.get(attempt_id=attempt["id"])
    assert not decision.passed
    # The panel corrects that case's reference: the candidate was right.
    old = Rating.objects.get(attempt_id=attempt["id"], applicable=False,
                             reference_scoring__applicable=True).reference_scoring
    ReferenceScoring.objects.create(
        vignette_revision=old.vignette_revision, instrument_version=old.instrument_version,
        number=old.number + 1, applicable=False, panel="Corrected panel",
        not_applicable_reason="Re-examined.", agreed_on=now.date(), content_hash="corrected")
    connection.close()

    page = watched.page
    sign_in(page, live_server.url, "appeal-trainee")
    page.goto(f"{live_server.url}/certification/")
    page.get_by_role("link", name="Appeals").click()
    page.wait_for_url("**/certification/appeals/")
    assert unlabelled_controls(page, "main") == []
    watched.shot("1-candidate-appeals")
    page.get_by_label("Your grounds").fill("Case judged not applicable: the reference is wrong.")
    page.get_by_role("button", name="File the appeal").click()
    page.get_by_text("Your appeal was filed.").wait_for()
    assert "Waiting for a decision" in page.locator("#appeal-waiting").inner_text()
    watched.shot("2-appeal-filed")
    appeal = Appeal.objects.get(user=trainee)

    page.context.clear_cookies()
    sign_in(page, live_server.url, "appeal-teacher")
    page.goto(f"{live_server.url}/certification/appeals/{appeal.pk}/")
    assert "You teach one of this candidate's cohorts" in page.locator("#refusal").inner_text()
    assert page.get_by_role("button", name="Record the outcome").count() == 0

    page.context.clear_cookies()
    sign_in(page, live_server.url, "appeal-admin")
    page.goto(f"{live_server.url}/certification/manage/appeals/")
    page.get_by_label("Show").select_option("open")
    page.get_by_role("button", name="Filter").click()
    page.locator(f'#appeals a[href="/certification/appeals/{appeal.pk}/"]').click()
    assert "passes" in page.locator("#re-evaluation").inner_text()
    assert unlabelled_controls(page, "main") == []
    watched.shot("3-admin-decides")
    page.get_by_label("Overturn").check()
    page.get_by_label("Reasons (the candidate reads them)").fill("The corrected reference.")
    page.get_by_role("button", name="Record the outcome").click()
    page.get_by_text("The outcome was recorded").wait_for()
    assert page.locator("#appeal-status").inner_text() == "Overturned"
    appeal.refresh_from_db()
    decision.refresh_from_db()
    assert appeal.new_decision.passed and decision.superseded_by == appeal.new_decision
    cert = Certificate.objects.get(decision=appeal.new_decision)

    # The organisation's appeal period, on the register page.
    page.goto(f"{live_server.url}/certification/manage/appeals/")
    page.get_by_label("Days a candidate has to appeal").fill("45")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Appeal settings saved.").wait_for()
    org.refresh_from_db()
    assert org.appeal_days == 45 and org.impartial_appeals

    # Misconduct comes to light: the admin voids the attempt from the certification page.
    page.goto(f"{live_server.url}/certification/manage/")
    page.get_by_role("link", name="Void", exact=True).click()
    page.get_by_label("Reason (the candidate reads it)").fill("Notes found at the desk.")
    watched.shot("4-void")
    page.get_by_role("button", name="Void the attempt").click()
    page.get_by_text("The attempt was voided").wait_for()
    assert AttemptVoid.objects.get(attempt_id=attempt["id"]).voided_by == admin
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.REVOKED

    page.context.clear_cookies()
    sign_in(page, live_server.url, "appeal-trainee")
    page.goto(f"{live_server.url}/certification/")
    assert "Notes found at the desk." in page.locator("main").inner_text()
    watched.shot("5-candidate-sees-void")
