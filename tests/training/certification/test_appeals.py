"""Appeals, voided exam attempts and impartiality: who may file, who may decide, what an
overturn changes, and that nothing leaks to another organisation or role."""

import datetime as dt

import pytest
import time_machine
from django.utils.html import escape

from tests.conftest import api_for, browser_for, make_member
from tests.training.helpers import EXAM_DAY as T0
from tests.training.helpers import exam_fill, exam_start, make_exam, take_and_pass
from training.certification import certificates
from training.models import (
    Appeal,
    AuditEvent,
    Certificate,
    CertificateStatus,
    CertificationDecision,
    Cohort,
    Rating,
    Role,
)
from training.tenancy import profile_for
from vignettes.models import ReferenceScoring

pytestmark = pytest.mark.django_db

LATER = T0 + dt.timedelta(days=3)
REFUSAL = "You teach one of this candidate's cohorts"


@pytest.fixture
def staff(staff):
    """Site staff who have seen the first sign-in notice."""
    profile = profile_for(staff)
    profile.content_notice_seen_at = T0
    profile.save()
    return staff


@pytest.fixture
def teaching_admin(org):
    """An org admin who also teaches the candidate's exam cohort."""
    return make_member(org, Role.ORG_ADMIN, "admin-teacher")


@pytest.fixture
def exam(org, rule, trainee, instructor, teaching_admin):
    exam = make_exam(org, [trainee], instructor)
    exam.cohort.instructors.add(teaching_admin)
    return exam


def _failed(trainee, exam):
    """An exam failed on one applicability decision; then the panel corrects that case's
    reference to agree with the candidate (a new reference number)."""
    api = api_for(trainee)
    with time_machine.travel(T0, tick=False):
        attempt = exam_start(api, exam)
        exam_fill(api, attempt, wrong_applicability=1)
        assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
    decision = CertificationDecision.objects.get(attempt_id=attempt["id"])
    assert not decision.passed
    return decision


def _correct_the_reference(decision):
    rating = Rating.objects.select_related("reference_scoring").get(
        attempt=decision.attempt, applicable=False, reference_scoring__applicable=True)
    old = rating.reference_scoring
    ReferenceScoring.objects.create(
        vignette_revision=old.vignette_revision, instrument_version=old.instrument_version,
        number=old.number + 1, applicable=False, panel="Corrected panel",
        not_applicable_reason="Re-examined: the case does not meet the criteria.",
        agreed_on=LATER.date(), content_hash="corrected")


@pytest.fixture
def failed(trainee, exam):
    return _failed(trainee, exam)


@pytest.fixture
def passed(trainee, exam):
    with time_machine.travel(T0, tick=False):
        attempt = take_and_pass(api_for(trainee), exam)
    return CertificationDecision.objects.get(attempt_id=attempt["id"])


def _file(user, kind, object_id, status=201):
    response = api_for(user).post("/api/v1/appeals/", {
        "kind": kind, "object_id": object_id, "grounds": "The reference is wrong."},
        format="json")
    assert response.status_code == status, response.content
    return response.json()


def _decide(user, appeal_id, outcome, status=200):
    response = api_for(user).post(f"/api/v1/appeals/{appeal_id}/decide/", {
        "outcome": outcome, "reasons": "Checked against the corrected reference."},
        format="json")
    assert response.status_code == status, response.content
    return response.json()


