"""Exam and recalibration references reach a candidate only when the certification rule's
feedback policy (tightened, never loosened, by the assignment) releases them: not on the
dashboard, progress, recommendations, API, certification pages or the member export. Retakes
wait at least the rule's period and draw only cases the person has never been given, in any
organisation."""

import datetime as dt
import json

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import transaction

from tests.conftest import api_for, browser_for, make_member
from tests.training.helpers import certify, reference_for, reference_secrets
from training.attempts import disclosure, exams, progress
from training.certification import rules
from training.models import (
    Assignment,
    Attempt,
    AttemptVignette,
    Cohort,
    FeedbackPolicy,
    Membership,
    Mode,
    Rating,
    RatingComment,
    Role,
)
from training.organisation import export as export_services
from training.organisation.cohorts import assignment_save
from vignettes.models import Vignette, VignetteSet, VignetteSetMember

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 4, 6, 9, 0, tzinfo=dt.UTC)
CLOSES = T0 + dt.timedelta(days=30)


def bundled_pool():
    return VignetteSet.objects.get(slug="cport-exam-pool", owner__isnull=True)


def applicable_exam_case() -> str:
    """A bundled exam case on which the CPORT reference scores items."""
    for member in bundled_pool().members.select_related("vignette").order_by("order"):
        if reference_for(member.vignette.slug, "cport").applicable:
            return member.vignette.slug
    raise AssertionError("no applicable CPORT exam case")


def one_case_pool(org, slug) -> VignetteSet:
    pool = VignetteSet.objects.create(owner=org, slug="one-case", title="One case",
                                      kind=VignetteSet.Kind.EXAM, content_hash="-")
    VignetteSetMember.objects.create(vignette_set=pool, order=1,
                                     vignette=Vignette.objects.get(slug=slug, owner=None))
    return pool


def exam_for(org, trainees, instructor, *, pool, policy, draw=None, attempts=1, wait=None,
             title="CPORT exam"):
    cohort = Cohort.objects.create(organization=org,
                                   name=f"{title} cohort {Cohort.objects.count() + 1}")
    cohort.trainees.add(*trainees)
    cohort.instructors.add(instructor)
    return assignment_save(
        actor=instructor, organization=org, title=title, cohort=cohort, vignette_set=pool,
        instrument_slugs=["cport"], mode=Mode.EXAM, opens_at=T0 - dt.timedelta(days=1),
        closes_at=CLOSES, time_limit_minutes=120, attempts_allowed=attempts,
        feedback_policy=policy, draw_size=draw, retake_wait_days=wait,
        now=T0 - dt.timedelta(days=2),
    )


def all_missed_body(slug):
    """Every item coded differently from the reference, so every miss names a reference code."""
    ref = reference_for(slug, "cport")
    items = {}
    for code, value in ref.item_states().items():
        allowed = [v.value for v in ref.instrument_version.items.get(code=code)
                   .allowed_values.all()]
        items[code] = next(v for v in allowed if v != value)
    return {"vignette": slug, "instrument": "cport", "revision": 0, "applicable": True,
            "items": items}


def sit(api, exam, slug):
    attempt = api.post("/api/v1/attempts/", {"assignment": exam.pk, "accept_undertaking": True}, format="json")
    assert attempt.status_code == 201, attempt.content
    attempt = attempt.json()
    assert [v["slug"] for v in attempt["vignettes"]] == [slug]
    saved = api.put(f"/api/v1/attempts/{attempt['id']}/ratings/", json.dumps(all_missed_body(slug)),
                    content_type="application/json")
    assert saved.status_code == 200, saved.content
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
    return attempt["id"]


