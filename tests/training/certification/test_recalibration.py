"""Keeping raters calibrated: recalibration assignments, CUSUM drift alerts, reminders, the
certification_tick command, and the org admin's alert pages."""

import datetime as dt
import io

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection

from tests.conftest import browser_for, make_member
from tests.training.helpers import certify
from training.certification import recalibration, rules
from training.models import (
    AlertStatus,
    Attempt,
    AttemptStatus,
    AuditEvent,
    Certificate,
    DriftAlert,
    Mode,
    Recalibration,
    Reminder,
    Role,
)

# Certificates here are issued on fixed dates and pages judge them against "now".
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("certificates_clock")]

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def snapshot():
    return {
        "alerts": list(DriftAlert.objects.order_by("pk").values_list("pk", "status")),
        "recal": list(Recalibration.objects.order_by("pk").values_list(
            "pk", "completed_at", "overdue_at")),
        "reminders": Reminder.objects.count(),
        "audit": AuditEvent.objects.count(),
        "certs": list(Certificate.objects.order_by("pk").values_list(
            "pk", "status", "recalibration_flagged_at", "recalibration_due_at")),
        "attempts": Attempt.objects.count(),
    }


def tick(now):
    out = io.StringIO()
    call_command("certification_tick", "--now", now.isoformat(), stdout=out)
    return out.getvalue()


@pytest.fixture
def rule(rule):
    rule.recalibration_interval_days = 365  # the demonstration is about drift, not schedules
    rule.save()
    return rule


def test_recalibration_is_assigned_from_never_rated_vignettes_then_overdue_marks_it_due(
        org, rule, trainee, client):
    rule.recalibration_interval_days = 90
    rule.recalibration_size = 3
    rule.save()
    cert = certify(org, trainee, at=T0, rule=rule)
    tick(T0 + dt.timedelta(days=89))
    assert not Recalibration.objects.exists()
    tick(T0 + dt.timedelta(days=90))
    recal = Recalibration.objects.get(certificate=cert)
    # The bundled recalibration pool is empty: the fallback is practice vignettes.
    assert recal.period == 1 and not recal.from_organization_pool
    drawn = list(recal.attempt.attempt_vignettes.values_list(
        "vignette_revision__vignette__pool", flat=True))
    assert len(drawn) == 3 and set(drawn) == {"practice"}
    assert recal.attempt.user == trainee and recal.attempt.mode == Mode.PRACTICE
    cert.refresh_from_db()
    assert cert.recalibration_due_at == recal.due_at
    assert Reminder.objects.filter(certificate=cert, kind="recalibration_assigned").count() == 1
    assert any("recalibration" in m.body for m in mail.outbox)
    # Holder sees it and the fallback is stated.
    page = browser_for(trainee).get("/recalibration/")
    assert page.status_code == 200 and b"practice vignettes" in page.content
    assert f"/attempts/{recal.attempt.pk}/".encode() in page.content
    # Never a vignette they rated: a second recalibration avoids the first one's vignettes.
    tick(recal.due_at + dt.timedelta(minutes=1))
    recal.refresh_from_db()
    cert.refresh_from_db()
    assert recal.overdue_at is not None
    assert recalibration.display_status(cert) == "recalibration_due"
    public = client.get(f"/verify/{cert.verification_code}")
    assert b"recalibration due" in public.content
    assert Reminder.objects.filter(certificate=cert, kind="recalibration_overdue").count() == 1
    # Completing it (the attempt submitted) clears the flag.
    Attempt.objects.filter(pk=recal.attempt_id).update(
        status=AttemptStatus.SUBMITTED, submitted_at=recal.due_at + dt.timedelta(days=1))
    tick(recal.due_at + dt.timedelta(days=2))
    recal.refresh_from_db()
    cert.refresh_from_db()
    assert recal.completed_at is not None and cert.recalibration_flagged_at is None
    tick(recal.assigned_at + dt.timedelta(days=91))
    second = Recalibration.objects.get(certificate=cert, period=2)
    first_ids = set(recal.attempt.attempt_vignettes.values_list("vignette_revision__vignette",
                                                                 flat=True))
    second_ids = set(second.attempt.attempt_vignettes.values_list(
        "vignette_revision__vignette", flat=True))
    assert not first_ids & second_ids


