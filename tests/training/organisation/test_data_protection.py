"""Data protection: export a member's data, erase a member, retention settings."""

import datetime as dt
import io
import json

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.conftest import api_for, make_member, signed_in
from tests.training.helpers import PRACTICE, certify, reference_body
from training.attempts.services import attempt_start_practice, attempt_submit, rating_save_draft
from training.audit import audit_record
from training.models import (
    ApiToken,
    Attempt,
    AttemptStatus,
    AuditEvent,
    AuditRedaction,
    CertificateStatus,
    Cohort,
    Erasure,
    Invitation,
    Membership,
    Mode,
    Rating,
    RatingComment,
    Role,
)
from training.organisation import erasure, retention
from training.simulation import simulate_cohort
from training.teaching import data as teaching_data
from training.teaching import reliability as cohort_reliability
from vignettes.models import Instrument

# Certificates here are issued on fixed dates and pages judge them against "now".
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("certificates_clock")]

User = get_user_model()
T0 = dt.datetime(2026, 2, 2, 9, 0, tzinfo=dt.UTC)
BOB_NOTE = "Bob Example said the date was wrong."


# --- building blocks -----------------------------------------------------------------------


def practice(user, org, when, *, note="", submit=True):
    """A CPORT practice attempt scored like the reference, with a note and a rationale."""
    attempt = attempt_start_practice(user=user, organization=org, vignette_slug=PRACTICE,
                                     instrument_slugs=["cport"], now=when)
    body = reference_body(PRACTICE, "cport")
    first_item = sorted(body.get("items", {}))[:1]
    rating_save_draft(
        attempt=attempt, vignette=PRACTICE, instrument="cport", revision=0,
        applicable=body["applicable"], items=body.get("items"),
        notes={first_item[0]: note} if note and first_item else {},
        rationale=f"Rationale: {note}" if note else "", now=when,
    )
    if submit:
        attempt_submit(attempt=attempt, now=when + dt.timedelta(minutes=1))
    attempt.refresh_from_db()
    return attempt


def named(user, first, last, email):
    user.first_name, user.last_name, user.email = first, last, email
    user.save()
    return user


@pytest.fixture
def cohort(org, instructor):
    """A simulated STABLE-2007 cohort of five, with bob and alice among them."""
    bob = named(make_member(org, Role.TRAINEE, "bob-example"), "Bob", "Example",
                "bob@example.org")
    alice = named(make_member(org, Role.TRAINEE, "alice-both"), "Alice", "Twoorgs",
                  "alice@example.org")
    others = [make_member(org, Role.TRAINEE, f"sim-{i}") for i in range(3)]
    cohort = Cohort.objects.create(organization=org, name="Spring")
    cohort.trainees.add(bob, alice, *others)
    cohort.instructors.add(instructor)
    simulate_cohort(organization=org, cohort=cohort, trainees=5, vignettes=4, months=2, seed=5,
                    start=T0 - dt.timedelta(days=70), instruments=["stable-2007"],
                    users=[bob, alice, *others])
    return cohort


@pytest.fixture
def bob(cohort):
    return User.objects.get(username="bob-example")


@pytest.fixture
def alice(cohort, other_org):
    """Alice belongs to North and South and has work in both."""
    alice = User.objects.get(username="alice-both")
    Membership.objects.create(user=alice, organization=other_org, role=Role.TRAINEE)
    practice(alice, other_org, T0, note="South-only note")
    return alice


def stats(cohort):
    """Everything the dashboards compute for the cohort, keyed without usernames."""
    data = teaching_data.cohort_data(cohort=cohort,
                                 instrument=Instrument.objects.get(slug="stable-2007"))
    overall = {code: {name: (e.value, e.ci95 if hasattr(e, "ci95") else None)
                      for name, e in est.items()}
               for code, est in cohort_reliability.overall_item_reliability(data).items()}
    windows = [(w.start, w.end, w.ratings, w.alpha_total.value)
               for w in cohort_reliability.reliability_over_time(data, window="month")]
    return overall, windows, data.n


