"""An organisation admin, in Chromium: reads the audit trail as sentences, filters it by
action and day and opens an event's details, then searches the member list and pages through
it, then reads their home page. The audit page stays within 1280 px even with a long change; no CSP violation, JS error,
CSRF refusal or serious axe finding. Screenshots: artifacts/screenshots/test_admin_*.png."""

import datetime as dt

import pytest
from django.db import connection

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from training.audit import audit_record
from training.models import Cohort, Invitation, Membership, Organization, Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"


def test_admin_filters_the_audit_trail_and_pages_the_member_list(content, live_server,
                                                                 watched):
    org = Organization.objects.create(name="Lists Service", slug="lists")
    admin = make_member(org, Role.ORG_ADMIN, "lists-admin")
    for i in range(55):
        make_member(org, Role.TRAINEE, f"rater-{i:02d}")
    trainee = Membership.objects.get(user__username="rater-07")
    today = dt.datetime.now(dt.UTC)
    old = audit_record(actor=admin, organization=org, obj=trainee, action="membership.removed",
                       before={"user": trainee.user_id, "role": "trainee"},
                       now=today - dt.timedelta(days=40))
    changed = audit_record(actor=admin, organization=org, obj=trainee,
                           action="membership.role_changed",
                           before={"role": "trainee"},
                           after={"role": "instructor", "note": "x" * 3000}, now=today)
    cohort = Cohort.objects.create(organization=org, name="Evening cohort")
    cohort.instructors.add(admin)
    cohort.trainees.add(admin, trainee.user)
    Invitation.objects.create(organization=org, email="next@example.org", role=Role.TRAINEE,
                              token_hash="c" * 64, created_at=today,
                              expires_at=today + dt.timedelta(days=7))
    connection.close()
    page = watched.page
    sign_in(page, live_server.url, "lists-admin")

    page.goto(f"{live_server.url}/manage/audit/")
    assert "lists-admin changed the role of rater-07 — role: trainee → instructor" in \
        page.locator(f"#event-{changed.pk}").inner_text()
    page.select_option("#audit-action", "membership.role_changed")
    page.fill("#audit-from", (today - dt.timedelta(days=1)).date().isoformat())
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/manage/audit/?*")
    assert page.locator(f"#event-{changed.pk}").count() == 1
    assert page.locator(f"#event-{old.pk}").count() == 0
    page.locator(f"#event-{changed.pk} summary").click()
    assert page.locator(f"#event-{changed.pk} pre").first.is_visible()
    scroll_width, inner_width = page.evaluate(OVERFLOW)
    assert scroll_width <= inner_width, (scroll_width, inner_width)
    watched.shot("audit-filtered")

    page.goto(f"{live_server.url}/manage/members/")
    assert page.locator("tr[id^=member-]").count() == 50
    page.fill("#member-q", "rater")
    page.click("form.list-search button[type=submit]")
    page.wait_for_url("**/manage/members/?q=rater")
    assert "55 matches for “rater”" in page.content()
    page.click("a[rel=next]")
    page.wait_for_url("**/manage/members/?q=rater&page=2")
    assert page.locator("tr[id^=member-]").count() == 5
    assert page.input_value("#member-q") == "rater"  # the page kept the search
    watched.shot("members-page-2")

    # The admin's home page: their own work as a cohort member, the cohort they teach and
    # the organisation's queues, within the screen.
    page.goto(f"{live_server.url}/dashboard/")
    for section in ("#home-trainee", "#home-cohorts", "#home-admin"):
        assert page.locator(section).count() == 1
    assert "next@example.org" in page.locator("#home-admin").inner_text()
    scroll_width, inner_width = page.evaluate(OVERFLOW)
    assert scroll_width <= inner_width, (scroll_width, inner_width)
    watched.shot("home")
    watched.assert_clean()