def test_expiry_reminders_are_sent_once_and_expired_certificates_expire(org, rule, trainee):
    cert = certify(org, trainee, at=T0, rule=rule)
    mail.outbox.clear()
    tick(cert.expires_at - dt.timedelta(days=61))
    assert not Reminder.objects.filter(kind__startswith="expiry").exists()
    tick(cert.expires_at - dt.timedelta(days=59))
    tick(cert.expires_at - dt.timedelta(days=30))
    assert Reminder.objects.filter(certificate=cert, kind="expiry_60").count() == 1
    assert not Reminder.objects.filter(kind="expiry_14").exists()
    tick(cert.expires_at - dt.timedelta(days=13))
    tick(cert.expires_at - dt.timedelta(days=1))
    assert Reminder.objects.filter(certificate=cert, kind="expiry_14").count() == 1
    expiry_mails = [m for m in mail.outbox if "expires" in m.body]
    assert len(expiry_mails) == 2 and expiry_mails[0].to == [trainee.email]
    tick(cert.expires_at + dt.timedelta(minutes=1))
    cert.refresh_from_db()
    assert cert.status == "expired"
    assert AuditEvent.objects.filter(action="certificate.expired", object_id=str(cert.pk)).exists()


def post(client, url, data):
    """A POST with a CSRF token (the browser clients enforce CSRF checks)."""
    token = "t" * 32
    client.cookies["csrftoken"] = token
    return client.post(url, data | {"csrfmiddlewaretoken": token})


def _alert(org, cert):
    return DriftAlert.objects.create(
        organization=org, certificate=cert, kind="deviation", raised_at=T0,
        evidence={"rating_ids": [1, 2], "times": ["a", "b"], "series": [2.0, 3.0],
                  "upper": [1.5, 4.5], "lower": [0.0, 0.0], "threshold": 4.0, "target": 0,
                  "slack": 0.5, "alarm_index": 1, "direction": "upper",
                  "alarm_rating_id": 2})


def test_admin_alert_pages_acknowledge_and_resolve_are_audited_and_scoped(
        org, other_org, rule, trainee, org_admin):
    cert = certify(org, trainee, at=T0, rule=rule)
    recalibration._flag(cert, reason="drift", now=T0)
    alert = _alert(org, cert)
    admin = browser_for(org_admin)
    listing = admin.get("/recalibration/alerts/")
    assert listing.status_code == 200 and trainee.username.encode() in listing.content
    page = admin.get(f"/recalibration/alerts/{alert.pk}/")
    assert page.status_code == 200 and b"<svg" in page.content and b"(alarm)" in page.content
    # Other organisation's admin: 404 on the page and the action; their list is empty.
    other_admin = make_member(other_org, Role.ORG_ADMIN, "other-admin")
    other = browser_for(other_admin)
    assert other.get(f"/recalibration/alerts/{alert.pk}/").status_code == 404
    url = f"/recalibration/alerts/{alert.pk}/action/"
    assert post(other, url, {"action": "resolve", "note": "x"}).status_code == 404
    assert trainee.username.encode() not in other.get("/recalibration/alerts/").content
    # A trainee may not see the alert pages.
    assert browser_for(trainee).get("/recalibration/alerts/").status_code == 403
    alert.refresh_from_db()
    assert alert.status == AlertStatus.OPEN
    # Confirm, then resolving needs a note; both audited; resolving clears the flag.
    post(admin, url, {"action": "confirm"})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.actor == org_admin
    post(admin, url, {"action": "resolve"})
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    post(admin, url, {"action": "resolve", "note": "Retrained; recalibration passed."})
    alert.refresh_from_db()
    cert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and cert.recalibration_flagged_at is None
    actions = set(AuditEvent.objects.filter(object_id=str(alert.pk)).values_list(
        "action", flat=True))
    assert {"drift.alert_acknowledged", "drift.alert_resolved"} <= actions
    assert AuditEvent.objects.filter(action="certificate.recalibration_cleared",
                                     actor=org_admin).exists()


