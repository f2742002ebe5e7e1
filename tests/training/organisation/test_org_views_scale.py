"""The organisation-wide pages read a fixed number of queries however many raters,
cohorts, certificates and drift alerts the organisation has; and none shows another
organisation's."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from benchmarks._org_worker import populate
from tests.conftest import api_for, browser_for

pytestmark = pytest.mark.django_db

PAGES = ["/teach/", "/manage/cohorts/", "/certification/manage/certificates/",
         "/recalibration/alerts/"]
API = ["/api/v1/cohorts/", "/api/v1/certificates/"]


def _queries(org_admin, url, api=False):
    client = api_for(org_admin) if api else browser_for(org_admin)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx.captured_queries), response


def test_org_wide_pages_read_a_fixed_number_of_queries(org, other_org, org_admin):
    populate(other_org, 7, cohort_size=3)
    populate(org, 6, cohort_size=3)  # 2 cohorts, 6 certificates, 1 alert
    small = {url: _queries(org_admin, url, api=url in API)[0] for url in PAGES + API}
    populate(org, 45, cohort_size=5)  # 9 more cohorts, 45 more certificates, 3 alerts
    for url in PAGES + API:
        count, response = _queries(org_admin, url, api=url in API)
        assert count == small[url], url
        assert b"south-rater" not in response.content, url
    body = browser_for(org_admin).get("/manage/cohorts/").content.decode()
    # The first names of a cohort and how many more; the count is the cohort's size.
    assert "north-rater-00000" in body and "and 1 more" not in body
    assert "and 3 more" not in body
    teach = browser_for(org_admin).get("/teach/").content.decode()
    assert teach.count('<td class="num">5</td>') == 9


def test_the_certificate_register_shows_a_page_at_a_time_and_exports_every_one(
        org, org_admin, monkeypatch):
    from training.certification import views as cert_views

    monkeypatch.setattr(cert_views, "REGISTER_PAGE_SIZE", 4)
    populate(org, 10, cohort_size=5)
    client = browser_for(org_admin)
    first = client.get("/certification/manage/certificates/").content.decode()
    assert first.count('name="reason"') == 4
    assert "Page 1 of 3 (10 in all)" in first and 'rel="next"' in first
    last = client.get("/certification/manage/certificates/?page=3").content.decode()
    assert last.count('name="reason"') == 2 and 'rel="prev"' in last
    csv = client.get("/certification/manage/certificates/?format=csv")
    assert b"".join(csv.streaming_content).count(b"north-rater-") == 10
    api = api_for(org_admin).get("/api/v1/certificates/?page_size=4").json()
    assert api["count"] == 10 and len(api["results"]) == 4
    one = api_for(org_admin).get("/api/v1/certificates/?holder=north-rater-00003").json()
    assert [r["holder"] for r in one["results"]] == ["north-rater-00003"]
