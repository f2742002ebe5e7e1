"""Calibration rounds: an assignment kind in which the whole cohort rates the same vignettes,
new to every trainee, in one period."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from tests.conftest import signed_in
from training.attempts.services import (
    attempt_start_assignment,
    attempt_start_practice,
    attempt_submit,
    rating_save_draft,
)
from training.models import Assignment, AssignmentKind, AuditEvent, Cohort, Mode
from training.organisation import cohorts as cohort_services
from training.organisation import rounds
from vignettes.models import VignetteSet

pytestmark = pytest.mark.django_db

OPENS = dt.datetime(2030, 3, 1, 9, 0, tzinfo=dt.UTC)
CLOSES = dt.datetime(2030, 3, 22, 17, 0, tzinfo=dt.UTC)


@pytest.fixture
def cohort(org, trainee, trainee2, instructor):
    cohort = Cohort.objects.create(organization=org, name="Round cohort")
    cohort.trainees.set([trainee, trainee2])
    cohort.instructors.set([instructor])
    return cohort


def _stable_practice():
    return VignetteSet.objects.get(slug="stable-2007-practice", owner__isnull=True)


def _members(vignette_set):
    return [m.vignette.slug for m in vignette_set.members.select_related("vignette")
            .order_by("order")]


def _round(org, cohort, actor, **overrides):
    values = {
        "actor": actor, "organization": org, "title": "Round 1", "cohort": cohort,
        "vignette_set": _stable_practice(), "instrument_slugs": ["stable-2007"],
        "mode": Mode.PRACTICE, "kind": AssignmentKind.CALIBRATION_ROUND, "opens_at": OPENS,
        "closes_at": CLOSES,
    }
    values.update(overrides)
    return cohort_services.assignment_save(**values)


def _rate(user, org, slug, when=OPENS - dt.timedelta(days=30)):
    attempt = attempt_start_practice(user=user, organization=org, vignette_slug=slug,
                                     instrument_slugs=["stable-2007"], now=when)
    rating_save_draft(attempt=attempt, vignette=slug, instrument="stable-2007", revision=0,
                      applicable=False, items=None, now=when)
    attempt_submit(attempt=attempt, now=when)


def test_a_round_draws_ten_new_vignettes_in_set_order_and_freezes_them(org, cohort, instructor,
                                                                      trainee2):
    source = _members(_stable_practice())
    _rate(trainee2, org, source[0])  # one trainee has met the first case already
    assignment = _round(org, cohort, instructor)
    assert assignment.kind == AssignmentKind.CALIBRATION_ROUND
    assert assignment.draw_size == rounds.DEFAULT_ROUND_VIGNETTES
    frozen = assignment.vignette_set
    assert frozen.owner == org and frozen.kind == VignetteSet.Kind.PRACTICE
    assert _members(frozen) == source[1:11]
    event = AuditEvent.objects.get(action="assignment.created", object_id=str(assignment.pk))
    assert event.after["kind"] == AssignmentKind.CALIBRATION_ROUND
    # The source set is untouched, and saving the round again keeps the same vignettes.
    assert _members(_stable_practice()) == source
    again = _round(org, cohort, instructor, assignment=assignment, title="Round one",
                   vignette_set=frozen)
    assert again.vignette_set == frozen and _members(again.vignette_set) == source[1:11]


def test_the_next_round_draws_past_the_vignettes_the_cohort_has_rated(org, cohort, instructor,
                                                                     trainee):
    first = _round(org, cohort, instructor)
    for slug in _members(first.vignette_set)[:2]:
        _rate(trainee, org, slug, when=OPENS + dt.timedelta(days=1))
    second = _round(org, cohort, instructor, title="Round 2")
    assert set(_members(second.vignette_set)).isdisjoint(_members(first.vignette_set)[:2])


@pytest.mark.parametrize(
    ("overrides", "field", "text"),
    [
        ({"mode": Mode.EXAM, "time_limit_minutes": 60}, "mode", "practice"),
        ({"closes_at": None}, "closes_at", "closes"),
        ({"draw_size": 9}, "draw_size", "10 to 40"),
        ({"draw_size": 41}, "draw_size", "10 to 40"),
        ({"draw_size": 40, "instrument_slugs": ["stable-2007", "static-99r"]}, "vignette_set",
         "new to every trainee"),
        ({"instrument_slugs": ["stable-2007", "cport"], "draw_size": 30},
         "vignette_set", "does not apply"),
    ],
)
def test_a_round_that_cannot_be_run_is_refused_and_nothing_is_stored(
        org, cohort, instructor, overrides, field, text):
    sets_before = VignetteSet.objects.count()
    with pytest.raises(ValidationError) as exc:
        _round(org, cohort, instructor, **overrides)
    assert field in exc.value.message_dict, exc.value.message_dict
    assert text in " ".join(exc.value.message_dict[field])
    assert not Assignment.objects.exists()
    assert VignetteSet.objects.count() == sets_before
    assert not AuditEvent.objects.filter(action="assignment.created").exists()


def test_the_shortfall_is_counted_in_the_message(org, cohort, instructor, trainee):
    slugs = _members(_stable_practice())
    total, rated = len(slugs), len(slugs) - 9  # at most 9 new cases left: fewer than 10
    for slug in slugs[:rated]:
        _rate(trainee, org, slug)
    with pytest.raises(ValidationError) as exc:
        _round(org, cohort, instructor)
    message = " ".join(exc.value.message_dict["vignette_set"])
    assert f"(of {total}: {rated} already rated by someone in the cohort" in message


def test_a_started_round_keeps_its_vignettes(org, cohort, instructor, trainee):
    assignment = _round(org, cohort, instructor)
    attempt_start_assignment(user=trainee, organization=org, assignment=assignment,
                             now=OPENS + dt.timedelta(hours=1))
    with pytest.raises(ValidationError) as exc:
        _round(org, cohort, instructor, assignment=assignment, draw_size=12)
    assert "can no longer change" in " ".join(exc.value.message_dict["vignette_set"])
    assignment.refresh_from_db()
    assert assignment.vignette_set.members.count() == 10


def test_the_form_creates_a_round_and_the_list_names_it(org, cohort, org_admin):
    client = signed_in(org_admin)
    response = client.post(reverse("manage:assignment-create"), {
        "title": "March round", "cohort": str(cohort.pk),
        "kind": AssignmentKind.CALIBRATION_ROUND, "mode": Mode.PRACTICE,
        "vignette_set": str(_stable_practice().pk), "instruments": ["stable-2007"],
        "opens_at": "2030-03-01T09:00", "closes_at": "2030-03-22T17:00",
        "feedback_policy": "immediate", "draw_size": "12",
    })
    assert response.status_code == 302, response.content.decode()[:3000]
    assignment = Assignment.objects.get(title="March round")
    assert assignment.vignette_set.members.count() == 12
    html = client.get(reverse("manage:assignments")).content.decode()
    assert "Calibration round · Practice" in html


def test_the_form_shows_why_a_round_is_refused(org, cohort, org_admin):
    response = signed_in(org_admin).post(reverse("manage:assignment-create"), {
        "title": "Too short", "cohort": str(cohort.pk),
        "kind": AssignmentKind.CALIBRATION_ROUND, "mode": Mode.PRACTICE,
        "vignette_set": str(_stable_practice().pk), "instruments": ["stable-2007"],
        "opens_at": "2030-03-01T09:00", "closes_at": "2030-03-22T17:00",
        "feedback_policy": "immediate", "draw_size": "5",
    })
    assert response.status_code == 400
    assert "A calibration round holds 10 to 40 vignettes" in response.content.decode()
    assert not Assignment.objects.exists()
