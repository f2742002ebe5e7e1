"""An instructor creates a calibration round in Chromium: the form is posted once with the
CSRF cookie and Origin a browser sends, the round is drawn and listed, and a refused round
shows why next to the field."""

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from training.models import Assignment, AssignmentKind, Cohort, Organization, Role
from vignettes.models import VignetteSet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_instructor_creates_a_calibration_round(content, live_server, watched):
    from django.db import connection

    org = Organization.objects.create(name="Round Service", slug="round-service")
    instructor = make_member(org, Role.INSTRUCTOR, "round-instructor")
    trainees = [make_member(org, Role.TRAINEE, f"round-trainee{i}") for i in (1, 2)]
    cohort = Cohort.objects.create(organization=org, name="Round cohort")
    cohort.trainees.set(trainees)
    cohort.instructors.set([instructor])
    practice = VignetteSet.objects.get(slug="stable-2007-practice", owner__isnull=True)
    connection.close()
    page = watched.page
    base = live_server.url
    sign_in(page, base, "round-instructor")

    def fill(title, size):
        page.goto(f"{base}/manage/assignments/new/")
        page.get_by_label("Title").fill(title)
        page.get_by_label("Kind").select_option(AssignmentKind.CALIBRATION_ROUND)
        page.get_by_label("Cohort").select_option(str(cohort.pk))
        page.get_by_label("Vignette set").select_option(str(practice.pk))
        page.check("input[name=instruments][value=stable-2007]")
        page.get_by_label("Opens at").fill("2030-03-01T09:00")
        page.get_by_label("Closes at").fill("2030-03-22T17:00")
        page.locator("input[name=draw_size]").fill(size)
        page.get_by_role("button", name="Save assignment").click()

    fill("Too small", "6")
    page.get_by_text("A calibration round holds 10 to 40 vignettes").wait_for()
    assert not Assignment.objects.exists()

    fill("March round", "10")
    page.wait_for_url("**/manage/assignments/")
    page.get_by_text("Calibration round · Practice").wait_for()
    assignment = Assignment.objects.get(title="March round")
    assert assignment.kind == AssignmentKind.CALIBRATION_ROUND
    assert assignment.vignette_set.owner == org
    assert assignment.vignette_set.members.count() == 10
    watched.assert_clean()
