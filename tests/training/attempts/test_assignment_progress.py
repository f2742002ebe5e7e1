"""Work counts where it belongs: a practice rating of a case in an open practice assignment's
set counts toward it whichever way the trainee opened the case, if it falls in the window and
covers every instrument asked for; calibration rounds count only their own attempts."""

import datetime as dt

import pytest
import time_machine
from django.urls import reverse

from tests.conftest import signed_in
from training.attempts.selectors import assignment_progress
from training.attempts.services import (
    attempt_start_assignment,
    attempt_start_practice,
    attempt_submit,
    rating_save_draft,
)
from training.models import AssignmentKind, Cohort, Mode
from training.organisation import cohorts as cohort_services
from vignettes.models import VignetteSet, VignetteSetMember

pytestmark = pytest.mark.django_db

OPENS = dt.datetime(2030, 3, 1, 9, 0, tzinfo=dt.UTC)
CLOSES = dt.datetime(2030, 3, 22, 17, 0, tzinfo=dt.UTC)
DURING = OPENS + dt.timedelta(days=3)


@pytest.fixture
def cohort(org, trainee, instructor):
    cohort = Cohort.objects.create(organization=org, name="Practice cohort")
    cohort.trainees.set([trainee])
    cohort.instructors.set([instructor])
    return cohort


def _set():
    return VignetteSet.objects.get(slug="stable-2007-practice", owner__isnull=True)


def _first_slug():
    return _set().members.order_by("order").first().vignette.slug


def _assignment(org, cohort, instructor, *, instruments=("stable-2007",), **overrides):
    values = {
        "actor": instructor, "organization": org, "title": "STABLE practice", "cohort": cohort,
        "vignette_set": _set(), "instrument_slugs": list(instruments), "mode": Mode.PRACTICE,
        "opens_at": OPENS, "closes_at": CLOSES, "now": OPENS - dt.timedelta(days=1),
    }
    values.update(overrides)
    return cohort_services.assignment_save(**values)


def _submit(attempt, slug, instruments, when):
    for instrument in instruments:
        rating_save_draft(attempt=attempt, vignette=slug, instrument=instrument, revision=0,
                          applicable=False, items=None, now=when)
    attempt_submit(attempt=attempt, now=when)


def _library(user, org, slug, instruments=("stable-2007",), when=DURING):
    attempt = attempt_start_practice(user=user, organization=org, vignette_slug=slug,
                                     instrument_slugs=list(instruments), now=when)
    _submit(attempt, slug, instruments, when)


def test_library_practice_in_the_window_counts(org, cohort, instructor, trainee):
    assignment = _assignment(org, cohort, instructor)
    assert assignment_progress(user=trainee, assignment=assignment)["vignettes_done"] == 0
    _library(trainee, org, _first_slug())
    assert assignment_progress(user=trainee, assignment=assignment)["vignettes_done"] == 1


def test_the_assignments_own_attempt_counts_once(org, cohort, instructor, trainee):
    assignment = _assignment(org, cohort, instructor)
    slug = _first_slug()
    attempt = attempt_start_assignment(user=trainee, organization=org, assignment=assignment,
                                       vignette_slug=slug, now=DURING)
    _submit(attempt, slug, ["stable-2007"], DURING)
    _library(trainee, org, slug)  # the same case again from the library: still one case
    assert assignment_progress(user=trainee, assignment=assignment)["vignettes_done"] == 1


@pytest.mark.parametrize("when", [OPENS - dt.timedelta(minutes=1),
                                  CLOSES + dt.timedelta(minutes=1)])
def test_practice_outside_the_window_does_not_count(org, cohort, instructor, trainee, when):
    assignment = _assignment(org, cohort, instructor)
    _library(trainee, org, _first_slug(), when=when)
    assert assignment_progress(user=trainee, assignment=assignment)["vignettes_done"] == 0


def test_practice_missing_an_instrument_asked_for_does_not_count(org, cohort, instructor,
                                                                 trainee):
    assignment = _assignment(org, cohort, instructor, instruments=("stable-2007", "static-99r"))
    slug = _first_slug()
    _library(trainee, org, slug, instruments=("stable-2007",))
    assert assignment_progress(user=trainee, assignment=assignment)["vignettes_done"] == 0
    _library(trainee, org, slug, instruments=("stable-2007", "static-99r"))
    assert assignment_progress(user=trainee, assignment=assignment)["vignettes_done"] == 1


def test_a_case_outside_the_set_does_not_count(org, cohort, instructor, trainee):
    first, second = [m.vignette for m in _set().members.order_by("order")[:2]]
    small = VignetteSet.objects.create(owner=org, slug="one-case", title="One case",
                                       kind=VignetteSet.Kind.PRACTICE, content_hash="x")
    VignetteSetMember.objects.create(vignette_set=small, vignette=first, order=1)
    assignment = _assignment(org, cohort, instructor, vignette_set=small)
    _library(trainee, org, second.slug)
    assert assignment_progress(user=trainee, assignment=assignment)["vignettes_done"] == 0
    _library(trainee, org, first.slug)
    assert assignment_progress(user=trainee, assignment=assignment)["vignettes_done"] == 1


