"""The trainee's journey through the API, and every integrity rule it must keep."""

import json
import threading

import pytest
from django.db import connection

from tests.conftest import api_for, browser_for
from tests.training.helpers import (
    PRACTICE,
    rating_put,
    reference_body,
    reference_for,
    reference_secrets,
)
from training.attempts.serializers import RatingSaveSerializer
from training.models import Attempt, AttemptStatus, Rating

pytestmark = pytest.mark.django_db

ALL = ["cport", "static-99r", "stable-2007"]


def start(api, slug=PRACTICE, instruments=ALL):
    response = api.post("/api/v1/attempts/", {"vignette": slug, "instruments": instruments},
                        format="json")
    assert response.status_code == 201, response.content
    return response.json()


def fill(api, attempt_id, slug=PRACTICE, instruments=ALL, miss=None):
    for instrument in instruments:
        response = rating_put(api, attempt_id, reference_body(slug, instrument, miss=miss))
        assert response.status_code == 200, response.content


def assert_no_secrets(text: str, slug=PRACTICE):
    for secret in reference_secrets(slug):
        assert secret not in text


def test_token_then_full_journey_with_feedback(trainee, client):
    response = client.post("/api/v1/auth/token/",
                           {"username": "trainee-a", "password": "pw-for-tests-1"})
    token = response.json()["token"]
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    attempt = start(api)
    assert attempt["status"] == "in_progress"
    assert attempt["vignettes"][0]["slug"] == PRACTICE
    assert "## Identifying information" in attempt["vignettes"][0]["body_markdown"]
    assert sorted(i["slug"] for i in attempt["instruments"]) == sorted(ALL)
    assert_no_secrets(json.dumps(attempt))

    fill(api, attempt["id"], miss="STABLE-10")
    detail = api.get(f"/api/v1/attempts/{attempt['id']}/").json()
    assert {r["instrument"]: r["revision"] for r in detail["ratings"]} == dict.fromkeys(ALL, 1)
    assert_no_secrets(json.dumps(detail))

    assert api.get(f"/api/v1/attempts/{attempt['id']}/feedback/").status_code == 403
    response = api.post(f"/api/v1/attempts/{attempt['id']}/submit/")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "submitted"
    assert response.json()["feedback_available"] is True

    feedback = {f["instrument"]: f for f in api.get(
        f"/api/v1/attempts/{attempt['id']}/feedback/").json()}
    stable = feedback["stable-2007"]
    misses = [i["code"] for i in stable["items"] if not i["match"]]
    assert misses == ["STABLE-10"]
    assert stable["summary"].startswith("12 of 13 items agree; total")
    ref = reference_for(PRACTICE, "stable-2007")
    assert stable["reference_total"] == ref.result().total
    assert all(i["rationale"] for i in stable["items"])
    assert feedback["static-99r"]["reference_applicable"] is False
    assert feedback["static-99r"]["applicability_match"] is True
    assert feedback["static-99r"]["reference_reason"]


def test_draft_merges_and_scores_on_the_server(api):
    attempt = start(api, instruments=["cport"])
    response = rating_put(api, attempt["id"], {"vignette": PRACTICE, "instrument": "cport",
                                        "revision": 0, "items": {"CPORT-1": 1}})
    assert response.status_code == 200
    saved = response.json()
    assert (saved["revision"], saved["total"], saved["band"], saved["complete"]) == (
        1, 1, None, False)
    assert "CPORT-2" in saved["unscored"]
    response = rating_put(api, attempt["id"], {
        "vignette": PRACTICE, "instrument": "cport", "revision": 1, "applicable": True,
        "items": {f"CPORT-{i}": 1 for i in range(2, 8)}, "notes": {"CPORT-1": "age 42?"},
    })
    saved = response.json()
    # CPORT's published scheme has no bands: a complete rating gets a total and no band.
    assert (saved["revision"], saved["total"], saved["band"], saved["complete"]) == (
        2, 7, None, True)
    assert saved["items"]["CPORT-1"] == 1 and saved["notes"] == {"CPORT-1": "age 42?"}


