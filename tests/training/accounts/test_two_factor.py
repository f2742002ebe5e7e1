"""Optional two-factor sign-in (django-otp: an authenticator app plus one-time backup codes)
for site staff, org admins and instructors: enrolment, the two-step sign-in, the API token,
the admin, throttling, and that nobody reaches anything half signed in."""

import datetime as dt
import re
from base64 import b32decode

import pytest
from django.test import Client, RequestFactory, override_settings
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests.conftest import make_member, signed_in
from tests.factories import UserFactory
from tests.training.helpers import START, code_for, enrol, wrong_code
from training.accounts import twofactor
from training.models import ApiToken, AuditEvent, Role

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"


def sign_in_password(client, username, next_url=""):
    data = {"username": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post("/accounts/login/", data)


def is_signed_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- Enrolment ------------------------------------------------------------------------------


def test_enrolment_with_a_real_totp_code_turns_it_on_and_shows_backup_codes(org_admin, org,
                                                                             clock):
    client = signed_in(org_admin)
    page = client.get("/accounts/two-factor/")
    assert page.status_code == 200
    assert b"Set up two-factor sign-in" in page.content
    assert b"staff, organisation admins and instructors" in page.content

    response = client.post("/accounts/two-factor/start/")
    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor/setup/"
    device = TOTPDevice.objects.get(user=org_admin)
    assert device.confirmed is False

    page = client.get("/accounts/two-factor/setup/")
    html = page.content.decode()
    assert page.status_code == 200
    # The QR code is inline SVG (no script, no style attribute: strict CSP), and the secret is
    # shown in base32 for typing by hand; it is the device's key.
    svg = re.search(r"<svg.*?</svg>", html, re.S).group(0)
    assert "style=" not in svg and "<script" not in html.split("<footer")[0].split("<main")[1]
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1)
    assert b32decode(secret.replace(" ", "") + "=" * (-len(secret.replace(" ", "")) % 8)) \
        == device.bin_key
    assert "otpauth://totp/Calibrate%3Aadmin-a?" in html
    assert '<label for="id_code">' in html

    response = client.post("/accounts/two-factor/setup/", {"code": code_for(device)})
    assert response.status_code == 200
    html = response.content.decode()
    codes = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", html)
    assert len(codes) == twofactor.BACKUP_CODE_COUNT
    device.refresh_from_db()
    assert device.confirmed
    stored = set(StaticToken.objects.filter(device__user=org_admin).values_list("token",
                                                                                flat=True))
    assert stored == set(codes)
    event = AuditEvent.objects.get(action="two_factor.enabled")
    assert event.organization == org and event.actor == org_admin
    assert event.after["user"] == org_admin.pk and "key" not in str(event.after)

    # This session proved the device: it stays signed in and verified.
    assert client.get("/dashboard/").status_code == 200
    page = client.get("/accounts/two-factor/")
    assert b"On." in page.content and b"10 backup codes left" in page.content
    # The codes are shown once: the page never shows them again.
    assert codes[0].encode() not in page.content
    audit = client.get("/manage/audit/?action=two_factor.enabled").content.decode()
    assert "two_factor.enabled" in audit and device.key not in audit


def test_a_wrong_code_leaves_the_device_unconfirmed_with_a_clear_error(instructor, clock):
    client = signed_in(instructor)
    client.post("/accounts/two-factor/start/")
    device = TOTPDevice.objects.get(user=instructor)
    response = client.post("/accounts/two-factor/setup/", {"code": wrong_code(device)})
    assert response.status_code == 400
    html = response.content.decode()
    assert "That code is not right" in html
    assert 'aria-invalid="true"' in html and 'aria-describedby="id_code_error"' in html
    response = client.post("/accounts/two-factor/setup/", {"code": "12ab"})
    assert response.status_code == 400
    assert b"Enter the 6-digit code" in response.content
    device.refresh_from_db()
    assert device.confirmed is False
    assert not StaticDevice.objects.filter(user=instructor).exists()
    assert not AuditEvent.objects.filter(action="two_factor.enabled").exists()
    # Not on: the next sign-in needs the password only.
    assert sign_in_password(Client(), "instructor-a").status_code == 302
    assert not twofactor.is_enabled(instructor)