def test_a_calibration_round_counts_only_its_own_ratings(org, cohort, instructor, trainee):
    round_ = _assignment(org, cohort, instructor, kind=AssignmentKind.CALIBRATION_ROUND,
                         title="Round 1")
    drawn = round_.vignette_set.members.order_by("order").first().vignette.slug
    # Practice on another case of the source set during the round does not count either.
    source = [m.vignette.slug for m in _set().members.all()]
    outside = next(s for s in source if s not in
                   set(round_.vignette_set.members.values_list("vignette__slug", flat=True)))
    _library(trainee, org, outside)
    assert assignment_progress(user=trainee, assignment=round_)["vignettes_done"] == 0
    attempt = attempt_start_assignment(user=trainee, organization=org, assignment=round_,
                                       vignette_slug=drawn, now=DURING)
    _submit(attempt, drawn, ["stable-2007"], DURING)
    assert assignment_progress(user=trainee, assignment=round_)["vignettes_done"] == 1


def test_dashboard_shows_library_work_on_the_assignment(org, cohort, instructor, trainee):
    _assignment(org, cohort, instructor)
    _library(trainee, org, _first_slug())
    with time_machine.travel(DURING + dt.timedelta(hours=1), tick=False):
        page = signed_in(trainee).get(reverse("dashboard"))
    total = _set().members.count()
    assert f"1 of {total} cases done" in page.content.decode()


def test_recent_results_list_one_line_per_exam_case_without_a_link_while_held_back(
        org, trainee, instructor):
    from tests.conftest import api_for
    from tests.training.helpers import EXAM_DAY, make_exam, take_and_pass

    exam = make_exam(org, [trainee], instructor, draw=3)
    with time_machine.travel(EXAM_DAY, tick=False):
        attempt = take_and_pass(api_for(trainee), exam)
        page = signed_in(trainee).get(reverse("dashboard")).content.decode()
    section = page[page.index("recent-results"):]
    section = section[:section.index("</ul>")]
    assert section.count("<li>") == 3
    for v in attempt["vignettes"]:
        assert v["title"] in section
    assert reverse("attempt-feedback", args=[attempt["id"]]) not in section
    assert "feedback not released yet" in section


def test_the_band_line_of_a_case_judged_not_applicable_says_so(org, trainee):
    slug = _first_slug()
    attempt = attempt_start_practice(user=trainee, organization=org, vignette_slug=slug,
                                     instrument_slugs=["stable-2007"], now=DURING)
    rating_save_draft(attempt=attempt, vignette=slug, instrument="stable-2007", revision=0,
                      applicable=False, items=None, now=DURING)
    page = signed_in(trainee).get(reverse("attempt-score", args=[attempt.pk])).content.decode()
    assert "none (judged not applicable)" in page
    assert "not yet (unscored items)" not in page


def test_starting_the_assignment_offers_a_case_not_yet_done_from_the_library(
        org, cohort, instructor, trainee):
    assignment = _assignment(org, cohort, instructor)
    first, second = [m.vignette.slug for m in _set().members.order_by("order")[:2]]
    _library(trainee, org, first)
    attempt = attempt_start_assignment(user=trainee, organization=org, assignment=assignment,
                                       now=DURING)
    assert [av.vignette_revision.vignette.slug
            for av in attempt.attempt_vignettes.all()] == [second]


def test_the_instructors_home_counts_library_work_as_the_trainees_page_does(
        org, cohort, instructor, trainee):
    from training.home.selectors import instructor_home
    from training.models import Membership

    first = _set().members.order_by("order").first().vignette
    small = VignetteSet.objects.create(owner=org, slug="one-case", title="One case",
                                       kind=VignetteSet.Kind.PRACTICE, content_hash="x")
    VignetteSetMember.objects.create(vignette_set=small, vignette=first, order=1)
    assignment = _assignment(org, cohort, instructor, vignette_set=small)
    membership = Membership.objects.get(user=instructor, organization=org)

    def behind(now):
        return [(b.username, b.why) for s in instructor_home(membership=membership, now=now)
                for b in s.behind if b.assignment.pk == assignment.pk]

    near_due, after = CLOSES - dt.timedelta(days=1), CLOSES + dt.timedelta(days=1)
    assert behind(near_due) == [(trainee.username, "not started")]
    assert behind(after) == [(trainee.username, "overdue")]
    _library(trainee, org, first.slug)  # the one case, done from the library in the window
    assert assignment_progress(user=trainee, assignment=assignment)["vignettes_done"] == 1
    assert behind(near_due) == [] and behind(after) == []
