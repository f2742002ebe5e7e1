"""Organisation-admin and instructor pages (/manage/) and the public invitation page."""

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import browser_for, make_member, signed_in
from tests.factories import OrganizationFactory
from training.audit import audit_record
from training.models import (
    Assignment,
    AuditEvent,
    Cohort,
    FeedbackPolicy,
    Invitation,
    Membership,
    Mode,
    Role,
)
from training.organisation import cohorts as cohort_services
from training.organisation import members as member_services
from vignettes.models import VignetteSet

pytestmark = pytest.mark.django_db

User = get_user_model()
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def cohort(org, trainee, instructor):
    cohort = Cohort.objects.create(organization=org, name="Spring intake")
    cohort.trainees.set([trainee])
    cohort.instructors.set([instructor])
    return cohort


@pytest.fixture
def other_cohort(other_org, outsider):
    cohort = Cohort.objects.create(organization=other_org, name="South cohort")
    cohort.trainees.set([outsider])
    return cohort


def _practice_set():
    return VignetteSet.objects.get(slug="cport-practice", owner__isnull=True)


def _exam_pool():
    return VignetteSet.objects.get(slug="cport-exam-pool", owner__isnull=True)


def _assignment(org, cohort, actor, title="CPORT practice"):
    return cohort_services.assignment_save(
        actor=actor, organization=org, title=title, cohort=cohort,
        vignette_set=_practice_set(), instrument_slugs=["cport"],
        opens_at=timezone.now(),
    )


def field_block(html: str, name: str) -> str:
    """The HTML of one field group (label, errors, control) on a manage form."""
    start = html.index(f'id="field-{name}"')
    end = html.find('class="field', start + 1)
    return html[start:end if end != -1 else len(html)]


def assert_field_error(response, name: str, text: str = ""):
    assert response.status_code == 400
    block = field_block(response.content.decode(), name)
    assert "errorlist" in block, f"no error shown next to {name}"
    if text:
        assert text in block


