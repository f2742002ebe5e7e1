"""The instructor journey in a real browser: cohort dashboard with its charts drawn, item
analytics, a trainee's Bland-Altman plot, a comment, the CSV export. CSP violations fail."""

import datetime as dt

import pytest
from django.utils import timezone

from tests.conftest import make_member
from training.models import Cohort, Organization, RatingComment, Role
from training.simulation import simulate_cohort

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_instructor_reads_dashboards_comments_and_exports(content, live_server, watched):
    from django.db import connection

    org = Organization.objects.create(name="Teach Service", slug="teach")
    cohort = Cohort.objects.create(organization=org, name="Autumn cohort")
    simulate_cohort(organization=org, cohort=cohort, trainees=5, vignettes=6, months=3, seed=9,
                    start=timezone.now() - dt.timedelta(days=91),
                    instruments=["stable-2007"], username_prefix="autumn-")
    instructor = make_member(org, Role.INSTRUCTOR, "teach-instructor")
    cohort.instructors.add(instructor)
    connection.close()
    page = watched.page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "teach-instructor")
    page.fill("#id_password", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.click("text=Calibration")
    page.click("text=Autumn cohort")
    page.select_option("select[name=instrument]", "stable-2007")
    page.click("form.filters button:has-text('Show')")
    chart = page.locator(".chart-svg svg").first
    chart.wait_for()
    box = chart.bounding_box()
    assert box["width"] > 300 and box["height"] > 100
    assert page.locator(".chart-svg svg path").count() >= 1
    assert page.locator("#trainee-table tbody tr").count() == 5
    watched.shot("1-dashboard")
    page.click("#hardest-item")
    page.locator("#item-detail").wait_for()
    watched.shot("2-item")
    page.goto(page.url.split("/items/")[0] + "/?instrument=stable-2007")
    page.click("#most-lenient")
    page.locator("h2", has_text="Items missed").wait_for()
    watched.shot("3-trainee")
    form = page.locator(".comment-form").first
    form.locator("textarea").fill("Re-read the cohabitation dates before scoring S99R-2.")
    form.locator("button").click()
    page.locator(".comment", has_text="Re-read the cohabitation dates").first.wait_for()
    assert RatingComment.objects.count() == 1
    page.goto(f"{live_server.url}/teach/cohorts/{cohort.pk}/?instrument=stable-2007")
    with page.expect_download() as download:
        page.click("text=Export ratings (CSV)")
    path = download.value.path()
    with open(path, encoding="utf-8") as f:
        header = f.readline().strip()
    assert header.startswith("trainee,vignette,vignette_revision,instrument")
    watched.assert_clean()
