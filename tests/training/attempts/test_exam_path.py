"""The candidate's path through an exam: the briefing and its undertaking before the clock
starts, done / not done case tabs, the result page, extra time granted beforehand, the rule
frozen at the start, and what a failed candidate can read (nothing of an exam case's
reference, anywhere). The exposure report for org admins."""

import datetime as dt

import pytest
import time_machine

from tests.conftest import api_for, browser_for, make_member
from tests.training.helpers import (
    EXAM_DAY,
    exam_fill,
    exam_start,
    make_exam,
    rating_put,
    reference_body,
    reference_secrets,
)
from training.attempts import exams
from training.certification import rules
from training.models import (
    Attempt,
    AttemptStatus,
    AuditEvent,
    CertificationDecision,
    Cohort,
    ExamAccommodation,
    ExamStart,
    Role,
)
from vignettes.models import Vignette

pytestmark = pytest.mark.django_db


@pytest.fixture
def rule(org, org_admin):
    return rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                           retake_wait_days=1, now=EXAM_DAY - dt.timedelta(days=3))


def _post(client, path, data=None, **kwargs):
    client.get("/dashboard/")
    return client.post(path, {"csrfmiddlewaretoken": client.cookies["csrftoken"].value,
                              **(data or {})}, **kwargs)


def _fail(api, attempt):
    """Every case scored with one item off the reference and the first applicable case judged
    not applicable: a failed exam whose misses would name reference codes."""
    exam_fill(api, attempt, wrong_applicability=1, miss="CPORT-1")
    response = api.post(f"/api/v1/attempts/{attempt['id']}/submit/")
    assert response.status_code == 200, response.content


def test_the_exam_starts_only_after_the_undertaking_is_accepted(org, trainee, instructor,
                                                                  rule):
    exam = make_exam(org, [trainee], instructor, draw=5)
    api = api_for(trainee)
    with time_machine.travel(EXAM_DAY, tick=False):
        for body in ({"assignment": exam.pk}, {"assignment": exam.pk,
                                               "accept_undertaking": False}):
            refused = api.post("/api/v1/attempts/", body, format="json")
            assert refused.status_code == 400
            assert "confidentiality undertaking" in refused.json()["accept_undertaking"][0]
        page = browser_for(trainee)
        briefing = page.get(f"/assignments/{exam.pk}/briefing/").content.decode()
        assert "5 cases" in briefing and "60 minutes" in briefing
        assert "2 attempts left" in briefing and "1 day after" in briefing
        assert "does not stop the clock" in briefing and "finalised with what you have saved" \
            in briefing
        assert exams.UNDERTAKING_VERSION in briefing
        # The form without the box ticked: 400, the briefing again with the reason.
        response = _post(page, f"/assignments/{exam.pk}/start/")
        assert response.status_code == 400
        assert "Accept the confidentiality undertaking" in response.content.decode()
        assert not Attempt.objects.filter(user=trainee).exists()
        response = _post(page, f"/assignments/{exam.pk}/start/", {"accept_undertaking": "yes"})
        attempt = Attempt.objects.get(user=trainee)
        assert response.status_code == 302 and response["Location"] == f"/attempts/{attempt.pk}/"
    start = ExamStart.objects.get(attempt=attempt)
    assert (start.user, start.undertaking_version, start.undertaking_accepted_at) == (
        trainee, exams.UNDERTAKING_VERSION, EXAM_DAY)
    assert AuditEvent.objects.filter(action="exam.undertaking_accepted", actor=trainee,
                                     object_id=str(attempt.pk)).count() == 1
    assert start.rules["cport"]["retake_wait_days"] == 1
    # A practice assignment needs no undertaking; a briefing is for exams only.
    assert page.get(f"/assignments/{exam.pk}/briefing/").status_code == 302  # in progress


