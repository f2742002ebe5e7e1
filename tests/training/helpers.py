"""Shared steps for training tests: ratings copied from the reference (with a deliberate
miss), an exam sat through the API, a certificate issued directly, two-factor codes."""

import datetime as dt
import json

from django.db import transaction
from django_otp.oath import totp

from training.accounts import twofactor
from training.certification import certificates
from training.models import (
    Assignment,
    Attempt,
    AttemptStatus,
    Certificate,
    CertificationDecision,
    Cohort,
    FeedbackPolicy,
    Mode,
    Rating,
)
from training.organisation.cohorts import assignment_save
from vignettes.models import Instrument, ReferenceScoring, Vignette, VignetteSet

PRACTICE = "daniel-r-009"


def reference_for(slug: str, instrument: str) -> ReferenceScoring:
    vignette = Vignette.objects.get(slug=slug, owner__isnull=True)
    return (
        ReferenceScoring.objects.filter(
            vignette_revision=vignette.current_revision,
            instrument_version__instrument__slug=instrument,
        )
        .order_by("-number")
        .first()
    )


def reference_body(slug: str, instrument: str, *, miss: str | None = None, revision: int = 0):
    """A rating body that copies the reference, except item `miss` (flipped)."""
    ref = reference_for(slug, instrument)
    body = {"vignette": slug, "instrument": instrument, "revision": revision,
            "applicable": ref.applicable}
    if ref.applicable:
        items = ref.item_states()
        if miss and miss in items:
            values = [v.value for v in ref.instrument_version.items.get(code=miss)
                      .allowed_values.all()]
            items[miss] = next(v for v in values if v != items[miss])
        body["items"] = items
    return body


def reference_secrets(slug: str) -> list[str]:
    """Strings that only reference data contains: rationales, reasons, the panel."""
    vignette = Vignette.objects.get(slug=slug, owner__isnull=True)
    out = []
    for ref in ReferenceScoring.objects.filter(vignette_revision=vignette.current_revision):
        out.append(ref.panel)
        if ref.not_applicable_reason:
            out.append(ref.not_applicable_reason[:50])
        out.extend(s.rationale[:50] for s in ref.item_scores.all())
    return out


def rating_put(api, attempt_id, body, **kwargs):
    # json.dumps escapes lone surrogates as \udXXX, as a real client would send them.
    return api.put(f"/api/v1/attempts/{attempt_id}/ratings/", json.dumps(body),
                   content_type="application/json", **kwargs)


# --- exams and certificates ----------------------------------------------------------------

EXAM_DAY = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def make_exam(org, trainees, instructor, *, policy=FeedbackPolicy.NEVER, draw=10,
              attempts=2, wait=None, limit=60):
    """A CPORT exam on the bundled exam pool, open around EXAM_DAY, for a new cohort."""
    cohort = Cohort.objects.create(organization=org, name="Exam cohort")
    cohort.trainees.add(*trainees)
    cohort.instructors.add(instructor)
    exam = assignment_save(
        actor=instructor, organization=org, title="CPORT exam", cohort=cohort,
        vignette_set=VignetteSet.objects.bundled().get(slug="cport-exam-pool"),
        instrument_slugs=["cport"], mode=Mode.EXAM, opens_at=EXAM_DAY - dt.timedelta(days=1),
        closes_at=EXAM_DAY + dt.timedelta(days=90), time_limit_minutes=limit,
        attempts_allowed=attempts, feedback_policy=policy,
        now=EXAM_DAY - dt.timedelta(days=2),
    )
    Assignment.objects.filter(pk=exam.pk).update(draw_size=draw, retake_wait_days=wait)
    exam.refresh_from_db()
    return exam


def exam_start(api, exam, status=201):
    response = api.post("/api/v1/attempts/", {"assignment": exam.pk, "accept_undertaking": True}, format="json")
    assert response.status_code == status, response.content
    return response.json()


def exam_fill(api, attempt, *, wrong_applicability=0, miss=None):
    """Score every drawn case like the reference, but for `miss` and the first
    `wrong_applicability` applicable cases."""
    flipped = 0
    for v in attempt["vignettes"]:
        body = reference_body(v["slug"], "cport", miss=miss)
        if flipped < wrong_applicability and body["applicable"]:
            # Judged not applicable where the reference scores it: a wrong applicability.
            body = {"vignette": v["slug"], "instrument": "cport", "revision": 0,
                    "applicable": False}
            flipped += 1
        response = rating_put(api, attempt["id"], body)
        assert response.status_code == 200, response.content


def take_and_pass(api, exam):
    attempt = exam_start(api, exam)
    exam_fill(api, attempt)
    response = api.post(f"/api/v1/attempts/{attempt['id']}/submit/")
    assert response.status_code == 200, response.content
    return attempt


def certify(org, user, *, at, rule, note=None):
    """A certificate issued through the certification service (the exam is a stand-in);
    with a `note`, its one rating carries that note."""
    version = Instrument.objects.bundled().get(slug="cport").current_version
    attempt = Attempt.objects.create(user=user, organization=org, mode=Mode.EXAM,
                                     status=AttemptStatus.FINALISED, started_at=at,
                                     submitted_at=at)
    attempt.instrument_versions.set([version])
    if note is not None:
        ref = reference_for(PRACTICE, "cport")
        Rating.objects.create(attempt=attempt, vignette_revision=ref.vignette_revision,
                              instrument_version=version, applicable=True, rationale=note,
                              notes={"C1": note} if note else {}, updated_at=at,
                              submitted_at=at)
    decision = CertificationDecision.objects.create(
        organization=org, attempt=attempt, user=user, rule=rule, instrument_version=version,
        passed=True, criteria=[], decided_at=at)
    with transaction.atomic():
        return certificates.certificate_issue(decision=decision, rule=rule, now=at)


# --- two-factor ----------------------------------------------------------------------------

START = dt.datetime(2026, 11, 2, 9, 0, 0, tzinfo=dt.UTC)  # where the accounts tests' clock stands


def code_for(device, steps_ahead=0) -> str:
    device.refresh_from_db()
    value = totp(device.bin_key, device.step, device.t0, device.digits,
                 device.drift + steps_ahead)
    return f"{value:0{device.digits}d}"


def wrong_code(device) -> str:
    right = code_for(device)
    return "000000" if right != "000000" else "111111"


def enrol(user, clock=None):
    device = twofactor.enrolment_start(user=user)
    device, codes = twofactor.enrolment_confirm(user=user, code=code_for(device))
    if clock is not None:
        clock.shift(dt.timedelta(seconds=30))
    return device, codes


def make_certificate(org, user, rule, *, issued=EXAM_DAY, months=24, **fields):
    """A CPORT certificate issued on `issued`, valid `months` x 30 days, straight from the
    records (no exam is taken); `fields` set its status and the like."""
    version = Instrument.objects.bundled().get(slug="cport").current_version
    attempt = Attempt.objects.create(user=user, organization=org, mode=Mode.EXAM,
                                     status=AttemptStatus.FINALISED, started_at=issued,
                                     submitted_at=issued)
    decision = CertificationDecision.objects.create(
        organization=org, attempt=attempt, user=user, rule=rule, instrument_version=version,
        passed=True, criteria=[], decided_at=issued)
    return Certificate.objects.create(
        organization=org, holder=user, instrument_version=version, decision=decision,
        issued_at=issued, expires_at=issued + dt.timedelta(days=30 * months),
        verification_code=f"{user.username:_<10}"[:10] + "x" * 22, **fields)
