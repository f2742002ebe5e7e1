"""An organisation admin's forms in a real browser, each posted once with the Origin and CSRF
cookie Chromium really sends: invite a member by e-mail (and the invitee joins through the link
in that e-mail), invite from a CSV file, withdraw an invitation, change a role, remove a member,
create and edit a cohort, create and edit an assignment, export a member's data and change the
retention settings. A CSRF refusal or a server error on any of them fails the test (see the
watcher in conftest)."""

import json
import re
from pathlib import Path

import pytest

from tests.browser.conftest import WatchedPage, sign_in
from tests.conftest import make_member
from training.models import Assignment, Cohort, Invitation, Membership, Organization, Role
from vignettes.models import VignetteSet

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_org_admin_invites_changes_a_role_removes_a_member_and_sets_up_teaching(
        content, live_server, watched, browser, mailoutbox):
    from django.db import connection

    org = Organization.objects.create(name="Managed Service", slug="managed")
    make_member(org, Role.ORG_ADMIN, "manage-admin")
    trainee = make_member(org, Role.TRAINEE, "manage-trainee")
    promoted = Membership.objects.get(user=make_member(org, Role.TRAINEE, "manage-promoted"))
    leaver = Membership.objects.get(user=make_member(org, Role.TRAINEE, "manage-leaver"))
    practice_set = VignetteSet.objects.get(slug="cport-practice", owner__isnull=True)
    connection.close()
    page = watched.page
    base = live_server.url
    sign_in(page, base, "manage-admin")

    # Invite by e-mail, twice; withdraw the second invitation.
    page.goto(f"{base}/manage/members/")
    invite = page.locator("#invite form")
    for email in ("joiner@example.org", "withdrawn@example.org"):
        invite = page.locator("#invite form")
        invite.get_by_label("E-mail").fill(email)
        invite.get_by_label("Role").select_option(Role.INSTRUCTOR)
        invite.get_by_role("button", name="Send invitation").click()
        page.get_by_text(f"An invitation was sent to {email}.").wait_for()
    watched.shot("1-invited")
    withdrawn = Invitation.objects.get(email="withdrawn@example.org")
    page.locator(f"#invitation-{withdrawn.pk}").get_by_role("button").click()
    page.get_by_text("The invitation of withdrawn@example.org was withdrawn.").wait_for()
    assert Invitation.objects.get(pk=withdrawn.pk).expires_at is not None

    # Invite two more from a CSV file (a header row, then email,role).
    page.locator("#import").get_by_label("CSV file").set_input_files(files=[{
        "name": "members.csv", "mimeType": "text/csv",
        "buffer": b"email,role\ncsv-one@example.org,trainee\ncsv-two@example.org,instructor\n",
    }])
    page.get_by_role("button", name="Import and invite").click()
    page.get_by_text("2 invitations were sent.").wait_for()
    assert set(Invitation.objects.filter(email__startswith="csv-").values_list(
        "email", "role")) == {("csv-one@example.org", Role.TRAINEE),
                              ("csv-two@example.org", Role.INSTRUCTOR)}

    # Change a role.
    row = page.locator(f"#member-{promoted.pk}")
    row.locator("select").select_option(Role.INSTRUCTOR)
    row.get_by_role("button", name="Change role").click()
    page.get_by_text("manage-promoted is now Instructor.").wait_for()
    assert Membership.objects.get(pk=promoted.pk).role == Role.INSTRUCTOR

    # Remove a member: the link in their row, then the confirmation page's button.
    page.locator(f"#member-{leaver.pk}").get_by_role("link", name="Remove manage-leaver").click()
    page.get_by_role("button", name="Remove", exact=True).click()
    page.get_by_text("manage-leaver was removed from Managed Service.").wait_for()
    assert not Membership.objects.filter(pk=leaver.pk).exists()

    # The invitee opens the link from the e-mail in their own browser and joins.
    link = re.search(r"http://\S+/invitations/\S+/", mailoutbox[0].body).group(0)
    assert mailoutbox[0].to == ["joiner@example.org"]
    invitee_context = browser.new_context()
    invitee = WatchedPage(invitee_context.new_page(), "test_manage_journey-invitee")
    invitee.page.goto(link)
    invitee.page.fill("#id_username", "manage-joiner")
    invitee.page.fill("#id_password", "a long pass phrase 42")
    invitee.page.fill("#id_password2", "a long pass phrase 42")
    invitee.page.click("main button[type=submit]")
    invitee.page.click("text=I understand, continue")
    invitee.page.wait_for_url("**/dashboard/")
    invitee.assert_clean()
    invitee_context.close()
    assert Membership.objects.get(user__username="manage-joiner", organization=org).role == (
        Role.INSTRUCTOR)

    # A cohort with the trainee, taught by the promoted instructor.
    page.goto(f"{base}/manage/cohorts/new/")
    page.get_by_label("Name").fill("Browser cohort")
    page.check(f"input[name=trainees][value='{trainee.pk}']")
    page.check(f"input[name=instructors][value='{promoted.user_id}']")
    watched.shot("2-cohort-form")
    page.get_by_role("button", name="Save cohort").click()
    page.wait_for_url("**/manage/cohorts/")
    cohort = Cohort.objects.get(organization=org, name="Browser cohort")
    assert list(cohort.trainees.all()) == [trainee]
    # Edit it: a new name, and the invitee who joined as an instructor teaches it too.
    page.get_by_role("link", name="Browser cohort").click()
    page.get_by_label("Name").fill("Browser cohort, spring")
    joiner = Membership.objects.get(user__username="manage-joiner").user
    page.check(f"input[name=instructors][value='{joiner.pk}']")
    page.get_by_role("button", name="Save cohort").click()
    page.get_by_text("Cohort Browser cohort, spring saved.").wait_for()
    cohort.refresh_from_db()
    assert cohort.name == "Browser cohort, spring"
    assert set(cohort.instructors.values_list("username", flat=True)) == {
        "manage-promoted", "manage-joiner"}

    # A practice assignment for that cohort.
    page.goto(f"{base}/manage/assignments/new/")
    page.get_by_label("Title").fill("CPORT week 1")
    page.get_by_label("Cohort").select_option(str(cohort.pk))
    page.get_by_label("Vignette set").select_option(str(practice_set.pk))
    page.check("input[name=instruments][value=cport]")
    page.get_by_label("Opens at").fill("2030-03-01T09:00")
    page.get_by_label("Closes at").fill("2030-03-15T17:30")
    watched.shot("3-assignment-form")
    page.get_by_role("button", name="Save assignment").click()
    page.wait_for_url("**/manage/assignments/")
    assignment = Assignment.objects.get(organization=org, title="CPORT week 1")
    assert assignment.cohort == cohort
    assert list(assignment.instruments.values_list("slug", flat=True)) == ["cport"]
    # Edit it: a new title and a later closing time.
    page.get_by_role("link", name="CPORT week 1").click()
    page.get_by_label("Title").fill("CPORT weeks 1 and 2")
    page.get_by_label("Closes at").fill("2030-03-22T17:30")
    page.get_by_role("button", name="Save assignment").click()
    page.get_by_text("Assignment CPORT weeks 1 and 2 saved.").wait_for()
    assignment.refresh_from_db()
    assert assignment.title == "CPORT weeks 1 and 2"
    assert assignment.closes_at.date().isoformat() == "2030-03-22"
    watched.assert_clean()


def test_org_admin_exports_a_members_data_and_sets_retention(content, live_server, watched):
    from django.db import connection

    org = Organization.objects.create(name="Protected Service", slug="protected")
    make_member(org, Role.ORG_ADMIN, "privacy-admin")
    member = Membership.objects.get(user=make_member(org, Role.TRAINEE, "privacy-trainee"))
    connection.close()
    page = watched.page
    base = live_server.url
    sign_in(page, base, "privacy-admin")

    page.goto(f"{base}/manage/members/{member.pk}/")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export this member's data").click()
    exported = json.loads(Path(download.value.path()).read_text(encoding="utf-8"))
    assert "privacy-trainee" in json.dumps(exported)

    page.goto(f"{base}/manage/organisation/")
    watched.shot("1-retention")
    page.locator("#id_draft_retention_days").fill("400")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    org.refresh_from_db()
    assert org.draft_retention_days == 400
    watched.assert_clean()