def candidate_sees(trainee, org_admin, org, attempt_id) -> dict[str, str]:
    """Everything the candidate can read about themselves, by where it is shown."""
    api, browser = api_for(trainee), browser_for(trainee)
    seen = {
        "dashboard": browser.get("/dashboard/").content.decode(),
        "progress": browser.get("/progress/").content.decode(),
        "feedback page": browser.get(f"/attempts/{attempt_id}/feedback/").content.decode(),
        "certification": browser.get("/certification/").content.decode(),
        "export": json.dumps(export_services.member_export(actor=org_admin, organization=org,
                                                   user=trainee)),
    }
    for path in (f"/api/v1/attempts/{attempt_id}/", "/api/v1/attempts/",
                 f"/api/v1/attempts/{attempt_id}/feedback/", "/api/v1/me/",
                 "/api/v1/assignments/", "/api/v1/certification-decisions/",
                 "/api/v1/certificates/"):
        seen[path] = api.get(path).content.decode()
    return seen


def assert_nothing_of_the_reference(seen, slug, rating_id):
    assert "practises" not in seen["dashboard"]  # recommendations name reference codes
    assert "Items you most often miss" not in seen["progress"]
    assert "Mean signed deviation" not in seen["progress"]
    for where, text in seen.items():
        for secret in reference_secrets(slug):
            assert secret not in text, (where, secret)
        assert "reference_value" not in text, where
    assert "tr class=\"miss\"" not in seen["feedback page"]
    rating = Rating.objects.get(pk=rating_id)
    assert not disclosure.reference_released(rating=rating)


@pytest.mark.parametrize("policy", [FeedbackPolicy.AFTER_CLOSE, FeedbackPolicy.NEVER])
def test_an_open_exam_shows_its_candidate_nothing_of_the_reference_until_released(
        org, org_admin, instructor, trainee, policy):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                            exam_feedback_policy=policy, now=T0 - dt.timedelta(days=3))
    slug = applicable_exam_case()
    exam = exam_for(org, [trainee], instructor, pool=one_case_pool(org, slug), policy=policy)
    with time_machine.travel(T0, tick=False):
        attempt_id = sit(api_for(trainee), exam, slug)
        rating = Rating.objects.get(attempt_id=attempt_id)
        # An instructor's comment that quotes the reference: part of the withheld feedback.
        RatingComment.objects.create(rating=rating, author=instructor, created_at=T0,
                                     text=reference_secrets(slug)[1])
        seen = candidate_sees(trainee, org_admin, org, attempt_id)
        assert_nothing_of_the_reference(seen, slug, rating.pk)
        assert progress.recommended_cases(user=trainee, organization=org) == []
        assert progress.trainee_progress(user=trainee, organization=org) == []
        assert api_for(trainee).get(f"/api/v1/attempts/{attempt_id}/feedback/"
                                    ).status_code == 403
        assert api_for(trainee).get(f"/api/v1/attempts/{attempt_id}/").json()[
            "feedback_available"] is False
    with time_machine.travel(CLOSES + dt.timedelta(minutes=1), tick=False):
        seen = candidate_sees(trainee, org_admin, org, attempt_id)
        if policy == FeedbackPolicy.NEVER:
            assert_nothing_of_the_reference(seen, slug, rating.pk)
            return
        # After the close the policy releases it, everywhere.
        ref = reference_for(slug, "cport")
        feedback = api_for(trainee).get(f"/api/v1/attempts/{attempt_id}/feedback/").json()
        assert {i["code"]: i["reference_value"] for i in feedback[0]["items"]} == \
            ref.item_states()
        assert "practises" in seen["dashboard"]
        assert "Items you most often miss" in seen["progress"]
        assert reference_secrets(slug)[1] in seen["export"]
        assert progress.trainee_progress(user=trainee, organization=org)[0].ratings == 1
        assert disclosure.reference_released(rating=rating)