def test_an_item_omitted_for_missing_information_follows_the_instruments_rule(api):
    """STABLE-2007 (training rule): one item may be omitted for lack of information, and the
    total is then not computable; Static-99R allows none; CPORT (its authors) allows one and
    counts the total without it."""
    attempt = start(api)
    body = reference_body(PRACTICE, "stable-2007")
    body["items"]["STABLE-5"] = None
    saved = rating_put(api, attempt["id"], body).json()
    assert saved["complete"] is True and saved["total"] is None and saved["band"] is None
    body["items"]["STABLE-6"] = None
    body["revision"] = saved["revision"]
    saved = rating_put(api, attempt["id"], body).json()
    assert saved["complete"] is False
    s99r = reference_body(PRACTICE, "static-99r")
    if s99r["applicable"]:
        s99r["items"]["S99R-2"] = None
        response = rating_put(api, attempt["id"], s99r)
        assert response.status_code == 400
        assert "may not be omitted" in response.json()["items.S99R-2"][0]
    cport = reference_body(PRACTICE, "cport")
    cport["items"]["CPORT-6"] = None
    saved = rating_put(api, attempt["id"], cport).json()
    expected = sum(v for k, v in reference_body(PRACTICE, "cport")["items"].items()
                   if k != "CPORT-6")
    assert saved["complete"] is True and saved["total"] == expected


def test_stale_revision_is_409_and_changes_nothing(api):
    attempt = start(api, instruments=["cport"])
    assert rating_put(api, attempt["id"], {"vignette": PRACTICE, "instrument": "cport",
                                    "revision": 0, "items": {"CPORT-1": 1}}).status_code == 200
    response = rating_put(api, attempt["id"], {"vignette": PRACTICE, "instrument": "cport",
                                        "revision": 0, "items": {"CPORT-1": 0}})
    assert response.status_code == 409
    assert response.json()["current_revision"] == 1
    rating = Rating.objects.get(attempt_id=attempt["id"])
    assert rating.revision == 1
    assert rating.items.get().value == 1


