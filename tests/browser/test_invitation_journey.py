"""A new person joins through an invitation link in a real browser: signed out (the account is
created through the form, then they are signed in) and signed in (an existing user of another
organisation signs in from the invitation page and joins a second organisation). The form posts
with the Origin header Chromium really sends, so a CSRF refusal fails the test; the invitation
token never stays in the address bar, where the page's links and history could carry it."""

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from training.models import Membership, Organization, Role
from training.organisation import members as member_services

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _invite(live_server, email, role=Role.TRAINEE):
    from django.db import connection

    org = Organization.objects.create(name="Joining Service", slug="joining")
    admin = make_member(org, Role.ORG_ADMIN, "joining-admin")
    result = member_services.invitation_create(
        actor=admin, organization=org, email=email, role=role,
        accept_url_base=f"{live_server.url}/invitations/",
    )
    connection.close()
    return org, result


def test_new_person_creates_an_account_from_the_invitation_and_is_signed_in(
        live_server, watched):
    org, invitation = _invite(live_server, "newcomer@example.org", Role.INSTRUCTOR)
    page = watched.page
    page.goto(invitation.url)
    page.get_by_role("heading", name="Join Joining Service").wait_for()
    assert invitation.token not in page.url
    watched.shot("1-invitation")

    page.fill("#id_username", "newcomer")
    page.fill("#id_password", "a long pass phrase 42")
    page.fill("#id_password2", "a long pass phrase 42")
    page.click("main button[type=submit]")
    # Signed in at once; the first page is the one-time notice about the case material.
    page.click("text=I understand, continue")
    page.wait_for_url("**/dashboard/")
    assert page.locator("details.account-menu .account-name").inner_text() == "newcomer"
    watched.shot("2-joined")
    membership = Membership.objects.get(user__username="newcomer")
    assert (membership.organization, membership.role) == (org, Role.INSTRUCTOR)
    assert membership.user.email == "newcomer@example.org"

    # The link is used up.
    page.goto(invitation.url)
    page.get_by_role("heading", name="This invitation link is not valid").wait_for()


def test_existing_user_signs_in_from_the_invitation_and_joins_a_second_organisation(
        live_server, watched):
    from django.db import connection

    home = Organization.objects.create(name="Home Service", slug="home")
    make_member(home, Role.TRAINEE, "two-orgs")
    connection.close()
    org, invitation = _invite(live_server, "two-orgs@example.org")
    page = watched.page
    page.goto(invitation.url)
    assert invitation.token not in page.url
    # Signed out, with an account already: sign in first, and come back to the invitation.
    page.locator("main").get_by_role("link", name="Sign in").click()
    page.wait_for_url("**/accounts/login/**")
    sign_in_form = page.locator("main form")
    sign_in_form.locator("#id_username").fill("two-orgs")
    sign_in_form.locator("#id_password").fill("pw-for-tests-1")
    sign_in_form.locator("button[type=submit]").click()
    page.get_by_role("button", name="Accept the invitation").wait_for()
    assert invitation.token not in page.url
    watched.shot("1-signed-in-invitation")
    page.get_by_role("button", name="Accept the invitation").click()
    page.wait_for_url("**/dashboard/")
    assert "You joined Joining Service." in page.content()
    watched.shot("2-joined")
    assert set(Membership.objects.filter(user__username="two-orgs").values_list(
        "organization__slug", "role")) == {("home", Role.TRAINEE), ("joining", Role.TRAINEE)}


def test_signed_in_user_opens_the_link_and_accepts_with_one_button(live_server, watched):
    from django.db import connection

    home = Organization.objects.create(name="Home Service", slug="home")
    make_member(home, Role.INSTRUCTOR, "already-in")
    connection.close()
    org, invitation = _invite(live_server, "already-in@example.org", Role.INSTRUCTOR)
    page = watched.page
    sign_in(page, live_server.url, "already-in")
    page.goto(invitation.url)
    page.get_by_role("button", name="Accept the invitation").click()
    page.wait_for_url("**/dashboard/")
    assert Membership.objects.get(user__username="already-in", organization=org).role == (
        Role.INSTRUCTOR)
