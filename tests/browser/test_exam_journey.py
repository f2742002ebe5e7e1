"""An exam in a real browser: the trainee starts a timed exam, scores part of it, reloads and
finds every saved code and the server's clock still counting from the first open; nothing of
the reference is on the page; the deadline passes (the server's clock moved with time-machine,
the page's with Playwright's clock), a further save is refused with a visible message, the
saved work is kept, the attempt is finalised and the result shown as the feedback policy
allows. CSP violations, JavaScript errors and serious accessibility findings fail the test."""

import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from tests.browser.conftest import sign_in, unlabelled_controls
from tests.conftest import make_member
from tests.training.helpers import reference_for
from training.certification import rules
from training.formatting import when
from training.models import (
    Assignment,
    Attempt,
    AttemptStatus,
    Cohort,
    FeedbackPolicy,
    Mode,
    Organization,
    Rating,
    Role,
)
from training.organisation.cohorts import assignment_save
from vignettes.models import ReferenceItemScore, Vignette, VignetteSet, VignetteSetMember

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TIME_LIMIT = 30  # minutes
SCORED = ["CPORT-1", "CPORT-2", "CPORT-3", "CPORT-4"]
POOL = ["basil-k-005", "wilfred-a-049", "zachary-p-052"]


def reference_codes(slug):
    return reference_for(slug, "cport").item_states()


def radio(page, code, value):
    return page.locator(f"#rating-cport input[name='item-{code}'][value='{value}']")


def wait_saved(page):
    page.locator("#rating-cport .save-status[data-state=saved]").wait_for()