def test_a_recalibration_follows_the_rules_policy_as_an_exam_does(org, org_admin, trainee):
    rule = rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                                   now=T0 - dt.timedelta(days=3))
    slug = applicable_exam_case()
    from training.models import Recalibration

    cert = certify(org, trainee, at=T0 - dt.timedelta(days=200), rule=rule)
    attempt = Attempt.objects.create(user=trainee, organization=org, mode=Mode.PRACTICE,
                                     started_at=T0)
    attempt.instrument_versions.set([cert.instrument_version])
    AttemptVignette.objects.create(attempt=attempt, order=1,
                                   vignette_revision=Vignette.objects.get(
                                       slug=slug, owner=None).current_revision)
    Recalibration.objects.create(certificate=cert, period=1, attempt=attempt, assigned_at=T0,
                                 due_at=T0 + dt.timedelta(days=30))
    api = api_for(trainee)
    with time_machine.travel(T0, tick=False):
        api.put(f"/api/v1/attempts/{attempt.pk}/ratings/", json.dumps(all_missed_body(slug)),
                content_type="application/json")
        assert api.post(f"/api/v1/attempts/{attempt.pk}/submit/").status_code == 200
        assert api.get(f"/api/v1/attempts/{attempt.pk}/feedback/").status_code == 403
        assert progress.trainee_progress(user=trainee, organization=org) == []
        assert "practises" not in browser_for(trainee).get("/dashboard/").content.decode()
        rules.rule_save(actor=org_admin, organization=org, rule=rule,
                                exam_feedback_policy=FeedbackPolicy.IMMEDIATE)
        assert api.get(f"/api/v1/attempts/{attempt.pk}/feedback/").status_code == 200


def test_free_practice_feedback_is_unchanged(org, trainee):
    from tests.training.helpers import PRACTICE

    api = api_for(trainee)
    attempt = api.post("/api/v1/attempts/", {"vignette": PRACTICE, "instrument": "cport"},
                       format="json").json()
    api.put(f"/api/v1/attempts/{attempt['id']}/ratings/", json.dumps(all_missed_body(PRACTICE)),
            content_type="application/json")
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
    assert api.get(f"/api/v1/attempts/{attempt['id']}/feedback/").status_code == 200
    assert progress.trainee_progress(user=trainee, organization=org)[0].ratings == 1


# --- the assignment can tighten the rule, never loosen it ---------------------------------


@pytest.mark.parametrize(("rule_policy", "chosen", "refused"), [
    (FeedbackPolicy.NEVER, FeedbackPolicy.IMMEDIATE, True),
    (FeedbackPolicy.NEVER, FeedbackPolicy.AFTER_CLOSE, True),
    (FeedbackPolicy.AFTER_CLOSE, FeedbackPolicy.IMMEDIATE, True),
    (FeedbackPolicy.AFTER_CLOSE, FeedbackPolicy.AFTER_CLOSE, False),
    (FeedbackPolicy.AFTER_CLOSE, FeedbackPolicy.NEVER, False),
    (FeedbackPolicy.IMMEDIATE, FeedbackPolicy.IMMEDIATE, False),
])
def test_an_exam_assignment_looser_than_the_rule_is_refused(org, org_admin, instructor,
                                                             rule_policy, chosen, refused):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                            exam_feedback_policy=rule_policy)
    if refused:
        with pytest.raises(ValidationError) as error, transaction.atomic():
            exam_for(org, [], instructor, pool=bundled_pool(), policy=chosen)
        assert "feedback_policy" in error.value.message_dict
        assert not Assignment.objects.exists()
    else:
        exam = exam_for(org, [], instructor, pool=bundled_pool(), policy=chosen)
        assert disclosure.assignment_policy(exam) == chosen


def test_without_a_rule_an_exam_counts_as_never(org, instructor):
    with pytest.raises(ValidationError) as error:
        exam_for(org, [], instructor, pool=bundled_pool(), policy=FeedbackPolicy.IMMEDIATE)
    assert "Not shown to trainees" in error.value.message_dict["feedback_policy"][0]
    exam = exam_for(org, [], instructor, pool=bundled_pool(), policy=FeedbackPolicy.NEVER)
    assert disclosure.assignment_policy(exam) == FeedbackPolicy.NEVER