def export_csv(client, cohort):
    response = client.get(f"/api/v1/cohorts/{cohort.pk}/export.csv?instrument=stable-2007")
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


def irr(text, tmp_path):
    path = tmp_path / "export.csv"
    path.write_text(text)
    out = io.StringIO()
    call_command("irr", str(path), stdout=out)
    return json.loads(out.getvalue())


def membership(user, org):
    return Membership.objects.get(user=user, organization=org)


# --- export --------------------------------------------------------------------------------


def test_export_holds_the_members_data_of_this_organisation_only(org, org_admin, instructor,
                                                                 alice, rule):
    north_attempt = practice(alice, org, T0, note="North note about the report")
    rating = north_attempt.ratings.first()
    RatingComment.objects.create(rating=rating, author=instructor, text="Look at page 3.",
                                 created_at=T0)
    cert = certify(org, alice, at=T0, rule=rule, note="")
    south_attempt = Attempt.objects.get(user=alice, organization__slug="south")
    client = signed_in(org_admin)

    detail = client.get(reverse("manage:member-detail", args=[membership(alice, org).pk]))
    assert detail.status_code == 200
    html = detail.content.decode()
    assert "Export this member" in html and "Erase this member" in html

    assert client.get(reverse("manage:member-export",
                              args=[membership(alice, org).pk])).status_code == 405
    response = client.post(reverse("manage:member-export", args=[membership(alice, org).pk]))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith("attachment;")
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    text = response.content.decode()

    assert data["format"] == "calibrate-member-export"
    assert data["account"]["username"] == "alice-both"
    assert data["account"]["email"] == "alice@example.org"
    assert data["account"]["first_name"] == "Alice"
    assert data["account"]["date_joined"]
    assert data["memberships"] == [
        {"organization": "north", "role": "trainee",
         "created_at": membership(alice, org).created_at.isoformat()}]
    assert {c["name"] for c in data["cohorts"]} == {"Spring"}
    ids = {a["id"] for a in data["attempts"]}
    assert north_attempt.pk in ids and cert.decision.attempt_id in ids
    assert len(ids) == Attempt.objects.filter(user=alice, organization=org).count()
    exported = next(a for a in data["attempts"] if a["id"] == north_attempt.pk)
    exported_rating = exported["ratings"][0]
    assert exported_rating["items"] == rating.codes
    assert "North note about the report" in exported_rating["notes"].values()
    assert exported_rating["comments_received"][0]["text"] == "Look at page 3."
    assert data["certificates"][0]["verification_code"] == cert.verification_code
    assert data["certificates"][0]["status"] == "active"
    assert data["certification_decisions"][0]["attempt"] == cert.decision.attempt_id
    assert any(e["action"] == "certificate.issued" for e in data["audit_events"])
    # Nothing from South: not its attempt, its note, its name or its slug.
    assert south_attempt.pk not in ids
    assert "South-only note" not in text
    assert "South Service" not in text and '"south"' not in text
    # The export itself is audited.
    event = AuditEvent.objects.get(action="member.exported")
    assert event.organization == org and event.subject == alice and event.actor == org_admin


def test_export_api_for_org_admins_only_and_scoped(org, org_admin, instructor, trainee, alice,
                                                   admin_b, other_org):
    north = membership(alice, org)
    south = membership(alice, other_org)
    url = f"/api/v1/members/{north.pk}/export/"
    response = api_for(org_admin).get(url)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    assert "attachment" in response["Content-Disposition"]
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["organization"]["slug"] == "north"
    assert "South-only note" not in response.content.decode()
    listing = api_for(org_admin).get("/api/v1/members/").json()
    assert north.pk in {m["id"] for m in listing["results"]}
    assert south.pk not in {m["id"] for m in listing["results"]}

    assert api_for(instructor).get(url).status_code == 403
    assert api_for(trainee).get(url).status_code == 403
    assert api_for(trainee).get("/api/v1/members/").status_code == 403
    # South's admin: North's membership does not exist for them; X-Organization: north is
    # not theirs to claim.
    assert api_for(admin_b).get(url).status_code == 404
    assert api_for(admin_b).get(url, HTTP_X_ORGANIZATION="north").status_code == 403
    # North's admin cannot reach South's membership of the same person.
    assert api_for(org_admin).get(f"/api/v1/members/{south.pk}/export/").status_code == 404
    assert not AuditEvent.objects.filter(action="member.exported", organization=other_org)
    schema = api_for(org_admin).get("/api/v1/schema/", HTTP_ACCEPT="application/json")
    assert "/api/v1/members/{membership_id}/export/" in schema.content.decode()