def csrf_token_from(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200
    match = CSRF_RE.search(response.content.decode())
    assert match, f"no CSRF token in the form at {url}"
    return match.group(1)


def assignment_post(cohort, /, **overrides):
    data = {
        "title": "CPORT week 1",
        "cohort": str(cohort.pk),
        "mode": Mode.PRACTICE,
        "vignette_set": str(_practice_set().pk),
        "instruments": ["cport"],
        "opens_at": "2030-03-01T09:00",
        "closes_at": "2030-03-15T17:30",
        "time_limit_minutes": "",
        "attempts_allowed": "3",
        "feedback_policy": FeedbackPolicy.IMMEDIATE,
    }
    data.update(overrides)
    return data


# --- who may use which page ----------------------------------------------------------------

ADMIN_ONLY_GET = ["manage:members", "manage:cohorts", "manage:cohort-create", "manage:audit"]
STAFF_GET = ["manage:assignments", "manage:assignment-create"]


def _all_urls(membership_id, invitation_id, cohort_id, assignment_id):
    """(method, url, admin_only) for every page and action."""
    return [
        ("get", reverse("manage:members"), True),
        ("post", reverse("manage:member-invite"), True),
        ("post", reverse("manage:members-import"), True),
        ("post", reverse("manage:member-role", args=[membership_id]), True),
        ("get", reverse("manage:member-remove", args=[membership_id]), True),
        ("post", reverse("manage:member-remove", args=[membership_id]), True),
        ("post", reverse("manage:invitation-revoke", args=[invitation_id]), True),
        ("get", reverse("manage:cohorts"), True),
        ("get", reverse("manage:cohort-create"), True),
        ("post", reverse("manage:cohort-create"), True),
        ("get", reverse("manage:cohort-edit", args=[cohort_id]), True),
        ("post", reverse("manage:cohort-edit", args=[cohort_id]), True),
        ("get", reverse("manage:audit"), True),
        ("get", reverse("manage:assignments"), False),
        ("get", reverse("manage:assignment-create"), False),
        ("post", reverse("manage:assignment-create"), False),
        ("get", reverse("manage:assignment-edit", args=[assignment_id]), False),
        ("post", reverse("manage:assignment-edit", args=[assignment_id]), False),
    ]


@pytest.fixture
def targets(org, org_admin, trainee, cohort):
    assignment = _assignment(org, cohort, org_admin)
    invitation = member_services.invitation_create(
        actor=org_admin, organization=org, email="new@example.org", role=Role.TRAINEE,
        accept_url_base="http://testserver/invitations/",
    ).invitation
    membership = Membership.objects.get(user=trainee, organization=org)
    return _all_urls(membership.pk, invitation.pk, cohort.pk, assignment.pk)


def test_anonymous_is_sent_to_sign_in_everywhere(client, targets):
    for method, url, _admin_only in targets:
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_trainee_gets_403_on_every_page(trainee, targets):
    client = signed_in(trainee)
    counts = (Membership.objects.count(), Cohort.objects.count(), Assignment.objects.count())
    for method, url, _admin_only in targets:
        assert getattr(client, method)(url).status_code == 403, url
    assert counts == (
        Membership.objects.count(), Cohort.objects.count(), Assignment.objects.count()
    )


def test_instructor_gets_403_on_admin_pages_only(instructor, targets):
    client = signed_in(instructor)
    for method, url, admin_only in targets:
        status = getattr(client, method)(url).status_code
        if admin_only:
            assert status == 403, url
        else:
            assert status != 403, url


def test_nav_links_reach_the_pages(org_admin):
    client = signed_in(org_admin)
    for name in ADMIN_ONLY_GET + STAFF_GET:
        assert client.get(reverse(name)).status_code == 200, name


# --- members -------------------------------------------------------------------------------


def test_members_page_lists_this_organisations_members(org_admin, trainee, cohort, outsider):
    member_services.invitation_create(
        actor=None, organization=cohort.organization, email="pending@example.org",
        role=Role.INSTRUCTOR, accept_url_base="http://testserver/invitations/",
    )
    html = signed_in(org_admin).get(reverse("manage:members")).content.decode()
    assert "trainee-a@example.org" in html
    assert "Spring intake" in html
    assert "pending@example.org" in html
    assert "trainee-south" not in html


def test_role_change_is_stored_and_audited(org, org_admin, trainee):
    client = signed_in(org_admin)
    membership = Membership.objects.get(user=trainee, organization=org)
    response = client.post(
        reverse("manage:member-role", args=[membership.pk]), {"role": Role.INSTRUCTOR}
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.INSTRUCTOR
    event = AuditEvent.objects.get(organization=org, action="membership.role_changed")
    assert event.actor == org_admin
    assert event.before == {"role": Role.TRAINEE}
    audit_html = client.get(reverse("manage:audit")).content.decode()
    assert "membership.role_changed" in audit_html


@pytest.mark.parametrize("role", ["superuser", ""])
def test_role_change_to_unknown_role_is_refused(org, org_admin, trainee, role):
    membership = Membership.objects.get(user=trainee, organization=org)
    response = signed_in(org_admin).post(
        reverse("manage:member-role", args=[membership.pk]), {"role": role}
    )
    assert response.status_code == 400
    block = response.content.decode().split(f'id="member-{membership.pk}"')[1].split("</tr>")[0]
    assert "errorlist" in block
    membership.refresh_from_db()
    assert membership.role == Role.TRAINEE
    assert not AuditEvent.objects.filter(action="membership.role_changed").exists()


def test_last_org_admin_cannot_demote_themselves(org, org_admin):
    membership = Membership.objects.get(user=org_admin, organization=org)
    response = signed_in(org_admin).post(
        reverse("manage:member-role", args=[membership.pk]), {"role": Role.TRAINEE}
    )
    assert response.status_code == 400
    assert "at least one organisation admin" in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == Role.ORG_ADMIN


def test_remove_member_asks_then_removes_and_audits(org, org_admin, trainee, cohort):
    client = signed_in(org_admin)
    membership = Membership.objects.get(user=trainee, organization=org)
    url = reverse("manage:member-remove", args=[membership.pk])
    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "trainee-a" in confirm.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()
    response = client.post(url)
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert not cohort.trainees.filter(pk=trainee.pk).exists()
    event = AuditEvent.objects.get(organization=org, action="membership.removed")
    assert event.before == {"user": trainee.pk, "role": Role.TRAINEE}
    assert event.subject == trainee


def test_last_org_admin_cannot_be_removed(org, org_admin):
    membership = Membership.objects.get(user=org_admin, organization=org)
    response = signed_in(org_admin).post(reverse("manage:member-remove", args=[membership.pk]))
    assert response.status_code == 400
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_invite_by_email_sends_link_and_audits(org, org_admin):
    response = signed_in(org_admin).post(
        reverse("manage:member-invite"), {"email": "New.Person@Example.org", "role": "instructor"}
    )
    assert response.status_code == 302
    invitation = Invitation.objects.get(organization=org)
    assert (invitation.email, invitation.role) == ("new.person@example.org", Role.INSTRUCTOR)
    assert len(mail.outbox) == 1
    assert re.search(r"http://testserver/invitations/[\w-]+/", mail.outbox[0].body)
    assert AuditEvent.objects.filter(organization=org, action="invitation.created").exists()


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"email": "not-an-address", "role": "trainee"}, "email", ""),
        ({"email": "x@example.org", "role": "owner"}, "role", ""),
        ({"email": "trainee-a@example.org", "role": "trainee"}, "email", "already a member"),
    ],
)
def test_invite_bad_input_shows_error_by_field(org_admin, trainee, data, field, text):
    response = signed_in(org_admin).post(reverse("manage:member-invite"), data)
    assert_field_error(response, field, text)
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_withdrawn_invitation_link_stops_working(org, org_admin):
    result = member_services.invitation_create(
        actor=org_admin, organization=org, email="late@example.org", role=Role.TRAINEE,
        accept_url_base="http://testserver/invitations/",
    )
    client = signed_in(org_admin)
    response = client.post(reverse("manage:invitation-revoke", args=[result.invitation.pk]))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(organization=org, action="invitation.revoked").exists()
    html = client.get(reverse("manage:members")).content.decode()
    assert "late@example.org" not in html.split('id="pending"')[1]
    assert Client().get(f"/invitations/{result.token}/").status_code == 404