def test_exam_reload_deadline_finalise_and_result(content, live_server, watched):
    from django.db import connection

    org = Organization.objects.create(name="Exam Service", slug="exam-service")
    trainee = make_member(org, Role.TRAINEE, "exam-trainee")
    instructor = make_member(org, Role.INSTRUCTOR, "exam-instructor")
    cohort = Cohort.objects.create(organization=org, name="Exam cohort")
    cohort.trainees.add(trainee)
    cohort.instructors.add(instructor)
    # The organisation's own exam pool: three bundled CSEM cases on which CPORT applies; the
    # exam draws two of them.
    pool = VignetteSet.objects.create(owner=org, slug="timed-pool", title="Timed pool",
                                      kind=VignetteSet.Kind.EXAM, content_hash="-")
    for order, slug in enumerate(POOL, start=1):
        assert reference_for(slug, "cport").applicable
        VignetteSetMember.objects.create(vignette_set=pool, order=order,
                                         vignette=Vignette.objects.get(slug=slug, owner=None))
    # This organisation's rule shows exam feedback right after the exam.
    admin = make_member(org, Role.ORG_ADMIN, "exam-admin")
    rules.rule_save(actor=admin, organization=org, instrument_slug="cport",
                            exam_feedback_policy=FeedbackPolicy.IMMEDIATE)
    now = timezone.now()
    assignment_save(
        actor=instructor, organization=org, title="CPORT timed exam", cohort=cohort,
        vignette_set=pool,
        instrument_slugs=["cport"], mode=Mode.EXAM, opens_at=now - dt.timedelta(days=1),
        closes_at=now + dt.timedelta(days=30), time_limit_minutes=TIME_LIMIT,
        attempts_allowed=1, feedback_policy=FeedbackPolicy.IMMEDIATE, draw_size=2, now=now,
    )
    connection.close()
    page = watched.page
    page.clock.install()  # the page's clock runs normally until the test moves it
    sign_in(page, live_server.url, "exam-trainee")
    row = page.locator("tr", has_text="CPORT timed exam")
    assert row.get_by_role("link", name="Start").count() == 1
    watched.shot("1-dashboard")

    # Start: the briefing first, then the server's clock starts at this first open.
    row.get_by_role("link", name="Start").click()
    page.wait_for_url("**/briefing/")
    page.get_by_label("I accept this undertaking.").check()
    page.get_by_role("button", name="Start the exam").click()
    page.wait_for_url("**/attempts/*/")
    attempt = Attempt.objects.get(user=trainee)
    assert attempt.mode == Mode.EXAM and attempt.opened_at is not None
    first_open, deadline = attempt.opened_at, attempt.deadline
    assert deadline == first_open + dt.timedelta(minutes=TIME_LIMIT)
    shown, remaining = page.locator("#deadline"), page.locator("#deadline-left")
    assert dt.datetime.fromisoformat(shown.get_attribute("datetime")) == deadline
    # The deadline in the organisation's zone, the zone named; the page counts the time left.
    assert shown.inner_text() == when(deadline, org.time_zone)
    assert f"{TIME_LIMIT - 1} min" in remaining.inner_text() or f"{TIME_LIMIT} min" in (
        remaining.inner_text())
    slugs = list(attempt.attempt_vignettes.order_by("order").values_list(
        "vignette_revision__vignette__slug", flat=True))
    assert len(slugs) == 2
    # Nothing of the reference or of feedback during the exam: no reference rationale of the
    # drawn cases anywhere in the page, no feedback markup, no way to the results.
    html = page.content()
    for slug in slugs:
        ref = reference_for(slug, "cport")
        assert ref.panel not in html
        if ref.not_applicable_reason:
            assert ref.not_applicable_reason not in html
        for rationale in ReferenceItemScore.objects.filter(
                reference_scoring=ref).values_list("rationale", flat=True):
            assert rationale[:60] not in html, rationale
    assert page.locator(".feedback, tr.match, tr.miss").count() == 0
    assert page.get_by_role("link", name="Results").count() == 0
    assert "Feedback is shown after you submit." in html
    assert unlabelled_controls(page, "main") == []
    watched.shot("2-exam-open")
    page.goto(f"{live_server.url}/attempts/{attempt.pk}/feedback/")
    page.wait_for_url(f"**/attempts/{attempt.pk}/")  # not before the exam is over

    # Case 1: applicability and four items, one with a note; case 2: one item.
    first = reference_codes(slugs[0])
    page.check("#rating-cport input[name=applicable][value=yes]")
    for code in SCORED:
        radio(page, code, first[code]).check()
    page.fill("#rating-cport textarea[name=note-CPORT-1]", "Dates checked against the file.")
    wait_saved(page)
    page.get_by_role("link", name="Case 2").click()
    page.wait_for_url(f"**/?v={slugs[1]}")
    second = reference_codes(slugs[1])
    page.check("#rating-cport input[name=applicable][value=yes]")
    radio(page, "CPORT-1", second["CPORT-1"]).check()
    wait_saved(page)

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=10), tick=True) as clock:
        # Ten minutes later the trainee reloads: every saved code is there and the clock has
        # kept counting from the first open (a reset would show the full time again).
        page.clock.fast_forward(10 * 60 * 1000)
        page.reload()
        assert radio(page, "CPORT-1", second["CPORT-1"]).is_checked()
        page.get_by_role("link", name="Case 1").click()
        page.wait_for_url(f"**/?v={slugs[0]}")
        assert page.locator("#rating-cport input[name=applicable][value=yes]").is_checked()
        for code in SCORED:
            assert radio(page, code, first[code]).is_checked(), code
        assert page.locator("#rating-cport input[name='item-CPORT-5']:checked").count() == 0
        assert page.input_value("#rating-cport textarea[name=note-CPORT-1]") == (
            "Dates checked against the file.")
        assert page.locator("#rating-cport .save-status").inner_text() == "Saved"
        assert dt.datetime.fromisoformat(shown.get_attribute("datetime")) == deadline
        left = int(remaining.inner_text().split("(")[1].split(" min")[0])
        assert TIME_LIMIT - 11 <= left <= TIME_LIMIT - 10, remaining.inner_text()
        attempt.refresh_from_db()
        assert (attempt.opened_at, attempt.deadline) == (first_open, deadline)
        watched.shot("3-after-reload")

        # The deadline passes; a further change is refused by the server and said so.
        clock.move_to(deadline + dt.timedelta(minutes=1))
        alert = page.locator("#attempt-alert")
        assert alert.is_hidden()
        page.clock.fast_forward((TIME_LIMIT - 10 + 1) * 60 * 1000)
        alert.wait_for()  # the page's own countdown reached zero
        assert "The time is over" in alert.inner_text()
        assert "(0 min 0 s left)" in remaining.inner_text()
        radio(page, "CPORT-5", first["CPORT-5"]).check()
        status = page.locator("#rating-cport .save-status[data-state=conflict]")
        status.wait_for()
        refused = "The time for this attempt is over; your saved work was kept."
        assert refused in status.inner_text()
        assert refused in alert.inner_text()  # said at the top of the page too
        assert page.get_by_role("button", name="Save CPORT").is_disabled()
        assert page.locator("#rating-cport input[name='item-CPORT-2']").first.is_disabled()
        watched.shot("4-save-refused")
        rating = Rating.objects.get(attempt=attempt, vignette_revision__vignette__slug=slugs[0])
        assert {i.item.code: i.value for i in rating.items.select_related("item")} == {
            code: first[code] for code in SCORED}

        # Reading the attempt after its deadline finalises it with what was saved.
        page.reload()
        assert "Finalised at the deadline" in page.locator(".attempt-head .meta").inner_text()
        items = page.locator("#rating-cport fieldset.item").count()
        assert items == len(first) and page.locator(
            "#rating-cport fieldset.item[disabled]").count() == items
        for code in SCORED:
            assert radio(page, code, first[code]).is_checked(), code
        assert page.locator("#rating-cport .save-status").count() == 0
        attempt.refresh_from_db()
        assert attempt.status == AttemptStatus.FINALISED
        assert attempt.submitted_at == deadline
        watched.shot("5-finalised")

        # Feedback right after the exam (the rule's and the assignment's policy): unscored
        # items are misses.
        page.get_by_role("link", name="Results").click()
        page.wait_for_url("**/feedback/")
        sections = page.locator("section.feedback")
        assert sections.count() == 2
        case1 = page.locator(f"#fb-{slugs[0]}-cport")
        assert case1.locator("tr.match").count() == len(SCORED)  # coded as the reference
        assert case1.locator("tr.miss").count() == items - len(SCORED)  # unscored: misses
        assert case1.locator("tr.miss", has_text="CPORT-5").count() == 1
        assert "Dates checked against the file." in case1.inner_text()
        case2 = page.locator(f"#fb-{slugs[1]}-cport")
        assert case2.locator("tr.match").count() == 1
        assert case2.locator("tr.miss").count() == items - 1
        watched.shot("6-result")
    watched.assert_clean()


