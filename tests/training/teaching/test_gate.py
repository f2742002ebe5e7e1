"""The minimum-data gate on the cohort dashboard, its API and its statistics CSV; count windows.

A value of reliability among trainees is shown only when it rests on at least 10 vignettes with
two or more first ratings and 60 pairable values; below that the answer is "not enough data"
with the counts, a null in the API and a gap in the chart (docs/statistics.md)."""

import csv
import datetime as dt
import io

import pytest
import time_machine

from tests.conftest import api_for, browser_for
from training.models import Cohort
from training.simulation import simulate_cohort
from training.teaching import data as teaching_data
from training.teaching import reliability as cohort_reliability
from vignettes.models import Instrument

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 6, 10, 0, tzinfo=dt.UTC)
ESTIMATES = ("krippendorff_alpha_totals", "icc_2_1_crossed", "fleiss_kappa_crossed",
             "gwet_ac1_crossed")


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False):
        yield


def _cohort(org, instructor, name, *, trainees, vignettes, months, seed):
    cohort = Cohort.objects.create(organization=org, name=name)
    simulate_cohort(
        organization=org, cohort=cohort, trainees=trainees, vignettes=vignettes, months=months,
        seed=seed, start=NOW - dt.timedelta(days=30 * months + 1), instruments=["stable-2007"],
        username_prefix=f"{name.lower()}-",
    )
    cohort.instructors.add(instructor)
    return cohort


@pytest.fixture
def small(org, instructor, clock):
    """Four trainees, four vignettes: never enough for a reliability value."""
    return _cohort(org, instructor, "Small", trainees=4, vignettes=4, months=2, seed=3)


@pytest.fixture
def large(org, instructor, clock):
    """Eight trainees, 26 vignettes over three months: count windows of 10 pass the gate."""
    return _cohort(org, instructor, "Large", trainees=8, vignettes=26, months=3, seed=11)


def _shown(estimate):
    return [e for e in [estimate, *estimate.get("items", [])] if e["value"] is not None]


def _check_api_estimate(e):
    if e["value"] is None:
        if e["units_needed"]:  # withheld by the gate: says why and how far off
            assert not e["sufficient"]
            assert e["undefined_reason"].startswith("not enough data")
            assert e["units"] is not None and e["pairable"] is not None
        assert e["ci95"] is None
        return
    assert e["sufficient"] and e["units"] >= 10 and e["pairable"] >= 60, e
    assert e["n_units"] >= 10
    assert -1 <= e["value"] <= 1
    if e["ci95"] is not None:
        low, high = e["ci95"]
        assert -1 <= low <= e["value"] <= high <= 1, e
    assert e["decision_grade"] == (e["units"] >= 25)


def test_small_cohort_shows_no_value_anywhere_only_the_counts(instructor, small):
    api = api_for(instructor)
    for window in ("month", "week", "units"):
        data = api.get(f"/api/v1/cohorts/{small.pk}/reliability/?instrument=stable-2007"
                       f"&window={window}").json()
        assert data["windows"], window
        for w in data["windows"]:
            for name in ESTIMATES:
                assert w[name]["value"] is None, (window, name, w[name])
            for e in w["krippendorff_alpha_items"].values():
                assert e["value"] is None
            if not w["empty"]:
                assert not w["gate"]["sufficient"] and w["gate"]["units_needed"] > 0
                alpha = w["krippendorff_alpha_totals"]
                assert alpha["units"] == w["gate"]["units"] <= 4
                assert alpha["units_needed"] == w["gate"]["units_needed"]
                assert "10 needed" in alpha["undefined_reason"]
    html = browser_for(instructor).get(
        f"/teach/cohorts/{small.pk}/?instrument=stable-2007").content.decode()
    assert "not enough data" in html
    # Nothing is drawn for a withheld value: no line, no marker, no band.
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert 'class="band"' not in svg and "<g><title>" not in svg and "<path d=" not in svg
    # The overall per-item table says it too, never a 0.
    data = teaching_data.cohort_data(cohort=small, instrument=Instrument.objects.get(
        slug="stable-2007"))
    for stats in cohort_reliability.overall_item_reliability(data).values():
        assert all(e.value is None for e in stats.values())