@pytest.mark.parametrize("name", ["member-detail", "member-export", "member-erase"])
def test_member_pages_are_for_this_organisations_admins_only(org, instructor, trainee, bob,
                                                             admin_b, name):
    url = reverse(f"manage:{name}", args=[membership(bob, org).pk])
    for user in (instructor, trainee):
        assert signed_in(user).get(url).status_code in (403, 405)
        assert signed_in(user).post(url, {"confirm": "bob-example"}).status_code == 403
    assert signed_in(admin_b).get(url).status_code in (404, 405)
    assert signed_in(admin_b).post(url, {"confirm": "bob-example"}).status_code == 404
    bob.refresh_from_db()
    assert bob.username == "bob-example" and not Erasure.objects.exists()


# --- erasure -------------------------------------------------------------------------------


def test_erasure_removes_the_person_and_keeps_the_statistics(org, org_admin, instructor, bob,
                                                             cohort, rule, tmp_path, client):
    attempt = practice(bob, org, T0, note=BOB_NOTE)
    RatingComment.objects.create(rating=attempt.ratings.first(), author=instructor,
                                 text="Bob, check page 3.", created_at=T0)
    cert = certify(org, bob, at=T0, rule=rule, note="")
    cert.show_full_name = True
    cert.save()
    ApiToken.objects.create(user=bob)
    # A pending invitation to his address (say, to become an instructor).
    Invitation.objects.create(organization=org, email="bob@example.org", role=Role.INSTRUCTOR,
                              token_hash="x" * 64, invited_by=org_admin, created_at=T0,
                              expires_at=T0 + dt.timedelta(days=3650))
    # An event recorded the old way, with his name by value (and his e-mail in free text).
    AuditEvent.objects.create(
        at=T0, actor=org_admin, actor_repr="admin-a", organization=org,
        object_type="training.Membership", object_id="1",
        object_repr="bob-example in North Service as Trainee", action="legacy.thing",
        after={"user": "bob-example", "note": "Asked by bob@example.org", "n": 3})
    staff_client = signed_in(instructor)
    before_stats = stats(cohort)
    before_csv = export_csv(api_for(instructor), cohort)
    before_irr = irr(before_csv, tmp_path)
    before_ratings = sorted(Rating.objects.filter(attempt__user=bob).values_list(
        "pk", "codes", "total", "band_code"))
    assert "Bob Example" in client.get(f"/verify/{cert.verification_code}").content.decode()

    admin = signed_in(org_admin)
    url = reverse("manage:member-erase", args=[membership(bob, org).pk])
    page = admin.get(url)
    assert page.status_code == 200 and 'name="confirm"' in page.content.decode()
    assert 'for="id_confirm"' in page.content.decode()  # the control is labelled
    response = admin.post(url, {"confirm": "bob-example"})
    assert response.status_code == 302

    erasure = Erasure.objects.get()
    pseudonym = erasure.pseudonym
    assert pseudonym.pk == bob.pk and erasure.original_user is None  # erased in place
    bob.refresh_from_db()
    assert bob.username.startswith("erased-") and len(bob.username) == len("erased-") + 10
    assert (bob.first_name, bob.last_name, bob.email) == ("", "", "")
    assert not bob.is_active and not bob.has_usable_password()
    assert not ApiToken.objects.filter(user=bob).exists()
    assert not User.objects.filter(username="bob-example").exists()
    assert not Invitation.objects.filter(email__iexact="bob@example.org").exists()
    # Ratings and codes kept; free text gone.
    assert sorted(Rating.objects.filter(attempt__user=bob).values_list(
        "pk", "codes", "total", "band_code")) == before_ratings
    assert not Rating.objects.filter(attempt__user=bob).exclude(rationale="", notes={}).exists()
    assert not RatingComment.objects.filter(rating__attempt__user=bob).exists()
    # The certificate: revoked, no name in public.
    cert.refresh_from_db()
    assert cert.status == CertificateStatus.REVOKED and cert.status_reason == "holder erased"
    verify = client.get(f"/verify/{cert.verification_code}").content.decode()
    public = client.get(f"/api/v1/certificates/verify/{cert.verification_code}/").json()
    assert public["status"] == "revoked" and public["holder"] == "(holder erased)"
    assert "(holder erased)" in verify
    for text in (verify, json.dumps(public)):
        assert "Bob" not in text and "Example" not in text and "B.E." not in text
        assert bob.username not in text
    # Statistics identical; the export and irr read the same numbers under the pseudonym.
    assert stats(cohort) == before_stats
    after_csv = export_csv(api_for(instructor), cohort)
    assert "bob-example" not in after_csv and bob.username in after_csv
    assert after_csv == before_csv.replace("bob-example", bob.username)
    # irr prints the same statistics; per-rater sections are keyed by the pseudonym now.
    assert json.dumps(irr(after_csv, tmp_path), sort_keys=True) == json.dumps(
        before_irr, sort_keys=True).replace("bob-example", bob.username)
    # Nowhere on the organisation's pages.
    audit = admin.get(reverse("manage:audit")).content.decode()
    members = admin.get(reverse("manage:members")).content.decode()
    dashboard = staff_client.get(f"/teach/cohorts/{cohort.pk}/").content.decode()
    for html in (audit, members, dashboard):
        for secret in ("bob-example", "bob@example.org", "Bob Example"):
            assert secret not in html
    assert bob.username in audit and bob.username in members and bob.username in dashboard
    assert "member.erased" in audit
    assert AuditRedaction.objects.filter(event__action="legacy.thing").exists()
    assert "&quot;n&quot;: 3" in audit  # the rest of the legacy event stays readable
    event = AuditEvent.objects.get(action="member.erased")
    assert event.subject == bob and event.after["pseudonym"] == bob.pk
    assert "bob-example" not in json.dumps([event.before, event.after, event.object_repr])
    # An erased member cannot be erased again, and is shown as erased.
    assert admin.post(url, {"confirm": bob.username}).status_code == 400
    assert "(erased)" in members
    detail = admin.get(reverse("manage:member-detail", args=[membership(bob, org).pk]))
    assert "was erased on" in detail.content.decode()
    assert "Erase this member" not in detail.content.decode()