BAD_BODIES = [
    ({"items": {"CPORT-1": 2}}, "items.CPORT-1", "not an allowed value"),
    ({"items": {"CPORT-9": 1}}, "items.CPORT-9", "not an item of cport"),
    ({"items": {"STABLE-1": 1}}, "items.STABLE-1", "not an item of cport"),
    ({"items": {"CPORT-1": True}}, "items.CPORT-1", "not an allowed value"),
    ({"items": {"CPORT-1": "1"}}, "items.CPORT-1", "not an allowed value"),
    ({"items": [1, 2]}, "items", "Must be an object"),
    ({"notes": {"CPORT-1": "x" * 2001}}, "notes.CPORT-1", "At most 2000 characters"),
    ({"notes": {"CPORT-1": "a\x00b"}}, "notes.CPORT-1", "NUL"),
    ({"rationale": "ok\ud800"}, "rationale", "lone surrogate"),
    ({"applicable": "yes"}, "applicable", "true, false or null"),
    ({"total": 7}, "total", "cannot be set by a client"),
    ({"band": "higher"}, "band", "cannot be set by a client"),
    ({"status": "submitted"}, "status", "cannot be set by a client"),
    ({"user": 1}, "user", "cannot be set by a client"),
    ({"reference_value": 1}, "reference_value", "cannot be set by a client"),
    ({"submitted_at": "2026-01-01"}, "submitted_at", "cannot be set by a client"),
    ({"vignette": "ulrich-b-041"}, "vignette", "not a vignette of"),
    ({"instrument": "static-99r"}, "instrument", "not an instrument of"),
    ({"revision": -1}, "revision", "Send the revision"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD_BODIES)
def test_bad_rating_input_is_400_naming_the_field_and_stores_nothing(api, change, field, message):
    attempt = start(api, instruments=["cport"])
    good = {"vignette": PRACTICE, "instrument": "cport", "revision": 0, "items": {"CPORT-2": 0}}
    response = rating_put(api, attempt["id"], {**good, **change})
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    assert message in json.dumps(errors, ensure_ascii=False)
    assert not Rating.objects.filter(attempt_id=attempt["id"], revision__gt=0).exists()


GOOD_BODY = {"vignette": PRACTICE, "instrument": "cport", "revision": 0,
             "items": {"CPORT-2": 0}}

# What the input serializer refuses by itself, before the service sees the body.
REFUSED_BY_THE_SERIALIZER = [
    ({"total": 7}, "total", "cannot be set by a client"),
    ({"applicable": "yes"}, "applicable", "true, false or null"),
    ({"applicable": 1}, "applicable", "true, false or null"),
    ({"items": {"CPORT-1": "1"}}, "items.CPORT-1", "not an allowed value"),
    ({"items": {"CPORT-1": True}}, "items.CPORT-1", "not an allowed value"),
    ({"items": {"CPORT-1": 1.5}}, "items.CPORT-1", "not an allowed value"),
    ({"items": [1, 2]}, "items", "Must be an object"),
    ({"items": {f"CPORT-{i}": 0 for i in range(101)}}, "items", "At most 100 items"),
    ({"items": {"C" * 33: 0}}, "items", "at most 32 characters"),
    ({"notes": {"CPORT-1": "x" * 2001}}, "notes.CPORT-1", "At most 2000 characters"),
    ({"notes": {"CPORT-1": 5}}, "notes.CPORT-1", "Must be text"),
    ({"notes": {"CPORT-1": "a\x00b"}}, "notes.CPORT-1", "NUL"),
    ({"rationale": "x" * 10001}, "rationale", "At most 10000 characters"),
    ({"rationale": 5}, "rationale", "Must be text"),
    ({"rationale": "ok\ud800"}, "rationale", "lone surrogate"),
    ({"revision": "0"}, "revision", "Send the revision"),
    ({"revision": -1}, "revision", "Send the revision"),
    ({"revision": True}, "revision", "Send the revision"),
]


@pytest.mark.parametrize(("change", "field", "message"), REFUSED_BY_THE_SERIALIZER)
def test_the_rating_body_is_validated_by_its_serializer(change, field, message):
    serializer = RatingSaveSerializer(data={**GOOD_BODY, **change})
    assert not serializer.is_valid()
    assert field in serializer.errors, serializer.errors
    assert message in json.dumps(serializer.errors, ensure_ascii=False)


def test_the_rating_serializer_keeps_text_as_sent_and_only_what_was_sent():
    serializer = RatingSaveSerializer(data={**GOOD_BODY, "notes": {"CPORT-2": "  spaced  "},
                                            "rationale": None, "items": {"CPORT-1": None}})
    assert serializer.is_valid(), serializer.errors
    assert serializer.validated_data == {
        "vignette": PRACTICE, "instrument": "cport", "revision": 0,
        "items": {"CPORT-1": None}, "notes": {"CPORT-2": "  spaced  "}, "rationale": None}
    for body in (None, [GOOD_BODY], "text"):
        serializer = RatingSaveSerializer(data=body)
        assert not serializer.is_valid()
        assert serializer.errors == {"non_field_errors": ["The body must be a JSON object."]}


def test_too_many_items_are_refused_before_any_is_looked_at(api):
    attempt = start(api, instruments=["cport"])
    response = rating_put(api, attempt["id"], {**GOOD_BODY, "items": {
        f"CPORT-{i}": 0 for i in range(1, 102)}})
    assert response.status_code == 400
    assert response.json() == {"items": ["At most 100 items."]}
    assert not Rating.objects.filter(attempt_id=attempt["id"]).exists()


def test_the_schema_states_the_rating_body_limits(api):
    schema = api.get("/api/v1/schema/?format=json").json()
    body = schema["components"]["schemas"]["RatingSave"]["properties"]
    assert body["rationale"]["maxLength"] == 10000
    assert body["notes"]["additionalProperties"]["maxLength"] == 2000
    assert body["items"]["maxProperties"] == 100 and body["notes"]["maxProperties"] == 100
    assert body["revision"]["minimum"] == 0


def test_duplicate_item_key_is_rejected(api):
    attempt = start(api, instruments=["cport"])
    raw = ('{"vignette": "' + PRACTICE + '", "instrument": "cport", "revision": 0, '
           '"items": {"CPORT-1": 1, "CPORT-1": 0}}')
    response = api.put(f"/api/v1/attempts/{attempt['id']}/ratings/", raw,
                       content_type="application/json")
    assert response.status_code == 400
    assert "CPORT-1" in response.json()["detail"] and "twice" in response.json()["detail"]


def test_malformed_json_wrong_content_type_and_oversized_body(api, settings):
    attempt = start(api, instruments=["cport"])
    url = f"/api/v1/attempts/{attempt['id']}/ratings/"
    response = api.put(url, '{"vignette": ', content_type="application/json")
    assert response.status_code == 400 and "JSON parse error" in response.json()["detail"]
    response = api.put(url, "vignette=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    big = json.dumps({"vignette": PRACTICE, "instrument": "cport", "revision": 0,
                      "rationale": "x" * (settings.CALIBRATE_MAX_JSON_BODY + 10)})
    response = api.put(url, big, content_type="application/json")
    assert response.status_code == 413
    response = rating_put(api, attempt["id"], {"vignette": PRACTICE})
    assert response.status_code == 400 and set(response.json()) == {"instrument", "revision"}
    assert not Rating.objects.filter(attempt_id=attempt["id"]).exists()


