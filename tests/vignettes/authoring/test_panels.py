"""One reference panel per case: it covers every instrument (each expert first decides which
apply), experts learn that it waits for them (e-mail and dashboard, in their organisation
only), and the consensus form starts from what every expert agreed on."""

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from tests.conftest import make_member, signed_in
from tests.vignettes.helpers import make_draft, publish_inputs
from training.models import Role
from training.organisation.export import member_export
from vignettes.authoring import panels as authoring_panels
from vignettes.models import Instrument, PanelScoring

pytestmark = pytest.mark.django_db


@pytest.fixture
def experts(org):
    return [make_member(org, Role.INSTRUCTOR, f"expert-{i}") for i in (1, 2)]


@pytest.fixture
def panel(org, instructor, experts, django_capture_on_commit_callbacks):
    vignette = make_draft(org, instructor)
    with django_capture_on_commit_callbacks(execute=True):
        return authoring_panels.panel_create(
            vignette=vignette, organization=org, lead=instructor,
            expert_ids=[instructor.pk] + [e.pk for e in experts], site="https://calibrate.test/",
        )


def _form(inputs, **extra) -> dict:
    """The panel form's fields for `inputs` (slug -> ScoringInput)."""
    data = dict(extra)
    for slug, ref_input in inputs.items():
        data[f"{slug}-applicable"] = "yes" if ref_input.applicable else "no"
        data[f"{slug}-reason"] = ref_input.reason
        for code, value in ref_input.codes.items():
            data[f"{slug}-item-{code}"] = "omit" if value is None else str(value)
            data[f"{slug}-rationale-{code}"] = ref_input.rationales[code]
    return data


def test_a_panel_covers_every_bundled_instrument_and_emails_the_invited_experts(
        panel, instructor, experts):
    bundled = set(Instrument.objects.bundled().filter(current_version__isnull=False)
                  .values_list("slug", flat=True))
    assert {v.instrument.slug for v in panel.instrument_versions.all()} == bundled
    # The lead started it and is not told; each invited expert gets one e-mail with the link.
    assert sorted(m.to[0] for m in mail.outbox) == sorted(e.email for e in experts)
    assert f"https://calibrate.test/author/panels/{panel.pk}/" in mail.outbox[0].body
    assert "Oliver T. (case 201)" in mail.outbox[0].body


def test_waiting_panels_show_on_the_experts_dashboard_in_their_organisation_only(
        panel, org, other_org, experts, trainee):
    page = signed_in(experts[0]).get("/dashboard/").content.decode()
    assert "Panels waiting for you" in page and f"/author/panels/{panel.pk}/" in page
    # Not for a trainee of the organisation, nor for a member of another organisation.
    assert "Panels waiting for you" not in signed_in(trainee).get("/dashboard/").content.decode()
    south = make_member(other_org, Role.INSTRUCTOR, "south-instructor")
    assert "Panels waiting for you" not in signed_in(south).get("/dashboard/").content.decode()
    assert signed_in(south).get(f"/author/panels/{panel.pk}/").status_code == 404
    # Once the expert has scored, it no longer waits for them.
    authoring_panels.panel_scoring_submit(panel=panel, user=experts[0],
                                          ref_inputs=publish_inputs())
    page = signed_in(experts[0]).get("/dashboard/").content.decode()
    assert "Panels waiting for you" not in page
    assert "Panels waiting for you" in signed_in(experts[1]).get("/dashboard/").content.decode()


def test_an_instrument_that_does_not_apply_gets_no_item_coding(panel, experts):
    inputs = publish_inputs()
    data = _form(inputs, action="score")
    data["static-99r-item-S99R-1"] = "1"  # left in the form; the decision is "does not apply"
    response = signed_in(experts[0]).post(f"/author/panels/{panel.pk}/", data)
    assert response.status_code == 302
    static = PanelScoring.objects.get(member__user=experts[0],
                                      instrument_version__instrument__slug="static-99r")
    assert static.applicable is False and static.codes == {} and static.rationales == {}
    assert PanelScoring.objects.filter(member__user=experts[0]).count() == 3


def test_every_instrument_needs_a_decision_and_nothing_is_half_stored(panel, experts):
    inputs = publish_inputs()
    del inputs["stable-2007"]
    with pytest.raises(ValidationError, match="STABLE-2007"):
        authoring_panels.panel_scoring_submit(panel=panel, user=experts[0], ref_inputs=inputs)
    inputs = publish_inputs()
    inputs["cport"].rationales["CPORT-1"] = ""
    response = signed_in(experts[0]).post(f"/author/panels/{panel.pk}/",
                                          _form(inputs, action="score"))
    assert response.status_code == 200
    assert "CPORT CPORT-1: CPORT-1 needs a rationale." in response.content.decode()
    assert not PanelScoring.objects.filter(member__user=experts[0]).exists()


def test_the_consensus_form_starts_from_what_every_expert_agreed(panel, instructor, experts):
    agreed = publish_inputs()
    for user in [instructor, experts[1]]:
        authoring_panels.panel_scoring_submit(panel=panel, user=user, ref_inputs=agreed)
    different = publish_inputs()
    different["cport"].codes["CPORT-3"] = 1
    different["cport"].rationales["CPORT-1"] = "A second expert's own words."
    authoring_panels.panel_scoring_submit(panel=panel, user=experts[0], ref_inputs=different)
    page = signed_in(instructor).get(f"/author/panels/{panel.pk}/")
    forms = {f["version"].instrument.slug: f for f in page.context["consensus_forms"]}
    cport = {row["item"].code: row for row in forms["cport"]["rows"]}
    assert cport["CPORT-1"]["current"] == str(agreed["cport"].codes["CPORT-1"])
    # Both rationales the experts wrote for an agreed code, each once.
    rationale = cport["CPORT-1"]["rationale"]
    assert rationale.count("Scored from the case file.") == 1
    assert rationale.count("A second expert's own words.") == 1
    assert cport["CPORT-3"]["current"] == "" and cport["CPORT-3"]["rationale"] == ""
    assert cport["CPORT-3"]["disagreement"] is not None
    assert forms["static-99r"]["applicable_value"] == "no"
    assert forms["static-99r"]["reason"] == agreed["static-99r"].reason
    assert 'class="disagree"' in page.content.decode()
    # Recorded as prefilled plus the settled item: three references from one panel.
    settled = publish_inputs()
    references = authoring_panels.panel_consensus_record(panel=panel, actor=instructor,
                                                         ref_inputs=settled)
    assert set(references) == {"cport", "stable-2007", "static-99r"}
    assert references["cport"].agreement["items"]["CPORT-3"]["agree"] is False


def test_the_data_export_lists_each_instrument_an_expert_scored(panel, org, experts, org_admin):
    authoring_panels.panel_scoring_submit(panel=panel, user=experts[0],
                                          ref_inputs=publish_inputs())
    exported = member_export(actor=org_admin, organization=org, user=experts[0])["reference_panels"]
    assert exported[0]["instruments"] == ["cport", "stable-2007", "static-99r"]
    assert {s["instrument"] for s in exported[0]["scorings"]} == {
        "cport", "stable-2007", "static-99r"}