def test_wrong_confirmation_changes_nothing(org, org_admin, bob):
    url = reverse("manage:member-erase", args=[membership(bob, org).pk])
    events = AuditEvent.objects.count()
    for typed in ("", "bob", "BOB-EXAMPLE", "admin-a"):
        response = signed_in(org_admin).post(url, {"confirm": typed})
        assert response.status_code == 400
        assert "errorlist" in response.content.decode() or "errors" in response.content.decode()
    bob.refresh_from_db()
    assert bob.username == "bob-example" and bob.is_active and bob.email == "bob@example.org"
    assert not Erasure.objects.exists() and AuditEvent.objects.count() == events


def test_cannot_erase_yourself_or_the_last_org_admin(org, org_admin, bob):
    own = membership(org_admin, org)
    response = signed_in(org_admin).post(reverse("manage:member-erase", args=[own.pk]),
                                           {"confirm": "admin-a"})
    assert response.status_code == 400 and "cannot erase yourself" in response.content.decode()
    staff = User.objects.create_user("site-staff", is_staff=True)
    with pytest.raises(ValidationError, match="at least one organisation admin"):
        erasure.member_erase(actor=staff, organization=org, membership=own, confirm="admin-a")
    with pytest.raises(CommandError, match="at least one organisation admin"):
        call_command("erase_member", "--org", "north", "--user", "admin-a", "--yes")
    # With a second admin, the first can be erased by them.
    second = make_member(org, Role.ORG_ADMIN, "admin-two")
    erasure.member_erase(actor=second, organization=org, membership=own, confirm="admin-a")
    # ...and the pseudonym no longer counts as an admin: the second is now the last one.
    with pytest.raises(ValidationError, match="at least one organisation admin"):
        erasure.member_erase(actor=staff, organization=org,
                             membership=membership(second, org), confirm="admin-two")
    assert org_admin.__class__.objects.get(pk=org_admin.pk).username.startswith("erased-")