def test_exam_assignment_looser_than_the_rule_is_refused_in_the_form(content, live_server,
                                                                      watched):
    """The instructor posts the exam form (real CSRF, real browser) asking for feedback right
    after the exam and no waiting period; the organisation's rule says "never" and 14 days:
    the form comes back with both reasons and nothing is created."""
    from django.db import connection

    org = Organization.objects.create(name="Strict Service", slug="strict-service")
    admin = make_member(org, Role.ORG_ADMIN, "strict-admin")
    instructor = make_member(org, Role.INSTRUCTOR, "strict-instructor")
    rules.rule_save(actor=admin, organization=org, instrument_slug="cport")
    cohort = Cohort.objects.create(organization=org, name="Strict cohort")
    cohort.instructors.add(instructor)
    pool = VignetteSet.objects.get(slug="cport-exam-pool", owner__isnull=True)
    connection.close()

    page = watched.page
    sign_in(page, live_server.url, "strict-instructor")
    page.goto(f"{live_server.url}/manage/assignments/new/")
    assert "CPORT: “Not shown to trainees”" in page.locator("#field-feedback_policy").inner_text()
    page.fill("#id_title", "Loose exam")
    page.select_option("#id_cohort", str(cohort.pk))
    page.select_option("#id_mode", "exam")
    page.select_option("#id_vignette_set", str(pool.pk))
    page.check("input[name=instruments][value=cport]")
    page.fill("#id_opens_at", "2030-03-01T09:00")
    page.fill("#id_time_limit_minutes", "90")
    page.select_option("#id_feedback_policy", "immediate")
    page.fill("#id_retake_wait_days", "0")
    page.get_by_role("button", name="Save assignment").click()
    page.wait_for_load_state()
    policy_error = page.locator("#field-feedback_policy")
    assert "an exam assignment can keep that or be stricter" in policy_error.inner_text()
    assert "at least 14 days between exam attempts" in page.locator(
        "#field-retake_wait_days").inner_text()
    watched.shot("looser-policy-refused")
    assert not Assignment.objects.filter(organization=org).exists()

    # Keeping the rule's policy and wait saves it.
    page.select_option("#id_feedback_policy", "never")
    page.fill("#id_retake_wait_days", "")
    page.get_by_role("button", name="Save assignment").click()
    page.wait_for_url("**/manage/assignments/")
    pool = VignetteSet.objects.get(slug="cport-exam-pool", owner__isnull=True).members.count()
    assert f"Pool of {pool} cases" in page.content()
    assert Assignment.objects.get(organization=org).feedback_policy == FeedbackPolicy.NEVER
    watched.assert_clean()
