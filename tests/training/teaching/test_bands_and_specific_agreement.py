"""Agreement on each code (PA/NA) beside kappa and AC1, and decision consistency at band
boundaries only where an instrument's published scheme has bands."""

import csv
import datetime as dt
import io

import numpy as np
import pytest
from django.utils import timezone

from tests.conftest import api_for, browser_for
from training.models import Cohort
from training.reliability import decision_consistency, specific_agreement
from training.reliability.sufficiency import gated, sufficiency
from training.simulation import simulate_cohort
from training.teaching import data as teaching_data
from training.teaching import reliability as cohort_reliability
from vignettes.models import Instrument

pytestmark = pytest.mark.django_db


def _cohort(org, instructor, name, instrument, seed=3):
    cohort = Cohort.objects.create(organization=org, name=name)
    simulate_cohort(organization=org, cohort=cohort, trainees=5, vignettes=5, months=2,
                    seed=seed, start=timezone.now() - dt.timedelta(days=61),
                    instruments=[instrument], username_prefix=f"{name.lower()}-")
    cohort.instructors.add(instructor)
    return cohort


@pytest.fixture
def stable(org, instructor):
    return _cohort(org, instructor, "Stable", "stable-2007")


@pytest.fixture
def cport(org, instructor):
    return _cohort(org, instructor, "Cport", "cport", seed=4)


def _statistics_csv(client, cohort, slug):
    body = b"".join(client.get(f"/teach/cohorts/{cohort.pk}/statistics.csv?instrument={slug}"
                               ).streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_decision_consistency_on_the_dashboard_api_and_csv(instructor, stable):
    instrument = Instrument.objects.get(slug="stable-2007", owner__isnull=True)
    data = teaching_data.cohort_data(cohort=stable, instrument=instrument)
    sel = data.first & data.both
    expected = decision_consistency(data.total[sel], data.ref_total[sel],
                                    [("low", 0, 3), ("moderate", 4, 11), ("high", 12, 26)])
    body = api_for(instructor).get(
        f"/api/v1/cohorts/{stable.pk}/reliability/?instrument=stable-2007").json()
    assert body["bands_applicable"] is True
    bc = body["band_consistency"]
    assert bc["applicable"] is True and bc["near"] == 2
    assert [(b["lower"], b["upper"], b["cut"]) for b in bc["boundaries"]] == [
        ("low", "moderate", 4), ("moderate", "high", 12)]
    assert bc["band_agreement"]["value"] == pytest.approx(expected.band_agreement.value)
    assert bc["band_agreement"]["n"] == expected.band_agreement.n_units == int(
        (sel & ~np.isnan(data.total) & ~np.isnan(data.ref_total)).sum())
    first = bc["boundaries"][0]["crossed"]
    assert first["n"] == expected.boundaries[0].crossed.n_units
    assert first["value"] == expected.boundaries[0].crossed.value

    client = browser_for(instructor)
    html = client.get(f"/teach/cohorts/{stable.pk}/?instrument=stable-2007").content.decode()
    assert 'id="band-consistency-table"' in html and 'data-cut="4"' in html
    rows = _statistics_csv(client, stable, "stable-2007")
    boundary = [r for r in rows if r["section"] == "bands" and r["name"] == "low/moderate@4"]
    assert {r["statistic"] for r in boundary} == {
        "boundary_crossed", "boundary_crossed_from_below", "boundary_crossed_from_above"}
    crossed = next(r for r in boundary if r["statistic"] == "boundary_crossed")
    assert int(crossed["n"]) == first["n"]


def test_an_instrument_without_bands_says_not_applicable_everywhere(instructor, cport):
    body = api_for(instructor).get(
        f"/api/v1/cohorts/{cport.pk}/reliability/?instrument=cport").json()
    assert body["bands_applicable"] is False
    assert body["band_consistency"]["applicable"] is False
    assert "CPORT has no published risk bands" in body["band_consistency"]["reason"]
    assert all(t["band_agreement"] is None for t in body["trainees"])
    client = browser_for(instructor)
    html = client.get(f"/teach/cohorts/{cport.pk}/?instrument=cport").content.decode()
    assert 'id="band-consistency-na"' in html and 'id="band-consistency-table"' not in html
    assert "n/a" in html
    rows = _statistics_csv(client, cport, "cport")
    bands = [r for r in rows if r["section"] == "bands"]
    assert {r["value"] for r in bands} == {"not applicable"}
    assert {r["value"] for r in rows if r["statistic"] == "band_agreement"} == {
        "not applicable"}


def test_agreement_on_each_code_beside_alpha_in_api_csv_and_pages(instructor, cport):
    instrument = Instrument.objects.get(slug="cport", owner__isnull=True)
    data = teaching_data.cohort_data(cohort=cport, instrument=instrument)
    overall = cohort_reliability.overall_item_reliability(data)
    matrix = cohort_reliability._items_matrix(data, data.first & data.both, 0)
    expected = specific_agreement(matrix, categories=[0, 1])
    # Agreement among trainees passes the minimum-data gate like every other coefficient:
    # this small cohort is below it, so the value is withheld with the counts.
    gate = sufficiency(matrix)
    assert overall["CPORT-1"]["specific_agreement_1"] == gated(expected[1.0], gate)
    assert expected[1.0].name.endswith("(positive agreement, PA)")
    shown = expected[1.0].value if gate.sufficient else None

    body = api_for(instructor).get(
        f"/api/v1/cohorts/{cport.pk}/reliability/?instrument=cport").json()
    item = next(i for i in body["items"] if i["item"] == "CPORT-1")
    assert set(item["specific_agreement"]) == {"0", "1"}
    pa = item["specific_agreement"]["1"]
    assert pa["value"] == shown and pa["n_pairable"] == expected[1.0].n_pairable
    if not gate.sufficient:
        assert pa["undefined_reason"].startswith("not enough data")

    client = browser_for(instructor)
    rows = _statistics_csv(client, cport, "cport")
    row = next(r for r in rows if r["name"] == "CPORT-1"
               and r["statistic"] == "specific_agreement_1")
    assert int(row["n"]) == gate.units and row["sufficient"] == str(int(gate.sufficient))
    html = client.get(f"/teach/cohorts/{cport.pk}/?instrument=cport").content.decode()
    assert 'class="code-agreement" data-code="1"' in html
    items_html = client.get(f"/teach/cohorts/{cport.pk}/items/?instrument=cport"
                            ).content.decode()
    assert 'class="code-agreement" data-code="0"' in items_html