def test_erasure_in_one_organisation_leaves_the_other_untouched(org, other_org, org_admin,
                                                                admin_b, alice, cohort,
                                                                tmp_path):
    practice(alice, org, T0, note="Alice North note")
    ApiToken.objects.create(user=alice)
    audit_record(actor=org_admin, organization=org, obj=membership(alice, org),
                 action="thing.about_alice", now=T0)
    audit_record(actor=admin_b, organization=other_org, obj=membership(alice, other_org),
                 action="thing.south", now=T0)
    south_attempts = list(Attempt.objects.filter(organization=other_org, user=alice)
                          .values_list("pk", flat=True))
    before_stats = stats(cohort)
    before_csv = export_csv(api_for(org_admin), cohort)

    result = erasure.member_erase(actor=org_admin, organization=org,
                                  membership=membership(alice, org), confirm="alice-both")
    assert not result.in_place
    pseudonym = User.objects.get(username=result.pseudonym)
    alice.refresh_from_db()
    # Alice's account and South's records: untouched.
    assert alice.username == "alice-both" and alice.email == "alice@example.org"
    assert alice.is_active and alice.has_usable_password()
    assert ApiToken.objects.filter(user=alice).exists()
    assert list(Attempt.objects.filter(organization=other_org, user=alice)
                .values_list("pk", flat=True)) == south_attempts
    assert Rating.objects.filter(attempt__organization=other_org,
                                 notes__icontains="South-only").exists()
    assert membership(alice, other_org).role == Role.TRAINEE
    # North's records moved to the pseudonym; Alice is no longer in North.
    assert not Membership.objects.filter(user=alice, organization=org).exists()
    assert not Attempt.objects.filter(organization=org, user=alice).exists()
    assert Attempt.objects.filter(organization=org, user=pseudonym).exists()
    assert cohort.trainees.filter(pk=pseudonym.pk).exists()
    assert not cohort.trainees.filter(pk=alice.pk).exists()
    assert stats(cohort) == before_stats
    assert export_csv(api_for(org_admin), cohort) == before_csv.replace("alice-both",
                                                                         pseudonym.username)
    # North's audit trail shows the pseudonym for the older events; South's shows Alice.
    north = signed_in(org_admin).get(reverse("manage:audit")).content.decode()
    assert "alice-both" not in north and "alice@example.org" not in north
    row = north.split("<code>thing.about_alice</code>")[0].rsplit("<li ", 1)[1]
    assert pseudonym.username in row
    south = signed_in(admin_b).get(reverse("manage:audit")).content.decode()
    assert "alice-both" in south and pseudonym.username not in south
    assert "member.erased" not in south
    # North's admin cannot see Alice any more; she can still use South.
    assert api_for(alice).get("/api/v1/attempts/", HTTP_X_ORGANIZATION="south").status_code == 200
    assert api_for(alice).get("/api/v1/attempts/", HTTP_X_ORGANIZATION="north").status_code == 403


def test_erase_member_command_for_site_staff(org, org_admin, bob):
    out = io.StringIO()
    with pytest.raises(CommandError, match="no organisation"):
        call_command("erase_member", "--org", "nowhere", "--user", "bob-example", "--yes")
    call_command("erase_member", "--org", "north", "--user", "bob-example", "--yes", stdout=out)
    assert "Erased from north as erased-" in out.getvalue()
    bob.refresh_from_db()
    assert bob.username.startswith("erased-") and not bob.is_active
    event = AuditEvent.objects.get(action="member.erased")
    assert event.actor is None and event.subject == bob


