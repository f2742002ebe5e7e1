"""Instructor calibration views: access, analytics, comments, exports and the API."""

import csv
import datetime as dt
import io
import json
import re

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.conftest import api_for, browser_for, make_member
from training.models import Cohort, Rating, Role
from training.simulation import simulate_cohort
from training.teaching import data as teaching_data
from training.teaching import items as item_stats
from training.teaching import reliability as cohort_reliability
from training.teaching import trainees as trainee_stats
from vignettes.models import Instrument

pytestmark = pytest.mark.django_db


def simulate(org, name, trainees, vignettes=4, seed=3, instruments=("stable-2007",)):
    cohort = Cohort.objects.create(organization=org, name=name)
    simulate_cohort(
        organization=org, cohort=cohort, trainees=trainees, vignettes=vignettes, months=2,
        seed=seed, start=timezone.now() - dt.timedelta(days=61),
        instruments=list(instruments), username_prefix=f"{name.lower()}-",
    )
    return cohort


@pytest.fixture
def taught(org, instructor):
    cohort = simulate(org, "Alpha", trainees=4)
    cohort.instructors.add(instructor)
    return cohort


@pytest.fixture
def untaught(org):
    return simulate(org, "Beta", trainees=3, seed=4)


TEACH_PAGES = ["", "items/", "vignettes/", "session/", "export.csv", "statistics.csv"]


def test_instructor_sees_only_cohorts_they_teach(instructor, taught, untaught):
    client = browser_for(instructor)
    assert b"Alpha" in client.get("/teach/").content
    assert b"Beta" not in client.get("/teach/").content
    for page in TEACH_PAGES:
        assert client.get(f"/teach/cohorts/{taught.pk}/{page}").status_code == 200, page
        assert client.get(f"/teach/cohorts/{untaught.pk}/{page}").status_code == 404, page
    api = api_for(instructor)
    assert [c["name"] for c in api.get("/api/v1/cohorts/").json()["results"]] == ["Alpha"]
    assert api.get(f"/api/v1/cohorts/{untaught.pk}/reliability/?instrument=stable-2007"
                   ).status_code == 404
    assert api.get(f"/api/v1/cohorts/{untaught.pk}/export.csv").status_code == 404


def test_org_admin_sees_every_cohort_of_the_organisation_only(org_admin, taught, untaught,
                                                               other_org):
    other = simulate(other_org, "Gamma", trainees=2, seed=5)
    client = browser_for(org_admin)
    for cohort in (taught, untaught):
        assert client.get(f"/teach/cohorts/{cohort.pk}/").status_code == 200
    assert client.get(f"/teach/cohorts/{other.pk}/").status_code == 404
    names = [c["name"] for c in api_for(org_admin).get("/api/v1/cohorts/").json()["results"]]
    assert names == ["Alpha", "Beta"]


def test_trainees_see_none_of_it(trainee, taught):
    taught.trainees.add(trainee)
    client = browser_for(trainee)
    assert client.get("/teach/").status_code == 403
    for page in TEACH_PAGES:
        assert client.get(f"/teach/cohorts/{taught.pk}/{page}").status_code == 403
    api = api_for(trainee)
    assert api.get("/api/v1/cohorts/").status_code == 403
    assert api.get(f"/api/v1/cohorts/{taught.pk}/export.csv").status_code == 403


def test_dashboard_shows_trainees_windows_and_chart(instructor, taught):
    html = browser_for(instructor).get(
        f"/teach/cohorts/{taught.pk}/?instrument=stable-2007").content.decode()
    assert 'id="trainee-table"' in html and "alpha-" in html
    assert "<svg" in html and "Numbers for:" in html
    assert 'id="hardest-item"' in html and 'id="most-lenient"' in html
    counted = browser_for(instructor).get(
        f"/teach/cohorts/{taught.pk}/?instrument=stable-2007&window=units&size=10")
    assert counted.status_code == 200
    # "rolling" is the old name of count windows and still answers.
    rolling = browser_for(instructor).get(
        f"/teach/cohorts/{taught.pk}/?instrument=stable-2007&window=rolling&size=10")
    assert rolling.status_code == 200 and '<option value="units" selected>' in (
        rolling.content.decode())


