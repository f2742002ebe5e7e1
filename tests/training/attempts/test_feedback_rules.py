"""Feedback carries the rules a trainee needs to read a code: the validity caveat the
instrument's file gives for the kind of case, and each item's coding note."""

import json

import pytest

from tests.conftest import api_for, browser_for
from tests.training.helpers import rating_put, reference_body, reference_for

pytestmark = pytest.mark.django_db

ALL = ["cport", "static-99r", "stable-2007"]
NON_CONTACT = "liam-d-026"  # ncii-adult only: Static-99R applies, the caveat is due
CONTACT = "frank-d-013"  # a contact conviction: Static-99R applies, no caveat


def submitted_attempt(api, slug):
    response = api.post("/api/v1/attempts/", {"vignette": slug, "instruments": ALL},
                        format="json")
    assert response.status_code == 201, response.content
    attempt = response.json()
    for instrument in ALL:
        saved = rating_put(api, attempt["id"], reference_body(slug, instrument))
        assert saved.status_code == 200, saved.content
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
    return attempt["id"]


def feedback(api, attempt_id):
    response = api.get(f"/api/v1/attempts/{attempt_id}/feedback/")
    assert response.status_code == 200, response.content
    return {f["instrument"]: f for f in response.json()}


def test_static99r_feedback_on_a_non_contact_case_carries_the_atsa_caveat(trainee):
    api = api_for(trainee)
    fb = feedback(api, submitted_attempt(api, NON_CONTACT))
    caveats = fb["static-99r"]["caveats"]
    assert len(caveats) == 1
    assert "ATSA" in caveats[0]["source"] and "2021" in caveats[0]["source"]
    assert "contact" in caveats[0]["text"]
    # The caveat belongs to Static-99R only.
    assert fb["stable-2007"]["caveats"] == [] and fb["cport"]["caveats"] == []


def test_no_caveat_where_there_is_a_contact_offence(trainee):
    api = api_for(trainee)
    fb = feedback(api, submitted_attempt(api, CONTACT))
    assert fb["static-99r"]["reference_applicable"] is True
    assert fb["static-99r"]["caveats"] == []


def test_each_item_carries_the_coding_note_its_reference_was_scored_under(trainee):
    api = api_for(trainee)
    fb = feedback(api, submitted_attempt(api, CONTACT))
    ref = reference_for(CONTACT, "stable-2007")
    notes = dict(ref.instrument_version.items.values_list("code", "coding_notes"))
    items = {i["code"]: i for i in fb["stable-2007"]["items"]}
    assert items["STABLE-12"]["coding_notes"] == notes["STABLE-12"]
    assert "possession alone is not the test" in items["STABLE-12"]["coding_notes"]
    assert all(i["coding_notes"] for i in items.values())
    assert "12 months before the assessment" in fb["stable-2007"]["rating_period"]


def test_feedback_page_shows_caveat_and_coding_notes(trainee):
    api = api_for(trainee)
    attempt_id = submitted_attempt(api, NON_CONTACT)
    page = browser_for(trainee).get(f"/attempts/{attempt_id}/feedback/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "validity-caveat" in html and "ATSA" in html
    assert html.count('class="coding-note"') == 10 + 13  # every Static-99R and STABLE-2007 item row
    assert 'id="note-liam-d-026-S99R-1"' in html


def test_another_trainees_feedback_with_its_caveat_is_not_served(trainee, trainee2):
    attempt_id = submitted_attempt(api_for(trainee), NON_CONTACT)
    response = api_for(trainee2).get(f"/api/v1/attempts/{attempt_id}/feedback/")
    assert response.status_code == 404
    assert "ATSA" not in json.dumps(response.json())


def test_the_rating_period_is_stated_before_scoring_too(trainee):
    api = api_for(trainee)
    listed = api.get("/api/v1/instruments/").json()
    listed = listed["results"] if isinstance(listed, dict) else listed
    instruments = {i["slug"]: i for i in listed}
    assert "12 months before the assessment" in instruments["stable-2007"]["rating_period"]
    assert instruments["cport"]["rating_period"] == ""
    response = api.post("/api/v1/attempts/", {"vignette": CONTACT, "instruments": ALL},
                        format="json")
    page = browser_for(trainee).get(f"/attempts/{response.json()['id']}/")
    assert "12 months before the assessment" in page.content.decode()
