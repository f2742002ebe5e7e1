"""The demo has a real certificate from the start: a trainee who passed the demo exam
through the services, with a decision, a certificate that verifies publicly, and the API."""

import pytest

from tests.conftest import api_for
from training import demo
from training.attempts import progress
from training.models import Certificate, CertificateStatus, CertificationDecision

pytestmark = pytest.mark.django_db


def test_demo_holds_one_passed_exam_and_its_certificate_once(content, client):
    demo.seed_demo(password="calibrate-demo")
    cert = Certificate.objects.get()
    assert cert.holder.username == demo.CERTIFIED
    assert cert.status == CertificateStatus.ACTIVE
    decision = cert.decision
    assert decision.passed and decision.attempt.mode == "exam"
    assert decision.attempt.user == cert.holder
    # One near miss, as the seed says: not a perfect copy of the reference.
    item = next(c for c in decision.criteria if c["key"] == "item_agreement")
    assert 0.8 <= item["value"] < 1

    page = client.get(f"/verify/{cert.verification_code}")
    assert page.status_code == 200 and b"active" in page.content.lower()
    listing = api_for(cert.holder).get("/api/v1/certificates/").json()
    assert [c["id"] for c in listing["results"]] == [cert.pk]

    demo.seed_demo(password="calibrate-demo")  # a second run adds nothing
    assert Certificate.objects.count() == 1
    assert CertificationDecision.objects.count() == 1


def test_demo_exam_keeps_its_cases_secret_and_a_retake_draws_new_cases(content):
    from training.models import Assignment, CertificationRule, FeedbackPolicy, Mode, Rating

    demo.seed_demo(password="calibrate-demo")
    rule = CertificationRule.objects.get()
    exam = Assignment.objects.get(mode=Mode.EXAM)
    assert rule.exam_feedback_policy == exam.feedback_policy == FeedbackPolicy.NEVER
    holder = Certificate.objects.get().holder
    api = api_for(holder)
    attempt = CertificationDecision.objects.get().attempt
    assert api.get(f"/api/v1/attempts/{attempt.pk}/feedback/").status_code == 403
    # The passed exam's cases are not in the holder's progress (practice only); the decision
    # (result and criteria) is theirs to see.
    practice = Rating.objects.filter(
        attempt__user=holder, attempt__mode=Mode.PRACTICE, submitted_at__isnull=False,
        reference_scoring__isnull=False, instrument_version__instrument__slug="cport").count()
    shown = {p.slug: p.ratings for p in progress.trainee_progress(
        user=holder, organization=exam.organization)}
    assert shown.get("cport", 0) == practice
    assert api.get("/api/v1/certification-decisions/").json()["count"] == 1
    # The pool (59 exam cases) carries retakes: a second draw shares no case with the first.
    retake = api.post("/api/v1/attempts/", {"assignment": exam.pk, "accept_undertaking": True}, format="json")
    assert retake.status_code == 201, retake.content
    first = set(attempt.attempt_vignettes.values_list("vignette_revision__vignette__slug",
                                                      flat=True))
    assert not first & {v["slug"] for v in retake.json()["vignettes"]}