def test_enrolment_ends_the_old_api_token(instructor, clock):
    ApiToken.objects.create(user=instructor)
    enrol(instructor)
    assert not ApiToken.objects.filter(user=instructor).exists()


def test_trainee_only_users_get_403(trainee):
    client = signed_in(trainee)
    assert client.get("/accounts/two-factor/").status_code == 403
    assert client.post("/accounts/two-factor/start/").status_code == 403
    assert client.get("/accounts/two-factor/setup/").status_code == 403
    assert client.post("/accounts/two-factor/disable/", {}).status_code == 403
    assert client.post("/accounts/two-factor/backup-codes/", {}).status_code == 403
    assert not TOTPDevice.objects.filter(user=trainee).exists()
    assert b'href="/accounts/two-factor/"' not in client.get("/dashboard/").content


def test_the_account_menu_links_to_it_for_instructors_admins_and_staff(instructor, org):
    assert b'href="/accounts/two-factor/"' in signed_in(instructor).get("/dashboard/").content
    staff = UserFactory(username="staff-only", is_staff=True)
    assert signed_in(staff).get("/accounts/two-factor/").status_code == 200
    # A trainee here who is an instructor elsewhere is offered it too.
    other = make_member(org, Role.TRAINEE, "two-hats")
    from tests.factories import OrganizationFactory
    from training.models import Membership

    Membership.objects.create(user=other, organization=OrganizationFactory(slug="else"),
                              role=Role.INSTRUCTOR)
    assert signed_in(other).get("/accounts/two-factor/").status_code == 200


# --- Signing in -----------------------------------------------------------------------------