def test_case_tabs_say_done_and_not_done_and_the_result_page_says_pass_or_fail(
        org, trainee, instructor, rule):
    exam = make_exam(org, [trainee], instructor, draw=10)
    api, page = api_for(trainee), browser_for(trainee)
    with time_machine.travel(EXAM_DAY, tick=False):
        attempt = exam_start(api, exam)
        first = attempt["vignettes"][0]["slug"]
        assert rating_put(api, attempt["id"], reference_body(first, "cport")).status_code == 200
        html = page.get(f"/attempts/{attempt['id']}/").content.decode()
        assert html.count(">✓ done<") == 1 and html.count(">○ not done<") == 9
        dashboard = page.get("/dashboard/").content.decode()
        assert "1 of 10 cases done" in dashboard  # the draw, not the pool of 14
        listed = api.get("/api/v1/assignments/").json()
        listed = listed["results"] if isinstance(listed, dict) else listed
        assert next(a for a in listed if a["id"] == exam.pk)["cases_per_attempt"] == 10
        for v in attempt["vignettes"][1:]:
            assert rating_put(api, attempt["id"], reference_body(v["slug"], "cport")
                              ).status_code == 200
        assert page.get(f"/attempts/{attempt['id']}/").content.decode().count(">✓ done<") == 10
        response = _post(page, f"/attempts/{attempt['id']}/submit/")
        assert response["Location"] == f"/certification/exams/{attempt['id']}/result/"
        result = page.get(response["Location"]).content.decode()
    assert "You passed this exam." in result
    assert 'data-criterion="item_agreement"' in result and "Threshold" in result
    decision = CertificationDecision.objects.get(attempt_id=attempt["id"])
    assert f"/certification/certificates/{decision.certificate.pk}/" in result
    # The holder is asked at issue what the public page shows of their name; once they have
    # chosen, the result page no longer asks.
    cert_id = decision.certificate.pk
    assert f'id="name-choice-{cert_id}"' in result
    assert f"/certification/certificates/{cert_id}/#display-consent" in result
    with time_machine.travel(EXAM_DAY + dt.timedelta(hours=1), tick=False):
        assert api.put(f"/api/v1/certificates/{cert_id}/display/", {"show_full_name": "full"},
                       format="json").status_code == 200
        result = page.get(f"/certification/exams/{attempt['id']}/result/").content.decode()
    assert "You passed this exam." in result and f'id="name-choice-{cert_id}"' not in result


def test_a_failed_candidate_reads_nothing_of_an_exam_cases_reference_anywhere(
        org, trainee, instructor, org_admin, rule):
    """Fail an exam with the default policy ("never") and walk every page and endpoint the
    candidate can reach; then retake, and get only unseen cases."""
    exam = make_exam(org, [trainee], instructor, draw=5)
    api, page = api_for(trainee), browser_for(trainee)
    with time_machine.travel(EXAM_DAY, tick=False):
        attempt = exam_start(api, exam)
        _fail(api, attempt)
    decision = CertificationDecision.objects.get(attempt_id=attempt["id"])
    assert not decision.passed
    aid = attempt["id"]
    with time_machine.travel(EXAM_DAY + dt.timedelta(hours=1), tick=False):
        pages = ["/dashboard/", "/attempts/", f"/attempts/{aid}/", f"/attempts/{aid}/feedback/",
                 "/progress/", "/certification/", f"/certification/exams/{aid}/result/",
                 f"/certification/decisions/{decision.pk}/", "/recalibration/",
                 "/library/", f"/assignments/{exam.pk}/briefing/", "/accounts/"]
        seen = {}
        for path in pages:
            response = page.get(path, follow=True)
            assert response.status_code == 200, path
            seen[path] = response.content.decode()
        for path in ("/api/v1/attempts/", f"/api/v1/attempts/{aid}/", "/api/v1/me/",
                     "/api/v1/assignments/", "/api/v1/certification-decisions/",
                     f"/api/v1/certification-decisions/{decision.pk}/",
                     "/api/v1/certificates/"):
            response = api.get(path)
            assert response.status_code == 200, path
            seen[path] = response.content.decode()
        # Feedback, exports and admin reports are closed to the candidate.
        assert api.get(f"/api/v1/attempts/{aid}/feedback/").status_code == 403
        membership = trainee.memberships.get()
        for path in (f"/api/v1/members/{membership.pk}/export/",
                     f"/api/v1/cohorts/{exam.cohort_id}/export.csv", "/api/v1/exam-exposure/"):
            assert api.get(path).status_code in (403, 404), path
        # A late save says why it is refused and nothing more.
        late = rating_put(api, aid, reference_body(attempt["vignettes"][0]["slug"], "cport"))
        assert late.status_code == 409
        seen["late save"] = late.content.decode()
    result = seen[f"/certification/exams/{aid}/result/"]
    assert "You did not pass this exam." in result and "Not met" in result
    for where, text in seen.items():
        for v in attempt["vignettes"]:
            for secret in reference_secrets(v["slug"]):
                assert secret not in text, (where, v["slug"], secret)
        assert "reference_value" not in text, where
        assert "Items you most often miss" not in text, where
        assert "practises" not in text, where  # recommendations name reference codes
        assert 'class="miss"' not in text and "✗ miss" not in text, where
    # The retake, a day later: only cases never drawn before.
    with time_machine.travel(EXAM_DAY + dt.timedelta(days=1, hours=1), tick=False):
        retake = exam_start(api, exam)
    first = {v["slug"] for v in attempt["vignettes"]}
    again = {v["slug"] for v in retake["vignettes"]}
    assert len(again) == 5 and not first & again


