"""The instructor journey in a real browser: cohort dashboard with its charts drawn, item
analytics, a trainee's Bland-Altman plot, a comment, the CSV export. CSP violations fail."""


import pytest

from tests.browser.conftest import (
    assert_line_chart_drawn,
    assert_scatter_chart_drawn,
    sign_in,
    taught_cohort,
    unlabelled_controls,
)
from training.models import RatingComment

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_instructor_reads_dashboards_comments_and_exports(content, live_server, watched):
    org, cohort, instructor = taught_cohort("teach", "Autumn cohort", "teach-instructor",
                                            trainees=5, vignettes=6, months=3, seed=9)
    page = watched.page
    sign_in(page, live_server.url, "teach-instructor")
    page.click("text=Calibration")
    page.click("text=Autumn cohort")
    page.select_option("select[name=instrument]", "stable-2007")
    page.click("form.filters button:has-text('Show')")
    chart = assert_line_chart_drawn(page.locator("figure.chart-figure").first,
                                    x_label="Window", y_label="Coefficient",
                                    gaps_only_ok=True)
    assert chart["header"][1:] == ["Krippendorff's alpha, totals", "ICC(2,1), crossed subset",
                                   "Fleiss' kappa, items", "Gwet's AC1, items"]
    # The chart's windows are the reliability table's windows.
    assert [row[0] for row in chart["rows"]] == page.locator(
        "#reliability-table tbody th").all_inner_texts()
    assert len(chart["rows"]) >= 3  # three months of history, by calendar month
    assert page.locator("#trainee-table tbody tr").count() == 5
    assert unlabelled_controls(page, "main") == []
    watched.shot("1-dashboard")
    # A weekly window redraws the chart with more points.
    page.select_option("select[name=window]", "week")
    page.locator("form.filters", has=page.locator("select[name=window]")).locator(
        "button").click()
    page.wait_for_url("**window=week**")
    weekly = assert_line_chart_drawn(page.locator("figure.chart-figure").first,
                                     x_label="Window", y_label="Coefficient",
                                     gaps_only_ok=True)
    assert len(weekly["rows"]) > len(chart["rows"])
    watched.shot("1b-dashboard-weekly")
    page.click("#hardest-item")
    page.locator("#item-detail").wait_for()
    assert unlabelled_controls(page, "main") == []
    watched.shot("2-item")
    page.goto(page.url.split("/items/")[0] + "/?instrument=stable-2007")
    page.click("#most-lenient")
    page.locator("h2", has_text="Items missed").wait_for()
    figures = page.locator("figure.chart-figure")
    assert figures.count() == 2
    assert_line_chart_drawn(figures.nth(0), x_label="Month", y_label="Items agreeing (%)")
    assert_scatter_chart_drawn(
        figures.nth(1), x_label="Mean of trainee and reference total",
        y_label="Trainee - reference", lines=["bias", "lower limit", "upper limit"])
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
