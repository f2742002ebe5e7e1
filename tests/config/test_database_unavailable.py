"""An unavailable database answers 503 with Retry-After, wherever it is hit: JSON for the API,
the plain 503 page elsewhere; never a 500 with a traceback, never a 2xx for a write that did not
commit, nothing half-stored.

The failures are made with Django's own query instrumentation (connection.execute_wrapper):
every query, or only the writes to one table, raise OperationalError/InterfaceError as a lost
PostgreSQL connection or a locked SQLite file would. tests/faults/ does the same against a real
server with a real cut connection, a locked and a read-only SQLite file.
"""

import contextlib
import json
import logging
from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, ProgrammingError, connection
from django.test import Client

from tests.conftest import api_for
from tests.training.helpers import PRACTICE, reference_body
from training.models import Attempt, AttemptStatus, Rating

pytestmark = pytest.mark.django_db


@contextlib.contextmanager
def failing_queries(error=OperationalError, when=lambda sql: True):
    def wrapper(execute, sql, params, many, context):
        if when(sql):
            raise error("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield


def writes_to(table):
    return lambda sql: sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) and (
        f'"{table}"' in sql
    )


def start(api):
    response = api.post("/api/v1/attempts/", {"vignette": PRACTICE, "instruments": ["cport"]},
                        format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def put(api, attempt_id, body):
    return api.put(f"/api/v1/attempts/{attempt_id}/ratings/", json.dumps(body),
                   content_type="application/json")


def assert_503(response, *, json_body):
    assert response.status_code == 503, response.content[:500]
    assert response["Retry-After"].isdigit() and int(response["Retry-After"]) > 0
    assert "no-store" in response["Cache-Control"]
    text = response.content.decode()
    assert "Traceback" not in text and "OperationalError" not in text
    if json_body:
        assert response["Content-Type"].startswith("application/json")
        assert "database is unavailable" in response.json()["detail"]
    else:
        assert response["Content-Type"].startswith("text/html")
        assert "Temporarily unavailable" in text and "Try again in a moment" in text


def test_autosave_failing_midway_answers_503_and_keeps_the_last_confirmed_save(trainee):
    api = api_for(trainee)
    attempt_id = start(api)
    first = {"vignette": PRACTICE, "instrument": "cport", "revision": 0, "applicable": True,
             "notes": {"CPORT-1": "confirmed"}}
    assert put(api, attempt_id, first).status_code == 200

    # The rating row is updated, then writing its items fails: the whole save must roll back.
    second = reference_body(PRACTICE, "cport", revision=1) | {"notes": {"CPORT-1": "lost"}}
    with failing_queries(when=writes_to("training_ratingitem")):
        response = put(api, attempt_id, second)
    assert_503(response, json_body=True)

    rating = Rating.objects.get(attempt_id=attempt_id)
    assert rating.revision == 1 and rating.notes == {"CPORT-1": "confirmed"}
    assert not rating.items.exists()
    # The client retries the same save once the database is back: accepted, not a conflict.
    retried = put(api, attempt_id, second)
    assert retried.status_code == 200 and retried.json()["revision"] == 2


def test_submission_whose_answer_cannot_be_built_is_not_stored(trainee):
    # The submission is written, then the database goes away while the answer is read back:
    # the client gets 503, so the submission must not be stored either (one transaction).
    api = api_for(trainee)
    attempt_id = start(api)
    assert put(api, attempt_id, reference_body(PRACTICE, "cport")).status_code == 200
    with mock.patch("training.attempts.api._attempt_payload",
                    side_effect=OperationalError("server closed the connection unexpectedly")):
        response = api.post(f"/api/v1/attempts/{attempt_id}/submit/")
    assert_503(response, json_body=True)
    assert Attempt.objects.get(pk=attempt_id).status == AttemptStatus.IN_PROGRESS
    retried = api.post(f"/api/v1/attempts/{attempt_id}/submit/")  # not "already submitted"
    assert retried.status_code == 200 and retried.json()["status"] == "submitted"


@pytest.mark.parametrize("error", [OperationalError, InterfaceError])
def test_api_answers_503_json_when_no_query_works(trainee, error):
    api = api_for(trainee)
    attempt_id = start(api)
    with failing_queries(error):  # the token lookup itself fails
        response = api.get(f"/api/v1/attempts/{attempt_id}/")
    assert_503(response, json_body=True)


def test_session_autosave_answers_503_json_when_the_session_cannot_load(trainee):
    # The scoring page's autosave: session cookie, JSON body. The session and the user are
    # loaded by middleware before any view runs (handler500's path, not the view's).
    client = Client(raise_request_exception=False)
    client.force_login(trainee)
    with failing_queries():
        response = client.put("/api/v1/attempts/1/ratings/", "{}",
                              content_type="application/json")
    assert_503(response, json_body=True)


def test_signed_in_page_answers_the_503_page_when_the_session_cannot_load(trainee, caplog):
    client = Client(raise_request_exception=False)
    client.force_login(trainee)
    with caplog.at_level(logging.INFO), failing_queries():
        response = client.get("/dashboard/")
    assert_503(response, json_body=False)
    mine = [r for r in caplog.records if r.name == "calibrate.database"]
    assert mine and mine[0].levelno == logging.ERROR and mine[0].status_code == 503
    assert "GET /dashboard/" in mine[0].getMessage()
    # Logged once, by us, without a traceback (Django's own "Internal Server Error" is not).
    assert not [r for r in caplog.records if r.name == "django.request"]
    assert all(r.exc_info is None for r in mine)


def test_public_page_whose_view_fails_answers_the_503_page(content):
    # Anonymous: the middleware never touch the database; the view does
    # (DatabaseUnavailableMiddleware.process_exception).
    with failing_queries():
        response = Client().get("/verify/some-code")
    assert_503(response, json_body=False)


def test_other_database_errors_are_still_500s(trainee):
    # A bug (here a ProgrammingError) is not "unavailable": the 500 page, not a 503.
    client = Client(raise_request_exception=False)
    client.force_login(trainee)
    with failing_queries(ProgrammingError):
        response = client.get("/dashboard/")
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert "Traceback" not in response.content.decode()


def test_healthz_answers_503_when_the_database_fails(db):
    with failing_queries():
        response = Client().get("/healthz")
    assert response.status_code == 503 and response.json()["status"] == "unavailable"