def test_submit_lists_what_is_missing_and_keeps_the_attempt_open(api):
    attempt = start(api)
    rating_put(api, attempt["id"], {"vignette": PRACTICE, "instrument": "cport", "revision": 0,
                             "applicable": True, "items": {"CPORT-1": 1}})
    response = api.post(f"/api/v1/attempts/{attempt['id']}/submit/")
    assert response.status_code == 400
    unscored = response.json()["unscored"]
    assert f"{PRACTICE} / cport / CPORT-2: CPORT-2 is not scored" in unscored
    assert f"{PRACTICE} / static-99r: applicability not decided" in unscored
    assert Attempt.objects.get(pk=attempt["id"]).status == AttemptStatus.IN_PROGRESS


def test_not_applicable_needs_no_items(api):
    attempt = start(api, instruments=["static-99r"])
    assert rating_put(api, attempt["id"], {"vignette": PRACTICE, "instrument": "static-99r",
                                    "revision": 0, "applicable": False}).status_code == 200
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200


def test_submitted_attempt_is_immutable(api):
    attempt = start(api, instruments=["cport"])
    fill(api, attempt["id"], instruments=["cport"])
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 200
    rating = Rating.objects.get(attempt_id=attempt["id"])
    before = (rating.revision, rating.total, list(rating.items.values_list("value", flat=True)))
    response = rating_put(api, attempt["id"], {"vignette": PRACTICE, "instrument": "cport",
                                        "revision": 1, "items": {"CPORT-1": 0}})
    assert response.status_code == 409 and response.json()["code"] == "submitted"
    assert api.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code == 409
    rating.refresh_from_db()
    assert before == (rating.revision, rating.total,
                      list(rating.items.values_list("value", flat=True)))
    assert rating.reference_scoring == reference_for(PRACTICE, "cport")