def test_the_rule_that_decides_an_exam_is_the_one_at_its_start(org, trainee, trainee2,
                                                                 instructor, org_admin, rule):
    exam = make_exam(org, [trainee, trainee2], instructor, draw=10)
    with time_machine.travel(EXAM_DAY, tick=False):
        started = exam_start(api_for(trainee), exam)
        exam_fill(api_for(trainee), started, miss="CPORT-1")
    # The admin makes the item-agreement threshold unreachable while the exam runs.
    rules.rule_save(actor=org_admin, organization=org, rule=rule, item_agreement=1.0,
                    accept_short_exam=True, now=EXAM_DAY + dt.timedelta(minutes=5))
    with time_machine.travel(EXAM_DAY + dt.timedelta(minutes=10), tick=False):
        assert api_for(trainee).post(
            f"/api/v1/attempts/{started['id']}/submit/").status_code == 200
        later = exam_start(api_for(trainee2), exam)
        exam_fill(api_for(trainee2), later, miss="CPORT-1")
        assert api_for(trainee2).post(
            f"/api/v1/attempts/{later['id']}/submit/").status_code == 200
    frozen = CertificationDecision.objects.get(attempt_id=started["id"])
    edited = CertificationDecision.objects.get(attempt_id=later["id"])
    item = {d.pk: next(c for c in d.criteria if c["key"] == "item_agreement")
            for d in (frozen, edited)}
    assert item[frozen.pk]["threshold"] == 0.85 and item[frozen.pk]["passed"]
    assert frozen.rule_snapshot["item_agreement"] == 0.85 and frozen.passed
    assert item[edited.pk]["threshold"] == 1.0 and not item[edited.pk]["passed"]


def test_extra_time_granted_before_the_start_extends_the_deadline(org, trainee, instructor,
                                                                   org_admin, rule):
    exam = make_exam(org, [trainee], instructor, draw=5, limit=60)
    admin = browser_for(org_admin)
    with time_machine.travel(EXAM_DAY - dt.timedelta(hours=2), tick=False):
        path = f"/certification/manage/exams/{exam.pk}/accommodations/"
        assert admin.get(path).status_code == 200
        refused = _post(admin, path, {"user": trainee.pk, "extra_minutes": 30, "reason": ""})
        assert refused.status_code == 400 and "Say why" in refused.content.decode()
        response = _post(admin, path, {"user": trainee.pk, "extra_minutes": 30,
                                       "reason": "Dyslexia assessment on file"})
        assert response.status_code == 302
    grant = ExamAccommodation.objects.get(user=trainee, assignment=exam)
    assert (grant.extra_minutes, grant.granted_by) == (30, org_admin)
    assert AuditEvent.objects.filter(action="exam.accommodation_granted",
                                     actor=org_admin).count() == 1
    with time_machine.travel(EXAM_DAY, tick=False):
        briefing = browser_for(trainee).get(f"/assignments/{exam.pk}/briefing/").content.decode()
        assert "plus 30 minutes of extra time" in briefing and "90 minutes in all" in briefing
        attempt = exam_start(api_for(trainee), exam)
        assert dt.datetime.fromisoformat(attempt["deadline"]) == EXAM_DAY + dt.timedelta(
            minutes=90)
        score_page = browser_for(trainee).get(f"/attempts/{attempt['id']}/").content.decode()
        assert (EXAM_DAY + dt.timedelta(minutes=90)).isoformat() in score_page
        # Once started, no more extra time (the page and the API say why).
        again = _post(admin, path, {"user": trainee.pk, "extra_minutes": 60, "reason": "More"})
        assert again.status_code == 400 and "already started" in again.content.decode()
        api = api_for(org_admin).post(f"/api/v1/assignments/{exam.pk}/accommodations/",
                                      {"user": trainee.username, "extra_minutes": 60,
                                       "reason": "More"}, format="json")
        assert api.status_code == 400 and "already started" in api.json()["user"][0]
    assert ExamAccommodation.objects.get(pk=grant.pk).extra_minutes == 30


def test_only_the_exams_own_org_admin_grants_extra_time(org, trainee, instructor, org_admin,
                                                         admin_b, rule):
    exam = make_exam(org, [trainee], instructor, draw=5)
    path = f"/certification/manage/exams/{exam.pk}/accommodations/"
    body = {"user": trainee.pk, "extra_minutes": 30, "reason": "Reason"}
    assert _post(browser_for(admin_b), path, body).status_code == 404
    assert api_for(admin_b).post(f"/api/v1/assignments/{exam.pk}/accommodations/",
                                 {"user": trainee.username, "extra_minutes": 30,
                                  "reason": "Reason"}, format="json").status_code == 404
    for member in (trainee, instructor):
        assert _post(browser_for(member), path, body).status_code == 403
        assert api_for(member).post(f"/api/v1/assignments/{exam.pk}/accommodations/",
                                    {"user": trainee.username, "extra_minutes": 30,
                                     "reason": "Reason"}, format="json").status_code == 403
    assert not ExamAccommodation.objects.exists()
    # The API grants for the exam's own admin; someone outside its cohort is refused.
    ok = api_for(org_admin).post(f"/api/v1/assignments/{exam.pk}/accommodations/",
                                 {"user": trainee.username, "extra_minutes": 15,
                                  "reason": "Reason"}, format="json")
    assert ok.status_code == 201 and ok.json()["extra_minutes"] == 15
    outsider = make_member(org, Role.TRAINEE, "not-in-cohort")
    refused = api_for(org_admin).post(f"/api/v1/assignments/{exam.pk}/accommodations/",
                                      {"user": outsider.username, "extra_minutes": 15,
                                       "reason": "Reason"}, format="json")
    assert refused.status_code == 400 and "not a candidate" in refused.json()["user"][0]


