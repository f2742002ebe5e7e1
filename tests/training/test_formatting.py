"""One way a date, a time and a number reads: in the organisation's zone with the zone named
(training/formatting.py and the template filters over it); counts as integers, shares as
percentages, coefficients with fixed decimals; titles and names, never slugs, where people
read."""

import datetime as dt
import pathlib
import re

import pytest
import time_machine
from django.template import Context, Template
from django.template.loader import render_to_string
from django.utils import timezone

from tests.conftest import api_for, browser_for
from tests.training.helpers import EXAM_DAY, make_exam
from training import formatting
from training.certification import rules
from training.certification.decisions import criteria_for_display

ROOT = pathlib.Path(__file__).resolve().parents[2]
WINTER = dt.datetime(2026, 12, 6, 14, 5, tzinfo=dt.UTC)
SUMMER = dt.datetime(2026, 7, 1, 13, 5, tzinfo=dt.UTC)  # British Summer Time: UTC+1


def render(source, **context):
    return Template(source).render(Context(context))


def test_a_moment_reads_in_the_zone_with_the_zone_named_across_daylight_saving():
    assert formatting.when(WINTER, "Europe/London") == "6 Dec 2026, 14:05 (Europe/London)"
    assert formatting.when(SUMMER, "Europe/London") == "1 Jul 2026, 14:05 (Europe/London)"
    # the last Sunday of March 2026: 00:59 UTC is still GMT, 01:00 UTC is 02:00 BST
    assert formatting.when(dt.datetime(2026, 3, 29, 0, 59, tzinfo=dt.UTC),
                           "Europe/London").startswith("29 Mar 2026, 00:59")
    assert formatting.when(dt.datetime(2026, 3, 29, 1, 0, tzinfo=dt.UTC),
                           "Europe/London").startswith("29 Mar 2026, 02:00")
    assert render("{{ t|when:z }}", t=WINTER, z="America/New_York") == (
        "6 Dec 2026, 09:05 (America/New_York)")


def test_without_an_organisation_the_zone_is_utc_and_named_so():
    timezone.deactivate()
    assert render("{{ t|when }}", t=WINTER) == "6 Dec 2026, 14:05 (UTC)"
    with timezone.override("Australia/Sydney"):  # as the middleware activates an org's zone
        assert render("{{ t|when }}", t=WINTER) == "7 Dec 2026, 01:05 (Australia/Sydney)"


def test_the_day_is_the_day_in_the_organisations_zone_not_in_utc():
    midnight_utc = dt.datetime(2027, 1, 1, 0, 0, tzinfo=dt.UTC)
    assert formatting.day(midnight_utc, "UTC") == "1 Jan 2027"
    assert formatting.day(midnight_utc, "America/Los_Angeles") == "31 Dec 2026"
    assert formatting.day(dt.datetime(2026, 12, 6, 23, 30, tzinfo=dt.UTC),
                          "Australia/Sydney") == "7 Dec 2026"
    assert render("{{ d|day }}", d=dt.date(2028, 2, 29)) == "29 Feb 2028"
    assert render("{{ d|day }}", d="2028-02-29") == "29 Feb 2028"  # an ISO day, as the API has it


def test_machine_readable_forms_stay_iso_in_utc_and_empty_values_stay_empty():
    with timezone.override("Europe/London"):
        assert render("{{ t|iso }}", t=SUMMER) == "2026-07-01T13:05:00+00:00"
    assert render("{{ t|when|default:'—' }}/{{ t|day }}", t=None) == "—/"


def test_numbers_read_as_what_they_are():
    assert render("{{ n|count }}", n=12.0) == "12"
    assert render("{{ p|percent }} {{ p|percent:1 }}", p=0.8333) == "83 % 83.3 %"
    assert render("{{ p|percent }}", p=None) == "–"
    assert render("{{ k|coef:2 }} {{ k|coef:3 }}", k=0.7) == "0.70 0.700"
    assert render("{{ k|coef:2|default:'–' }}", k=None) == "–"


def test_certification_criteria_show_counts_percentages_and_coefficients():
    criteria = criteria_for_display([
        {"key": "exam_vignettes", "value": 12, "threshold": 10, "ci95": None, "n": 12,
         "passed": True, "judged_on": "value"},
        {"key": "item_agreement", "value": 0.85, "threshold": 0.8, "ci95": [0.8, 0.9], "n": 40,
         "passed": True, "judged_on": "value"},
        {"key": "icc_a1", "value": 0.9123, "threshold": 0.75, "ci95": None, "n": 12,
         "passed": True, "judged_on": "value"},
    ])
    html = render_to_string("training/cert/_criteria.html", {"criteria": criteria,
                                                             "caption": "c"})
    row = html.split('data-criterion="exam_vignettes"')[1].split("</tr>")[0]
    assert "<td>12 " in row and "≥ 10<" in row and "12.00" not in row
    row = html.split('data-criterion="item_agreement"')[1].split("</tr>")[0]
    assert "85.0 %" in row and "80.0 % – 90.0 %" in row and "≥ 80 %" in row
    row = html.split('data-criterion="icc_a1"')[1].split("</tr>")[0]
    assert "0.91" in row and "≥ 0.75" in row


def test_no_template_formats_a_date_itself():
    """Every page goes through `when` / `day` / `iso`; the countdown does not format either."""
    offenders = []
    for path in ROOT.glob("*/templates/**/*.html"):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"\|date:", r"\|time:", r"\|timezone:", r"\|naturaltime"):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    for path in ROOT.glob("*/static/**/*.js"):
        if "toLocale" in path.read_text(encoding="utf-8"):
            offenders.append(f"{path.relative_to(ROOT)}: toLocale*")
    assert offenders == []


@pytest.mark.django_db
def test_the_exam_page_shows_the_deadline_in_the_organisations_zone(org, trainee, instructor,
                                                                     org_admin):
    org.time_zone = "America/New_York"
    org.save(update_fields=["time_zone"])
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="cport",
                    now=EXAM_DAY - dt.timedelta(days=3))
    exam = make_exam(org, [trainee], instructor, draw=5, limit=60)
    api, page = api_for(trainee), browser_for(trainee)
    with time_machine.travel(EXAM_DAY, tick=False):
        attempt = api.post("/api/v1/attempts/", {"assignment": exam.pk,
                                                 "accept_undertaking": True}, format="json")
        assert attempt.status_code == 201, attempt.content
        attempt = attempt.json()
        html = page.get(f"/attempts/{attempt['id']}/").content.decode()
        # 2 Mar 2026 10:00 UTC is 05:00 in New York (EST, UTC-5)
        assert ('<time datetime="2026-03-02T10:00:00+00:00" id="deadline">'
                "2 Mar 2026, 05:00 (America/New_York)</time>") in html
        review = page.get(f"/attempts/{attempt['id']}/submit/").content.decode()
    # What is missing names the case by its title and the instrument by its name, never by
    # their slugs (those stay in the links).
    missing = review.split('<ul class="missing">')[1].split("</ul>")[0]
    first = attempt["vignettes"][0]
    link_texts = re.findall(r'">([^<]*)</a>', missing)
    assert link_texts and all(first["slug"] not in t and "cport" not in t for t in link_texts)
    assert any(t.startswith(first["title"] + " · CPORT") for t in link_texts), link_texts