def test_another_trainees_attempt_is_404_everywhere(api, trainee2, outsider):
    attempt = start(api, instruments=["cport"])
    fill(api, attempt["id"], instruments=["cport"])
    for other in (trainee2, outsider):
        client = api_for(other)
        base = f"/api/v1/attempts/{attempt['id']}/"
        assert client.get(base).status_code == 404
        assert rating_put(client, attempt["id"], reference_body(PRACTICE, "cport", revision=1)
                   ).status_code == 404
        assert client.post(base + "submit/").status_code == 404
        assert client.get(base + "feedback/").status_code == 404
        assert client.get("/api/v1/attempts/").json()["count"] == 0
    assert Attempt.objects.get(pk=attempt["id"]).status == AttemptStatus.IN_PROGRESS


def test_organisation_header_cannot_reach_other_organisations(api, other_org):
    response = api.get("/api/v1/attempts/", HTTP_X_ORGANIZATION=other_org.slug)
    assert response.status_code == 403


def test_options_and_errors_never_carry_reference_data(api):
    attempt = start(api)
    fill(api, attempt["id"], miss="CPORT-1")
    texts = [
        api.options(f"/api/v1/attempts/{attempt['id']}/").content.decode(),
        api.options(f"/api/v1/attempts/{attempt['id']}/ratings/").content.decode(),
        api.get(f"/api/v1/attempts/{attempt['id']}/feedback/").content.decode(),
        rating_put(api, attempt["id"], {"vignette": PRACTICE, "instrument": "cport", "revision": 0,
                                 "items": {"CPORT-1": 5}}).content.decode(),
        rating_put(api, attempt["id"], {"vignette": PRACTICE, "instrument": "cport", "revision": 0,
                                 "items": {"CPORT-1": 0}}).content.decode(),
    ]
    for text in texts:
        assert_no_secrets(text)
        assert "reference_value" not in text and "rationale\": \"Scored" not in text


def test_session_api_calls_need_the_csrf_token(trainee):
    browser = browser_for(trainee)
    response = browser.post("/api/v1/attempts/", json.dumps(
        {"vignette": PRACTICE, "instrument": "cport"}), content_type="application/json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    browser.get("/dashboard/")
    token = browser.cookies["csrftoken"].value
    response = browser.post("/api/v1/attempts/", json.dumps(
        {"vignette": PRACTICE, "instrument": "cport"}), content_type="application/json",
        HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201


def test_start_validation(api):
    for body, field in [
        ({"vignette": PRACTICE}, "instruments"),
        ({"vignette": PRACTICE, "instrument": "nope"}, "instruments"),
        ({"vignette": "ulrich-b-041", "instrument": "cport"},
         "vignette"),
        ({"assignment": 99999}, "assignment"),
        ({}, "non_field_errors"),
    ]:
        response = api.post("/api/v1/attempts/", body, format="json")
        assert response.status_code == 400, (body, response.content)
        assert field in response.json(), response.json()
    assert not Attempt.objects.exists()


def test_list_is_paginated_with_a_maximum_page_size(api):
    for _ in range(3):
        start(api, instruments=["cport"])
    data = api.get("/api/v1/attempts/?page_size=10000").json()
    assert data["count"] == 3 and len(data["results"]) == 3
    from config.api.pagination import DefaultPagination

    assert DefaultPagination.max_page_size == 200


@pytest.mark.skipif("connection.vendor != 'postgresql'",
                    reason="row-level locking races need PostgreSQL (CI runs this leg)")
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_submits_leave_exactly_one(content, org, trainee):
    api = api_for(trainee)
    attempt = start(api, instruments=["cport"])
    fill(api, attempt["id"], instruments=["cport"])
    statuses = []
    barrier = threading.Barrier(20)

    def submit():
        client = api_for(trainee)
        barrier.wait()
        try:
            statuses.append(client.post(f"/api/v1/attempts/{attempt['id']}/submit/").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [409] * 19
    assert Attempt.objects.get(pk=attempt["id"]).status == AttemptStatus.SUBMITTED
    assert Rating.objects.filter(attempt_id=attempt["id"], submitted_at__isnull=False).count() == 1