def test_csv_import_invites_every_row(org, org_admin):
    upload = SimpleUploadedFile(
        "people.csv", b"email,role\na@example.org,trainee\nb@example.org,instructor\n",
        content_type="text/csv",
    )
    response = signed_in(org_admin).post(reverse("manage:members-import"), {"file": upload})
    assert response.status_code == 302
    assert sorted(Invitation.objects.filter(organization=org).values_list("email", "role")) == [
        ("a@example.org", "trainee"), ("b@example.org", "instructor"),
    ]
    assert len(mail.outbox) == 2


def test_csv_import_with_bad_lines_lists_every_one_and_imports_nothing(org_admin, trainee):
    upload = SimpleUploadedFile(
        "people.csv",
        b"email,role\n"
        b"good@example.org,trainee\n"
        b"broken-address,trainee\n"
        b"c@example.org,emperor\n"
        b"good@example.org,instructor\n"
        b"trainee-a@example.org,trainee\n",
        content_type="text/csv",
    )
    response = signed_in(org_admin).post(reverse("manage:members-import"), {"file": upload})
    assert_field_error(response, "file")
    block = field_block(response.content.decode(), "file")
    for line in (3, 4, 5, 6):
        assert f"line {line}:" in block
    assert "line 2:" not in block
    assert not Invitation.objects.exists()
    assert mail.outbox == []


def test_csv_import_without_file_or_header_is_refused(org_admin):
    client = signed_in(org_admin)
    assert_field_error(client.post(reverse("manage:members-import"), {}), "file")
    upload = SimpleUploadedFile("x.csv", b"a@example.org,trainee\n", content_type="text/csv")
    response = client.post(reverse("manage:members-import"), {"file": upload})
    assert_field_error(response, "file", "header row")
    assert not Invitation.objects.exists()


# --- cohorts -------------------------------------------------------------------------------


def test_cohort_create_and_edit_are_stored_and_audited(org, org_admin, trainee, trainee2,
                                                      instructor):
    client = signed_in(org_admin)
    response = client.post(reverse("manage:cohort-create"), {
        "name": "Autumn intake", "trainees": [trainee.pk], "instructors": [instructor.pk],
    })
    assert response.status_code == 302
    cohort = Cohort.objects.get(organization=org, name="Autumn intake")
    assert list(cohort.trainees.all()) == [trainee]
    assert list(cohort.instructors.all()) == [instructor]
    assert AuditEvent.objects.filter(action="cohort.created", object_id=str(cohort.pk)).exists()

    edit_url = reverse("manage:cohort-edit", args=[cohort.pk])
    form_html = client.get(edit_url).content.decode()
    assert "Autumn intake" in form_html
    assert re.search(rf'value="{trainee.pk}"[^>]*checked', form_html)
    response = client.post(edit_url, {
        "name": "Autumn intake", "trainees": [trainee.pk, trainee2.pk],
        "instructors": [org_admin.pk],
    })
    assert response.status_code == 302
    assert set(cohort.trainees.all()) == {trainee, trainee2}
    event = AuditEvent.objects.get(action="cohort.changed")
    assert event.before["instructors"] == [instructor.pk]
    assert event.after["instructors"] == [org_admin.pk]
    assert "Autumn intake" in client.get(reverse("manage:cohorts")).content.decode()