def test_the_assignment_form_refuses_a_looser_policy_and_says_why(org, org_admin, instructor):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport")
    cohort = Cohort.objects.create(organization=org, name="Exam cohort")
    cohort.instructors.add(instructor)
    browser = browser_for(instructor)
    page = browser.get("/manage/assignments/new/").content.decode()
    assert "CPORT: “Not shown to trainees”" in page
    data = {"csrfmiddlewaretoken": browser.cookies["csrftoken"].value, "title": "Exam",
            "cohort": cohort.pk, "mode": "exam", "vignette_set": bundled_pool().pk,
            "instruments": ["cport"], "opens_at": "2030-03-01T09:00", "time_limit_minutes": 90,
            "feedback_policy": "immediate", "retake_wait_days": 0}
    response = browser.post("/manage/assignments/new/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "an exam assignment can keep that or be stricter" in html
    assert "at least 14 days between exam attempts" in html
    assert not Assignment.objects.exists()


def test_the_rule_page_sets_and_shows_the_exam_feedback_policy(org, org_admin):
    browser = browser_for(org_admin)
    page = browser.get("/certification/manage/rules/new/").content.decode()
    assert 'name="exam_feedback_policy"' in page
    data = {"instrument": "cport", "min_exam_vignettes": "10", "item_agreement": "0.85",
            "total_tolerance": "1", "total_within_tolerance": "0.8", "band_agreement": "",
            "icc_a1": "0.8", "validity_months": "24", "retake_wait_days": "14",
            "exam_feedback_policy": "after_close",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value}
    assert browser.post("/certification/manage/rules/new/", data).status_code == 302
    assert org.certification_rules.get().exam_feedback_policy == FeedbackPolicy.AFTER_CLOSE
    assert "After the assignment closes" in browser.get("/certification/manage/"
                                                        ).content.decode()


# --- retakes ------------------------------------------------------------------------------


def test_a_retake_wait_shorter_than_the_rule_is_refused_and_never_applies(org, org_admin,
                                                                        instructor):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                            retake_wait_days=14)
    with pytest.raises(ValidationError) as error:
        exam_for(org, [], instructor, pool=bundled_pool(), policy=FeedbackPolicy.NEVER, wait=0)
    assert "at least 14 days" in error.value.message_dict["retake_wait_days"][0]
    exam = exam_for(org, [], instructor, pool=bundled_pool(), policy=FeedbackPolicy.NEVER,
                    wait=30)
    assert exams.exam_wait_days(organization=org, assignment=exam) == 30
    # Saved before the rule asked for more (or behind the form's back): the rule still holds.
    Assignment.objects.filter(pk=exam.pk).update(retake_wait_days=0)
    exam.refresh_from_db()
    assert exams.exam_wait_days(organization=org, assignment=exam) == 14


def _start(api, exam, status, **headers):
    response = api.post("/api/v1/attempts/", {"assignment": exam.pk, "accept_undertaking": True}, format="json", **headers)
    assert response.status_code == status, response.content
    return response.json()


def _submit_unscored(api, attempt):
    for v in attempt["vignettes"]:
        api.put(f"/api/v1/attempts/{attempt['id']}/ratings/",
                json.dumps({"vignette": v["slug"], "instrument": "cport", "revision": 0,
                            "applicable": False}), content_type="application/json")
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200


def test_a_retake_draws_only_unseen_cases_and_is_refused_when_the_pool_runs_out(
        org, org_admin, instructor, trainee):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                            retake_wait_days=1)
    size = bundled_pool().members.count()
    draw = size // 2 - 2  # two draws leave fewer unseen cases than a third needs
    left = size - 2 * draw
    exam = exam_for(org, [trainee], instructor, pool=bundled_pool(),
                    policy=FeedbackPolicy.NEVER, draw=draw, attempts=3)
    api = api_for(trainee)
    drawn = []
    for day in (0, 2):
        with time_machine.travel(T0 + dt.timedelta(days=day), tick=False):
            attempt = _start(api, exam, 201)
            slugs = {v["slug"] for v in attempt["vignettes"]}
            assert len(slugs) == draw and not slugs & set().union(*drawn)
            drawn.append(slugs)
            _submit_unscored(api, attempt)
    with time_machine.travel(T0 + dt.timedelta(days=4), tick=False):
        refused = _start(api, exam, 409)
        assert refused["code"] == "pool_exhausted" and f"only {left}" in refused["detail"]
        assert Attempt.objects.filter(user=trainee).count() == 2
        page = browser_for(trainee)
        page.get("/dashboard/")
        response = page.post(f"/assignments/{exam.pk}/start/",
                             {"csrfmiddlewaretoken": page.cookies["csrftoken"].value,
                              "accept_undertaking": "yes"},
                             follow=True)
        assert "cannot give you a fair draw" in response.content.decode()
        assert Attempt.objects.filter(user=trainee).count() == 2
    capacity = exams.exam_pool_capacity(assignment=exam)
    assert (capacity.pool, capacity.draw, capacity.attempts_supported) == (size, draw, 2)
    assert capacity.more_needed == 3 * draw - size and capacity.candidates_blocked == 1