def test_reliability_api(instructor, taught):
    api = api_for(instructor)
    data = api.get(f"/api/v1/cohorts/{taught.pk}/reliability/?instrument=stable-2007"
                   "&window=month").json()
    assert data["instrument"] == "stable-2007" and data["windows"]
    window = data["windows"][0]
    assert set(window["krippendorff_alpha_items"]) == {f"STABLE-{i}" for i in range(1, 14)}
    assert {"value", "ci95", "undefined_reason"} <= set(window["icc_2_1_crossed"])
    assert len(data["trainees"]) == 4
    for bad, field in [("window=year", "window"), ("size=9&window=units", "size"),
                       ("size=x", "size")]:
        response = api.get(f"/api/v1/cohorts/{taught.pk}/reliability/?instrument=stable-2007"
                           f"&{bad}")
        assert response.status_code == 400 and field in response.json()
    assert api.get(f"/api/v1/cohorts/{taught.pk}/reliability/?instrument=nope"
                   ).status_code == 400


WINDOW_REFUSED = [
    ("window=year", "window", "One of month, week, units."),
    ("window=units&size=2", "size", "Between 10 and 1000."),
    ("size=1001", "size", "Between 10 and 1000."),
    ("size=x", "size", "A whole number."),
    ("size=6.5", "size", "A whole number."),
]


@pytest.mark.parametrize(("query", "field", "message"), WINDOW_REFUSED)
def test_window_and_size_follow_one_rule_on_the_api_and_the_page(instructor, taught, query,
                                                                 field, message):
    response = api_for(instructor).get(
        f"/api/v1/cohorts/{taught.pk}/reliability/?instrument=stable-2007&{query}")
    assert response.status_code == 400
    assert response.json() == {field: [message]}
    page = browser_for(instructor).get(
        f"/teach/cohorts/{taught.pk}/?instrument=stable-2007&{query}")
    assert page.status_code == 400
    html = page.content.decode()
    assert f"<li>{field}: {message}</li>" in html
    # The page still renders, with the defaults in its form.
    assert 'id="reliability-table"' in html
    assert '<option value="month" selected>' in html and 'name="size" value="10"' in html


def test_an_empty_window_or_size_is_the_default_on_both(instructor, taught):
    api = api_for(instructor)
    data = api.get(f"/api/v1/cohorts/{taught.pk}/reliability/?instrument=stable-2007"
                   "&window=&size=").json()
    assert data["window"] == "month"
    page = browser_for(instructor).get(
        f"/teach/cohorts/{taught.pk}/?instrument=stable-2007&window=&size=")
    assert page.status_code == 200


def test_the_schema_documents_the_reliability_query(instructor):
    schema = api_for(instructor).get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/cohorts/{cohort_id}/reliability/"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert params["instrument"]["required"] is True
    assert params["window"]["schema"]["enum"] == ["month", "week", "units", "rolling"]
    assert (params["size"]["schema"]["minimum"], params["size"]["schema"]["maximum"]) == (10, 1000)


def test_item_vignette_and_session_views(instructor, taught):
    client = browser_for(instructor)
    html = client.get(f"/teach/cohorts/{taught.pk}/items/?instrument=stable-2007"
                      "&item=STABLE-4").content.decode()
    assert "Confusion matrix" in html and "Gwet&#x27;s AC1" in html
    assert client.get(f"/teach/cohorts/{taught.pk}/items/?instrument=stable-2007"
                      "&item=NOPE-1").status_code == 404
    html = client.get(f"/teach/cohorts/{taught.pk}/vignettes/?instrument=stable-2007"
                      ).content.decode()
    assert 'id="vignettes-table"' in html
    anonymous = client.get(f"/teach/cohorts/{taught.pk}/session/?instrument=stable-2007"
                           ).content.decode()
    named = client.get(f"/teach/cohorts/{taught.pk}/session/?instrument=stable-2007&named=1"
                       ).content.decode()
    assert "Rater A" in anonymous and "alpha-1" not in anonymous
    assert "alpha-1" in named


def test_vignette_flagged_when_cohort_consensus_differs_from_reference(org, instructor, taught):
    data = teaching_data.cohort_data(cohort=taught, instrument=Instrument.objects.get(
        slug="stable-2007"))
    rid = int(data.revision[0])
    # Make every trainee code STABLE-1 one step away from the reference on this vignette.
    from training.models import RatingItem

    for rating in Rating.objects.filter(vignette_revision_id=rid, applicable=True,
                                        reference_scoring__applicable=True):
        ref = rating.reference_scoring.item_states()["STABLE-1"]
        wrong = 1 if ref != 1 else 2
        RatingItem.objects.filter(rating=rating, item__code="STABLE-1").update(value=wrong)
        Rating.objects.filter(pk=rating.pk).update(codes={**rating.codes, "STABLE-1": wrong})
    data = teaching_data.cohort_data(cohort=taught, instrument=data.instrument)
    rows = {v.revision_id: v for v in item_stats.vignette_rows(data, min_ratings=2)}
    assert any(f.startswith("STABLE-1: cohort") for f in rows[rid].flagged)


