"""Throttles, and the client address they key on.

Sign-in (HTML and the API token endpoint, django-axes plus config.throttling): five failures
for one username, from any addresses, lock that username; twenty failures from one address,
across usernames, lock that address; both for 15 minutes, never indefinitely. Password reset:
three an hour per e-mail, ten an hour per address, over either nothing is sent and the page
answers the same. The client address is the socket's unless a trusted proxy is configured.
"""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory, override_settings

from config.settings.base import env_int
from config.throttling import client_address
from tests.factories import UserFactory
from training.certification import certificates

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("axes_on")]

NOON = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
PASSWORD = "pw-for-tests-1"


@pytest.fixture
def axes_on():
    with override_settings(AXES_ENABLED=True):
        yield


def sign_in(surface, username, password, address, *, forwarded=None):
    """One sign-in attempt from `address` on the HTML page or the token endpoint; its status:
    success 302 (HTML) / 200 (API), wrong password 200 / 400, locked out 429 on both."""
    extra = {"REMOTE_ADDR": address}
    if forwarded:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    path = "/accounts/login/" if surface == "html" else "/api/v1/auth/token/"
    response = Client().post(path, {"username": username, "password": password}, **extra)
    return response.status_code


SUCCESS = {"html": 302, "api": 200}
WRONG = {"html": 200, "api": 400}


def test_html_sign_in_locks_for_fifteen_minutes_then_lets_in(client):
    UserFactory(username="victim")
    with time_machine.travel(dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC), tick=False) as t:
        for attempt in range(1, 6):
            response = client.post("/accounts/login/", {"username": "victim", "password": "x"})
            # The fifth failure reaches the limit and is answered with the lock-out page.
            assert response.status_code == (429 if attempt == 5 else 200)
        response = client.post("/accounts/login/", {"username": "victim",
                                                    "password": PASSWORD})
        assert response.status_code == 429
        assert b"Too many failed sign-in attempts" in response.content
        assert b"paused for 15 minutes" in response.content
        assert response["Retry-After"] == "900"
        t.shift(dt.timedelta(minutes=16))
        response = client.post("/accounts/login/", {"username": "victim",
                                                    "password": PASSWORD})
        assert response.status_code == 302


def test_token_endpoint_is_throttled_too(client):
    UserFactory(username="api-victim")
    with time_machine.travel(dt.datetime(2026, 11, 1, 9, 0, tzinfo=dt.UTC), tick=False) as t:
        for attempt in range(1, 6):
            response = client.post("/api/v1/auth/token/", {"username": "api-victim",
                                                           "password": "wrong"})
            assert response.status_code in ((400, 429) if attempt == 5 else (400,)), attempt
        response = client.post("/api/v1/auth/token/", {"username": "api-victim",
                                                       "password": PASSWORD})
        assert response.status_code == 429
        assert "try again in 15 minutes" in response.json()["detail"]
        t.shift(dt.timedelta(minutes=16))
        response = client.post("/api/v1/auth/token/", {"username": "api-victim",
                                                       "password": PASSWORD})
        assert response.status_code == 200


def test_other_users_are_not_locked_out(client):
    UserFactory(username="victim2")
    UserFactory(username="bystander")
    for _ in range(6):
        client.post("/accounts/login/", {"username": "victim2", "password": "x"})
    response = client.post("/accounts/login/", {"username": "bystander",
                                                "password": PASSWORD})
    assert response.status_code == 302


@pytest.mark.parametrize("surface", ["html", "api"])
def test_spraying_many_usernames_from_one_address_locks_that_address(surface):
    UserFactory(username="real-user")
    sprayer = "198.51.100.7"
    with time_machine.travel(NOON, tick=False) as t:
        statuses = [sign_in(surface, f"sprayed-{n}", "Winter2026!", sprayer) for n in range(25)]
        # Nineteen failures are only failures; the twentieth reaches the address limit.
        assert statuses[:19] == [WRONG[surface]] * 19
        assert statuses[20:] == [429] * 5
        # From that address even a right password waits ...
        assert sign_in(surface, "real-user", PASSWORD, sprayer) == 429
        # ... while the same account signs in from anywhere else.
        assert sign_in(surface, "real-user", PASSWORD, "192.0.2.10") == SUCCESS[surface]
        t.shift(dt.timedelta(minutes=16))
        assert sign_in(surface, "real-user", PASSWORD, sprayer) == SUCCESS[surface]


@pytest.mark.parametrize("surface", ["html", "api"])
def test_one_username_from_many_addresses_locks_that_username(surface):
    UserFactory(username="target")
    UserFactory(username="neighbour")
    with time_machine.travel(NOON, tick=False) as t:
        for n in range(1, 5):
            assert sign_in(surface, "target", "guess", f"203.0.113.{n}") == WRONG[surface]
        assert sign_in(surface, "target", "guess", "203.0.113.5") in (WRONG[surface], 429)
        # The account is locked wherever the next try comes from, the right password too;
        assert sign_in(surface, "target", PASSWORD, "203.0.113.99") == 429
        # the addresses themselves are not: another account signs in from them.
        assert sign_in(surface, "neighbour", PASSWORD, "203.0.113.1") == SUCCESS[surface]
        t.shift(dt.timedelta(minutes=16))
        assert sign_in(surface, "target", PASSWORD, "203.0.113.99") == SUCCESS[surface]


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_sign_in_behind_the_proxy_locks_the_forwarded_client_not_the_proxy():
    UserFactory(username="colleague")
    proxy = "10.0.0.2"
    with time_machine.travel(NOON, tick=False):
        for n in range(20):
            sign_in("html", f"sprayed-{n}", "Winter2026!", proxy, forwarded="198.51.100.7")
        assert sign_in("html", "colleague", PASSWORD, proxy, forwarded="198.51.100.7") == 429
        assert sign_in("html", "colleague", PASSWORD, proxy, forwarded="192.0.2.44") == 302