def test_new_audit_events_reference_people_instead_of_copying_names(org, org_admin, trainee):
    signed_in(org_admin).post(
        reverse("manage:member-role", args=[membership(trainee, org).pk]),
        {"role": Role.INSTRUCTOR})
    event = AuditEvent.objects.get(action="membership.role_changed")
    stored = json.dumps([event.actor_repr, event.object_repr, event.before, event.after])
    assert "trainee-a" not in stored and "admin-a" not in stored
    assert event.subject == trainee and event.actor == org_admin
    html = signed_in(org_admin).get(reverse("manage:audit")).content.decode()
    row = html.split(f'id="event-{event.pk}"')[1].split("</li>")[0]
    assert "trainee-a" in row and "admin-a" in row  # rendered from the references
    # and read as a sentence
    assert "admin-a changed the role of trainee-a — role: trainee → instructor" in row


# --- retention -----------------------------------------------------------------------------


def snapshot():
    return {
        "attempts": sorted(Attempt.objects.values_list("pk", "user_id", "status")),
        "ratings": sorted(Rating.objects.values_list("pk", "rationale", "notes", "codes")),
        "comments": RatingComment.objects.count(),
        "users": sorted(User.objects.values_list("pk", "username", "email", "is_active")),
        "audit": AuditEvent.objects.count(),
    }


@pytest.fixture
def retention_world(org, org_admin, instructor, rule, other_org):
    """North keeps drafts 30 days and notes 365 days; South keeps everything."""
    org.draft_retention_days = 30
    org.attempt_retention_days = 365
    org.save()
    keeper = make_member(org, Role.TRAINEE, "keeper")
    leaver = named(make_member(org, Role.TRAINEE, "leaver"), "Lee", "Ver", "lee@example.org")
    world = {
        "draft": practice(keeper, org, T0, submit=False, note="draft note"),
        "fresh_draft": practice(keeper, org, T0 + dt.timedelta(days=20), submit=False),
        "exam_draft": Attempt.objects.create(user=keeper, organization=org, mode=Mode.EXAM,
                                             status=AttemptStatus.IN_PROGRESS, started_at=T0),
        "old": practice(keeper, org, T0, note="old note"),
        "leaver_old": practice(leaver, org, T0, note="leaver note"),
        "south_draft": practice(make_member(other_org, Role.TRAINEE, "southie"), other_org, T0,
                                submit=False),
        "cert": certify(org, keeper, at=T0, rule=rule, note="exam note"),
        "keeper": keeper,
        "leaver": leaver,
    }
    RatingComment.objects.create(rating=world["old"].ratings.first(), author=instructor,
                                 text="Comment on old work", created_at=T0)
    Membership.objects.filter(user=leaver, organization=org).delete()  # left North
    return world


def test_drafts_are_deleted_at_the_threshold_not_before(org, retention_world):
    w = retention_world
    last_saved = w["draft"].ratings.first().updated_at
    threshold = last_saved + dt.timedelta(days=30)
    with time_machine.travel(threshold - dt.timedelta(seconds=1), tick=False):
        call_command("apply_retention", stdout=io.StringIO())
    assert Attempt.objects.filter(pk=w["draft"].pk).exists()
    out = io.StringIO()
    with time_machine.travel(threshold, tick=False):
        call_command("apply_retention", stdout=out)
    assert "north: 1 stale draft(s) deleted" in out.getvalue()
    assert not Attempt.objects.filter(pk=w["draft"].pk).exists()
    # Never exam attempts, never submitted work, never a draft touched recently, never South.
    for key in ("fresh_draft", "exam_draft", "old", "south_draft"):
        assert Attempt.objects.filter(pk=w[key].pk).exists(), key
    assert AuditEvent.objects.filter(action="retention.applied", organization=org).count() == 1


