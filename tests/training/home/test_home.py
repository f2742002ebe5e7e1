"""Each role's home page: what to do next, scoped to the organisation and to the role."""

import datetime as dt

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import api_for, browser_for, make_member
from tests.training.helpers import (
    EXAM_DAY,
    certify,
    exam_start,
    make_exam,
    rating_put,
    reference_body,
)
from training.home import selectors as home
from training.models import (
    AlertStatus,
    Attempt,
    AttemptStatus,
    Cohort,
    DriftAlert,
    Invitation,
    Mode,
    Recalibration,
    Role,
)
from training.organisation.cohorts import assignment_save
from training.simulation import simulate_cohort
from training.teaching import data as teaching_data
from training.teaching.trainees import cohort_tendency
from vignettes.models import Instrument, VignetteSet

pytestmark = pytest.mark.django_db

# Mid-month, mid-week: the clock never crosses a month or year end in these tests.
NOW = dt.datetime(2026, 6, 10, 10, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def practice_assignment(org, cohort, actor, title, *, closes_at, opens_at=None):
    return assignment_save(
        actor=actor, organization=org, title=title, cohort=cohort,
        vignette_set=VignetteSet.objects.bundled().get(slug="stable-2007-practice"),
        instrument_slugs=["stable-2007"], opens_at=opens_at or NOW - dt.timedelta(days=20),
        closes_at=closes_at, now=NOW - dt.timedelta(days=21),
    )


def submitted_attempt(org, user, at):
    return Attempt.objects.create(user=user, organization=org, mode=Mode.PRACTICE,
                                  status=AttemptStatus.SUBMITTED, started_at=at,
                                  submitted_at=at)


@pytest.fixture
def cohort(org, instructor, trainee, trainee2):
    cohort = Cohort.objects.create(organization=org, name="Alpha")
    cohort.trainees.add(trainee, trainee2)
    cohort.instructors.add(instructor)
    return cohort


def test_trainee_sees_assignments_due_progress_and_cases_to_start_with(org, cohort, instructor,
                                                                      trainee):
    practice_assignment(org, cohort, instructor, "Week 24 practice",
                        closes_at=NOW + dt.timedelta(days=2))
    size = VignetteSet.objects.bundled().get(slug="stable-2007-practice").members.count()
    html = browser_for(trainee).get("/dashboard/").content.decode()
    assert "Week 24 practice" in html
    assert f"0 of {size} cases done" in html
    assert "due within 3 days" in html and "12 Jun 2026" in html
    # New to practice: a few cases to begin with, by title only, never from an exam pool.
    assert "To begin:" in html and html.count('href="/library/') >= 1
    for exam_set in VignetteSet.objects.bundled().filter(slug__endswith="exam-pool"):
        for member in exam_set.members.select_related("vignette"):
            assert member.vignette.slug not in html
    # Not an instructor's or an admin's page.
    assert 'id="home-cohorts"' not in html and 'id="home-admin"' not in html


def test_trainee_without_assignment_is_told_what_to_do(org, trainee):
    html = browser_for(trainee).get("/dashboard/").content.decode()
    assert "No open assignment. Practise freely in the library" in html
    assert "Nothing submitted yet." in html


def test_instructor_sees_who_is_behind_and_what_changed_this_week(
        org, other_org, cohort, instructor, trainee, trainee2):
    practice_assignment(org, cohort, instructor, "Due Friday",
                        closes_at=NOW + dt.timedelta(days=2))
    practice_assignment(org, cohort, instructor, "Closed Sunday",
                        closes_at=NOW - dt.timedelta(days=3))
    practice_assignment(org, cohort, instructor, "Due next month",
                        closes_at=NOW + dt.timedelta(days=20))
    submitted_attempt(org, trainee, NOW - dt.timedelta(days=1))
    submitted_attempt(org, trainee2, NOW - dt.timedelta(days=2))
    submitted_attempt(org, trainee, NOW - dt.timedelta(days=9))
    # Another cohort of the organisation, and another organisation's, stay out of sight.
    Cohort.objects.create(organization=org, name="Untaught cohort")
    Cohort.objects.create(organization=other_org, name="South cohort").instructors.add(
        instructor)
    html = browser_for(instructor).get("/dashboard/").content.decode()
    assert 'id="home-cohorts"' in html and 'id="home-admin"' not in html
    assert "Alpha" in html and "Untaught cohort" not in html and "South cohort" not in html
    assert "Submissions: 2 in the last 7 days, 1 in the 7 days before." in html
    assert "New this week: trainee-a, trainee-b." in html  # both joined today
    assert html.count("not started, due 12 Jun 2026") == 2
    assert html.count("not finished, was due 7 Jun 2026") == 2
    assert "Due next month" not in html
    assert "No submitted ratings yet" in html


def test_flagged_trainees_come_from_the_severity_model_and_are_cached(
        org, instructor, monkeypatch):
    cohort = Cohort.objects.create(organization=org, name="Sim")
    simulate_cohort(organization=org, cohort=cohort, trainees=4, vignettes=4, months=2, seed=3,
                    start=timezone.now() - dt.timedelta(days=61),
                    instruments=["stable-2007"], username_prefix="sim-")
    cohort.instructors.add(instructor)
    instrument = Instrument.objects.get(slug="stable-2007", owner__isnull=True)
    severity = cohort_tendency(teaching_data.cohort_data(cohort=cohort, instrument=instrument))
    loads = []
    real = teaching_data.cohort_data
    monkeypatch.setattr(home.teaching_data, "cohort_data",
                        lambda **kw: loads.append(kw) or real(**kw))
    membership = instructor.memberships.get(organization=org)
    first = home.instructor_home(membership=membership, now=NOW)
    again = home.instructor_home(membership=membership, now=NOW)
    assert len(loads) == 1  # the second home page reads the cache
    (summary,) = first
    assert summary.tendency_n == [(instrument.short_name, severity.n_ratings,
                                   severity.n_trainees)]
    names = dict(cohort.trainees.values_list("id", "username"))
    assert [(f.username, f.tendency) for f in summary.flagged] == [
        (names[int(t.trainee)], t.tendency) for t in severity.flagged]
    assert again[0].flagged == summary.flagged
    html = browser_for(instructor).get("/dashboard/").content.decode()
    assert (f"{instrument.short_name} n = {severity.n_ratings} from {severity.n_trainees} "
            "trainees") in html


def test_admin_sees_invitations_expiring_certificates_alerts_and_overdue_recalibrations(
        org, other_org, org_admin, admin_b, trainee, rule):
    Invitation.objects.create(organization=org, email="new@example.org", role=Role.TRAINEE,
                              token_hash="a" * 64, created_at=NOW,
                              expires_at=NOW + dt.timedelta(days=5))
    Invitation.objects.create(organization=other_org, email="south@example.org",
                              role=Role.TRAINEE, token_hash="b" * 64, created_at=NOW,
                              expires_at=NOW + dt.timedelta(days=5))
    cert = certify(org, trainee, at=NOW - dt.timedelta(days=400), rule=rule)
    type(cert).objects.filter(pk=cert.pk).update(expires_at=NOW + dt.timedelta(days=30))
    DriftAlert.objects.create(organization=org, certificate=cert, kind="deviation",
                              status=AlertStatus.OPEN, raised_at=NOW - dt.timedelta(days=1))
    Recalibration.objects.create(certificate=cert, period=9, assigned_at=NOW - dt.timedelta(
        days=40), due_at=NOW - dt.timedelta(days=10))
    html = browser_for(org_admin).get("/dashboard/").content.decode()
    assert "1 pending invitation" in html and "new@example.org" in html
    assert "south@example.org" not in html
    assert "1 certificate expires in the next 60 days" in html
    assert f"Certificate {cert.pk} of trainee-a" in html and "10 Jul 2026" in html
    assert "1 drift alert awaits confirmation" in html
    assert "1 recalibration overdue" in html and "was due 31 May 2026" in html
    # Another organisation's admin sees none of it; a trainee has no admin section.
    south = browser_for(admin_b).get("/dashboard/").content.decode()
    assert "new@example.org" not in south and "trainee-a" not in south
    assert "south@example.org" in south
    assert 'id="home-admin"' not in browser_for(trainee).get("/dashboard/").content.decode()


def test_admin_with_empty_queues_is_told_so(org, org_admin):
    html = browser_for(org_admin).get("/dashboard/").content.decode()
    assert "Nobody is waiting to join." in html and "None: nothing to renew soon." in html
    assert "No cohort yet." in html


def test_a_person_with_several_roles_sees_each_section(org, org_admin, instructor, trainee):
    cohort = Cohort.objects.create(organization=org, name="Mixed")
    cohort.trainees.add(org_admin, trainee)
    cohort.instructors.add(org_admin)
    practice_assignment(org, cohort, org_admin, "Everyone practises",
                        closes_at=NOW + dt.timedelta(days=10))
    html = browser_for(org_admin).get("/dashboard/").content.decode()
    for section in ('id="home-trainee"', 'id="home-cohorts"', 'id="home-admin"'):
        assert section in html
    assert "Everyone practises" in html and "Mixed" in html


def test_an_exam_counts_the_cases_it_draws_not_its_pool_and_names_none(org, rule, instructor,
                                                                       trainee):
    exam = make_exam(org, [trainee], instructor, draw=10)
    pool = list(exam.vignette_set.members.select_related("vignette"))
    assert len(pool) > 10
    with time_machine.travel(EXAM_DAY, tick=False):
        html = browser_for(trainee).get("/dashboard/").content.decode()
    assert "CPORT exam" in html and "0 of 10 cases done" in html
    for member in pool:
        assert member.vignette.slug not in html


def test_an_exam_case_counts_as_done_once_fully_scored_as_its_tab_says(org, rule, instructor,
                                                                      trainee):
    exam = make_exam(org, [trainee], instructor, draw=10)
    api = api_for(trainee)
    with time_machine.travel(EXAM_DAY, tick=False):
        attempt = exam_start(api, exam)
        scored = next(v["slug"] for v in attempt["vignettes"]
                      if reference_body(v["slug"], "cport")["applicable"])
        body = reference_body(scored, "cport")
        first_item = next(iter(body["items"]))
        partial = body | {"items": {first_item: body["items"][first_item]}}
        assert rating_put(api, attempt["id"], partial).status_code == 200
        html = browser_for(trainee).get("/dashboard/").content.decode()
        assert "0 of 10 cases done" in html  # decided, but items still unscored
        assert rating_put(api, attempt["id"], body | {"revision": 1}).status_code == 200
        html = browser_for(trainee).get("/dashboard/").content.decode()
        assert "1 of 10 cases done" in html


def test_who_is_behind_costs_the_same_queries_whatever_the_cohorts_size(org, cohort,
                                                                        instructor):
    practice_assignment(org, cohort, instructor, "Due Friday",
                        closes_at=NOW + dt.timedelta(days=2))
    practice_assignment(org, cohort, instructor, "Closed Sunday",
                        closes_at=NOW - dt.timedelta(days=3))

    def behind_queries():
        trainees = dict(cohort.trainees.values_list("pk", "username"))
        with CaptureQueriesContext(connection) as queries:
            rows = home._behind(cohort, trainees, NOW)
        assert len(rows) == 2 * len(trainees)  # nobody has started either
        return len(queries)

    small = behind_queries()
    cohort.trainees.add(*(make_member(org, Role.TRAINEE, f"extra-{i}") for i in range(6)))
    assert behind_queries() == small
