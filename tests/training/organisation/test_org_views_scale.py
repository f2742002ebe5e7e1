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