def test_an_eligible_admin_overturns_a_decision_and_the_instructor_admin_is_refused(
        failed, trainee, org_admin, teaching_admin, mailoutbox):
    with time_machine.travel(LATER, tick=False):
        _correct_the_reference(failed)
        appeal = _file(trainee, "decision", failed.pk)
        assert appeal["status"] == "open" and appeal["user"] == trainee.username
        assert "received" in mailoutbox[-1].subject

        refused = _decide(teaching_admin, appeal["id"], "overturned", status=403)
        assert REFUSAL in refused["detail"]
        page = browser_for(teaching_admin).get(f"/certification/appeals/{appeal['id']}/")
        assert page.status_code == 200 and escape(REFUSAL) in page.content.decode()
        assert 'id="refusal"' in page.content.decode()
        assert Appeal.objects.get(pk=appeal["id"]).status == "open"

        page = browser_for(org_admin).get(f"/certification/appeals/{appeal['id']}/")
        html = page.content.decode()
        assert 'id="re-evaluation"' in html and "1 reference was corrected" in html
        done = _decide(org_admin, appeal["id"], "overturned")
    assert done["status"] == "overturned" and done["decided_by"] == org_admin.username
    failed.refresh_from_db()
    new = CertificationDecision.objects.get(pk=done["new_decision"])
    assert failed.superseded_by == new and new.passed and new.attempt_id == failed.attempt_id
    cert = Certificate.objects.get(decision=new)
    assert cert.status == CertificateStatus.ACTIVE and cert.issued_at == LATER
    assert "outcome" in mailoutbox[-1].subject and "overturned" in mailoutbox[-1].body
    actions = {(e.action, e.actor_username) for e in AuditEvent.objects.filter(
        organization=failed.organization)}
    assert {("appeal.filed", trainee.username), ("appeal.overturned", org_admin.username),
            ("certification.superseded", org_admin.username),
            ("certification.decided", org_admin.username)} <= actions
    # The candidate reads the outcome; their appeal list says so.
    mine = api_for(trainee).get("/api/v1/appeals/").json()["results"]
    assert [(a["id"], a["status"]) for a in mine] == [(appeal["id"], "overturned")]
    with time_machine.travel(LATER, tick=False):
        page = browser_for(trainee).get(f"/certification/appeals/{appeal['id']}/").content
    assert b"Checked against the corrected reference." in page


def test_with_impartiality_off_the_instructor_admin_may_decide(
        org, failed, trainee, teaching_admin):
    org.impartial_appeals = False
    org.save()
    with time_machine.travel(LATER, tick=False):
        appeal = _file(trainee, "decision", failed.pk)
        done = _decide(teaching_admin, appeal["id"], "upheld")
    assert done["status"] == "upheld" and done["new_decision"] is None
    failed.refresh_from_db()
    assert failed.superseded_by is None


def test_an_overturn_needs_evidence_that_changes_the_result(failed, trainee, org_admin):
    with time_machine.travel(LATER, tick=False):
        appeal = _file(trainee, "decision", failed.pk)
        refused = _decide(org_admin, appeal["id"], "overturned", status=400)
    assert "same result" in str(refused)
    assert Appeal.objects.get(pk=appeal["id"]).status == "open"
    assert CertificationDecision.objects.filter(attempt=failed.attempt).count() == 1


def test_an_appeal_after_the_period_is_refused_with_the_date(org, failed, trainee):
    with time_machine.travel(T0 + dt.timedelta(days=31), tick=False):
        refused = _file(trainee, "decision", failed.pk, status=400)
    assert "The period to appeal ended on 1 Apr 2026" in str(refused)
    assert "allows 30 days" in str(refused)
    org.appeal_days = 60
    org.save()
    with time_machine.travel(T0 + dt.timedelta(days=31), tick=False):
        _file(trainee, "decision", failed.pk)
        # One open appeal per decision.
        assert "already have an open appeal" in str(_file(trainee, "decision", failed.pk,
                                                          status=409))


def test_bad_input_is_named(failed, trainee):
    with time_machine.travel(LATER, tick=False):
        assert "kind" in _file(trainee, "nonsense", failed.pk, status=400)
        response = api_for(trainee).post("/api/v1/appeals/", {
            "kind": "decision", "object_id": failed.pk, "grounds": "  "}, format="json")
        assert response.status_code == 400 and "grounds" in response.json()
        assert "object_id" in _file(trainee, "suspension", failed.pk, status=400)