def test_the_exposure_report_counts_draws_and_is_for_the_orgs_admins_only(
        org, trainee, trainee2, instructor, org_admin, admin_b, rule):
    exam = make_exam(org, [trainee, trainee2], instructor, draw=5)
    with time_machine.travel(EXAM_DAY, tick=False):
        first = exam_start(api_for(trainee), exam)
        exam_start(api_for(trainee2), exam)
    slug = first["vignettes"][0]["slug"]
    report = api_for(org_admin).get("/api/v1/exam-exposure/").json()
    assert report["thresholds"] == {"exposure_rate_above": 0.3, "min_candidates": 10,
                                    "released_at_least": 1}
    rows = {r["vignette"]: r for r in report["cases"]}
    assert len(rows) == exam.vignette_set.members.count()
    assert rows[slug]["candidates"] == 2 and rows[slug]["drawn"] >= 1
    assert rows[slug]["released"] == 0 and rows[slug]["retire_suggested"] is False
    assert sum(r["drawn"] for r in rows.values()) == 10
    page = browser_for(org_admin).get("/certification/manage/exposure/").content.decode()
    assert f'id="case-{slug}"' in page and "Candidates (n)" in page
    title = Vignette.objects.get(slug=slug).current_revision.title
    assert rows[slug]["title"] == title and f">{title} <span" in page  # named as people know it
    for member in (trainee, instructor):
        assert browser_for(member).get("/certification/manage/exposure/").status_code == 403
        assert api_for(member).get("/api/v1/exam-exposure/").status_code == 403
    # Another organisation's admin sees its own (empty) report.
    assert api_for(admin_b).get("/api/v1/exam-exposure/").json()["cases"] == []
    assert slug not in browser_for(admin_b).get("/certification/manage/exposure/"
                                                ).content.decode()


def test_a_release_suggests_retirement(org, trainee, instructor, org_admin):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                    exam_feedback_policy="immediate", now=EXAM_DAY - dt.timedelta(days=3))
    exam = make_exam(org, [trainee], instructor, draw=5, policy="immediate")
    with time_machine.travel(EXAM_DAY, tick=False):
        attempt = exam_start(api_for(trainee), exam)
        _fail(api_for(trainee), attempt)
        rows = {r["vignette"]: r for r in api_for(org_admin).get(
            "/api/v1/exam-exposure/").json()["cases"]}
    for v in attempt["vignettes"]:
        assert rows[v["slug"]]["released"] == 1 and rows[v["slug"]]["retire_suggested"]
    assert Attempt.objects.get(pk=attempt["id"]).status == AttemptStatus.SUBMITTED
    assert Cohort.objects.filter(organization=org).count() == 1


def test_erasing_a_candidate_clears_the_reasons_for_their_extra_time(org, trainee, instructor,
                                                                     org_admin, rule):
    from training.models import AuditRedaction
    from training.organisation import erasure

    exam = make_exam(org, [trainee], instructor, draw=5)
    grant = exams.accommodation_grant(actor=org_admin, organization=org, assignment=exam,
                                      user=trainee, extra_minutes=20,
                                      reason="Medical letter on file", now=EXAM_DAY)
    with time_machine.travel(EXAM_DAY, tick=False):
        attempt = exam_start(api_for(trainee), exam)
    result = erasure.member_erase(actor=org_admin, organization=org,
                                  membership=trainee.memberships.get(),
                                  confirm=trainee.username, now=EXAM_DAY + dt.timedelta(days=1))
    grant.refresh_from_db()
    assert grant.reason == "" and grant.extra_minutes == 20
    assert result.counts["accommodation_reasons_cleared"] == 1
    event = AuditEvent.objects.get(action="exam.accommodation_granted")
    assert ["after", "reason"] in AuditRedaction.objects.get(event=event).paths
    assert ExamStart.objects.get(attempt_id=attempt["id"]).user == result.erasure.pseudonym