@pytest.mark.parametrize(
    ("case", "field"),
    [("empty-name", "name"), ("duplicate-name", "name"), ("instructor-as-trainee", "trainees"),
     ("trainee-as-instructor", "instructors"), ("outsider", "trainees")],
)
def test_cohort_bad_input_shows_error_by_field(org_admin, trainee, instructor, cohort,
                                               outsider, case, field):
    data = {"name": "New", "trainees": [trainee.pk], "instructors": [instructor.pk]}
    if case == "empty-name":
        data["name"] = "  "
    elif case == "duplicate-name":
        data["name"] = "Spring intake"
    elif case == "instructor-as-trainee":
        data["trainees"] = [instructor.pk]
    elif case == "trainee-as-instructor":
        data["instructors"] = [trainee.pk]
    else:
        data["trainees"] = [outsider.pk]
    before = Cohort.objects.count()
    response = signed_in(org_admin).post(reverse("manage:cohort-create"), data)
    assert_field_error(response, field)
    assert Cohort.objects.count() == before
    assert not AuditEvent.objects.filter(action="cohort.created").exists()


def test_cohort_form_offers_only_this_organisations_people(org_admin, trainee, outsider,
                                                          admin_b):
    html = signed_in(org_admin).get(reverse("manage:cohort-create")).content.decode()
    assert "trainee-a" in html
    assert "trainee-south" not in html
    assert "admin-south" not in html


# --- assignments ---------------------------------------------------------------------------


def test_assignment_create_reads_times_in_the_organisations_zone(org, org_admin, cohort):
    org.time_zone = "America/New_York"
    org.save()
    client = signed_in(org_admin)
    response = client.post(reverse("manage:assignment-create"), assignment_post(cohort))
    assert response.status_code == 302, response.content.decode()[:2000]
    assignment = Assignment.objects.get(organization=org)
    # 09:00 in New York on 1 March 2030 (EST, UTC-5) is 14:00 UTC.
    assert assignment.opens_at == dt.datetime(2030, 3, 1, 14, 0, tzinfo=dt.UTC)
    # 17:30 on 15 March 2030 is after the switch to EDT (UTC-4).
    assert assignment.closes_at == dt.datetime(2030, 3, 15, 21, 30, tzinfo=dt.UTC)
    assert list(assignment.instruments.values_list("slug", flat=True)) == ["cport"]
    assert assignment.attempts_allowed == 3
    assert AuditEvent.objects.filter(
        organization=org, action="assignment.created", object_id=str(assignment.pk)
    ).exists()
    # The edit form shows the same local times back.
    html = client.get(reverse("manage:assignment-edit", args=[assignment.pk])).content.decode()
    assert 'value="2030-03-01T09:00"' in html
    assert 'value="2030-03-15T17:30"' in html


def test_assignment_edit_is_stored_and_audited(org, org_admin, cohort):
    assignment = _assignment(org, cohort, org_admin)
    response = signed_in(org_admin).post(
        reverse("manage:assignment-edit", args=[assignment.pk]),
        assignment_post(cohort, title="Renamed", mode=Mode.EXAM,
                        vignette_set=str(_exam_pool().pk), time_limit_minutes="90",
                        feedback_policy=FeedbackPolicy.NEVER),
    )
    assert response.status_code == 302
    assignment.refresh_from_db()
    assert (assignment.title, assignment.mode, assignment.time_limit_minutes) == (
        "Renamed", Mode.EXAM, 90)
    event = AuditEvent.objects.get(action="assignment.changed", object_id=str(assignment.pk))
    assert event.before["title"] == "CPORT practice"
    assert event.after["title"] == "Renamed"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": ""}, "title"),
        ({"mode": Mode.EXAM, "time_limit_minutes": "60"}, "vignette_set"),  # practice set
        ({"mode": Mode.EXAM, "vignette_set": "EXAM"}, "time_limit_minutes"),
        ({"closes_at": "2030-02-01T09:00"}, "closes_at"),
        ({"opens_at": "next tuesday"}, "opens_at"),
        ({"instruments": []}, "instruments"),
        ({"instruments": ["no-such-instrument"]}, "instruments"),
        ({"attempts_allowed": "0"}, "attempts_allowed"),
        ({"time_limit_minutes": "100000"}, "time_limit_minutes"),
        ({"feedback_policy": "sometimes"}, "feedback_policy"),
        ({"cohort": "999999"}, "cohort"),
    ],
)
def test_assignment_bad_input_shows_error_by_field(org_admin, cohort, overrides, field):
    if overrides.get("vignette_set") == "EXAM":
        overrides["vignette_set"] = str(_exam_pool().pk)
    response = signed_in(org_admin).post(
        reverse("manage:assignment-create"), assignment_post(cohort, **overrides)
    )
    assert_field_error(response, field)
    assert not Assignment.objects.exists()
    assert not AuditEvent.objects.filter(action="assignment.created").exists()


