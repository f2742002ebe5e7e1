"""The certificates and decisions API: each role sees what the pages let it see, nothing of
another member or another organisation."""

import datetime as dt

import pytest
import time_machine
from django.utils.html import escape

from tests.conftest import api_for, browser_for, make_member
from tests.training.helpers import EXAM_DAY as T0
from tests.training.helpers import exam_fill, exam_start, make_exam, take_and_pass
from training.certification import certificates, rules
from training.models import Certificate, CertificationDecision, FeedbackPolicy, Role

pytestmark = pytest.mark.django_db


@pytest.fixture
def passed(org, rule, trainee, trainee2, instructor):
    exam = make_exam(org, [trainee, trainee2], instructor)
    with time_machine.travel(T0, tick=False):
        attempt = take_and_pass(api_for(trainee), exam)
    decision = CertificationDecision.objects.get(attempt_id=attempt["id"])
    return decision, decision.certificate


def test_the_holder_lists_and_reads_their_certificate_and_decision(passed, trainee):
    decision, cert = passed
    api = api_for(trainee)
    listing = api.get("/api/v1/certificates/").json()
    assert listing["count"] == 1
    row = listing["results"][0]
    assert row["id"] == cert.pk and row["holder"] == trainee.username
    assert row["instrument"] == "cport" and row["status"] == "active"
    assert row["decision"] == decision.pk
    assert row["verify_url"].endswith(f"/verify/{cert.verification_code}")
    assert api.get(f"/api/v1/certificates/{cert.pk}/").json() == row

    decisions = api.get("/api/v1/certification-decisions/").json()
    assert [d["id"] for d in decisions["results"]] == [decision.pk]
    detail = api.get(f"/api/v1/certification-decisions/{decision.pk}/").json()
    assert detail["passed"] is True and detail["certificate"] == cert.pk
    keys = {c["key"] for c in detail["criteria"]}
    assert {"exam_vignettes", "item_agreement"} <= keys
    assert all(c["label"] and isinstance(c["passed"], bool) for c in detail["criteria"])


def test_another_member_sees_nothing_of_it(passed, trainee2, instructor):
    decision, cert = passed
    for user in (trainee2, instructor):
        api = api_for(user)
        assert api.get("/api/v1/certificates/").json()["count"] == 0
        assert api.get(f"/api/v1/certificates/{cert.pk}/").status_code == 404
        assert api.get("/api/v1/certification-decisions/").json()["count"] == 0
        assert api.get(f"/api/v1/certification-decisions/{decision.pk}/").status_code == 404


def test_another_organisation_sees_nothing_of_it(passed, other_org):
    decision, cert = passed
    admin = make_member(other_org, Role.ORG_ADMIN, "south-admin")
    api = api_for(admin)
    assert api.get("/api/v1/certificates/").json()["count"] == 0
    assert api.get(f"/api/v1/certificates/{cert.pk}/").status_code == 404
    assert api.get("/api/v1/certification-decisions/").json()["count"] == 0
    assert api.get(f"/api/v1/certification-decisions/{decision.pk}/").status_code == 404


def test_the_org_admin_sees_every_one_and_filters(passed, org_admin, trainee):
    decision, cert = passed
    api = api_for(org_admin)
    assert [c["id"] for c in api.get("/api/v1/certificates/").json()["results"]] == [cert.pk]
    assert api.get(f"/api/v1/certificates/{cert.pk}/").status_code == 200
    assert api.get("/api/v1/certificates/?status=active").json()["count"] == 1
    assert api.get("/api/v1/certificates/?status=revoked").json()["count"] == 0
    assert api.get(f"/api/v1/certificates/?holder={trainee.username}").json()["count"] == 1
    assert api.get("/api/v1/certificates/?holder=nobody").json()["count"] == 0
    bad = api.get("/api/v1/certificates/?status=everything")
    assert bad.status_code == 400 and "status" in bad.json()
    assert api.get(f"/api/v1/certification-decisions/{decision.pk}/").json()["user"] == \
        trainee.username
    certificates.certificate_set_status(actor=org_admin, organization=cert.organization,
                                         certificate_id=cert.pk, action="suspend",
                                         reason="Recalibration missed.")
    row = api.get(f"/api/v1/certificates/{cert.pk}/").json()
    assert row["status"] == "suspended" and row["status_reason"] == "Recalibration missed."


CERTIFICATE_FILTER_MESSAGE = ("Unknown filter 'everything'; use one of active, expiring, "
                              "suspended, revoked.")


def test_a_bad_certificate_filter_is_400_naming_it_on_the_api_and_the_page(passed, org_admin):
    api = api_for(org_admin)
    response = api.get("/api/v1/certificates/?status=everything")
    assert response.status_code == 400
    assert response.json() == {"status": [CERTIFICATE_FILTER_MESSAGE]}
    response = api.get("/api/v1/certificates/?holder=" + "x" * 151)
    assert response.status_code == 400 and set(response.json()) == {"holder"}
    assert api.get("/api/v1/certificates/?status=").json()["count"] == 1

    page = browser_for(org_admin).get("/certification/manage/certificates/?filter=everything")
    assert page.status_code == 400
    html = page.content.decode()
    assert f"<li>filter: {escape(CERTIFICATE_FILTER_MESSAGE)}</li>" in html
    assert "trainee-a" in html  # the page still lists every certificate
    page = browser_for(org_admin).get("/certification/manage/certificates/?format=pdf")
    assert page.status_code == 400 and "<li>format: " in page.content.decode()


def test_the_schema_documents_the_certificate_filters(org_admin):
    schema = api_for(org_admin).get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/certificates/"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert params["status"]["enum"] == ["active", "expiring", "suspended", "revoked", ""]
    assert params["holder"]["maxLength"] == 150
    ref = operation["responses"]["400"]["content"]["application/json"]["schema"]["$ref"]
    bad_request = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert {"status", "holder"} <= set(bad_request["properties"])


def test_a_trainee_sees_a_decision_only_when_the_feedback_policy_releases_it(
        org, org_admin, trainee, instructor):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                            exam_feedback_policy=FeedbackPolicy.AFTER_CLOSE,
                            now=T0 - dt.timedelta(days=3))
    exam = make_exam(org, [trainee], instructor, policy=FeedbackPolicy.AFTER_CLOSE)
    api = api_for(trainee)
    with time_machine.travel(T0, tick=False):
        attempt = exam_start(api, exam)
        exam_fill(api, attempt)
        assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
        decision = CertificationDecision.objects.get(attempt_id=attempt["id"])
        assert api.get("/api/v1/certification-decisions/").json()["count"] == 0
        assert api.get(f"/api/v1/certification-decisions/{decision.pk}/").status_code == 404
        assert api_for(org_admin).get(
            f"/api/v1/certification-decisions/{decision.pk}/").status_code == 200
    with time_machine.travel(exam.closes_at + dt.timedelta(minutes=1), tick=False):
        assert api.get("/api/v1/certification-decisions/").json()["count"] == 1
        assert api.get(f"/api/v1/certification-decisions/{decision.pk}/").status_code == 200


def test_signed_out_callers_get_nothing(passed, client):
    decision, cert = passed
    for path in ("/api/v1/certificates/", f"/api/v1/certificates/{cert.pk}/",
                 "/api/v1/certification-decisions/",
                 f"/api/v1/certification-decisions/{decision.pk}/"):
        response = client.get(path, HTTP_ACCEPT="application/json")
        assert response.status_code in (401, 403), path
        assert str(cert.verification_code) not in response.content.decode()
    assert Certificate.objects.count() == 1
