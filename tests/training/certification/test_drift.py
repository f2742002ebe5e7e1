"""Drift after certification: the holder's own baseline stored at issue, the standardised
CUSUMs against it (a stable accepted bias is not drift; a shift is), and what the public,
holder and admin pages say."""

import datetime as dt
import io
import random

import pytest
from django.core.management import call_command
from django.db import transaction

from tests.conftest import browser_for
from training.certification import certificates, drift, recalibration
from training.models import (
    AlertStatus,
    Attempt,
    AttemptStatus,
    AuditEvent,
    CertificationDecision,
    DriftAlert,
    Mode,
    Reminder,
)
from training.models import Rating as RatingModel
from vignettes.models import Instrument, ReferenceScoring

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("certificates_clock")]

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def cport_references():
    return list(ReferenceScoring.objects.filter(
        instrument_version__instrument__slug="cport", applicable=True,
        vignette_revision__vignette__owner__isnull=True,
        vignette_revision_id__in=ReferenceScoring.objects.filter(
            vignette_revision__vignette__owner__isnull=True).values(
            "vignette_revision_id")).select_related("instrument_version").order_by("pk"))


def rate(attempt, ref, deviation, at, *, miss=0):
    """A submitted rating whose total is the reference total + `deviation` and whose codes
    copy the reference except `miss` items."""
    codes = dict(ref.item_states())
    for code in sorted(codes)[:miss]:
        codes[code] = 1 - (codes[code] or 0)
    RatingModel.objects.create(
        attempt=attempt, vignette_revision=ref.vignette_revision,
        instrument_version=ref.instrument_version, applicable=True, reference_scoring=ref,
        total=ref.result().total + deviation, codes=codes, updated_at=at, submitted_at=at)


def certify_with_exam(org, user, rule, deviations, *, at=T0):
    """A certificate issued on an exam whose ratings deviate from the reference as given."""
    version = Instrument.objects.bundled().get(slug="cport").current_version
    attempt = Attempt.objects.create(user=user, organization=org, mode=Mode.EXAM,
                                     status=AttemptStatus.FINALISED, started_at=at,
                                     submitted_at=at)
    attempt.instrument_versions.set([version])
    for ref, d in zip(cport_references(), deviations, strict=False):
        rate(attempt, ref, d, at)
    decision = CertificationDecision.objects.create(
        organization=org, attempt=attempt, user=user, rule=rule, instrument_version=version,
        passed=True, criteria=[], decided_at=at)
    with transaction.atomic():
        return certificates.certificate_issue(decision=decision, rule=rule, now=at)


def practise(org, user, deviations, *, start, miss=0):
    """Recalibration-style practice ratings, one a day from `start`."""
    refs = cport_references()
    for i, d in enumerate(deviations):
        at = start + dt.timedelta(days=i, hours=1)
        attempt = Attempt.objects.create(user=user, organization=org, mode=Mode.PRACTICE,
                                         status=AttemptStatus.SUBMITTED, started_at=at,
                                         submitted_at=at)
        rate(attempt, refs[i % len(refs)], d, at, miss=miss)


def tick(now):
    out = io.StringIO()
    call_command("certification_tick", "--now", now.isoformat(), stdout=out)
    return out.getvalue()


@pytest.fixture
def rule(rule):
    rule.recalibration_interval_days = 3650  # the tests plant the monitored ratings
    rule.save()
    return rule


EXAM = [1, 0, 2, 1, 1, 2, 0, 1, 1, 1]  # a stable bias of +1, SD 0.67


def test_baseline_is_the_holders_exam_stored_at_issue(org, rule, trainee):
    cert = certify_with_exam(org, trainee, rule, EXAM)
    base = cert.drift_baseline["deviation"]
    assert base["n"] == 10 and base["mean"] == pytest.approx(1.0)
    assert base["source"] == "own" and base["own_sd"] == pytest.approx(0.6667, abs=1e-3)
    # The own SD is shrunk towards the pooled SD (the stated 1.9: this organisation has no
    # other ratings): sqrt((10 * 1.9^2 + 9 * 0.667^2) / 19).
    assert base["pooled_sd"] == 1.9 and base["pooled_n"] == 0
    assert base["sd"] == pytest.approx(((10 * 1.9 ** 2 + 9 * (2 / 3) ** 2) / 19) ** 0.5)
    assert cert.drift_baseline["agreement"]["mean"] == pytest.approx(1.0)


def test_an_unusable_baseline_falls_back_to_the_pooled_sd_and_says_why(org, rule, trainee,
                                                                       trainee2):
    few = certify_with_exam(org, trainee, rule, [0, 1])
    assert few.drift_baseline["deviation"].items() >= {
        "source": "pooled", "sd": 1.9, "mean": 0.0,
        "reason": "only 2 exam cases (at least 5 needed)"}.items()
    # Too few exam cases: item agreement is judged against what the rule required.
    assert few.drift_baseline["agreement"]["mean"] == rule.item_agreement
    flat = certify_with_exam(org, trainee2, rule, [1] * 10)
    assert flat.drift_baseline["deviation"]["reason"] == "no spread in the exam cases (SD 0)"
    assert flat.drift_baseline["deviation"]["mean"] == 1.0
    assert flat.drift_baseline["deviation"]["sd"] == 1.9


