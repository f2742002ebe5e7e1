"""Lenient and severe have one source: the cohort table, "at a glance", the trainee page, the
API and the statistics CSV all show what `trainees.cohort_tendency` says. A trainee's own
tendency counts only their first ratings whose reference they may see."""

import csv
import datetime as dt
import io
import re

import pytest
import time_machine

from tests.conftest import api_for, browser_for
from training.attempts import progress
from training.certification import rules
from training.models import Assignment, Attempt, Cohort, FeedbackPolicy, Rating
from training.simulation import simulate_cohort
from training.teaching import data as teaching_data
from training.teaching import trainees as trainee_stats
from vignettes.models import Instrument, VignetteSet

pytestmark = pytest.mark.django_db

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
NOW = START + dt.timedelta(days=75)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _set_deviations(ratings, deviation_of):
    """Give each rating the total reference + deviation_of(k, rating) (k: submission order)."""
    for k, r in enumerate(ratings.filter(total__isnull=False, reference_scoring__applicable=True)
                          .select_related("reference_scoring").order_by("submitted_at", "id")):
        Rating.objects.filter(pk=r.pk).update(
            total=r.reference_scoring.result().total + deviation_of(k, r))


@pytest.fixture
def cohort(org, instructor):
    cohort = Cohort.objects.create(organization=org, name="Tendency")
    simulate_cohort(organization=org, cohort=cohort, trainees=5, vignettes=12, months=2,
                    seed=5, start=START, instruments=["stable-2007"],
                    username_prefix="tendency-")
    cohort.instructors.add(instructor)
    severe = cohort.trainees.order_by("username").first()
    _set_deviations(Rating.objects.filter(attempt__user=severe), lambda k, r: 3 + k % 3)
    return cohort


def test_every_place_shows_the_same_tendency(instructor, cohort):
    instrument = Instrument.objects.get(slug="stable-2007")
    model = trainee_stats.cohort_tendency(
        teaching_data.cohort_data(cohort=cohort, instrument=instrument))
    severe = cohort.trainees.order_by("username").first()
    mine = model.of(severe.pk)
    assert mine.tendency == "severe" and mine.n_vignettes >= 10
    client = browser_for(instructor)

    html = client.get(f"/teach/cohorts/{cohort.pk}/?instrument=stable-2007").content.decode()
    names = dict(cohort.trainees.values_list("pk", "username"))
    glance = html.split('id="flagged-severe"')[1].split("</li>")[0]
    flagged_severe = {names[t.trainee] for t in model.flagged if t.tendency == "severe"}
    assert severe.username in flagged_severe
    assert set(re.findall(r">(tendency-[^<]+)</a>", glance)) == flagged_severe
    assert ('id="flagged-lenient"' in html) == any(t.tendency == "lenient" for t in model.flagged)
    assert 'id="most-severe"' in html.split('id="trainee-table"')[0]
    row = html.split(f">{severe.username}</a></th>")[1].split("</tr>")[0]
    assert "<strong>severe</strong>" in row and f"{mine.estimate:.2f}" in row

    page = client.get(f"/teach/cohorts/{cohort.pk}/trainees/{severe.pk}/?instrument=stable-2007")
    tendency_cell = page.content.decode().split('id="tendency">')[1].split("</td>")[0]
    assert "<strong>severe</strong>" in tendency_cell

    data = api_for(instructor).get(
        f"/api/v1/cohorts/{cohort.pk}/reliability/?instrument=stable-2007").json()
    assert data["severity_model"]["margin"] == 0.5
    assert data["severity_model"]["min_vignettes"] == 10
    by_name = {t["username"]: t for t in data["trainees"]}
    for user in cohort.trainees.all():
        expected = model.of(user.pk)
        got = by_name[user.username]
        assert got["tendency"] == got["severity"]["tendency"] == expected.tendency
        assert got["severity"]["estimate"] == pytest.approx(expected.estimate)
        assert got["severity"]["n_vignettes"] == expected.n_vignettes
        assert got["severity"]["reason"] == expected.reason

    text = b"".join(client.get(
        f"/teach/cohorts/{cohort.pk}/statistics.csv?instrument=stable-2007").streaming_content)
    rows = list(csv.reader(io.StringIO(text.decode())))
    tendencies = {r[1]: r[3] for r in rows if r[0] == "trainee" and r[2] == "tendency"}
    assert tendencies[severe.username] == "severe"
    assert tendencies == {names[t.trainee]: t.tendency or "none" for t in model.trainees}
    severity_row = next(r for r in rows if r[1] == severe.username and r[2] == "severity")
    assert float(severity_row[3]) == pytest.approx(mine.estimate)
    assert int(severity_row[6]) == mine.n_vignettes


def test_the_margin_is_half_the_rules_total_tolerance(org, org_admin, instructor, cohort):
    rules.rule_save(actor=org_admin, organization=org, instrument_slug="stable-2007",
                    total_tolerance=2, now=START)
    data = api_for(instructor).get(
        f"/api/v1/cohorts/{cohort.pk}/reliability/?instrument=stable-2007").json()
    assert data["severity_model"]["margin"] == 1.0


def test_own_tendency_uses_released_first_ratings_only(org, instructor, trainee):
    cohort = Cohort.objects.create(organization=org, name="Own")
    cohort.instructors.add(instructor)
    simulate_cohort(organization=org, cohort=cohort, trainees=1, vignettes=12, months=2,
                    seed=8, start=START, instruments=["stable-2007"], ratings_per_trainee=15,
                    users=[trainee])
    ratings = Rating.objects.filter(attempt__user=trainee)
    first_ids, seen = [], set()
    for r in ratings.order_by("submitted_at", "id"):
        if r.vignette_revision_id not in seen:
            seen.add(r.vignette_revision_id)
            first_ids.append(r.pk)
    # First ratings 3 or 4 points severe; repeats 10 points lenient (they must not count).
    _set_deviations(ratings, lambda k, r: (3 + k % 2) if r.pk in first_ids else -10)
    own = progress.trainee_progress(user=trainee, organization=org)[0]
    used = list(ratings.filter(pk__in=first_ids, total__isnull=False, applicable=True,
                               reference_scoring__applicable=True).order_by("submitted_at"))
    deviations = [r.total - r.reference_scoring.result().total for r in used]
    assert own.severity.n_ratings == len(used) >= 10
    assert own.severity.estimate == pytest.approx(sum(deviations) / len(deviations))
    assert own.severity.tendency == "severe"
    assert own.tendency == "more severe than the reference"

    # First ratings whose reference the trainee may not see leave the count, and their later
    # released repeats do not stand in for them.
    hidden = Assignment.objects.create(
        organization=org, cohort=cohort, title="No feedback",
        vignette_set=VignetteSet.objects.filter(owner__isnull=True).first(),
        opens_at=START, feedback_policy=FeedbackPolicy.NEVER, created_by=instructor)
    hide = [r.attempt_id for r in used[: len(used) - 9]]
    Attempt.objects.filter(pk__in=hide).update(assignment=hidden)
    own = progress.trainee_progress(user=trainee, organization=org)[0]
    assert own.severity.n_vignettes == 9 and own.severity.tendency == ""
    assert "fewer than 10 different cases" in own.tendency
    html = browser_for(trainee).get("/progress/").content.decode()
    assert "fewer than 10 different cases" in html.split('id="tendency-stable-2007">')[1]
