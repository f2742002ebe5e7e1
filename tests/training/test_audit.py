"""The audit trail keeps who did what: name snapshots that outlive deleted accounts, account
deletions and (de)activations recorded, the erasure replacing the snapshots by the pseudonym."""

import datetime as dt
import pathlib
import re

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.urls import reverse

from tests.conftest import make_member, signed_in
from training.audit import SENTENCES, acting_as, audit_display, audit_record
from training.models import AuditEvent, AuditRedaction, Erasure, Membership, Role
from training.organisation import erasure
from training.organisation import export as export_services

pytestmark = pytest.mark.django_db

User = get_user_model()
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def audit_row(html: str, event: AuditEvent) -> str:
    return html.split(f'id="event-{event.pk}"')[1].split("</li>")[0]


def test_new_events_keep_the_names_of_actor_and_subject(org, org_admin, trainee):
    event = audit_record(actor=org_admin, organization=org,
                         obj=Membership.objects.get(user=trainee), action="thing.done")
    assert (event.actor_username, event.subject_username) == ("admin-a", "trainee-a")
    system = audit_record(actor=None, organization=org, obj=org, action="thing.automatic")
    assert (system.actor_username, system.subject_username) == ("", "")


def test_deleting_a_user_in_the_admin_keeps_their_name_on_past_events(
        org, other_org, org_admin, trainee, staff):
    make_member(other_org, Role.TRAINEE, "admin-a")  # same person, a second organisation
    with time_machine.travel(T0, tick=False):
        past = audit_record(actor=org_admin, organization=org,
                            obj=Membership.objects.get(user=trainee), action="thing.done")
    admin_id = org_admin.pk

    admin_client = signed_in(staff)
    url = reverse("admin:auth_user_delete", args=[admin_id])
    assert admin_client.get(url).status_code == 200
    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        response = admin_client.post(url, {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=admin_id).exists()

    # The past event: unchanged but for the emptied reference; the name stays.
    past = AuditEvent.objects.get(pk=past.pk)
    assert past.actor_id is None and past.actor_username == "admin-a"
    assert past.actor_repr == f"user #{admin_id}"
    # Its deletion is recorded in each organisation the person belonged to.
    deletions = AuditEvent.objects.filter(action="user.deleted").order_by("organization__slug")
    assert [e.organization.slug for e in deletions] == ["north", "south"]
    for event in deletions:
        assert event.actor_id == staff.pk and event.actor_username == "site-staff"
        assert event.subject_id is None and event.subject_username == "admin-a"
        assert event.object_id == str(admin_id)
        assert event.at == T0 + dt.timedelta(days=1)

    # Every place the trail is shown: the organisation's page, the member export, the admin.
    second_admin = make_member(org, Role.ORG_ADMIN, "admin-two")
    html = signed_in(second_admin).get(reverse("manage:audit")).content.decode()
    row = audit_row(html, past)
    assert "admin-a" in row and f"user #{admin_id}" not in row
    deletion_row = audit_row(html, deletions[0])
    assert "site-staff" in deletion_row and "admin-a" in deletion_row
    assert "user.deleted" in deletion_row
    # The actor filter offers the deleted account under its name, apart from "system".
    filtered = signed_in(second_admin).get(reverse("manage:audit"), {"actor": "n:admin-a"})
    assert f'id="event-{past.pk}"' in filtered.content.decode()
    system = signed_in(second_admin).get(reverse("manage:audit"), {"actor": "system"})
    assert f'id="event-{past.pk}"' not in system.content.decode()
    export = export_services.member_export(actor=second_admin, organization=org, user=trainee)
    exported = next(e for e in export["audit_events"] if e["action"] == "thing.done")
    assert exported["actor"] == "admin-a" and exported["about"] == "trainee-a"
    changelist = admin_client.get(reverse("admin:training_auditevent_changelist"))
    assert changelist.status_code == 200
    listing = changelist.content.decode()
    assert '<td class="field-actor_name">admin-a</td>' in listing
    assert '<td class="field-actor_name">user #' not in listing


def test_deleting_several_users_at_once_in_the_admin_records_each(org, trainee, trainee2,
                                                                   staff):
    loner = User.objects.create_user("no-membership")
    response = signed_in(staff).post(reverse("admin:auth_user_changelist"), {
        "action": "delete_selected", "post": "yes",
        "_selected_action": [trainee.pk, trainee2.pk, loner.pk],
    })
    assert response.status_code == 302
    deleted = AuditEvent.objects.filter(action="user.deleted")
    assert sorted(deleted.values_list("subject_username", flat=True)) == [
        "no-membership", "trainee-a", "trainee-b"]
    assert set(deleted.values_list("actor_username", flat=True)) == {"site-staff"}
    # An account without any membership: one site-wide event.
    assert deleted.get(subject_username="no-membership").organization is None
    assert deleted.get(subject_username="trainee-a").organization == org


def test_deleting_a_user_outside_the_admin_is_recorded_as_the_systems(org, trainee):
    trainee.delete()
    event = AuditEvent.objects.get(action="user.deleted")
    assert event.actor is None and event.actor_username == ""
    assert event.subject_username == "trainee-a" and event.organization == org


def test_deactivating_and_reactivating_a_user_in_the_admin_are_audited(org, trainee, staff):
    admin_client = signed_in(staff)
    url = reverse("admin:auth_user_change", args=[trainee.pk])
    form = {
        "username": trainee.username, "first_name": "", "last_name": "", "email": "",
        "is_active": "", "date_joined_0": "2026-01-01", "date_joined_1": "10:00:00",
        "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "10:00:00",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    trainee.refresh_from_db()
    assert not trainee.is_active
    event = AuditEvent.objects.get(action="user.deactivated")
    assert event.organization == org and event.actor == staff
    assert event.subject == trainee and event.subject_username == "trainee-a"
    assert (event.before, event.after) == ({"is_active": True}, {"is_active": False})

    # Saving again without a change records nothing more.
    admin_client.post(url, form)
    assert AuditEvent.objects.filter(action__startswith="user.").count() == 1
    admin_client.post(url, form | {"is_active": "on"})
    assert AuditEvent.objects.get(action="user.reactivated").actor == staff


def test_deactivating_a_user_in_a_service_names_who_did_it(org, org_admin, trainee):
    trainee.is_active = False
    with acting_as(org_admin):
        trainee.save()
    event = AuditEvent.objects.get(action="user.deactivated")
    assert event.actor == org_admin and event.subject == trainee
    # A sign-in saving last_login is not a change of the account's state.
    trainee.save(update_fields=["last_login"])
    assert AuditEvent.objects.filter(action__startswith="user.").count() == 1


def test_erasure_replaces_the_name_snapshots_by_the_pseudonym(org, org_admin, trainee):
    second = make_member(org, Role.ORG_ADMIN, "admin-two")
    with time_machine.travel(T0, tick=False):
        acted = audit_record(actor=trainee, organization=org, obj=org, action="thing.by_her")
        about = audit_record(actor=second, organization=org,
                             obj=Membership.objects.get(user=trainee), action="thing.about_her")
    with time_machine.travel(T0 + dt.timedelta(days=1), tick=False):
        result = erasure.member_erase(actor=org_admin, organization=org,
                                      membership=Membership.objects.get(user=trainee),
                                      confirm="trainee-a")
    acted = AuditEvent.objects.get(pk=acted.pk)
    about = AuditEvent.objects.get(pk=about.pk)
    assert acted.actor_username == result.pseudonym and about.subject_username == result.pseudonym
    assert about.actor_username == "admin-two"  # other people keep their names
    # Stored nowhere in the organisation's trail any more, not even once the account is gone.
    assert not AuditEvent.objects.filter(actor_username="trainee-a").exists()
    assert not AuditEvent.objects.filter(subject_username="trainee-a").exists()
    # The erasure deactivated the account as part of itself: no separate deactivation event.
    assert not AuditEvent.objects.filter(action="user.deactivated").exists()
    erased = AuditEvent.objects.get(action="member.erased")
    assert erased.after["audit_names_pseudonymised"] == 2
    html = signed_in(org_admin).get(reverse("manage:audit")).content.decode()
    assert "trainee-a" not in html


def test_erasure_in_one_organisation_keeps_the_name_in_the_other(org, other_org, org_admin):
    alice = make_member(org, Role.TRAINEE, "alice-both")
    make_member(other_org, Role.TRAINEE, "alice-both")
    admin_b = make_member(other_org, Role.ORG_ADMIN, "admin-south")
    north = audit_record(actor=alice, organization=org, obj=org, action="thing.north")
    south = audit_record(actor=alice, organization=other_org, obj=other_org,
                         action="thing.south")
    result = erasure.member_erase(actor=org_admin, organization=org,
                                  membership=Membership.objects.get(user=alice, organization=org),
                                  confirm="alice-both")
    assert not result.in_place
    assert AuditEvent.objects.get(pk=north.pk).actor_username == result.pseudonym
    assert AuditEvent.objects.get(pk=south.pk).actor_username == "alice-both"
    # Later, the account is deleted: North still shows the pseudonym, South the name.
    alice.delete()
    north_html = signed_in(org_admin).get(reverse("manage:audit")).content.decode()
    assert result.pseudonym in audit_row(north_html, north) and "alice-both" not in north_html
    south_html = signed_in(admin_b).get(reverse("manage:audit")).content.decode()
    assert "alice-both" in audit_row(south_html, south)


def test_the_snapshots_are_append_only_except_for_the_erasure(org, org_admin):
    event = audit_record(actor=org_admin, organization=org, obj=org, action="thing.done")
    events = AuditEvent.objects.filter(pk=event.pk)
    with pytest.raises(ValueError, match="append-only"):
        events.update(actor_username="someone-else")
    with pytest.raises(ValueError, match="append-only"):
        events.pseudonymise_names(action="thing.rewritten")
    with pytest.raises(ValueError, match="append-only"):
        events.pseudonymise_names()


def test_the_data_migration_fills_the_names_of_older_events(org, other_org, org_admin):
    """Events recorded before the snapshots get their people's present names; a member erased
    from an organisation whose account lives on appears there under the pseudonym."""
    import importlib

    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    migration = importlib.import_module("training.migrations.0010_audit_event_name_snapshots")
    alice = make_member(org, Role.TRAINEE, "alice-both")
    make_member(other_org, Role.TRAINEE, "alice-both")

    def old_event(organization, action, actor, subject=None):
        return AuditEvent.objects.create(
            at=T0, actor=actor, actor_repr=f"user #{actor.pk}", organization=organization,
            subject=subject, object_type="x", action=action)

    north = old_event(org, "thing.north", alice, subject=org_admin)
    south = old_event(other_org, "thing.south", alice)
    result = erasure.member_erase(actor=org_admin, organization=org,
                                  membership=Membership.objects.get(user=alice, organization=org),
                                  confirm="alice-both")
    # The erasure (new code) already pseudonymised North's; undo that to stand for the state
    # an existing database is in before the migration.
    AuditEvent.objects.filter(pk__in=[north.pk, south.pk]).pseudonymise_names(
        actor_username="", subject_username="")

    state = MigrationLoader(connection).project_state(
        ("training", "0010_audit_event_name_snapshots"))
    migration.fill_name_snapshots(state.apps, None)
    north, south = AuditEvent.objects.get(pk=north.pk), AuditEvent.objects.get(pk=south.pk)
    assert (north.actor_username, north.subject_username) == (result.pseudonym, "admin-a")
    assert south.actor_username == "alice-both"

    migration.clear_name_snapshots(state.apps, None)
    assert not AuditEvent.objects.exclude(actor_username="", subject_username="").exists()


# --- the trail as sentences ----------------------------------------------------------------

# Action names built at run time, beside the literals the source spells out.
COMPUTED_ACTIONS = {
    "certificate.suspended", "certificate.revoked", "certificate.active",
    "drift.alert_acknowledged", "drift.alert_resolved",
    "vignette.submit_for_review", "vignette.return_to_draft", "vignette.publish",
    "vignette.retire", "membership.created", "membership.role_changed", "cohort.created",
    "cohort.changed", "assignment.created", "assignment.changed", "certification_rule.changed",
    "member.pseudonymised", "set.edit", "two_factor.disabled", "two_factor.removed_by_staff",
    "user.reactivated", "appeal.upheld", "appeal.overturned",
}


def test_every_recorded_action_reads_as_its_own_sentence():
    root = pathlib.Path(__file__).resolve().parents[2]
    found = set()
    for folder in ("training", "vignettes"):
        for path in (root / folder).rglob("*.py"):
            found.update(re.findall(r'action\s*=\s*"([a-z_]+\.[a-z_]+)"', path.read_text()))
            found.update(re.findall(r'action\s*=\s*\(?\s*"([a-z_]+\.[a-z_]+)"\s*if',
                                    path.read_text()))
    assert "certificate.issued" in found and "pack.import" in found  # the scan works
    assert found | COMPUTED_ACTIONS <= set(SENTENCES), (found | COMPUTED_ACTIONS) - set(SENTENCES)


def test_sentences_name_actor_object_and_person_and_keep_the_reason(org, org_admin, trainee):
    suspended = audit_record(actor=org_admin, organization=org,
                             object_type="training.Certificate", subject=trainee,
                             action="certificate.suspended", now=T0,
                             before={"status": "active", "reason": ""},
                             after={"status": "suspended", "reason": "Missed two rounds"})
    unknown = audit_record(actor=None, organization=org, object_type="training.Thing",
                           action="thing.poked", now=T0)
    shown = {v.event.pk: v.sentence for v in audit_display([suspended, unknown],
                                                           organization=org)}
    assert shown[suspended.pk] == ("admin-a suspended training.Certificate of trainee-a — "
                                   "reason: Missed two rounds")
    assert shown[unknown.pk] == "system: thing.poked on training.Thing"


def test_a_redacted_reason_is_shown_neither_in_the_sentence_nor_in_the_details(
        org, org_admin, trainee):
    event = audit_record(actor=org_admin, organization=org, object_type="training.Certificate",
                         subject=trainee, action="certificate.revoked", now=T0,
                         after={"status": "revoked", "reason": "Ann Secret left"})
    erasure = Erasure.objects.create(organization=org, pseudonym=trainee, reason="request",
                                     erased_at=T0 + dt.timedelta(days=1))
    AuditRedaction.objects.create(erasure=erasure, event=event, paths=[["after", "reason"]])
    html = signed_in(org_admin).get(reverse("manage:audit")).content.decode()
    row = audit_row(html, event)
    assert "Ann Secret" not in html
    assert "revoked training.Certificate of trainee-a — reason: [redacted]" in row
    assert "&quot;reason&quot;: &quot;[redacted]&quot;" in row  # the details toggle
    assert "<details>" in row


def test_audit_filters_by_object_and_stay_in_the_organisation(org, org_admin, other_org,
                                                             admin_b):
    mine = audit_record(actor=org_admin, organization=org, object_type="training.Cohort",
                        action="cohort.changed", now=T0)
    audit_record(actor=admin_b, organization=other_org, object_type="training.Cohort",
                 action="cohort.changed", now=T0)
    client = signed_in(org_admin)
    html = client.get(reverse("manage:audit"), {"object_type": "training.Cohort"}).content.decode()
    assert html.count('id="event-') == 1 and f'id="event-{mine.pk}"' in html
    assert client.get(reverse("manage:audit"), {"object_type": "training.Cohort",
                                                "object_id": "999"}).content.decode().count(
        'id="event-') == 0
    # Another organisation's admin and a trainee never read this trail.
    assert f'id="event-{mine.pk}"' not in signed_in(admin_b).get(
        reverse("manage:audit")).content.decode()
    assert signed_in(make_member(org, Role.TRAINEE, "t-audit")).get(
        reverse("manage:audit")).status_code in (403, 404)