def test_count_windows_pass_the_gate_and_every_value_shown_rests_on_ten_vignettes(
        instructor, large):
    api = api_for(instructor)
    data = api.get(f"/api/v1/cohorts/{large.pk}/reliability/?instrument=stable-2007"
                   "&window=units&size=10").json()
    assert data["window"] == "units" and data["size"] == 10
    windows = data["windows"]
    assert len(windows) >= 2
    # Counted back from the latest: the last window is the last 10 vignettes, in order.
    assert windows[-1]["last_unit"] - windows[-1]["first_unit"] == 9
    assert [w["first_unit"] for w in windows[1:]] == [w["last_unit"] + 1 for w in windows[:-1]]
    assert windows[-1]["end"] >= windows[0]["end"]
    shown = 0
    for w in data["windows"]:
        for name in ESTIMATES:
            _check_api_estimate(w[name])
            shown += w[name]["value"] is not None
        for e in w["krippendorff_alpha_items"].values():
            _check_api_estimate(e)
    assert shown >= 2  # the full windows show values
    full = [w for w in windows if w["last_unit"] - w["first_unit"] == 9 and w["gate"]["sufficient"]]
    assert full and all(w["krippendorff_alpha_totals"]["value"] is not None for w in full)
    assert all(not w["krippendorff_alpha_totals"]["decision_grade"] for w in full)  # 10 < 25


def test_calendar_windows_are_gated_and_empty_periods_are_gaps(instructor, large):
    api = api_for(instructor)
    for window in ("month", "week"):
        data = api.get(f"/api/v1/cohorts/{large.pk}/reliability/?instrument=stable-2007"
                       f"&window={window}").json()
        for w in data["windows"]:
            for name in ESTIMATES:
                _check_api_estimate(w[name])
            if w["empty"]:
                assert w["ratings"] == 0 and w["krippendorff_alpha_totals"]["value"] is None
        starts = [dt.datetime.fromisoformat(w["start"]) for w in data["windows"]]
        ends = [dt.datetime.fromisoformat(w["end"]) for w in data["windows"]]
        assert starts[1:] == ends[:-1], "calendar windows run on without holes"


def test_dashboard_marks_indicative_values_and_draws_n_and_bands(instructor, large):
    html = browser_for(instructor).get(
        f"/teach/cohorts/{large.pk}/?instrument=stable-2007&window=units&size=10"
    ).content.decode()
    assert '<option value="units" selected>' in html
    assert "indicative, not decision-grade" in html
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert "n=1" in svg or "n=2" in svg  # n beside the points (10 to 26 vignettes)
    assert 'class="band"' in svg
    assert "vignettes 1" in html and "(n = " in html


def test_statistics_csv_withholds_values_below_the_gate(instructor, small, large):
    for cohort, expect_values in ((small, False), (large, True)):
        response = browser_for(instructor).get(
            f"/teach/cohorts/{cohort.pk}/statistics.csv?instrument=stable-2007")
        rows = list(csv.DictReader(io.StringIO(
            b"".join(response.streaming_content).decode())))
        among = [r for r in rows if r["section"] in ("window", "item")]
        assert among
        for r in among:
            if r["sufficient"] == "1":
                assert r["value"] != "" and int(r["n"]) >= 10 and r["units_needed"] == "0"
            else:
                assert r["value"] == ""
        if not expect_values:
            assert all(r["sufficient"] == "0" for r in among)
            assert any(r["note"].startswith("not enough data") for r in among)
        else:
            assert any(r["sufficient"] == "1" for r in among)
        # Agreement with the reference is not gated and carries its n.
        trainee_rows = [r for r in rows if r["section"] == "trainee"]
        assert trainee_rows and all(r["n"] != "" for r in trainee_rows)


def test_count_window_size_below_ten_is_refused(instructor, small):
    response = api_for(instructor).get(
        f"/api/v1/cohorts/{small.pk}/reliability/?instrument=stable-2007&window=units&size=5")
    assert response.status_code == 400 and "size" in response.json()


def test_learning_curve_is_not_gated_shows_n_and_breaks_at_empty_months():
    from training.reliability import WindowEstimate
    from training.reliability.reference import exact_agreement
    from training.teaching.views import _curve_points

    def month(y, m):
        return dt.datetime(y, m, 1, tzinfo=dt.UTC)

    curve = [
        WindowEstimate(month(2026, 1), month(2026, 2), exact_agreement([1, 1, 0], [1, 1, 1])),
        WindowEstimate(month(2026, 4), month(2026, 5), exact_agreement([1], [1])),
    ]
    points = _curve_points(curve)
    assert [p.label for p in points] == ["2026-01", "2026-02", "2026-04"]
    assert points[1].value is None  # the empty months are a gap
    assert points[0].n == 3 and points[2].n == 1  # one rating is still shown, with its n
    assert points[2].value == 100.0