def test_instructor_sees_and_uses_only_the_cohorts_they_teach(org, org_admin, instructor,
                                                             cohort):
    other = Cohort.objects.create(organization=org, name="Not mine")
    mine = _assignment(org, cohort, org_admin, title="Mine")
    theirs = _assignment(org, other, org_admin, title="Someone else's")
    client = signed_in(instructor)
    html = client.get(reverse("manage:assignments")).content.decode()
    assert "Mine" in html
    assert "Someone else" not in html
    form_html = client.get(reverse("manage:assignment-create")).content.decode()
    assert "Spring intake" in form_html
    assert "Not mine" not in form_html
    assert client.get(reverse("manage:assignment-edit", args=[theirs.pk])).status_code == 404
    response = client.post(reverse("manage:assignment-create"),
                           assignment_post(other, title="Sneaky"))
    assert_field_error(response, "cohort")
    assert not Assignment.objects.filter(title="Sneaky").exists()
    response = client.post(reverse("manage:assignment-edit", args=[mine.pk]),
                           assignment_post(cohort, title="Mine, renamed"))
    assert response.status_code == 302
    assert AuditEvent.objects.filter(actor=instructor, action="assignment.changed").exists()


# --- nothing crosses organisations ---------------------------------------------------------


def test_org_admin_cannot_reach_another_organisations_objects(
    org, org_admin, other_org, admin_b, outsider, other_cohort
):
    foreign_assignment = _assignment(other_org, other_cohort, admin_b, title="South exam")
    foreign_invitation = member_services.invitation_create(
        actor=admin_b, organization=other_org, email="south-invitee@example.org",
        role=Role.TRAINEE, accept_url_base="http://testserver/invitations/",
    ).invitation
    foreign_membership = Membership.objects.get(user=outsider, organization=other_org)
    client = signed_in(org_admin)

    for method, url in [
        ("post", reverse("manage:member-role", args=[foreign_membership.pk])),
        ("get", reverse("manage:member-remove", args=[foreign_membership.pk])),
        ("post", reverse("manage:member-remove", args=[foreign_membership.pk])),
        ("post", reverse("manage:invitation-revoke", args=[foreign_invitation.pk])),
        ("get", reverse("manage:cohort-edit", args=[other_cohort.pk])),
        ("post", reverse("manage:cohort-edit", args=[other_cohort.pk])),
        ("get", reverse("manage:assignment-edit", args=[foreign_assignment.pk])),
        ("post", reverse("manage:assignment-edit", args=[foreign_assignment.pk])),
    ]:
        data = {"role": Role.ORG_ADMIN, "name": "Hijacked"} if method == "post" else None
        assert getattr(client, method)(url, data).status_code == 404, url

    foreign_membership.refresh_from_db()
    assert foreign_membership.role == Role.TRAINEE
    other_cohort.refresh_from_db()
    assert other_cohort.name == "South cohort"
    foreign_invitation.refresh_from_db()
    assert foreign_invitation.expires_at > timezone.now()

    pages = "".join(
        client.get(reverse(name)).content.decode()
        for name in ("manage:members", "manage:cohorts", "manage:assignments", "manage:audit")
    )
    for secret in ("trainee-south", "admin-south", "South cohort", "South exam",
                   "south-invitee@example.org"):
        assert secret not in pages

    # Another organisation's cohort cannot be chosen for an assignment either.
    response = client.post(reverse("manage:assignment-create"),
                           assignment_post(other_cohort, title="Cross"))
    assert_field_error(response, "cohort")
    assert not Assignment.objects.filter(title="Cross").exists()


def test_another_organisations_vignette_set_is_not_offered(org, org_admin, other_org, cohort):
    private = VignetteSet.objects.create(
        slug="south-private", owner=other_org, title="South private set",
        kind=VignetteSet.Kind.PRACTICE, content_hash="x",
    )
    client = signed_in(org_admin)
    assert "South private set" not in client.get(
        reverse("manage:assignment-create")).content.decode()
    response = client.post(reverse("manage:assignment-create"),
                           assignment_post(cohort, vignette_set=str(private.pk)))
    assert_field_error(response, "vignette_set")
    assert not Assignment.objects.exists()


# --- audit trail ---------------------------------------------------------------------------


