"""Reliability among trainees per calibration round, on the demo: at least three monthly rounds
with planted improvement, shown on the dashboard and in the cohort API."""

import datetime as dt

import numpy as np
import pytest
import time_machine

from tests.conftest import api_for, browser_for, make_member
from training import demo
from training.models import Assignment, AssignmentKind, Cohort, Organization, Role
from training.teaching import data as teaching_data
from training.teaching import reliability as cohort_reliability
from training.teaching import rounds as round_stats
from training.tenancy import profile_for
from vignettes.models import Instrument

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 12, 6, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def seeded(content):
    with time_machine.travel(NOW, tick=False):
        demo.seed_demo(password="calibrate-demo", now=NOW)
    org = Organization.objects.get(slug=demo.DEMO_ORG_SLUG)
    return org, Cohort.objects.get(organization=org, name=demo.DEMO_COHORT)


def test_the_demo_seeds_monthly_rounds_whose_reliability_rises(seeded):
    """One demo seeding (it takes a while) for every check of the demo's rounds."""
    org, cohort = seeded
    instructor = cohort.instructors.get(username="demo-instructor")
    profile = profile_for(instructor)
    profile.content_notice_seen_at = NOW
    profile.save()
    with time_machine.travel(NOW, tick=False):
        body = api_for(instructor).get(
            f"/api/v1/cohorts/{cohort.pk}/reliability/?instrument=stable-2007",
            HTTP_X_ORGANIZATION=org.slug).json()
    rounds = body["rounds"]
    assert len(rounds) >= 3
    opens = [dt.datetime.fromisoformat(r["opens_at"]) for r in rounds]
    assert all(later - earlier >= dt.timedelta(days=28) for earlier, later in zip(
        opens, opens[1:], strict=False))
    for r in rounds:
        assert r["vignettes"] >= 10 and r["trainees"] == demo.SIMULATED_TRAINEES
        assert r["reliability"]["krippendorff_alpha_totals"]["n_units"] >= 10
    alphas = [r["reliability"]["krippendorff_alpha_totals"]["value"] for r in rounds]
    widths = [np.diff(r["reliability"]["krippendorff_alpha_totals"]["ci95"])[0]
              for r in rounds]
    assert alphas[-1] > alphas[0] + 0.15, alphas
    assert widths[-1] < widths[0], widths
    # Every rating in a round is a first rating: the round's block is the round's vignettes.
    round_sets = [Assignment.objects.get(pk=r["assignment"]).vignette_set for r in rounds]
    slugs = [set(s.members.values_list("vignette__slug", flat=True)) for s in round_sets]
    assert all(a.isdisjoint(b) for i, a in enumerate(slugs) for b in slugs[i + 1:])
    _round_statistics_are_the_crossed_blocks_first_ratings(cohort)
    _rounds_show_on_the_dashboard_only_to_those_who_teach_the_cohort(org, cohort, instructor)


def _round_statistics_are_the_crossed_blocks_first_ratings(cohort):
    instrument = Instrument.objects.get(slug="stable-2007", owner__isnull=True)
    data = teaching_data.cohort_data(cohort=cohort, instrument=instrument)
    found = round_stats.round_reliability(
        data, round_stats.cohort_rounds(cohort=cohort, instrument=instrument))
    first = Assignment.objects.filter(kind=AssignmentKind.CALIBRATION_ROUND).order_by(
        "opens_at").first()
    attempts = list(first.attempts.values_list("id", flat=True))
    mask = data.first & data.both & np.isin(data.attempt, attempts)
    direct = cohort_reliability.reliability_for(data, mask)
    assert found[0].reliability.alpha_total.value == pytest.approx(direct.alpha_total.value)
    assert found[0].reliability.ratings == int(mask.sum())


def _rounds_show_on_the_dashboard_only_to_those_who_teach_the_cohort(org, cohort, instructor):
    with time_machine.travel(NOW, tick=False):
        html = browser_for(instructor).get(
            f"/teach/cohorts/{cohort.pk}/?instrument=stable-2007").content.decode()
        assert 'id="rounds-table"' in html and "Calibration round 3" in html
        # Another instrument of the same cohort has no round yet, and says what one is.
        html = browser_for(instructor).get(
            f"/teach/cohorts/{cohort.pk}/?instrument=cport").content.decode()
        assert 'id="no-rounds"' in html
        stranger = make_member(org, Role.INSTRUCTOR, "not-their-cohort")
        assert api_for(stranger).get(
            f"/api/v1/cohorts/{cohort.pk}/reliability/?instrument=stable-2007",
            HTTP_X_ORGANIZATION=org.slug).status_code == 404
        assert browser_for(stranger).get(
            f"/teach/cohorts/{cohort.pk}/?instrument=stable-2007").status_code == 404