# --- password reset ------------------------------------------------------------------------


def ask_reset(email, address):
    response = Client().post("/accounts/password_reset/", {"email": email}, REMOTE_ADDR=address)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_reset/done/"
    return response


def test_password_reset_over_the_limit_per_email_sends_nothing_and_answers_the_same():
    UserFactory(username="forgetful", email="forgetful@example.org")
    with time_machine.travel(NOON, tick=False) as t:
        for n in range(1, 4):
            ask_reset("forgetful@example.org", f"198.51.100.{n}")
        assert len(mail.outbox) == 3
        # A fourth within the hour, from yet another address: the same answer, no e-mail.
        ask_reset("Forgetful@Example.org", "198.51.100.4")
        ask_reset("forgetful@example.org", "198.51.100.5")
        assert len(mail.outbox) == 3
        # The same answer as for an address without an account.
        ask_reset("nobody@example.org", "198.51.100.6")
        assert len(mail.outbox) == 3
        t.shift(dt.timedelta(hours=1, minutes=1))
        ask_reset("forgetful@example.org", "198.51.100.1")
        assert len(mail.outbox) == 4


def test_password_reset_over_the_limit_per_address_sends_nothing():
    for n in range(12):
        UserFactory(username=f"member{n}", email=f"member{n}@example.org")
    with time_machine.travel(NOON, tick=False):
        for n in range(10):
            ask_reset(f"member{n}@example.org", "198.51.100.9")
        assert len(mail.outbox) == 10
        ask_reset("member10@example.org", "198.51.100.9")
        assert len(mail.outbox) == 10
        # Refused for its address, the request did not use up that e-mail's share.
        ask_reset("member10@example.org", "192.0.2.1")
        assert len(mail.outbox) == 11
        assert mail.outbox[-1].to == ["member10@example.org"]


# --- the client address ----------------------------------------------------------------------


@pytest.mark.parametrize(("proxies", "forwarded", "expected"), [
    (0, "", "192.0.2.1"),
    (0, "203.0.113.5", "192.0.2.1"),  # no trusted proxy: the header is the client's own words
    (1, "203.0.113.5", "203.0.113.5"),
    (1, "6.6.6.6, 203.0.113.5", "203.0.113.5"),  # the left entry was written by the client
    (2, "6.6.6.6, 203.0.113.5, 10.0.0.7", "203.0.113.5"),
    (2, "203.0.113.5", "192.0.2.1"),  # fewer entries than proxies: not from our proxies
    (1, "", "192.0.2.1"),
    (1, "not-an-address", "192.0.2.1"),
    (1, "2001:db8::1", "2001:db8::1"),
    (1, "203.0.113.5:51234", "203.0.113.5"),  # some load balancers add the client's port
    (1, "[2001:db8::1]:51234", "2001:db8::1"),
])
def test_client_address(proxies, forwarded, expected):
    request = RequestFactory().get("/", REMOTE_ADDR="192.0.2.1", HTTP_X_FORWARDED_FOR=forwarded)
    with override_settings(TRUSTED_PROXY_COUNT=proxies):
        assert client_address(request) == expected


def test_client_address_without_a_socket_address_is_none():
    request = RequestFactory().get("/", REMOTE_ADDR="")
    assert client_address(request) is None


@pytest.mark.parametrize("raw", ["one", "-1", "1.5"])
def test_a_proxy_count_that_is_not_a_whole_number_stops_the_start(monkeypatch, raw):
    monkeypatch.setenv("TRUSTED_PROXY_COUNT", raw)
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXY_COUNT"):
        env_int("TRUSTED_PROXY_COUNT", 0)


def verify(code, *, forwarded):
    return Client().get(f"/api/v1/certificates/verify/{code}/", REMOTE_ADDR="10.0.0.2",
                        HTTP_X_FORWARDED_FOR=forwarded).status_code


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_verification_behind_the_proxy_counts_each_client_separately():
    with time_machine.travel(NOON, tick=False):
        statuses = [verify("A" * 32, forwarded="203.0.113.5")
                    for _ in range(certificates.VERIFY_RATE_LIMIT + 1)]
        assert statuses[-2:] == [404, 429]
        # Another visitor behind the same proxy has a bucket of their own.
        assert verify("A" * 32, forwarded="203.0.113.6") == 404
        # Writing another address in front of the proxy's does not help the first.
        assert verify("A" * 32, forwarded="203.0.113.6, 203.0.113.5") == 429


def test_verification_without_a_trusted_proxy_ignores_a_spoofed_header():
    with time_machine.travel(NOON, tick=False):
        for n in range(certificates.VERIFY_RATE_LIMIT):
            assert verify("A" * 32, forwarded=f"203.0.113.{n}") == 404
        assert verify("A" * 32, forwarded="198.51.100.200") == 429
