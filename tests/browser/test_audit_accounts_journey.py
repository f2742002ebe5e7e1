"""Site staff delete one account and deactivate another in the Django admin, in a real browser;
the organisation's audit trail then shows both, by whom, and still names the deleted account
on its earlier events. Fails on any CSP violation or JavaScript error."""

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from tests.factories import UserFactory
from training.audit import audit_record
from training.models import AuditEvent, Membership, Organization, Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_delete_and_deactivate_accounts_in_the_admin(content, live_server, watched):
    from django.contrib.auth import get_user_model
    from django.db import connection

    org = Organization.objects.create(name="Audit Service", slug="audit")
    make_member(org, Role.ORG_ADMIN, "audit-admin")
    leaving = make_member(org, Role.INSTRUCTOR, "leaving-instructor")
    paused = make_member(org, Role.TRAINEE, "paused-trainee")
    earlier = audit_record(actor=leaving, organization=org,
                           obj=Membership.objects.get(user=paused), action="thing.earlier")
    staff = UserFactory(username="audit-staff")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    connection.close()
    page = watched.page

    sign_in(page, live_server.url, "audit-staff", wait_for=None)
    page.goto(f"{live_server.url}/admin/auth/user/{leaving.pk}/delete/")
    page.click("input[type=submit]")  # "Yes, I'm sure"
    page.wait_for_url("**/admin/auth/user/")
    page.goto(f"{live_server.url}/admin/auth/user/{paused.pk}/change/")
    page.uncheck("#id_is_active")
    page.click("input[name=_save]")
    page.wait_for_url("**/admin/auth/user/")
    watched.shot("admin-users", accessibility=False)  # Django's own admin markup

    user_model = get_user_model()
    assert not user_model.objects.filter(pk=leaving.pk).exists()
    assert not user_model.objects.get(pk=paused.pk).is_active
    deleted = AuditEvent.objects.get(action="user.deleted")
    assert (deleted.actor_username, deleted.subject_username) == ("audit-staff",
                                                                  "leaving-instructor")
    assert AuditEvent.objects.get(action="user.deactivated").actor_username == "audit-staff"
    connection.close()

    page.context.clear_cookies()
    sign_in(page, live_server.url, "audit-admin")
    page.goto(f"{live_server.url}/manage/audit/")
    row = page.locator(f"#event-{earlier.pk}")
    assert "leaving-instructor" in row.inner_text()
    assert "user.deleted" in page.content() and "user.deactivated" in page.content()
    page.select_option("#audit-actor", label="leaving-instructor")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**/manage/audit/?*")
    assert page.locator(f"#event-{earlier.pk}").count() == 1
    watched.shot("audit-trail")
    watched.assert_clean()
