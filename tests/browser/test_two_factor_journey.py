"""Two-factor sign-in in a real browser: an instructor turns it on from the account menu
(QR code and secret, a real TOTP code), keeps the backup codes, signs out, and signs in again
with the password and then the code; then makes new backup codes and turns two-factor sign-in
off with one of them. Fails on any CSP violation, JavaScript error, serious accessibility
problem, CSRF refusal or server error."""

from base64 import b32decode

import pytest
from django_otp.oath import totp

from tests.conftest import make_member
from training.models import Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def code_from_secret(secret: str, steps_ahead: int = 0, drift: int = 0) -> str:
    raw = secret.replace(" ", "")
    key = b32decode(raw + "=" * (-len(raw) % 8))
    return f"{totp(key, drift=drift + steps_ahead):06d}"


def test_instructor_turns_on_two_factor_signs_in_with_a_code_and_turns_it_off(content, live_server, watched):
    from django.db import connection
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from training.models import Organization

    org = Organization.objects.create(name="Browser Service", slug="browser")
    make_member(org, Role.INSTRUCTOR, "browser-instructor")
    connection.close()
    page = watched.page

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "browser-instructor")
    page.fill("#id_password", "pw-for-tests-1")
    page.click("main button[type=submit]")
    page.wait_for_url("**/dashboard/")
    page.click("details.account-menu > summary")
    page.click("nav >> text=Two-factor sign-in")
    page.wait_for_url("**/accounts/two-factor/")
    watched.shot("1-off")

    page.click("text=Set up two-factor sign-in")
    page.wait_for_url("**/accounts/two-factor/setup/")
    assert page.locator("figure.qr svg").count() == 1
    secret = page.locator("#totp-secret").inner_text()
    watched.shot("2-setup")

    # A wrong code first: a clear error, tied to the field; still off.
    page.fill("#id_code", "000000" if code_from_secret(secret) != "000000" else "111111")
    page.click("text=Confirm and turn on")
    assert page.locator("#id_code_error").inner_text().startswith("That code is not right")
    assert page.locator("#id_code").get_attribute("aria-describedby") == "id_code_error"
    watched.shot("3-wrong-code")
    page.wait_for_timeout(1100)  # the 1-second wait after a wrong code

    page.fill("#id_code", code_from_secret(secret))
    page.click("text=Confirm and turn on")
    page.locator("ul.backup-codes").wait_for()
    codes = page.locator("ul.backup-codes code").all_inner_texts()
    assert len(codes) == 10
    watched.shot("4-backup-codes")
    page.click("text=I have kept them")
    page.wait_for_url("**/accounts/two-factor/")
    assert "On." in page.locator("#status").inner_text()

    page.click("details.account-menu > summary")
    page.click("button:has-text('Sign out')")
    page.goto(f"{live_server.url}/teach/")
    page.wait_for_url("**/accounts/login/**")
    page.fill("#id_username", "browser-instructor")
    page.fill("#id_password", "pw-for-tests-1")
    page.click("main button[type=submit]")
    page.wait_for_url("**/accounts/login/code/")
    # Half way: not signed in (the header offers to sign in, the dashboard is out of reach).
    assert page.locator("nav >> text=Sign in").count() == 1
    watched.shot("5-code-step")

    # The next 30-second code: the one used to confirm cannot be used again.
    device = TOTPDevice.objects.get(user__username="browser-instructor")
    assert device.confirmed
    connection.close()
    page.fill("#id_code", code_from_secret(secret, steps_ahead=1, drift=device.drift))
    page.click("text=Verify and sign in")
    page.wait_for_url("**/teach/")
    assert page.locator("details.account-menu .account-name").inner_text() == "browser-instructor"
    watched.shot("6-signed-in")

    # New backup codes (the password again): the old ones stop working.
    page.click("details.account-menu > summary")
    page.click("nav >> text=Two-factor sign-in")
    page.wait_for_url("**/accounts/two-factor/")
    renew = page.locator("#backup-codes")
    renew.get_by_label("Your password").fill("pw-for-tests-1")
    renew.get_by_role("button", name="Make new backup codes").click()
    page.locator("ul.backup-codes").wait_for()
    new_codes = page.locator("ul.backup-codes code").all_inner_texts()
    assert len(new_codes) == 10 and not set(new_codes) & set(codes)
    watched.shot("7-new-backup-codes")
    page.click("text=I have kept them")
    page.wait_for_url("**/accounts/two-factor/")

    # Turn it off with the password and a backup code: an old one is refused, a new one works.
    turn_off = page.locator("#disable")
    turn_off.get_by_label("Your password").fill("pw-for-tests-1")
    turn_off.get_by_label("Code from your authenticator app, or a backup code").fill(codes[0])
    turn_off.get_by_role("button", name="Turn off").click()
    page.locator("#disable").get_by_text("That code is not right.").wait_for()
    assert TOTPDevice.objects.filter(user__username="browser-instructor").exists()
    page.wait_for_timeout(1100)  # the 1-second wait after a wrong code
    turn_off = page.locator("#disable")
    turn_off.get_by_label("Your password").fill("pw-for-tests-1")
    turn_off.get_by_label("Code from your authenticator app, or a backup code").fill(new_codes[0])
    turn_off.get_by_role("button", name="Turn off").click()
    page.get_by_text("Two-factor sign-in is off.").wait_for()
    assert "Off." in page.locator("#status").inner_text()
    assert not TOTPDevice.objects.filter(user__username="browser-instructor").exists()
    watched.shot("8-off-again")
