"""Sign-in throttling (django-axes): five failures lock that username from that address for
15 minutes, on the HTML sign-in and on the API token endpoint; never indefinitely."""

import datetime as dt

import pytest
import time_machine
from django.test import override_settings

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("axes_on")]


@pytest.fixture
def axes_on():
    with override_settings(AXES_ENABLED=True):
        yield


def test_html_sign_in_locks_for_fifteen_minutes_then_lets_in(client):
    UserFactory(username="victim")
    with time_machine.travel(dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC), tick=False) as t:
        for attempt in range(1, 6):
            response = client.post("/accounts/login/", {"username": "victim", "password": "x"})
            # The fifth failure reaches the limit and is answered with the lock-out page.
            assert response.status_code == (429 if attempt == 5 else 200)
        response = client.post("/accounts/login/", {"username": "victim",
                                                    "password": "pw-for-tests-1"})
        assert response.status_code == 429
        assert b"Too many failed sign-in attempts" in response.content
        t.shift(dt.timedelta(minutes=16))
        response = client.post("/accounts/login/", {"username": "victim",
                                                    "password": "pw-for-tests-1"})
        assert response.status_code == 302


def test_token_endpoint_is_throttled_too(client):
    UserFactory(username="api-victim")
    with time_machine.travel(dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC), tick=False) as t:
        for attempt in range(1, 6):
            response = client.post("/api/v1/auth/token/", {"username": "api-victim",
                                                           "password": "wrong"})
            assert response.status_code in ((400, 429) if attempt == 5 else (400,)), attempt
        response = client.post("/api/v1/auth/token/", {"username": "api-victim",
                                                       "password": "pw-for-tests-1"})
        assert response.status_code == 429
        assert "try again in 15 minutes" in response.json()["detail"]
        t.shift(dt.timedelta(minutes=16))
        response = client.post("/api/v1/auth/token/", {"username": "api-victim",
                                                       "password": "pw-for-tests-1"})
        assert response.status_code == 200


def test_other_users_are_not_locked_out(client):
    UserFactory(username="victim2")
    UserFactory(username="bystander")
    for _ in range(6):
        client.post("/accounts/login/", {"username": "victim2", "password": "x"})
    response = client.post("/accounts/login/", {"username": "bystander",
                                                "password": "pw-for-tests-1"})
    assert response.status_code == 302
