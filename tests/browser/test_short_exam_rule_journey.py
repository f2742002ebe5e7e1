"""In a real browser: an org admin saves a certification rule whose exam is shorter than its
own D-study suggests. Without the acceptance checkbox the form answers with the reason; ticked,
the rule is saved and the acceptance recorded. Screenshots of the rule page at 1280 and 390 px."""

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from training.certification import rules
from training.models import AuditEvent, CertificationRule, Cohort, Organization, Role
from training.simulation import simulate_cohort

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_short_exam_needs_the_explicit_acceptance(content, live_server, watched):
    org = Organization.objects.create(name="Browser D-study", slug="browser-dstudy")
    admin = make_member(org, Role.ORG_ADMIN, "dstudy-admin")
    rule = rules.rule_save(actor=admin, organization=org, instrument_slug="cport")
    cohort = Cohort.objects.create(organization=org, name="D-study cohort")
    simulate_cohort(organization=org, cohort=cohort, trainees=8, vignettes=10, months=2,
                    seed=11, start=timezone.now() - dt.timedelta(days=70),
                    ratings_per_trainee=10)
    connection.close()

    page = watched.page
    page.set_default_timeout(60000)  # the first view bootstraps the D-study
    sign_in(page, live_server.url, "dstudy-admin")
    page.goto(f"{live_server.url}/certification/manage/rules/{rule.pk}/")
    page.locator("#dstudy").wait_for()
    page.get_by_label("Minimum exam vignettes").fill("1")
    page.get_by_label("Validity (months)").fill("30")
    page.get_by_role("button", name="Save rule").click()
    error = page.locator("#field-accept_short_exam")
    error.get_by_text("below the target 0.80").wait_for()
    assert "I accept an exam shorter" in error.inner_text()
    assert CertificationRule.objects.get(pk=rule.pk).validity_months == 24

    page.get_by_label("I accept an exam shorter than the D-study suggests").check()
    page.get_by_role("button", name="Save rule").click()
    page.get_by_text("Certification rule saved.").wait_for()
    page.locator("#short-exam-warning").get_by_text("Accepted by dstudy-admin").wait_for()
    watched.shot("rule-d-study-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    watched.shot("rule-d-study-390")
    rule.refresh_from_db()
    assert (rule.min_exam_vignettes, rule.validity_months) == (1, 30)
    assert rule.short_exam_accepted_by_id == admin.pk
    assert AuditEvent.objects.filter(action="certification_rule.short_exam_accepted",
                                     object_id=str(rule.pk)).exists()
    watched.assert_clean()
