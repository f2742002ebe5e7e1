"""Password reset in a real browser: from the sign-in page's link, the reset form is posted
once (CSRF as a browser meets it), one e-mail is sent, its link sets a new password and the
new password signs in. Fails on any CSP violation, JavaScript error or serious accessibility
problem."""

import re

import pytest
from django.core import mail

from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_forgotten_password_is_reset_from_the_emailed_link(live_server, watched):
    from django.db import connection

    UserFactory(username="forgetful-browser", email="forgetful-browser@example.org")
    connection.close()
    page = watched.page
    base = live_server.url

    page.goto(f"{base}/accounts/login/")
    page.click("text=Forgotten your password?")
    page.wait_for_url("**/accounts/password_reset/")
    page.fill("#id_email", "forgetful-browser@example.org")
    watched.shot("1-form")
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/password_reset/done/")
    assert page.locator("h1").inner_text() == "Check your e-mail"
    watched.shot("2-done")

    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["forgetful-browser@example.org"]
    link = re.search(r"https?://\S+/accounts/reset/\S+/", mail.outbox[0].body).group(0)
    page.goto(base + link[link.index("/accounts/reset/"):])
    page.wait_for_url("**/accounts/reset/*/set-password/")
    page.fill("#id_new_password1", "a-new-long-passphrase-7")
    page.fill("#id_new_password2", "a-new-long-passphrase-7")
    watched.shot("3-new-password")
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/reset/done/")

    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", "forgetful-browser")
    page.fill("#id_password", "a-new-long-passphrase-7")
    page.click("main button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    watched.assert_clean()