def test_holder_page_shows_only_their_own_requirements(org, rule, trainee, trainee2):
    cert = certify(org, trainee, at=T0, rule=rule)
    recalibration._flag(cert, reason="Drift detected in your ratings", now=T0)
    _alert(org, cert)
    mine = browser_for(trainee).get("/recalibration/")
    assert b"Drift detected" in mine.content and b"recalibration due" in mine.content
    theirs = browser_for(trainee2).get("/recalibration/")
    assert b"Drift detected" not in theirs.content


def test_tick_skips_when_another_run_holds_the_lock(org, rule, trainee, monkeypatch):
    from contextlib import contextmanager

    certify(org, trainee, at=T0, rule=rule)

    @contextmanager
    def busy():
        yield False

    monkeypatch.setattr(recalibration, "tick_lock", busy)
    assert "skipped" in tick(T0 + dt.timedelta(days=400))
    assert not Recalibration.objects.exists() and not Reminder.objects.exists()


def test_tick_rejects_a_bad_now():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("certification_tick", "--now", "yesterday")


@pytest.mark.skipif("connection.vendor != 'postgresql'",
                    reason="row-level locking races need PostgreSQL (CI runs this leg)")
@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_do_no_double_work(content, org):
    import threading

    trainee = make_member(org, Role.TRAINEE, "tick-racer")
    admin = make_member(org, Role.ORG_ADMIN, "tick-admin")
    rule = rules.rule_save(actor=admin, organization=org, instrument_slug="cport")
    cert = certify(org, trainee, at=T0, rule=rule)
    barrier = threading.Barrier(6)

    def go():
        barrier.wait()
        try:
            recalibration.certification_tick(now=cert.expires_at - dt.timedelta(days=10))
        finally:
            connection.close()

    threads = [threading.Thread(target=go) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Recalibration.objects.filter(certificate=cert).count() == 1
    assert Reminder.objects.filter(certificate=cert, kind="expiry_14").count() == 1
    assert Reminder.objects.filter(certificate=cert, kind="expiry_60").count() == 1


def test_rule_form_sets_recalibration_and_drift_parameters(org, org_admin):
    from tests.conftest import browser_for

    browser = browser_for(org_admin)
    page = browser.get("/certification/manage/rules/new/")
    assert b'name="recalibration_size"' in page.content and b'name="cusum_threshold"' in page.content
    assert b"Drift CUSUM threshold h (in SD units)" in page.content
    assert b'name="agreement_window"' not in page.content
    data = {"instrument": "stable-2007", "min_exam_vignettes": "10", "item_agreement": "0.85",
            "total_tolerance": "1", "total_within_tolerance": "0.8", "band_agreement": "0.8",
            "icc_a1": "0.8", "validity_months": "24", "retake_wait_days": "14",
            "recalibration_interval_days": "90", "recalibration_size": "3",
            "cusum_slack": "0.5", "cusum_threshold": "12",
            "csrfmiddlewaretoken": browser.cookies["csrftoken"].value}
    assert browser.post("/certification/manage/rules/new/", data).status_code == 302
    rule = org.certification_rules.get(instrument__slug="stable-2007")
    assert (rule.recalibration_interval_days, rule.recalibration_size, rule.cusum_slack,
            rule.cusum_threshold) == (90, 3, 0.5, 12.0)
    # k is in SD units: beyond 3 SD it would never accumulate anything.
    data["cusum_slack"] = "4"
    data["instrument"] = "static-99r"
    assert browser.post("/certification/manage/rules/new/", data).status_code == 400
    bad = {**data, "instrument": "cport", "recalibration_size": "0", "cusum_slack": "0.5"}
    assert browser.post("/certification/manage/rules/new/", bad).status_code == 400