def test_audit_trail_is_paginated_newest_first_and_filtered(org, org_admin, other_org, admin_b):
    org.time_zone = "Asia/Tokyo"
    org.save()
    start = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    for i in range(60):
        audit_record(actor=org_admin, organization=org, object_type="training.Thing",
                     action="thing.poked", after={"n": i}, now=start + dt.timedelta(minutes=i))
    audit_record(actor=admin_b, organization=org, object_type="training.Thing",
                 action="thing.prodded", now=start - dt.timedelta(days=1))
    audit_record(actor=admin_b, organization=other_org, object_type="training.Thing",
                 action="south.secret", now=start)
    client = signed_in(org_admin)

    first = client.get(reverse("manage:audit")).content.decode()
    assert first.count('id="event-') == 50
    # Newest first: event 59 at 12:59 UTC, then 12:58, ...
    assert first.index("2030-01-01T12:59:00") < first.index("2030-01-01T12:58:00")
    assert "2030-01-01 12:09:00" not in first
    assert "1 Jan 2030, 21:59 (Asia/Tokyo)" in first  # the same moment in Tokyo
    assert "south.secret" not in first
    assert "&quot;n&quot;: 59" in first

    second = client.get(reverse("manage:audit"), {"page": 2}).content.decode()
    assert second.count('id="event-') == 11
    assert "thing.prodded" in second

    poked = client.get(reverse("manage:audit"), {"action": "thing.poked"}).content.decode()
    assert "action=thing.poked&amp;page=2" in poked  # the pager keeps the filter
    assert "thing.prodded</code>" not in poked
    filtered = client.get(reverse("manage:audit"), {"action": "thing.prodded"}).content.decode()
    assert filtered.count('id="event-') == 1
    by_actor = client.get(reverse("manage:audit"), {"actor": admin_b.pk}).content.decode()
    assert by_actor.count('id="event-') == 1
    assert "thing.prodded" in by_actor
    none = client.get(reverse("manage:audit"), {"action": "south.secret"}).content.decode()
    assert none.count('id="event-') == 0

    # Days are the organisation's: 2030-01-01 in Tokyo ends at 15:00 UTC, so the "prodded"
    # event of 2029-12-31 12:00 UTC (21:00 in Tokyo) is the only one on the 31st.
    day = client.get(reverse("manage:audit"), {"date_from": "2029-12-31",
                                               "date_to": "2029-12-31"}).content.decode()
    assert day.count('id="event-') == 1 and "thing.prodded" in day
    window = client.get(reverse("manage:audit"), {"date_from": "2030-01-01", "action":
                                                  "thing.poked", "page": 2}).content.decode()
    assert window.count('id="event-') == 10
    assert "action=thing.poked&amp;date_from=2030-01-01&amp;page=1" in window
    wrong = client.get(reverse("manage:audit"), {"date_from": "2030-01-02",
                                                 "date_to": "2030-01-01"})
    assert wrong.status_code == 400
    assert "The first day (2030-01-02) is after the last day (2030-01-01)." in \
        wrong.content.decode()
    bad = client.get(reverse("manage:audit"), {"date_from": "yesterday", "object_id": "x"})
    assert bad.status_code == 400
    assert "Enter the first day as YYYY-MM-DD." in bad.content.decode()
    assert "An object id is a number, such as 12." in bad.content.decode()


# --- invitation acceptance -----------------------------------------------------------------


@pytest.fixture
def invitation(org, org_admin):
    return member_services.invitation_create(
        actor=org_admin, organization=org, email="newcomer@example.org", role=Role.INSTRUCTOR,
        accept_url_base="http://testserver/invitations/",
    )


def open_invitation(client, token) -> str:
    """Follow the e-mail's link as a browser does; returns the invitation page it moves on to."""
    response = client.get(reverse("invitation-accept", args=[token]))
    assert response.status_code == 302
    return response["Location"]