def test_cases_seen_in_another_organisation_are_never_drawn_again(
        org, other_org, org_admin, instructor, trainee):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport")
    north = exam_for(org, [trainee], instructor, pool=bundled_pool(),
                     policy=FeedbackPolicy.NEVER, draw=10)
    south_admin = make_member(other_org, Role.ORG_ADMIN, "south-admin")
    south_instructor = make_member(other_org, Role.INSTRUCTOR, "south-instructor")
    # The same person, a trainee of a second organisation that uses the bundled pool too.
    Membership.objects.create(user=trainee, organization=other_org, role=Role.TRAINEE)
    rules.rule_save(actor=south_admin, organization=other_org, instrument_slug="cport")
    size = bundled_pool().members.count()
    south_full = exam_for(other_org, [trainee], south_instructor, pool=bundled_pool(),
                          policy=FeedbackPolicy.NEVER, draw=size - 6, title="South exam")
    south_small = exam_for(other_org, [trainee], south_instructor, pool=bundled_pool(),
                           policy=FeedbackPolicy.NEVER, draw=4, title="South short exam")
    api = api_for(trainee)
    south = {"HTTP_X_ORGANIZATION": other_org.slug}
    with time_machine.travel(T0, tick=False):
        first = _start(api, north, 201)
        _submit_unscored(api, first)
        seen = {v["slug"] for v in first["vignettes"]}
    with time_machine.travel(T0 + dt.timedelta(days=20), tick=False):
        assert _start(api, south_full, 409, **south)["code"] == "pool_exhausted"
        assert not Attempt.objects.filter(organization=other_org).exists()
        # An exam that asks for no more than the unseen cases gets exactly those.
        second = _start(api, south_small, 201, **south)
        slugs = {v["slug"] for v in second["vignettes"]}
        assert len(slugs) == 4 and not slugs & seen


def test_the_instructor_sees_how_many_more_cases_the_pool_needs(org, org_admin, instructor):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport")
    size = bundled_pool().members.count()
    draw = size // 2
    exam_for(org, [], instructor, pool=bundled_pool(), policy=FeedbackPolicy.NEVER, draw=draw,
             attempts=3)
    more = 3 * draw - size
    for user in (instructor, org_admin):
        html = browser_for(user).get("/manage/assignments/").content.decode()
        assert f"Pool of {size} cases, {draw} drawn per attempt" in html
        assert f"Candidates who retake need {more} more unseen cases" in html
    html = browser_for(org_admin).get("/certification/manage/").content.decode()
    assert f"Candidates who retake need {more} more unseen cases" in html


def test_a_rule_tightened_later_governs_exams_already_set(org, org_admin, instructor, trainee):
    rule = rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                                   exam_feedback_policy=FeedbackPolicy.IMMEDIATE)
    exam = exam_for(org, [trainee], instructor, pool=bundled_pool(),
                    policy=FeedbackPolicy.IMMEDIATE)
    rules.rule_save(actor=org_admin, organization=org, rule=rule,
                            exam_feedback_policy=FeedbackPolicy.NEVER)
    with time_machine.travel(T0, tick=False):
        listed = api_for(trainee).get("/api/v1/assignments/").json()["results"][0]
    assert listed["feedback_policy"] == "immediate"
    assert listed["effective_feedback_policy"] == "never"
    assert disclosure.assignment_policy(exam) == FeedbackPolicy.NEVER