def test_sign_in_with_a_device_needs_the_code_before_anything(instructor, clock):
    device, _ = enrol(instructor, clock)
    client = Client()
    response = sign_in_password(client, "instructor-a", next_url="/teach/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/code/"
    # Half way: not signed in, nothing reachable with this session.
    assert not is_signed_in(client)
    assert client.get("/dashboard/")["Location"].startswith("/accounts/login/")
    assert client.get("/api/v1/me/").status_code == 403
    assert client.get("/manage/members/").status_code == 302

    page = client.get("/accounts/login/code/")
    assert page.status_code == 200 and b'<label for="id_code">' in page.content
    response = client.post("/accounts/login/code/", {"code": wrong_code(device)})
    assert response.status_code == 400 and b"That code is not right" in response.content
    assert not is_signed_in(client)
    clock.shift(dt.timedelta(seconds=30))  # past the wait after a wrong code
    response = client.post("/accounts/login/code/", {"code": code_for(device)})
    assert response.status_code == 302 and response["Location"] == "/teach/"
    assert is_signed_in(client)
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/api/v1/me/").status_code == 200
    # The code step cannot be replayed.
    assert client.get("/accounts/login/code/").status_code == 302


def test_users_without_a_device_sign_in_with_the_password_alone(trainee):
    client = Client()
    response = sign_in_password(client, "trainee-a")
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    assert is_signed_in(client)


def test_next_stays_on_this_site(instructor, clock):
    device, _ = enrol(instructor, clock)
    client = Client()
    sign_in_password(client, "instructor-a", next_url="https://evil.example/steal")
    response = client.post("/accounts/login/code/", {"code": code_for(device)})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"


def test_a_half_finished_sign_in_expires(instructor, clock):
    device, _ = enrol(instructor, clock)
    client = Client()
    sign_in_password(client, "instructor-a")
    clock.shift(dt.timedelta(minutes=6))
    response = client.post("/accounts/login/code/", {"code": code_for(device)})
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not is_signed_in(client)


def test_an_unverified_session_made_any_other_way_reaches_nothing(instructor, clock):
    """force_login stands for any way to a session without the code (another login view...):
    the middleware signs it out before views, the API or the admin see it."""
    enrol(instructor, clock)
    client = Client()
    client.force_login(instructor)
    assert client.get("/dashboard/")["Location"].startswith("/accounts/login/")
    client.force_login(instructor)
    assert client.get("/api/v1/me/").status_code == 403
    client.force_login(instructor)
    assert client.get("/accounts/two-factor/").status_code == 302
    assert not is_signed_in(client)


def test_a_backup_code_works_once(instructor, clock):
    device, codes = enrol(instructor, clock)
    client = Client()
    sign_in_password(client, "instructor-a")
    response = client.post("/accounts/login/code/", {"code": codes[3].upper()})
    assert response.status_code == 302 and is_signed_in(client)
    assert StaticToken.objects.filter(device__user=instructor).count() == 9
    client.post("/accounts/logout/")
    assert not is_signed_in(client)

    clock.shift(dt.timedelta(seconds=30))
    sign_in_password(client, "instructor-a")
    response = client.post("/accounts/login/code/", {"code": codes[3]})
    assert response.status_code == 400 and b"That code is not right" in response.content
    assert not is_signed_in(client)
    clock.shift(dt.timedelta(seconds=30))
    response = client.post("/accounts/login/code/", {"code": codes[4]})
    assert response.status_code == 302 and is_signed_in(client)


def test_wrong_codes_are_throttled_then_let_through(instructor, clock):
    device, _ = enrol(instructor, clock)
    client = Client()
    sign_in_password(client, "instructor-a")
    assert client.post("/accounts/login/code/", {"code": wrong_code(device)}).status_code == 400
    # Straight after a wrong code even the right code waits (django-otp: 1 s, then 2, 4 ...).
    response = client.post("/accounts/login/code/", {"code": code_for(device)})
    assert response.status_code == 429 and response["Retry-After"] == "1"
    assert b"Too many wrong codes" in response.content
    assert not is_signed_in(client)
    clock.shift(dt.timedelta(seconds=2))
    assert client.post("/accounts/login/code/", {"code": wrong_code(device)}).status_code == 400
    response = client.post("/accounts/login/code/", {"code": code_for(device)})
    assert response.status_code == 429 and response["Retry-After"] == "2"
    clock.shift(dt.timedelta(seconds=3))
    response = client.post("/accounts/login/code/", {"code": code_for(device)})
    assert response.status_code == 302 and is_signed_in(client)
    device.refresh_from_db()
    assert device.throttling_failure_count == 0  # a success resets it


def test_the_wait_after_many_wrong_codes_is_capped(instructor, clock, settings):
    device, _ = enrol(instructor, clock)
    device.throttling_failure_count = 40  # django-otp alone would wait 2**39 s (17,000 years)
    device.throttling_failure_timestamp = START
    device.save()
    result = twofactor.check_sign_in_code(instructor, code_for(device))
    assert not result.ok
    assert 0 < result.retry_after <= settings.CALIBRATE_OTP_MAX_WAIT_SECONDS
    clock.shift(dt.timedelta(seconds=settings.CALIBRATE_OTP_MAX_WAIT_SECONDS + 1))
    assert twofactor.check_sign_in_code(instructor, code_for(device)).ok


# --- Turning it off, new backup codes, other people ----------------------------------------


def _verified_client(user, device, clock):
    client = Client()
    sign_in_password(client, user.get_username())
    assert client.post("/accounts/login/code/", {"code": code_for(device)}).status_code == 302
    clock.shift(dt.timedelta(seconds=30))
    return client


def test_turning_it_off_needs_the_password_and_a_current_code(instructor, org, clock):
    device, _ = enrol(instructor, clock)
    client = _verified_client(instructor, device, clock)
    response = client.post("/accounts/two-factor/disable/",
                           {"disable-password": "wrong", "disable-code": code_for(device)})
    assert response.status_code == 400 and b"That password is not right" in response.content
    response = client.post("/accounts/two-factor/disable/",
                           {"disable-password": PASSWORD, "disable-code": ""})
    assert response.status_code == 400
    assert b'aria-describedby="id_disable-code_error"' in response.content
    assert twofactor.is_enabled(instructor)

    response = client.post("/accounts/two-factor/disable/",
                           {"disable-password": PASSWORD, "disable-code": code_for(device)})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=instructor).exists()
    assert not StaticDevice.objects.filter(user=instructor).exists()
    assert AuditEvent.objects.filter(action="two_factor.disabled", organization=org).count() == 1
    # Still signed in, and the next sign-in is the password alone.
    assert client.get("/dashboard/").status_code == 200
    assert sign_in_password(Client(), "instructor-a")["Location"] == "/dashboard/"