def test_old_attempts_lose_notes_and_leavers_are_pseudonymised(org, retention_world, rule):
    w = retention_world
    cert_attempt = w["cert"].decision.attempt
    at = T0 + dt.timedelta(days=365, minutes=5)
    before = snapshot()
    dry = retention.retention_apply(now=at, dry_run=True)
    assert snapshot() == before  # a dry run changes nothing
    out = io.StringIO()
    call_command("apply_retention", "--now", at.isoformat(), "--dry-run", stdout=out)
    assert out.getvalue().startswith("[dry run] north:")
    assert snapshot() == before

    real = retention.retention_apply(now=at)
    assert [r.__dict__ for r in real] == [r.__dict__ for r in dry]  # the dry run was exact
    north = real[0]
    assert north.organization == "north" and north.people_pseudonymised == 1
    assert north.drafts_deleted == 2  # both drafts untouched for a year
    old_rating = w["old"].ratings.first()
    old_rating.refresh_from_db()
    assert (old_rating.rationale, old_rating.notes) == ("", {})
    assert old_rating.codes  # the codes stay
    assert not RatingComment.objects.filter(rating=old_rating).exists()
    # The certificate's exam attempt is untouched, as is the certificate.
    assert Rating.objects.get(attempt=cert_attempt).rationale == "exam note"
    w["cert"].refresh_from_db()
    assert w["cert"].status == CertificateStatus.ACTIVE
    # The exam draft stays; South (no settings) is untouched.
    assert Attempt.objects.filter(pk=w["exam_draft"].pk).exists()
    assert Attempt.objects.filter(pk=w["south_draft"].pk).exists()
    # The leaver: pseudonymised in place (North was their only organisation).
    leaver = User.objects.get(pk=w["leaver"].pk)
    assert leaver.username.startswith("erased-") and leaver.email == ""
    assert Erasure.objects.get(pseudonym=leaver).reason == "retention"
    assert Attempt.objects.filter(pk=w["leaver_old"].pk, user=leaver).exists()
    # The keeper is still a member: named as before.
    assert User.objects.get(pk=w["keeper"].pk).username == "keeper"

    # Idempotent: a second run finds nothing to do.
    after = snapshot()
    again = retention.retention_apply(now=at)
    assert not again[0].changed and snapshot() == after


def test_certification_tick_applies_retention(org, retention_world):
    out = io.StringIO()
    at = retention_world["draft"].ratings.first().updated_at + dt.timedelta(days=31)
    call_command("certification_tick", "--now", at.isoformat(), stdout=out)
    assert "Retention north: 1 stale draft(s) deleted" in out.getvalue()
    assert not Attempt.objects.filter(pk=retention_world["draft"].pk).exists()


def test_nothing_is_touched_without_settings(org, other_org, trainee):
    draft = practice(trainee, org, T0, submit=False, note="kept")
    results = retention.retention_apply(now=T0 + dt.timedelta(days=3650))
    assert results == []
    assert Attempt.objects.filter(pk=draft.pk).exists()


def test_retention_settings_page(org, org_admin, instructor, admin_b):
    url = reverse("manage:organization")
    admin = signed_in(org_admin)
    page = admin.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'for="id_draft_retention_days"' in html and 'for="id_attempt_retention_days"' in html
    for bad in ({"draft_retention_days": "0"}, {"attempt_retention_days": "-4"},
                {"draft_retention_days": "soon"}, {"attempt_retention_days": "40000"}):
        response = admin.post(url, bad)
        assert response.status_code == 400, bad
        assert "errorlist" in response.content.decode()
    org.refresh_from_db()
    assert org.draft_retention_days is None and org.attempt_retention_days is None
    assert admin.post(url, {"draft_retention_days": "60", "attempt_retention_days": ""}
                      ).status_code == 302
    org.refresh_from_db()
    assert org.draft_retention_days == 60 and org.attempt_retention_days is None
    event = AuditEvent.objects.get(action="organization.retention_changed")
    assert event.after == {"draft_retention_days": 60, "attempt_retention_days": None}
    assert signed_in(instructor).get(url).status_code == 403
    assert signed_in(instructor).post(url, {"draft_retention_days": "1"}).status_code == 403
    # South's admin changes South only.
    signed_in(admin_b).post(url, {"draft_retention_days": "5"})
    org.refresh_from_db()
    assert org.draft_retention_days == 60