def test_invitation_link_moves_the_token_out_of_the_address(org, invitation):
    client = Client()
    url = reverse("invitation-accept", args=[invitation.token])
    assert url == f"/invitations/{invitation.token}/"
    response = client.get(url)
    assert response.status_code == 302
    page_url = response["Location"]
    assert page_url == reverse("invitation-join", args=[invitation.invitation.pk])
    assert invitation.token not in page_url
    page = client.get(page_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "Join North Service" in html
    assert invitation.token not in html
    # The page keeps the site's referrer policy: its form posts with a real Origin header.
    assert 'name="referrer"' not in html
    assert page["Referrer-Policy"] == "same-origin"


def test_invitation_page_works_only_in_the_browser_that_opened_the_link(org, invitation):
    page_url = open_invitation(Client(), invitation.token)
    elsewhere = Client()
    for response in (elsewhere.get(page_url), elsewhere.post(page_url, {
        "username": "newcomer", "password": "a long pass phrase 42",
        "password2": "a long pass phrase 42",
    })):
        assert response.status_code == 404
        assert "This invitation link is not valid" in response.content.decode()
    assert not User.objects.filter(username="newcomer").exists()


def test_two_invitations_opened_in_one_browser_each_keep_their_own(org, other_org, invitation):
    south = member_services.invitation_create(
        actor=make_member(other_org, Role.ORG_ADMIN, "admin-s"), organization=other_org,
        email="newcomer@example.org", role=Role.TRAINEE,
        accept_url_base="http://testserver/invitations/",
    )
    client = signed_in(make_member(OrganizationFactory(name="Third", slug="third"),
                                   Role.TRAINEE, "joiner"))
    north_page = open_invitation(client, invitation.token)
    south_page = open_invitation(client, south.token)
    assert client.post(north_page).status_code == 302
    joiner = User.objects.get(username="joiner")
    assert Membership.objects.get(user=joiner, organization=org).role == Role.INSTRUCTOR
    assert not Membership.objects.filter(user=joiner, organization=other_org).exists()
    assert client.post(south_page).status_code == 302
    assert Membership.objects.get(user=joiner, organization=other_org).role == Role.TRAINEE
    # Used: the page answers as for any invalid link.
    assert client.get(north_page).status_code == 404


def test_anonymous_invitee_creates_account_and_is_signed_in(org, invitation):
    client = Client(enforce_csrf_checks=True)
    url = reverse("invitation-accept", args=[invitation.token])
    session = client.session
    session["before"] = True
    session.save()
    old_key = session.session_key
    client.cookies["sessionid"] = old_key  # an anonymous session already exists
    page_url = open_invitation(client, invitation.token)
    token = csrf_token_from(client, page_url)
    response = client.post(page_url, {"username": "newcomer", "password": "a long pass phrase 42",
                                 "password2": "a long pass phrase 42",
                                 "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    user = User.objects.get(username="newcomer")
    assert user.email == "newcomer@example.org"
    assert Membership.objects.get(user=user, organization=org).role == Role.INSTRUCTOR
    assert client.session.session_key != old_key  # rotated at sign-in
    assert int(client.session["_auth_user_id"]) == user.pk
    assert client.session["invitation_tokens"] == {}  # forgotten once used
    assert AuditEvent.objects.filter(organization=org, action="membership.created",
                                     actor=user).exists()
    # The link is used up.
    assert Client().get(url).status_code == 404


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"username": "newcomer", "password": "a long pass phrase 42",
          "password2": "a different phrase 42"}, "password2"),
        ({"username": "newcomer", "password": "123", "password2": "123"}, "password"),
        ({"username": "bad name!", "password": "a long pass phrase 42",
          "password2": "a long pass phrase 42"}, "username"),
        ({"username": "admin-a", "password": "a long pass phrase 42",
          "password2": "a long pass phrase 42"}, "username"),
        ({"username": "", "password": "a long pass phrase 42",
          "password2": "a long pass phrase 42"}, "username"),
    ],
)
def test_invitation_account_bad_input(org, invitation, data, field):
    users = User.objects.count()
    client = Client()
    response = client.post(open_invitation(client, invitation.token), data)
    assert_field_error(response, field)
    assert User.objects.count() == users
    assert Invitation.objects.get(pk=invitation.invitation.pk).accepted_at is None