def test_new_backup_codes_replace_the_old_ones(instructor, clock):
    device, old = enrol(instructor, clock)
    client = _verified_client(instructor, device, clock)
    assert client.post("/accounts/two-factor/backup-codes/",
                       {"codes-password": "nope"}).status_code == 400
    response = client.post("/accounts/two-factor/backup-codes/", {"codes-password": PASSWORD})
    assert response.status_code == 200
    new = re.findall(r"<li><code>([a-z2-7]{8})</code></li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert not twofactor.check_sign_in_code(instructor, old[0]).ok
    clock.shift(dt.timedelta(seconds=5))
    assert twofactor.check_sign_in_code(instructor, new[0]).ok
    assert AuditEvent.objects.filter(action="two_factor.backup_codes_replaced").exists()


def test_nobody_sees_or_turns_off_someone_elses_device(org, instructor, org_admin, clock):
    device, _ = enrol(instructor, clock)
    mallory = make_member(org, Role.INSTRUCTOR, "mallory")
    client = signed_in(mallory)
    page = client.get("/accounts/two-factor/")
    assert page.status_code == 200 and b"Off." in page.content
    assert twofactor.secret_base32(device).encode() not in page.content
    # No pending set-up of her own: the set-up page shows nobody's secret.
    assert client.get("/accounts/two-factor/setup/").status_code == 302
    response = client.post("/accounts/two-factor/disable/",
                           {"disable-password": PASSWORD, "disable-code": code_for(device)})
    assert response.status_code == 400
    assert TOTPDevice.objects.filter(user=instructor, confirmed=True).exists()
    # Someone else's pending set-up is not shown to her either.
    twofactor.enrolment_start(user=org_admin)
    pending = twofactor.pending_device(org_admin)
    assert client.get("/accounts/two-factor/setup/").status_code == 302
    assert pending.key not in client.get("/accounts/two-factor/").content.decode()


def test_org_admins_see_who_has_two_factor_on(org, org_admin, instructor, trainee, other_org,
                                              clock):
    device, _ = enrol(instructor, clock)
    outsider = make_member(other_org, Role.INSTRUCTOR, "south-instructor")
    enrol(outsider, clock)
    html = signed_in(org_admin).get("/manage/members/").content.decode()
    cells = dict(re.findall(r'<tr id="member-\d+">\s*<td>(?:<a [^>]*>)?([^<]+)<.*?'
                            r'<td class="two-factor">(\w+)</td>', html, re.S))
    assert cells == {"admin-a": "Off", "instructor-a": "On", "trainee-a": "Off"}
    assert device.key not in html and "south-instructor" not in html
    assert signed_in(trainee).get("/manage/members/").status_code == 403


# --- API token ------------------------------------------------------------------------------


def test_token_endpoint_asks_for_otp_token_from_users_with_a_device(instructor, trainee, clock):
    api = APIClient()
    response = api.post("/api/v1/auth/token/", {"username": "trainee-a", "password": PASSWORD})
    assert response.status_code == 200 and response.json()["token"]

    device, codes = enrol(instructor, clock)
    response = api.post("/api/v1/auth/token/", {"username": "instructor-a",
                                                "password": PASSWORD}, format="json")
    assert response.status_code == 400 and "otp_token" in response.json()
    assert not ApiToken.objects.filter(user=instructor).exists()
    response = api.post("/api/v1/auth/token/", {"username": "instructor-a", "password": PASSWORD,
                                                "otp_token": wrong_code(device)}, format="json")
    assert response.status_code == 400
    assert response.json()["otp_token"] == ["That code is not right. Check the code and try "
                                            "again."]
    response = api.post("/api/v1/auth/token/", {"username": "instructor-a", "password": PASSWORD,
                                                "otp_token": code_for(device)}, format="json")
    assert response.status_code == 429 and "Retry-After" in response
    clock.shift(dt.timedelta(seconds=2))
    response = api.post("/api/v1/auth/token/", {"username": "instructor-a", "password": PASSWORD,
                                                "otp_token": code_for(device)}, format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    assert ApiToken.objects.get(user=instructor).token_key == token[:15]
    # A wrong password still fails as before, whatever the code.
    clock.shift(dt.timedelta(seconds=30))
    response = api.post("/api/v1/auth/token/", {"username": "instructor-a", "password": "no",
                                                "otp_token": code_for(device)}, format="json")
    assert response.status_code == 400 and "non_field_errors" in response.json()
    # A backup code works too, once.
    response = api.post("/api/v1/auth/token/", {"username": "instructor-a", "password": PASSWORD,
                                                "otp_token": codes[0]})
    assert response.status_code == 200
    # Odd input is a 400 naming the field, never a 500.
    response = api.post("/api/v1/auth/token/", {"username": "instructor-a", "password": PASSWORD,
                                                "otp_token": "x" * 500}, format="json")
    assert response.status_code == 400 and "otp_token" in response.json()


@override_settings(AXES_ENABLED=True)
def test_token_endpoint_keeps_the_password_lock_out(instructor, clock):
    enrol(instructor, clock)
    api = APIClient()
    for _ in range(5):
        api.post("/api/v1/auth/token/", {"username": "instructor-a", "password": "wrong"})
    response = api.post("/api/v1/auth/token/", {"username": "instructor-a",
                                                "password": PASSWORD})
    assert response.status_code == 429


def test_the_schema_documents_otp_token():
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/auth/token/"]["post"]
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    component = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "otp_token" in component["properties"]
    assert "otp_token" not in component.get("required", [])
    assert {"200", "400", "429"} <= set(operation["responses"])


# --- Admin ----------------------------------------------------------------------------------


def test_admin_needs_the_device_verified_for_staff_who_have_one(staff, clock):
    # Without a device, the admin works as before (two-factor sign-in is optional).
    assert signed_in(staff).get("/admin/").status_code == 200

    device, _ = enrol(staff, clock)
    unverified = Client()
    unverified.force_login(staff)
    response = unverified.get("/admin/")
    assert response.status_code == 302 and "/login" in response["Location"]
    assert _verified_client(staff, device, clock).get("/admin/").status_code == 200

    # The admin site's own check, whatever the middleware does.
    from django.contrib import admin

    request = RequestFactory().get("/admin/")
    request.user = staff
    staff.is_verified = lambda: False
    assert admin.site.has_permission(request) is False
    staff.is_verified = lambda: True
    assert admin.site.has_permission(request) is True


def test_admin_sign_in_goes_through_the_two_step_page(staff):
    response = Client().get("/admin/login/?next=/admin/training/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/admin/training/"
    response = Client().get("/admin/login/?next=https://evil.example/")
    assert response["Location"] == "/accounts/login/?next=/admin/"


def test_staff_remove_a_lost_device_in_the_admin(staff, instructor, org, clock):
    device, _ = enrol(instructor, clock)
    admin_device, _ = enrol(staff, clock)
    client = _verified_client(staff, admin_device, clock)
    page = client.get(f"/admin/otp_totp/totpdevice/{device.pk}/change/")
    assert page.status_code == 200 and device.key not in page.content.decode()
    response = client.post(f"/admin/otp_totp/totpdevice/{device.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=instructor).exists()
    assert not StaticDevice.objects.filter(user=instructor).exists()
    event = AuditEvent.objects.get(action="two_factor.removed_by_staff")
    assert event.actor == staff and event.organization == org
    assert sign_in_password(Client(), "instructor-a")["Location"] == "/dashboard/"


def test_remove_two_factor_command_for_a_locked_out_staff_user(staff, clock):
    from io import StringIO

    from django.core.management import CommandError, call_command

    enrol(staff, clock)
    out = StringIO()
    call_command("remove_two_factor", "site-staff", stdout=out)
    assert "Removed 2 two-factor device(s)" in out.getvalue()
    assert not twofactor.is_enabled(staff)
    event = AuditEvent.objects.get(action="two_factor.removed_by_staff")
    assert event.actor is None and event.organization is None
    with pytest.raises(CommandError):
        call_command("remove_two_factor", "nobody")