def test_instructor_comments_and_the_trainee_sees_them(org, instructor, taught, trainee2):
    rating = Rating.objects.filter(attempt__user__cohorts_as_trainee=taught).first()
    owner = rating.attempt.user
    from training.tenancy import profile_for

    profile = profile_for(owner)
    profile.content_notice_seen_at = timezone.now()
    profile.save()
    client = browser_for(instructor)
    client.get("/teach/")
    token = client.cookies["csrftoken"].value
    response = client.post(f"/teach/ratings/{rating.pk}/comment/", {
        "text": "Check the pre-sentence report date.", "csrfmiddlewaretoken": token,
        "next": f"/teach/cohorts/{taught.pk}/"})
    assert response.status_code == 302
    feedback = browser_for(owner).get(f"/attempts/{rating.attempt_id}/feedback/")
    assert b"Check the pre-sentence report date." in feedback.content
    api = api_for(owner).get(f"/api/v1/attempts/{rating.attempt_id}/feedback/").json()
    assert any(c["text"] == "Check the pre-sentence report date." for f in api
               for c in f["comments"])
    # Another instructor, not teaching this cohort, cannot comment (404, nothing stored).
    other = make_member(org, Role.INSTRUCTOR, "other-instructor")
    c2 = browser_for(other)
    c2.get("/teach/")
    response = c2.post(f"/teach/ratings/{rating.pk}/comment/", {
        "text": "Sneaky.", "csrfmiddlewaretoken": c2.cookies["csrftoken"].value})
    assert response.status_code == 404
    assert rating.comments.count() == 1


def test_export_is_long_format_neutralised_and_irr_reads_it_as_is(org, instructor, taught,
                                                                   tmp_path):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(cohorts_as_trainee=taught).first()
    user.username = "=HYPERLINK(x)"
    user.save()
    response = browser_for(instructor).get(
        f"/teach/cohorts/{taught.pk}/export.csv?instrument=stable-2007")
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["trainee", "vignette", "vignette_revision", "instrument",
                             "instrument_version", "item", "value", "reference_value",
                             "attempt", "first_rating", "submitted_at"]
    assert "'=HYPERLINK(x)" in {r["trainee"] for r in rows}
    assert "=HYPERLINK(x)" not in {r["trainee"] for r in rows}
    path = tmp_path / "export.csv"
    path.write_text(text)
    out = io.StringIO()
    call_command("irr", str(path), stdout=out)
    result = json.loads(out.getvalue())
    data = teaching_data.cohort_data(cohort=taught, instrument=Instrument.objects.get(
        slug="stable-2007"))
    overall = cohort_reliability.overall_item_reliability(data)
    for code, stats in overall.items():
        # irr prints every defined value with its `sufficient` flag; the page shows exactly
        # the sufficient ones, and says "not enough data" for the others.
        for name in ("krippendorff_alpha_ordinal", "percent_agreement"):
            page = stats[name]
            printed = result["items"][code]["statistics"][name]
            if not printed["sufficient"] or printed["value"] is None:
                assert page.value is None, (code, name)
                if not printed["sufficient"]:
                    assert page.undefined_reason.startswith("not enough data")
                    assert page.extra["units_needed"] == printed["units_needed"]
            else:
                assert printed["value"] == pytest.approx(page.value, abs=1e-12), code


def test_negative_codes_stay_numbers_in_the_export():
    from training.teaching.exports import neutralise

    assert neutralise(-3) == "-3"
    assert neutralise("-3") == "-3"
    assert neutralise("-x") == "'-x"
    assert neutralise("@SUM(A1)") == "'@SUM(A1)"
    assert neutralise(True) == "1"


