"""Long lists page (50 a page) and search, and the two keep each other's parameters; a search
never finds another organisation's rows."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from tests.conftest import browser_for, make_member, signed_in
from tests.training.helpers import certify
from training.models import Attempt, AttemptStatus, Cohort, Mode
from training.organisation.cohorts import assignment_save
from vignettes.models import VignetteSet

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 10, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def rows(html: str, marker: str) -> int:
    return html.count(marker)


def test_members_page_and_search_keeping_each_other(org, other_org, org_admin):
    for i in range(55):
        make_member(org, "trainee", f"member-{i:02d}")
    make_member(other_org, "trainee", "member-south")
    client = signed_in(org_admin)
    first = client.get(reverse("manage:members")).content.decode()
    assert rows(first, '<tr id="member-') == 50  # 56 members: admin-a and 55 trainees
    assert 'href="?page=2"' in first
    second = client.get(reverse("manage:members"), {"page": 2}).content.decode()
    assert rows(second, '<tr id="member-') == 6
    found = client.get(reverse("manage:members"), {"q": "member-0"}).content.decode()
    assert rows(found, '<tr id="member-') == 10 and "10 matches for “member-0”" in found
    assert "member-south" not in client.get(reverse("manage:members"),
                                            {"q": "south"}).content.decode()
    many = client.get(reverse("manage:members"), {"q": "member", "page": 2}).content.decode()
    assert rows(many, '<tr id="member-') == 5
    assert 'href="?q=member&amp;page=1"' in many  # the pager keeps the search
    assert 'value="member"' in many  # and the search box shows it


def test_assignments_search_and_page(org, org_admin, instructor):
    cohort = Cohort.objects.create(organization=org, name="Alpha")
    cohort.instructors.add(instructor)
    practice = VignetteSet.objects.bundled().get(slug="stable-2007-practice")
    for i in range(52):
        assignment_save(actor=org_admin, organization=org, title=f"Week {i}", cohort=cohort,
                        vignette_set=practice, instrument_slugs=["stable-2007"],
                        opens_at=NOW - dt.timedelta(days=i + 1), now=NOW)
    client = signed_in(instructor)
    html = client.get(reverse("manage:assignments")).content.decode()
    assert rows(html, '<tr id="assignment-') == 50
    found = client.get(reverse("manage:assignments"), {"q": "week 5"}).content.decode()
    assert rows(found, '<tr id="assignment-') == 7  # every word matches: 5, 15, ... 45, 50, 51
    assert "No assignment matches" in client.get(reverse("manage:assignments"),
                                                  {"q": "nothing"}).content.decode()


def test_certificate_register_searches_by_holder_and_keeps_the_status_filter(
        org, org_admin, trainee, trainee2, rule, admin_b):
    mine = certify(org, trainee, at=NOW - dt.timedelta(days=10), rule=rule)
    certify(org, trainee2, at=NOW - dt.timedelta(days=10), rule=rule)
    client = signed_in(org_admin)
    url = reverse("cert:certificates")
    found = client.get(url, {"q": "trainee-a", "filter": "active"}).content.decode()
    assert "trainee-a" in found and "trainee-b</a>" not in found
    assert 'name="filter" value="active"' in found  # the search form keeps the filter
    assert 'name="q" value="trainee-a"' in found  # the filter form keeps the search
    assert "filter=active&amp;q=trainee-a&amp;format=csv" in found
    by_number = client.get(url, {"q": f"#{mine.pk}"}).content.decode()
    assert "trainee-a" in by_number and "trainee-b</a>" not in by_number
    # another organisation's admin finds nothing of North's
    assert "trainee-a" not in signed_in(admin_b).get(url, {"q": "trainee"}).content.decode()


def test_attempt_list_searches_the_trainees_own_attempts(org, trainee, trainee2):
    practice = VignetteSet.objects.bundled().get(slug="stable-2007-practice")
    revision = practice.members.first().vignette.current_revision
    for user in (trainee, trainee2):
        for _ in range(51):
            attempt = Attempt.objects.create(user=user, organization=org, mode=Mode.PRACTICE,
                                             status=AttemptStatus.SUBMITTED, started_at=NOW,
                                             submitted_at=NOW)
            attempt.attempt_vignettes.create(vignette_revision=revision, order=0)
    client = browser_for(trainee)
    html = client.get(reverse("attempt-list")).content.decode()
    assert html.count("<tr>") - 1 == 50  # the header row, then 50 attempts
    found = client.get(reverse("attempt-list"), {"q": revision.title[:6], "page": 2})
    assert found.content.decode().count("<tr>") - 1 == 1
