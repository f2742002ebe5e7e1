"""The account page in a real browser: a trainee with API tokens revokes one from the list,
changes their password (which ends the others), and signs out everywhere (which ends a
second browser's session and the token asked for since). Every form is the real one, posted
with its CSRF token; fails on any CSP violation, JavaScript error or serious accessibility
problem."""

import pytest
from rest_framework.test import APIClient

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from training.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a-new-Passphrase-9"


def works(key) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/me/").status_code == 200


def test_trainee_revokes_a_token_changes_password_and_signs_out_everywhere(
    content, live_server, browser, watched
):
    from django.db import connection

    from training.models import ApiToken, Organization

    org = Organization.objects.create(name="Browser Service", slug="browser")
    user = make_member(org, Role.TRAINEE, "browser-trainee")
    first, first_key = ApiToken.objects.create(user=user)
    second, second_key = ApiToken.objects.create(user=user)
    connection.close()
    page = watched.page

    sign_in(page, live_server.url, "browser-trainee")
    page.click("details.account-menu > summary")
    page.click("nav >> text=Account and password")
    page.wait_for_url("**/accounts/")
    assert page.locator("tr.token").count() == 2
    assert first_key not in page.content() and second_key not in page.content()
    watched.shot("1-two-tokens")

    page.click(f"#token-{first.prefix} button:has-text('Revoke')")
    page.wait_for_url("**/accounts/")
    assert f"API token {first.prefix}… is revoked" in page.locator(".messages").inner_text()
    assert page.locator("tr.token").count() == 1
    assert not works(first_key) and works(second_key)
    watched.shot("2-one-revoked")

    page.click("text=Change your password")
    page.wait_for_url("**/accounts/password_change/")
    page.fill("#id_old_password", "pw-for-tests-1")
    page.fill("#id_new_password1", NEW_PASSWORD)
    page.fill("#id_new_password2", NEW_PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/password_change/done/")
    assert not works(second_key)
    watched.shot("3-password-changed")

    # A new token, and a second browser: "Sign out everywhere" ends both, and this session.
    third = APIClient().post("/api/v1/auth/token/", {"username": "browser-trainee",
                                                     "password": NEW_PASSWORD}).json()["token"]
    assert works(third)
    other = browser.new_context()
    other_page = other.new_page()
    other_page.goto(f"{live_server.url}/accounts/login/")
    other_page.fill("#id_username", "browser-trainee")
    other_page.fill("#id_password", NEW_PASSWORD)
    other_page.click("main button[type=submit]")
    other_page.wait_for_url("**/dashboard/")

    page.goto(f"{live_server.url}/accounts/logout/")
    assert page.locator("text=Sign out of this browser").count() == 1
    watched.shot("4-sign-out-choice")
    page.click("text=Sign out everywhere (also ends your 1 API token)")
    page.wait_for_url("**/accounts/login/")
    assert "signed out everywhere" in page.locator(".messages").inner_text()
    watched.shot("5-signed-out-everywhere")
    assert not works(third)
    other_page.goto(f"{live_server.url}/dashboard/")
    other_page.wait_for_url("**/accounts/login/**")
    other.close()
