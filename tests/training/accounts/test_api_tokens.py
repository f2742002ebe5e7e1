"""API tokens that die: each request issues a new token that expires; revoking one, "Sign out
everywhere", a new password, a two-factor change and deactivation end them; the account page
lists them with a Revoke button; plain "Sign out" leaves them working and says so."""

import datetime as dt
import io

import pytest
import time_machine
from django.contrib.auth.forms import SetPasswordForm
from django.core.management import call_command
from django.test import Client, override_settings
from rest_framework.test import APIClient

from tests.conftest import signed_in
from tests.training.helpers import START, code_for, enrol
from training.accounts import twofactor
from training.models import ApiToken, AuditEvent

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"
T0 = START


def issue(username, password=PASSWORD, **extra) -> dict:
    response = APIClient().post("/api/v1/auth/token/",
                                {"username": username, "password": password, **extra},
                                format="json")
    assert response.status_code == 200, response.content
    return response.json()


def with_token(key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def works(key) -> bool:
    status = with_token(key).get("/api/v1/me/").status_code
    assert status in (200, 401, 403), status
    return status == 200


def is_signed_in(client) -> bool:
    return client.get("/accounts/").status_code == 200


# --- Issuing and expiry ---------------------------------------------------------------------


def test_a_token_expires_after_the_configured_days(trainee):
    with time_machine.travel(T0, tick=False):
        body = issue("trainee-a")
        assert dt.datetime.fromisoformat(body["expires"]) == T0 + dt.timedelta(days=30)
        assert works(body["token"])
    with time_machine.travel(T0 + dt.timedelta(days=29, hours=23), tick=False):
        assert works(body["token"])
    with time_machine.travel(T0 + dt.timedelta(days=30, seconds=1), tick=False):
        response = with_token(body["token"]).get("/api/v1/me/")
        assert response.status_code in (401, 403)
        assert "ask for a new one" in response.json()["detail"]
        # Gone for good, not only refused.
        assert not ApiToken.objects.filter(user=trainee).exists()


@override_settings(REST_KNOX={"TOKEN_TTL": dt.timedelta(days=2)})
def test_the_lifetime_is_a_setting(trainee):
    with time_machine.travel(T0, tick=False):
        body = issue("trainee-a")
    assert dt.datetime.fromisoformat(body["expires"]) == T0 + dt.timedelta(days=2)
    with time_machine.travel(T0 + dt.timedelta(days=2, seconds=1), tick=False):
        assert not works(body["token"])


def test_each_request_gives_a_new_token_and_only_its_hash_is_stored(trainee):
    first, second = issue("trainee-a"), issue("trainee-a")
    assert first["token"] != second["token"]
    assert works(first["token"]) and works(second["token"])
    assert ApiToken.objects.filter(user=trainee).count() == 2
    for row in ApiToken.objects.filter(user=trainee).values():
        assert first["token"] not in str(row.values()) and second["token"] not in str(
            row.values())
    assert second["prefix"] == second["token"][:8]


def test_a_token_records_when_it_was_last_used(trainee):
    with time_machine.travel(T0, tick=False):
        body = issue("trainee-a")
        token = ApiToken.objects.get(user=trainee)
        assert token.last_used_at is None
        assert works(body["token"])
    token.refresh_from_db()
    assert token.last_used_at == T0


@pytest.mark.parametrize("header", ["Token \u00e9\u00e9\u00e9", "Token abc", "Token " + "0" * 64])
def test_a_wrong_token_is_401_never_500(trainee, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/me/")
    assert response.status_code in (401, 403)


# --- Revoking through the API ---------------------------------------------------------------


def test_revoke_ends_only_the_token_it_is_sent_with(trainee, trainee2):
    mine, other_of_mine = issue("trainee-a"), issue("trainee-a")
    theirs = issue("trainee-b")
    response = with_token(mine["token"]).post("/api/v1/auth/token/revoke/")
    assert response.status_code == 204
    assert not works(mine["token"])
    assert works(other_of_mine["token"]) and works(theirs["token"])
    event = AuditEvent.objects.get(action="api_token.revoked")
    assert event.subject == trainee and event.actor == trainee
    assert event.after["token"] == mine["prefix"] and event.after["reason"] == "revoked_by_user"


def test_revoke_without_a_token_is_400(trainee):
    response = signed_in(trainee).post("/api/v1/auth/token/revoke/")
    assert response.status_code == 400 and "Authorization: Token" in response.json()["detail"]


def test_revoke_all_ends_every_token_of_the_user_and_no_one_elses(trainee, trainee2):
    mine = [issue("trainee-a") for _ in range(3)]
    theirs = issue("trainee-b")
    response = with_token(mine[0]["token"]).post("/api/v1/auth/token/revoke-all/")
    assert response.status_code == 200 and response.json() == {"revoked": 3}
    assert not any(works(t["token"]) for t in mine)
    assert works(theirs["token"])
    event = AuditEvent.objects.get(action="api_token.revoked_all")
    assert event.subject == trainee and event.after["tokens"] == 3


def test_the_schema_documents_the_token_routes():
    schema = APIClient().get("/api/v1/schema/?format=json").json()
    issued = schema["paths"]["/api/v1/auth/token/"]["post"]["responses"]["200"]
    ref = issued["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert {"token", "expires", "prefix"} <= set(schema["components"]["schemas"][ref]
                                                 ["properties"])
    assert "204" in schema["paths"]["/api/v1/auth/token/revoke/"]["post"]["responses"]
    assert "200" in schema["paths"]["/api/v1/auth/token/revoke-all/"]["post"]["responses"]
    scheme = schema["components"]["securitySchemes"]["tokenAuth"]
    assert scheme["in"] == "header" and scheme["name"] == "Authorization"


# --- The account page -----------------------------------------------------------------------


def test_the_account_page_lists_tokens_and_revokes_one(trainee, trainee2, clock):
    first, second = issue("trainee-a"), issue("trainee-a")
    works(first["token"])
    theirs = issue("trainee-b")
    clock.shift(dt.timedelta(hours=1))
    client = signed_in(trainee)
    html = client.get("/accounts/").content.decode()
    assert first["prefix"] in html and second["prefix"] in html
    assert theirs["prefix"] not in html
    assert first["token"] not in html and second["token"] not in html  # never the token
    assert "2 Nov 2026, 09:00 (Europe/London)" in html  # created and last used
    assert "2 Dec 2026, 09:00 (Europe/London)" in html  # expires, 30 days later
    assert "Sign out everywhere (also ends your 2 API tokens)" in html

    digest = ApiToken.objects.get(token_key=first["token"][:15]).digest
    response = client.post("/accounts/tokens/revoke/", {"digest": digest})
    assert response.status_code == 302 and response["Location"] == "/accounts/"
    assert not works(first["token"]) and works(second["token"])
    html = client.get("/accounts/").content.decode()
    assert f'id="token-{first["prefix"]}"' not in html
    assert f'id="token-{second["prefix"]}"' in html
    assert f"API token {first['prefix']}… is revoked" in html
    assert AuditEvent.objects.filter(action="api_token.revoked", subject=trainee).count() == 1


def test_nobody_revokes_another_persons_token_from_the_page(trainee, trainee2):
    theirs = issue("trainee-b")
    digest = ApiToken.objects.get(user=trainee2).digest
    response = signed_in(trainee).post("/accounts/tokens/revoke/", {"digest": digest})
    assert response.status_code == 404
    assert works(theirs["token"])
    assert signed_in(trainee).post("/accounts/tokens/revoke/", {}).status_code == 302
    assert signed_in(trainee).get("/accounts/tokens/revoke/").status_code == 405


def test_the_account_page_needs_sign_in():
    response = Client().get("/accounts/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- Signing out ----------------------------------------------------------------------------


def test_sign_out_everywhere_ends_every_session_and_every_token(trainee, trainee2, org):
    tokens = [issue("trainee-a"), issue("trainee-a")]
    theirs = issue("trainee-b")
    here, elsewhere, other_person = signed_in(trainee), signed_in(trainee), signed_in(trainee2)
    response = here.post("/accounts/sign-out-everywhere/")
    assert response.status_code == 302 and response["Location"] == "/accounts/login/"
    assert not is_signed_in(here) and not is_signed_in(elsewhere)
    assert not any(works(t["token"]) for t in tokens)
    assert is_signed_in(other_person) and works(theirs["token"])
    event = AuditEvent.objects.get(action="account.signed_out_everywhere")
    assert event.organization == org and event.subject == trainee and event.actor == trainee
    assert event.after == {"user": trainee.pk, "tokens": 2, "sessions": 2}
    assert AuditEvent.objects.get(action="api_token.revoked_all").after["reason"] == \
        "sign_out_everywhere"


def test_plain_sign_out_ends_this_session_and_says_the_tokens_still_work(trainee):
    token = issue("trainee-a")
    client = signed_in(trainee)
    page = client.get("/accounts/logout/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Sign out of this browser" in html
    assert "Sign out everywhere (also ends your 1 API token)" in html
    response = client.post("/accounts/logout/", follow=True)
    assert not is_signed_in(client)
    assert "Your 1 API token still works" in response.content.decode()
    assert works(token["token"])


# --- When the way in changes ----------------------------------------------------------------


def test_changing_ones_password_ends_tokens_and_other_sessions(trainee):
    token = issue("trainee-a")
    here, elsewhere = signed_in(trainee), signed_in(trainee)
    response = here.post("/accounts/password_change/", {
        "old_password": PASSWORD, "new_password1": "a-new-Passphrase-9",
        "new_password2": "a-new-Passphrase-9"})
    assert response.status_code == 302
    assert not works(token["token"])
    assert is_signed_in(here) and not is_signed_in(elsewhere)
    event = AuditEvent.objects.get(action="api_token.revoked_all")
    assert event.after["reason"] == "password_changed" and event.subject == trainee


def test_a_password_reset_or_set_by_an_admin_ends_tokens(trainee):
    token = issue("trainee-a")
    # The form behind both the reset link's page and the admin's "change password".
    form = SetPasswordForm(trainee, {"new_password1": "a-new-Passphrase-9",
                                     "new_password2": "a-new-Passphrase-9"})
    assert form.is_valid()
    form.save()
    assert not works(token["token"])


def test_signing_in_again_does_not_end_tokens(trainee):
    token = issue("trainee-a")
    client = Client()
    assert client.login(username="trainee-a", password=PASSWORD)
    issue("trainee-a")
    assert works(token["token"])


def test_deactivation_ends_tokens_and_sessions(trainee):
    token = issue("trainee-a")
    session = signed_in(trainee)
    trainee.is_active = False
    trainee.save()
    assert not works(token["token"])
    assert not ApiToken.objects.filter(user=trainee).exists()
    assert not is_signed_in(session)
    # Coming back does not bring the old session or token back.
    trainee.is_active = True
    trainee.save()
    assert not is_signed_in(session) and not works(token["token"])


def test_every_two_factor_change_ends_tokens(instructor, clock):
    device, codes = enrol(instructor, clock)
    token = issue("instructor-a", otp_token=code_for(device))
    clock.shift(dt.timedelta(seconds=30))
    twofactor.regenerate_backup_codes(user=instructor, password=PASSWORD)
    assert not works(token["token"])

    token = issue("instructor-a", otp_token=code_for(device))
    clock.shift(dt.timedelta(seconds=30))
    twofactor.disable(user=instructor, password=PASSWORD, code=code_for(device))
    assert not works(token["token"])

    token = issue("instructor-a")
    device, codes = enrol(instructor, clock)
    assert not works(token["token"])

    token = issue("instructor-a", otp_token=codes[0])
    call_command("remove_two_factor", "instructor-a", stdout=io.StringIO())
    assert not works(token["token"])
    reasons = set(AuditEvent.objects.filter(action="api_token.revoked_all")
                  .values_list("after__reason", flat=True))
    assert reasons == {"two_factor_changed"}