def test_dashboard_queries_do_not_grow_with_trainees(org, settings):
    # The window statistics are cached, one entry per calendar window that has ratings; with
    # the database cache each costs queries, and how many months two months of random rating
    # times touch depends on today's date. A local-memory cache keeps this test about the
    # database reads, which must not depend on the number of trainees.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "teach-query-count"}}
    small = simulate(org, "Small", trainees=2, seed=7)
    large = simulate(org, "Large", trainees=8, seed=7)
    instrument = Instrument.objects.get(slug="stable-2007")
    counts = []
    for cohort in (small, large):
        with CaptureQueriesContext(connection) as ctx:
            data = teaching_data.cohort_data(cohort=cohort, instrument=instrument)
            trainee_stats.trainee_rows(data, now=timezone.now())
            cohort_reliability.reliability_over_time(data)
            cohort_reliability.overall_item_reliability(data)
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    assert data.n > 20


# The simulated history starts 61 days before "now", so which calendar months it touches, and
# how many ratings each holds, depends on the day: a month holding a single rating disappears
# when that rating goes. The clock is fixed, and the window changed is one with two ratings.
FIXED_NOW = dt.datetime(2026, 11, 6, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def taught_on_a_fixed_day(org, instructor):
    with time_machine.travel(FIXED_NOW, tick=False):
        cohort = simulate(org, "Alpha", trainees=4)
        cohort.instructors.add(instructor)
        yield cohort


def test_window_statistics_come_from_the_cache_only_while_their_ratings_are_the_same(
        taught_on_a_fixed_day, monkeypatch):
    from django.core.cache import cache

    from training.teaching.api import WindowSerializer

    taught = taught_on_a_fixed_day
    instrument = Instrument.objects.get(slug="stable-2007")
    cache.clear()
    data = teaching_data.cohort_data(cohort=taught, instrument=instrument)
    cold = WindowSerializer(cohort_reliability.reliability_over_time(data), many=True).data
    assert len(cold) >= 2
    computed = []
    original = cohort_reliability.reliability_for
    monkeypatch.setattr(cohort_reliability, "reliability_for",
                        lambda d, m: computed.append(m) or original(d, m))
    warm = WindowSerializer(cohort_reliability.reliability_over_time(data), many=True).data
    assert warm == cold and computed == []
    # One rating of a window holding several goes away: that window is computed again, the
    # others not.
    windows = cohort_reliability.reliability_over_time(data)
    target = max(i for i, w in enumerate(windows) if w.ratings >= 2)
    window = windows[target]
    in_window = [i for i, at in enumerate(data.submitted_at)
                 if window.start <= at < window.end and data.first[i] and data.both[i]]
    Rating.objects.filter(pk=int(data.rating_ids[in_window[-1]])).delete()
    data = teaching_data.cohort_data(cohort=taught, instrument=instrument)
    changed = WindowSerializer(cohort_reliability.reliability_over_time(data), many=True).data
    assert len(computed) == 1
    assert len(changed) == len(cold)
    assert changed[target]["ratings"] == cold[target]["ratings"] - 1
    assert [w for i, w in enumerate(changed) if i != target] == [
        w for i, w in enumerate(cold) if i != target]
    cache.clear()
    assert WindowSerializer(cohort_reliability.reliability_over_time(data), many=True).data == changed


def test_hardest_item_agrees_with_the_item_report(taught):
    data = teaching_data.cohort_data(cohort=taught, instrument=Instrument.objects.get(
        slug="stable-2007"))
    report = {r.code: r.agreement for r in item_stats.item_rows(data)}
    assert {a.code: a.agreement for a in item_stats.item_agreements(data)} == report


def test_recommended_next_cases_on_the_trainee_dashboard(org, taught):
    user = taught.trainees.order_by("username").first()
    from training.attempts.progress import recommended_cases
    from training.tenancy import profile_for

    recs = recommended_cases(user=user, organization=org)
    profile = profile_for(user)
    profile.content_notice_seen_at = timezone.now()
    profile.save()
    html = browser_for(user).get("/dashboard/").content.decode()
    assert recs, "a simulated trainee misses some items, so something is recommended"
    assert "Recommended next cases" in html and recs[0].title in html
    attempted = set(Rating.objects.filter(attempt__user=user).values_list(
        "vignette_revision__vignette__slug", flat=True))
    assert not {r.slug for r in recs} & attempted
    assert all(r.reason.startswith("practises") for r in recs)
    # A recommended case has not been scored yet: its reference values are the answer, so the
    # reason names items only ("STABLE-3", never "STABLE-3 = 2").
    assert not any("=" in r.reason for r in recs)
    assert re.search(r"STABLE-\d+ = ", html) is None