def test_signed_in_user_accepts_with_one_button(org, invitation, other_org, outsider):
    client = Client(enforce_csrf_checks=True)
    client.force_login(outsider)
    url = open_invitation(client, invitation.token)
    page = client.get(url)
    assert page.status_code == 200
    assert "Accept the invitation" in page.content.decode()
    assert "password2" not in page.content.decode()
    token = CSRF_RE.search(page.content.decode()).group(1)
    response = client.post(url, {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Membership.objects.get(user=outsider, organization=org).role == Role.INSTRUCTOR
    assert Membership.objects.get(user=outsider, organization=other_org).role == Role.TRAINEE
    invitation.invitation.refresh_from_db()
    assert invitation.invitation.accepted_by == outsider


def test_existing_member_cannot_use_an_invitation_to_change_role(org, invitation, org_admin):
    client = signed_in(org_admin)
    response = client.post(open_invitation(client, invitation.token))
    assert response.status_code == 400
    assert "already a member" in response.content.decode()
    assert Membership.objects.get(user=org_admin, organization=org).role == Role.ORG_ADMIN


def test_unknown_expired_and_used_links_look_the_same(org, org_admin, invitation, trainee):
    expired = member_services.invitation_create(
        actor=org_admin, organization=org, email="old@example.org", role=Role.TRAINEE,
        accept_url_base="http://testserver/invitations/",
        now=timezone.now() - dt.timedelta(days=30),
    )
    used = member_services.invitation_create(
        actor=org_admin, organization=org, email="used@example.org", role=Role.TRAINEE,
        accept_url_base="http://testserver/invitations/",
    )
    member_services.invitation_accept(token=used.token, username="used", password="a long pass phrase 42")
    bodies = set()
    pages = [reverse("invitation-join", args=[pk])
             for pk in (expired.invitation.pk, used.invitation.pk, 999999)]
    for token in ("not-a-real-token", expired.token, used.token):
        for client in (Client(), signed_in(trainee)):
            url = reverse("invitation-accept", args=[token])
            responses = [client.get(url)]
            for page_url in pages:
                responses += [client.get(page_url), client.post(page_url, {
                    "username": "x", "password": "a long pass phrase 42",
                    "password2": "a long pass phrase 42",
                })]
            for response in responses:
                assert response.status_code == 404
                body = response.content.decode()
                assert "This invitation link is not valid" in body
                bodies.add(re.sub(r"<header.*?</header>", "", body, flags=re.S))
    assert len(bodies) == 1  # headers aside, one page for all three cases
    assert not User.objects.filter(username="x").exists()


# --- CSRF on every form --------------------------------------------------------------------


def _csrf_cases(org, org_admin, trainee, instructor, cohort):
    """(form page, POST url, valid data, check that the write happened) per form."""
    membership = Membership.objects.get(user=trainee, organization=org)
    assignment = _assignment(org, cohort, org_admin)
    invitation = member_services.invitation_create(
        actor=org_admin, organization=org, email="w@example.org", role=Role.TRAINEE,
        accept_url_base="http://testserver/invitations/",
    ).invitation
    members = reverse("manage:members")
    return [
        (members, reverse("manage:member-role", args=[membership.pk]),
         lambda: {"role": Role.INSTRUCTOR},
         lambda: Membership.objects.get(pk=membership.pk).role == Role.INSTRUCTOR),
        (members, reverse("manage:member-invite"),
         lambda: {"email": "csrf@example.org", "role": Role.TRAINEE},
         lambda: Invitation.objects.filter(email="csrf@example.org").exists()),
        (members, reverse("manage:members-import"),
         lambda: {"file": SimpleUploadedFile("p.csv", b"email,role\nz@example.org,trainee\n")},
         lambda: Invitation.objects.filter(email="z@example.org").exists()),
        (members, reverse("manage:invitation-revoke", args=[invitation.pk]),
         dict,
         lambda: Invitation.objects.get(pk=invitation.pk).expires_at <= timezone.now()),
        (reverse("manage:cohort-create"), reverse("manage:cohort-create"),
         lambda: {"name": "CSRF cohort", "instructors": [instructor.pk]},
         lambda: Cohort.objects.filter(name="CSRF cohort").exists()),
        (reverse("manage:cohort-edit", args=[cohort.pk]),
         reverse("manage:cohort-edit", args=[cohort.pk]),
         lambda: {"name": "Renamed cohort", "instructors": [instructor.pk]},
         lambda: Cohort.objects.filter(name="Renamed cohort").exists()),
        (reverse("manage:assignment-create"), reverse("manage:assignment-create"),
         lambda: assignment_post(cohort, title="CSRF assignment"),
         lambda: Assignment.objects.filter(title="CSRF assignment").exists()),
        (reverse("manage:assignment-edit", args=[assignment.pk]),
         reverse("manage:assignment-edit", args=[assignment.pk]),
         lambda: assignment_post(cohort, title="Edited assignment"),
         lambda: Assignment.objects.filter(title="Edited assignment").exists()),
        # Last: it removes the trainee the other cases use.
        (reverse("manage:member-remove", args=[membership.pk]),
         reverse("manage:member-remove", args=[membership.pk]),
         dict,
         lambda: not Membership.objects.filter(pk=membership.pk).exists()),
    ]


def test_csrf_is_enforced_on_every_manage_form(org, org_admin, trainee, instructor, cohort):
    client = browser_for(org_admin)
    for page, url, data, done in _csrf_cases(org, org_admin, trainee, instructor, cohort):
        response = client.post(url, data())
        assert response.status_code == 403, url
        assert not done(), url
        token = csrf_token_from(client, page)
        response = client.post(url, {**data(), "csrfmiddlewaretoken": token})
        assert response.status_code == 302, (url, response.content.decode()[:3000])
        assert done(), url


def test_csrf_is_enforced_on_invitation_acceptance(org, invitation, outsider):
    anonymous = Client(enforce_csrf_checks=True)
    data = {"username": "newcomer", "password": "a long pass phrase 42",
            "password2": "a long pass phrase 42"}
    assert anonymous.post(open_invitation(anonymous, invitation.token), data).status_code == 403
    signed = browser_for(outsider)
    assert signed.post(open_invitation(signed, invitation.token)).status_code == 403
    assert not User.objects.filter(username="newcomer").exists()
    assert not Membership.objects.filter(organization=org, user=outsider).exists()