def test_a_stable_accepted_bias_is_not_drift_a_shift_is(org, rule, trainee, org_admin, client):
    cert = certify_with_exam(org, trainee, rule, EXAM)
    rng = random.Random(5)
    # 120 cases with the bias accepted at certification (+1) and the same spread.
    stable = [round(rng.gauss(1.0, 0.9)) for _ in range(120)]
    practise(org, trainee, stable, start=T0 + dt.timedelta(days=1))
    first = T0 + dt.timedelta(days=130)
    tick(first)
    assert not DriftAlert.objects.filter(certificate=cert).exists()
    cert.refresh_from_db()
    assert recalibration.display_status(cert, first) == "active"
    assert b"recalibration due" not in client.get(f"/verify/{cert.verification_code}").content

    # Then the holder's totals move 2 points higher than their baseline.
    practise(org, trainee, [round(rng.gauss(3.0, 0.9)) for _ in range(40)],
             start=T0 + dt.timedelta(days=140))
    later = T0 + dt.timedelta(days=185)
    assert "1 drift alert" in tick(later)
    alert = DriftAlert.objects.get(certificate=cert, kind="deviation")
    ev = alert.evidence
    assert ev["units"] == "sd" and ev["direction"] == "upper" and ev["n"] == 160
    assert ev["alarm_index"] >= 120  # not before the shift
    assert ev["threshold"] == drift.DEFAULT_THRESHOLD and ev["slack"] == drift.DEFAULT_SLACK
    assert ev["baseline"]["mean"] == pytest.approx(1.0)
    assert ev["upper"][ev["alarm_index"]] > ev["threshold"]
    assert max(ev["upper"][:120] + ev["lower"][:120]) <= ev["threshold"]
    assert not DriftAlert.objects.filter(certificate=cert, kind="agreement").exists()
    # Audited with the ratings behind it; the holder is told (e-mail + in-app notice).
    raised = AuditEvent.objects.get(action="drift.alert_raised", object_id=str(alert.pk))
    assert raised.after["alarm_rating_id"] == ev["alarm_rating_id"]
    assert Reminder.objects.filter(certificate=cert, kind="drift").exists()
    # An alarm is reviewed before anyone outside sees it: the public status is unchanged
    # until the organisation's admin confirms the drift.
    cert.refresh_from_db()
    assert recalibration.display_status(cert, later) == "active"
    assert b"recalibration due" not in client.get(f"/verify/{cert.verification_code}").content
    recalibration.alert_transition(actor=org_admin, organization=org, alert_id=alert.pk,
                                   action="confirm", now=later)
    cert.refresh_from_db()
    assert recalibration.display_status(cert, later) == "recalibration_due"
    assert b"recalibration due" in client.get(f"/verify/{cert.verification_code}").content
    assert AuditEvent.objects.filter(action="certificate.recalibration_due",
                                     object_id=str(cert.pk)).exists()
    assert Reminder.objects.filter(certificate=cert, kind="drift_confirmed").exists()

    # The admin's page draws the standardised path with h and n, and states the baseline.
    page = browser_for(org_admin).get(f"/recalibration/alerts/{alert.pk}/")
    body = page.content.decode()
    assert page.status_code == 200 and "<svg" in body
    assert "Standardised CUSUM path, n = 160 ratings" in body and "Threshold h" in body
    assert "from 10 exam vignettes" in body and "CUSUM (SD units)" in body
    # The holder's page says it too.
    mine = browser_for(trainee).get("/recalibration/").content.decode()
    assert "recalibration due" in mine

    # A rerun changes nothing.
    before = list(DriftAlert.objects.values_list("pk", "status"))
    tick(later + dt.timedelta(hours=1))
    assert list(DriftAlert.objects.values_list("pk", "status")) == before


def test_falling_item_agreement_alarms_on_the_lower_side_only(org, rule, trainee):
    cert = certify_with_exam(org, trainee, rule, EXAM)
    practise(org, trainee, [1] * 30, start=T0 + dt.timedelta(days=1))
    tick(T0 + dt.timedelta(days=40))
    assert not DriftAlert.objects.filter(certificate=cert).exists()
    # Three of CPORT's seven items missed on every case, totals still where they were.
    practise(org, trainee, [1] * 30, start=T0 + dt.timedelta(days=50), miss=3)
    tick(T0 + dt.timedelta(days=90))
    alert = DriftAlert.objects.get(certificate=cert)
    assert alert.kind == "agreement" and alert.evidence["sides"] == "lower"
    assert alert.evidence["direction"] == "lower" and alert.evidence["alarm_index"] >= 30


def test_a_resolved_alert_of_the_retired_method_restarts_nothing(org, rule, trainee):
    cert = certify_with_exam(org, trainee, rule, EXAM)
    practise(org, trainee, [1] * 20 + [4] * 30, start=T0 + dt.timedelta(days=1))
    DriftAlert.objects.create(
        organization=org, certificate=cert, kind="deviation", raised_at=T0,
        status=AlertStatus.RESOLVED, resolved_at=T0 + dt.timedelta(days=45),
        evidence={"threshold": 4.0, "slack": 0.5, "series": [], "upper": [], "lower": []})
    tick(T0 + dt.timedelta(days=60))
    new = DriftAlert.objects.get(certificate=cert, status=AlertStatus.OPEN)
    assert new.evidence["n"] == 50  # the whole series since issue, not since the old alert
