"""The exam path in a real browser: the org admin grants a candidate extra time through its
form; the candidate reads the briefing (extra time shown), cannot start without accepting the
undertaking, accepts it and starts the exam, sees the case tabs turn from "not done" to
"done", submits, and lands on a result page that says pass or fail with the criteria. CSP
violations, JavaScript errors, CSRF refusals and serious accessibility findings fail it."""

import datetime as dt

import pytest
from django.db.models import F
from django.utils import timezone

from tests.browser.conftest import sign_in, unlabelled_controls
from tests.conftest import make_member
from training.certification import rules
from training.models import (
    Attempt,
    AttemptStatus,
    Cohort,
    ExamAccommodation,
    ExamStart,
    FeedbackPolicy,
    Mode,
    Organization,
    Role,
)
from training.organisation.cohorts import assignment_save
from vignettes.models import ReferenceScoring, Vignette, VignetteSet, VignetteSetMember

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def cases_cport_does_not_fit(n):
    """Bundled cases whose CPORT reference says the instrument does not apply: each is done
    with one decision, so the journey stays short."""
    slugs = sorted(set(ReferenceScoring.objects.filter(
        instrument_version__instrument__slug="cport", applicable=False,
        vignette_revision__vignette__owner__isnull=True,
        vignette_revision__vignette__current_revision=F("vignette_revision"),
    ).values_list("vignette_revision__vignette__slug", flat=True)))
    assert len(slugs) >= n
    return slugs[:n]


def test_briefing_undertaking_start_score_submit_result_and_extra_time(content, live_server,
                                                                       watched):
    from django.db import connection

    org = Organization.objects.create(name="Path Service", slug="path-service")
    trainee = make_member(org, Role.TRAINEE, "path-trainee")
    instructor = make_member(org, Role.INSTRUCTOR, "path-instructor")
    make_member(org, Role.ORG_ADMIN, "path-admin")
    admin = org.memberships.get(role=Role.ORG_ADMIN).user
    cohort = Cohort.objects.create(organization=org, name="Path cohort")
    cohort.trainees.add(trainee)
    cohort.instructors.add(instructor)
    pool = VignetteSet.objects.create(owner=org, slug="path-pool", title="Path pool",
                                      kind=VignetteSet.Kind.EXAM, content_hash="-")
    for order, slug in enumerate(cases_cport_does_not_fit(2), start=1):
        VignetteSetMember.objects.create(vignette_set=pool, order=order,
                                         vignette=Vignette.objects.get(slug=slug, owner=None))
    rules.rule_save(actor=admin, organization=org, instrument_slug="cport",
                    retake_wait_days=1, min_exam_vignettes=2, accept_short_exam=True)
    now = timezone.now()
    exam = assignment_save(
        actor=instructor, organization=org, title="CPORT path exam", cohort=cohort,
        vignette_set=pool, instrument_slugs=["cport"], mode=Mode.EXAM,
        opens_at=now - dt.timedelta(days=1), closes_at=now + dt.timedelta(days=30),
        time_limit_minutes=60, attempts_allowed=2, feedback_policy=FeedbackPolicy.NEVER,
        draw_size=2, now=now,
    )
    connection.close()
    page = watched.page

    # The org admin grants 30 minutes through the form.
    sign_in(page, live_server.url, "path-admin")
    page.goto(f"{live_server.url}/certification/manage/")
    page.locator(f"#exam-{exam.pk}").get_by_role("link", name="Extra time").click()
    page.wait_for_url("**/accommodations/")
    page.select_option("#id_user", str(trainee.pk))
    page.fill("#id_extra_minutes", "30")
    page.fill("#id_reason", "Reading accommodation on file")
    page.get_by_role("button", name="Grant extra time").click()
    page.wait_for_url("**/accommodations/")
    assert "Reading accommodation on file" in page.locator("#accommodations").inner_text()
    watched.shot("1-extra-time")
    assert ExamAccommodation.objects.get(user=trainee).extra_minutes == 30
    page.context.clear_cookies()

    # The candidate: the briefing first; nothing starts without the undertaking.
    sign_in(page, live_server.url, "path-trainee")
    page.locator("tr", has_text="CPORT path exam").get_by_role("link", name="Start").click()
    page.wait_for_url("**/briefing/")
    assert page.locator("#briefing-cases").inner_text() == "2 cases"
    assert "plus 30 minutes of extra time" in page.locator("#briefing-time").inner_text()
    assert "90 minutes in all" in page.locator("#briefing-time").inner_text()
    assert "2 attempts left" in page.locator("#briefing-attempts").inner_text()
    assert "1 day after" in page.locator("#briefing-retake").inner_text()
    assert unlabelled_controls(page, "main") == []
    watched.shot("2-briefing")
    page.get_by_role("button", name="Start the exam").click()  # the box is required
    assert not Attempt.objects.filter(user=trainee).exists()
    page.get_by_label("I accept this undertaking.").check()
    page.get_by_role("button", name="Start the exam").click()
    page.wait_for_url("**/attempts/*/")
    attempt = Attempt.objects.get(user=trainee)
    start = ExamStart.objects.get(attempt=attempt)
    assert start.extra_minutes == 30
    assert attempt.deadline == attempt.opened_at + dt.timedelta(minutes=90)
    shown = page.locator("#deadline")
    assert dt.datetime.fromisoformat(shown.get_attribute("datetime")) == attempt.deadline

    # Score: one decision per case; the tabs say which cases are done, in words.
    tabs = page.get_by_role("navigation", name="Cases in this attempt")
    assert tabs.inner_text().count("not done") == 2
    page.check("#rating-cport input[name=applicable][value=no]")
    page.locator("#rating-cport .save-status[data-state=saved]").wait_for()
    # The tab turns "done" as the rating saves, without a reload.
    page.locator(".tabs a[aria-current=page] .tab-state.done").wait_for()
    page.get_by_role("link", name="Case 2").click()
    page.wait_for_url("**/?v=*")
    assert tabs.locator("a", has_text="Case 1").inner_text().endswith("✓ done")
    assert tabs.locator("a", has_text="Case 2").inner_text().endswith("○ not done")
    page.check("#rating-cport input[name=applicable][value=no]")
    page.locator("#rating-cport .save-status[data-state=saved]").wait_for()
    page.locator(".tabs a[aria-current=page] .tab-state.done").wait_for()
    page.reload()
    assert "not done" not in tabs.inner_text()
    watched.shot("3-tabs-done")

    # Submit: the result page says pass or fail with the criteria and where the certificate is.
    page.get_by_role("link", name="Review and submit").click()
    page.wait_for_url("**/submit/")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url("**/certification/exams/*/result/")
    outcome = page.locator("#exam-outcome").inner_text()
    assert outcome in ("You passed this exam.", "You did not pass this exam.")
    assert page.locator("table.criteria tr[data-criterion=applicability]").count() == 1
    assert page.locator("table.criteria th", has_text="Threshold").count() == 1
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUBMITTED
    if outcome == "You passed this exam.":
        assert page.get_by_role("link", name="view your certificate").count() == 1
    watched.shot("4-result")
    watched.assert_clean()