def test_voiding_revokes_the_certificate_and_an_overturned_void_restores_it(
        passed, trainee, org_admin, teaching_admin, mailoutbox):
    cert = passed.certificate
    attempt_id = passed.attempt_id
    with time_machine.travel(LATER, tick=False):
        refused = api_for(teaching_admin).post(f"/api/v1/attempts/{attempt_id}/void/",
                                               {"reason": "Notes seen."}, format="json")
        assert refused.status_code == 403 and REFUSAL in refused.json()["detail"]
        page = browser_for(teaching_admin).get(f"/certification/manage/exams/{attempt_id}/void/")
        assert page.status_code == 403 and escape(REFUSAL) in page.content.decode()

        response = api_for(org_admin).post(f"/api/v1/attempts/{attempt_id}/void/",
                                           {"reason": "Notes seen on the desk."}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["revoked_certificates"] == [cert.pk]
        cert.refresh_from_db()
        assert cert.status == CertificateStatus.REVOKED
        assert "Notes seen on the desk." in cert.status_reason
        assert "voided" in mailoutbox[-1].subject
        overview = browser_for(trainee).get("/certification/").content.decode()
        assert "Notes seen on the desk." in overview and "no longer counts" in overview
        again = api_for(org_admin).post(f"/api/v1/attempts/{attempt_id}/void/",
                                        {"reason": "Twice."}, format="json")
        assert again.status_code == 409

        void_id = response.json()["id"]
        appeal = _file(trainee, "void", void_id)
        # The admin who voided the attempt does not decide the appeal against it.
        refused = _decide(org_admin, appeal["id"], "overturned", status=403)
        assert "You voided this attempt" in refused["detail"]
        second_admin = make_member(cert.organization, Role.ORG_ADMIN, "second-admin")
        _decide(second_admin, appeal["id"], "overturned")
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.ACTIVE
    assert passed.attempt.void.overturned_at == LATER
    assert AuditEvent.objects.filter(action="attempt.voided",
                                     actor_username=org_admin.username).exists()


def test_an_overturned_suspension_reinstates_the_certificate(passed, trainee, org_admin):
    cert = passed.certificate
    with time_machine.travel(LATER, tick=False):
        certificates.certificate_set_status(actor=org_admin, organization=cert.organization,
                                            certificate_id=cert.pk, action="suspend",
                                            reason="Complaint received.")
        appeal = _file(trainee, "suspension", cert.pk)
        # The admin who suspended it does not decide the appeal against the suspension.
        refused = _decide(org_admin, appeal["id"], "overturned", status=403)
        assert "You took the decision under appeal" in refused["detail"]
        _decide(make_member(cert.organization, Role.ORG_ADMIN, "second-admin"), appeal["id"],
                "overturned")
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.ACTIVE and "Restored on appeal" in cert.status_reason


def test_where_no_admin_is_eligible_the_appeal_waits_for_site_staff(
        org, failed, trainee, org_admin, teaching_admin, staff):
    Cohort.objects.get(organization=org).instructors.add(org_admin)
    with time_machine.travel(LATER, tick=False):
        appeal = _file(trainee, "decision", failed.pk)
        html = browser_for(org_admin).get(f"/certification/appeals/{appeal['id']}/"
                                          ).content.decode()
        assert 'id="waits-for-staff"' in html
        _decide(org_admin, appeal["id"], "upheld", status=403)
        staff_client = browser_for(staff)
        page = staff_client.get(f"/certification/staff/appeals/{appeal['id']}/")
        assert page.status_code == 200 and 'id="refusal"' not in page.content.decode()
        token = page.cookies["csrftoken"].value if "csrftoken" in page.cookies else ""
        response = staff_client.post(f"/certification/staff/appeals/{appeal['id']}/", {
            "outcome": "upheld", "reasons": "The reference stands.",
            "csrfmiddlewaretoken": token})
        assert response.status_code == 302, response.content
    stored = Appeal.objects.get(pk=appeal["id"])
    assert stored.status == "upheld" and stored.decided_by == staff and stored.decided_by_staff


def test_staff_may_not_decide_where_an_admin_is_eligible(failed, trainee, staff):
    with time_machine.travel(LATER, tick=False):
        appeal = _file(trainee, "decision", failed.pk)
        page = browser_for(staff).get(f"/certification/staff/appeals/{appeal['id']}/")
    assert 'id="refusal"' in page.content.decode()


def test_appeals_are_scoped_to_the_organisation_and_the_role(
        failed, trainee, trainee2, instructor, org_admin, admin_b):
    with time_machine.travel(LATER, tick=False):
        appeal = _file(trainee, "decision", failed.pk)
        # Another organisation's admin: nothing, and a 404 for every object.
        other = api_for(admin_b)
        assert other.get("/api/v1/appeals/").json()["count"] == 0
        assert other.get(f"/api/v1/appeals/{appeal['id']}/").status_code == 404
        _decide(admin_b, appeal["id"], "upheld", status=404)
        assert other.post(f"/api/v1/attempts/{failed.attempt_id}/void/",
                          {"reason": "x"}, format="json").status_code == 404
        assert browser_for(admin_b).get(
            f"/certification/appeals/{appeal['id']}/").status_code == 404
        assert browser_for(admin_b).get(
            f"/certification/manage/exams/{failed.attempt_id}/void/").status_code == 404
        # Another member: not theirs to see, decide or void.
        for user in (trainee2, instructor):
            api = api_for(user)
            assert api.get("/api/v1/appeals/").json()["count"] == 0
            assert api.get(f"/api/v1/appeals/{appeal['id']}/").status_code == 404
            _decide(user, appeal["id"], "upheld", status=403)
            assert api.post(f"/api/v1/attempts/{failed.attempt_id}/void/",
                            {"reason": "x"}, format="json").status_code == 403
            assert browser_for(user).get("/certification/manage/appeals/").status_code == 403
        # The candidate cannot decide their own appeal.
        _decide(trainee, appeal["id"], "overturned", status=403)
        # The org admin's register filters by status.
        admin = api_for(org_admin)
        assert admin.get("/api/v1/appeals/?status=open").json()["count"] == 1
        assert admin.get("/api/v1/appeals/?status=upheld").json()["count"] == 0
        assert "status" in admin.get("/api/v1/appeals/?status=maybe").json()
        page = browser_for(org_admin).get("/certification/manage/appeals/?status=open")
        assert page.status_code == 200 and trainee.username in page.content.decode()


def test_the_candidate_page_files_an_appeal_and_names_what_is_past_its_period(
        failed, trainee):
    with time_machine.travel(T0 + dt.timedelta(days=31), tick=False):
        client = browser_for(trainee)
        page = client.get("/certification/appeals/")
        html = page.content.decode()
        assert 'id="period-ended"' in html and "ended on 1 Apr 2026" in html
        assert 'name="subject"' not in html
    with time_machine.travel(LATER, tick=False):
        client = browser_for(trainee)
        page = client.get("/certification/appeals/")
        token = page.cookies["csrftoken"].value
        response = client.post("/certification/appeals/", {
            "subject": f"decision:{failed.pk}", "grounds": " ", "csrfmiddlewaretoken": token})
        assert response.status_code == 400 and "This field is required." in \
            response.content.decode()
        response = client.post("/certification/appeals/", {
            "subject": f"decision:{failed.pk}", "grounds": "Wrong reference.",
            "csrfmiddlewaretoken": token})
        assert response.status_code == 302
    decision = api_for(trainee).get(f"/api/v1/certification-decisions/{failed.pk}/").json()
    assert decision["superseded_by"] is None and decision["voided"] is False


def test_a_candidates_appeals_are_in_their_export_and_erasure_clears_their_words(
        org, failed, trainee, org_admin):
    from training.models import Membership
    from training.organisation import erasure, export

    with time_machine.travel(LATER, tick=False):
        appeal = _file(trainee, "decision", failed.pk)
        data = export.member_export(actor=org_admin, organization=org, user=trainee)
        assert [(a["id"], a["grounds"]) for a in data["appeals"]] == [
            (appeal["id"], "The reference is wrong.")]
        erasure.member_erase(actor=org_admin, organization=org,
                             membership=Membership.objects.get(user=trainee, organization=org),
                             confirm=trainee.username)
    stored = Appeal.objects.get(pk=appeal["id"])
    assert stored.grounds == "(erased)" and stored.user.username != "trainee-a"


def test_the_pages_refuse_the_instructor_admin_with_403_and_the_reason(
        failed, trainee, teaching_admin, org_admin):
    with time_machine.travel(LATER, tick=False):
        appeal = _file(trainee, "decision", failed.pk)
        client = browser_for(teaching_admin)
        token = client.get(f"/certification/appeals/{appeal['id']}/").cookies["csrftoken"].value
        response = client.post(f"/certification/appeals/{appeal['id']}/decide/", {
            "outcome": "upheld", "reasons": "x", "csrfmiddlewaretoken": token})
        assert response.status_code == 403 and escape(REFUSAL) in response.content.decode()
        response = client.post(f"/certification/manage/exams/{failed.attempt_id}/void/", {
            "reason": "x", "csrfmiddlewaretoken": token})
        assert response.status_code == 403 and escape(REFUSAL) in response.content.decode()
        assert Appeal.objects.get(pk=appeal["id"]).status == "open"
        # The eligible admin finds the void form from the certification page.
        manage = browser_for(org_admin).get("/certification/manage/").content.decode()
        assert f"/certification/manage/exams/{failed.attempt_id}/void/" in manage
        page = browser_for(org_admin).get(f"/certification/manage/exams/{failed.attempt_id}/void/")
        assert page.status_code == 200 and 'name="reason"' in page.content.decode()
        # The staff page is for site staff only.
        assert browser_for(trainee).get(
            f"/certification/staff/appeals/{appeal['id']}/").status_code == 302


def test_the_appeal_settings_are_the_org_admins_and_audited(org, org_admin, trainee, admin_b):
    api = api_for(org_admin)
    assert api.get("/api/v1/appeals/settings/").json() == {
        "appeal_days": 30, "impartial_appeals": True}
    response = api.put("/api/v1/appeals/settings/", {"appeal_days": 0,
                                                     "impartial_appeals": True}, format="json")
    assert response.status_code == 400 and "appeal_days" in response.json()
    response = api.put("/api/v1/appeals/settings/", {"appeal_days": 45,
                                                     "impartial_appeals": False}, format="json")
    assert response.json() == {"appeal_days": 45, "impartial_appeals": False}
    event = AuditEvent.objects.get(action="organization.appeal_settings_changed")
    assert event.actor == org_admin and event.before == {"appeal_days": 30,
                                                         "impartial_appeals": True}
    assert api_for(trainee).get("/api/v1/appeals/settings/").status_code == 403
    # Another organisation's admin reads and changes their own organisation only.
    assert api_for(admin_b).get("/api/v1/appeals/settings/").json()["appeal_days"] == 30


def test_a_decision_of_a_voided_attempt_cannot_be_overturned(failed, trainee, org_admin):
    with time_machine.travel(LATER, tick=False):
        _correct_the_reference(failed)
        appeal = _file(trainee, "decision", failed.pk)
        assert api_for(org_admin).post(f"/api/v1/attempts/{failed.attempt_id}/void/",
                                       {"reason": "Phone in use."},
                                       format="json").status_code == 201
        refused = _decide(org_admin, appeal["id"], "overturned", status=409)
    assert "voided" in refused["detail"]
