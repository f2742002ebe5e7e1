"""Organisations author their own content (drafts, panels, review, corrections,
content packs)."""

import io
import re
import zipfile

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from tests.conftest import browser_for, make_member
from tests.factories import OrganizationFactory
from tests.vignettes.helpers import (
    case_body,
    lowest,
    make_draft,
    not_applicable,
    publish_ready,
    scoring_input,
    zip_of,
)
from training.attempts import selectors
from training.attempts import services as attempt_services
from training.exceptions import Conflict
from training.models import AuditEvent, Role
from vignettes import selectors as content_selectors
from vignettes.authoring import packs as authoring_packs
from vignettes.authoring import panels as authoring_panels
from vignettes.authoring import references as authoring_references
from vignettes.authoring import sets as authoring_sets
from vignettes.authoring import vignettes as authoring_vignettes
from vignettes.models import (
    ContentStatus,
    CorrectionDecision,
    ReferenceScoring,
    Vignette,
    VignetteSet,
)
from vignettes.services import ContentProblems

pytestmark = pytest.mark.django_db


@pytest.fixture
def experts(org):
    return [make_member(org, Role.INSTRUCTOR, f"expert-{i}") for i in (1, 2)]


# --- drafts and revisions ------------------------------------------------------------------


def test_edit_creates_a_revision_only_when_content_changes(org, instructor):
    vignette = make_draft(org, instructor)
    rev = vignette.current_revision
    body = rev.body
    values = {"pool": "exam", "title": rev.title, "case_types": rev.case_types,
              "difficulty": rev.difficulty, "hard_because": "", "body": body}
    # Whitespace-only edits are not changes.
    same = authoring_vignettes.vignette_update(
        vignette=vignette, organization=org, actor=instructor,
        **{**values, "body": body.replace("\n", "\r\n") + "   \n"},
    )
    assert same.pk == rev.pk
    changed = authoring_vignettes.vignette_update(
        vignette=vignette, organization=org, actor=instructor,
        **{**values, "body": body + "\nOne more line.\n"},
    )
    assert changed.number == 2
    assert AuditEvent.objects.filter(action="vignette.edit").count() == 1


def test_trainees_cannot_author_and_bundled_content_is_read_only(org, instructor, trainee):
    with pytest.raises(PermissionDenied):
        make_draft(org, trainee)
    bundled = Vignette.objects.get(slug="daniel-r-009", owner__isnull=True)
    with pytest.raises(PermissionDenied):
        authoring_vignettes.vignette_transition(
            vignette=bundled, organization=org, actor=instructor, action="retire"
        )
    client = browser_for(instructor)
    assert client.get(f"/author/vignettes/{bundled.pk}/").status_code == 404
    assert client.get(f"/author/vignettes/{bundled.pk}/edit/").status_code == 404
    assert browser_for(trainee).get("/author/").status_code == 403
    assert browser_for(trainee).get("/author/vignettes/new/").status_code == 403


def test_other_organisation_gets_404_on_every_page(org, other_org, instructor, experts):
    vignette = make_draft(org, instructor)
    panel = authoring_panels.panel_create(
        vignette=vignette, organization=org, lead=instructor, instrument_slugs=["cport"],
        expert_ids=[e.pk for e in experts],
    )
    vignette_set = authoring_sets.vignette_set_save(
        organization=org, actor=instructor, slug="north-exam", title="North exam pool",
        kind="exam", instrument_slug="cport", vignette_slugs=[vignette.slug],
    )
    south = make_member(other_org, Role.INSTRUCTOR, "instructor-south")
    client = browser_for(south)
    for url in (
        f"/author/vignettes/{vignette.pk}/",
        f"/author/vignettes/{vignette.pk}/edit/",
        f"/author/vignettes/{vignette.pk}/panels/new/",
        f"/author/vignettes/{vignette.pk}/references/cport/correct/",
        f"/author/panels/{panel.pk}/",
        f"/author/sets/{vignette_set.pk}/",
    ):
        assert client.get(url).status_code == 404, url
    assert vignette.slug not in client.get("/author/").content.decode()
    # Nor can it be exported by the other organisation.
    data = authoring_packs.pack_export(organization=other_org)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == []


def test_preview_is_sanitised_and_saving_works_without_javascript(org, instructor):
    client = browser_for(instructor)
    page = client.get("/author/vignettes/new/")
    assert page.status_code == 200
    assert "## Current situation" in page.content.decode()
    form = {
        "csrfmiddlewaretoken": page.cookies["csrftoken"].value if "csrftoken" in page.cookies
        else client.cookies["csrftoken"].value,
        "slug": "oliver-t-csem", "pool": "practice",
        "title": "Oliver T. (case 201)", "case_types": ["csem-exclusive"],
        "difficulty": "standard", "hard_because": "",
        "body": case_body("Oliver T.", "x") + "\n<script>alert(1)</script>\n",
    }
    preview = client.post("/author/vignettes/new/", {**form, "preview": "1"})
    html = preview.content.decode()
    assert preview.status_code == 200 and "<script>alert" not in html
    assert "Current situation</h2>" in html
    assert not Vignette.objects.filter(owner=org).exists()
    saved = client.post("/author/vignettes/new/", {**form, "save": "1"})
    assert saved.status_code == 302
    assert Vignette.objects.get(owner=org, slug="oliver-t-csem").status == "draft"


# --- panels --------------------------------------------------------------------------------


def test_experts_cannot_see_each_others_codes_until_all_have_submitted(
    org, instructor, experts
):
    vignette = make_draft(org, instructor)
    panel = authoring_panels.panel_create(
        vignette=vignette, organization=org, lead=instructor, instrument_slugs=["cport"],
        expert_ids=[e.pk for e in experts],
    )
    version = panel.instrument_versions.get()
    first = scoring_input(version, lambda item: 1 if item.code == "CPORT-2" else 0,
                          rationale="Expert one reasoning here.")
    authoring_panels.panel_scoring_submit(panel=panel, user=experts[0],
                                          ref_inputs={"cport": first})
    assert authoring_panels.panel_agreement(panel) is None
    page = browser_for(experts[1]).get(f"/author/panels/{panel.pk}/")
    assert page.status_code == 200
    assert page.context["agreement"] is None
    assert "Expert one reasoning here." not in page.content.decode()
    # The lead cannot record a consensus yet.
    with pytest.raises(Conflict):
        authoring_panels.panel_consensus_record(panel=panel, actor=instructor,
                                                ref_inputs={"cport": first})
    with pytest.raises(Conflict):
        authoring_panels.panel_scoring_submit(panel=panel, user=experts[0],
                                              ref_inputs={"cport": first})

    authoring_panels.panel_scoring_submit(
        panel=panel, user=experts[1], ref_inputs={"cport": scoring_input(version, lowest)}
    )
    agreement = authoring_panels.panel_agreement(panel)["cport"]
    disagree = [i.code for i in agreement.items if not i.agree]
    assert disagree == ["CPORT-2"]
    assert agreement.percent_agreement == pytest.approx(6 / 7)
    assert agreement.total_icc is None and agreement.total_icc_reason
    page = browser_for(experts[1]).get(f"/author/panels/{panel.pk}/")
    assert "Expert one reasoning here." in page.content.decode()


def test_panel_needs_two_staff_experts_of_the_organisation(org, other_org, instructor, trainee):
    vignette = make_draft(org, instructor)
    south = make_member(other_org, Role.INSTRUCTOR, "south-expert")
    for ids in ([instructor.pk], [instructor.pk, trainee.pk], [instructor.pk, south.pk]):
        with pytest.raises(ValidationError):
            authoring_panels.panel_create(
                vignette=vignette, organization=org, lead=instructor, instrument_slugs=["cport"],
                expert_ids=ids,
            )


def test_consensus_is_validated_and_keeps_provenance(org, instructor, experts):
    vignette = make_draft(org, instructor)
    panel = authoring_panels.panel_create(
        vignette=vignette, organization=org, lead=instructor, instrument_slugs=["static-99r"],
        expert_ids=[e.pk for e in experts],
    )
    for expert in experts:
        authoring_panels.panel_scoring_submit(panel=panel, user=expert,
                                              ref_inputs={"static-99r": not_applicable()})
    version = panel.instrument_versions.get()
    # Static-99R does not apply to a CSEM-only case under its rule.
    with pytest.raises(ValidationError) as exc:
        authoring_panels.panel_consensus_record(
            panel=panel, actor=instructor,
            ref_inputs={"static-99r": scoring_input(version, lowest)}
        )
    assert "does not apply" in str(exc.value)
    with pytest.raises(PermissionDenied):
        authoring_panels.panel_consensus_record(
            panel=panel, actor=experts[0], ref_inputs={"static-99r": not_applicable()}
        )
    reference = authoring_panels.panel_consensus_record(
        panel=panel, actor=instructor, ref_inputs={"static-99r": not_applicable()}
    )["static-99r"]
    assert reference.source_panel == panel and reference.agreement["experts"]
    assert AuditEvent.objects.filter(action="reference.consensus").exists()


# --- review, publishing, exam pools --------------------------------------------------------


def test_publishing_runs_the_content_checks_and_changes_nothing_on_failure(
    org, instructor, experts
):
    vignette = make_draft(org, instructor)
    # Review needs the checks to pass too: the draft stays a draft and the page says why.
    with pytest.raises(ValidationError) as exc:
        authoring_vignettes.vignette_transition(
            vignette=vignette, organization=org, actor=instructor, action="submit_for_review"
        )
    assert "references.cport" in str(exc.value)
    vignette.refresh_from_db()
    assert vignette.status == ContentStatus.DRAFT
    page = browser_for(instructor).get(f"/author/vignettes/{vignette.pk}/").content.decode()
    assert 'value="submit_for_review" disabled' in page and "content checks fail" in page
    # A case already in review (say, under rules that changed since) is checked again.
    Vignette.objects.filter(pk=vignette.pk).update(status=ContentStatus.IN_REVIEW)
    page = browser_for(instructor).get(f"/author/vignettes/{vignette.pk}/").content.decode()
    assert 'value="publish" disabled' in page
    assert "In review: return it to draft to edit it or start a panel" in page
    with pytest.raises(ValidationError) as exc:
        authoring_vignettes.vignette_transition(
            vignette=vignette, organization=org, actor=instructor, action="publish"
        )
    assert "references.cport" in str(exc.value)
    vignette.refresh_from_db()
    assert vignette.status == ContentStatus.IN_REVIEW
    authoring_vignettes.vignette_transition(
        vignette=vignette, organization=org, actor=instructor, action="return_to_draft"
    )
    publish_ready(vignette, instructor, experts)
    assert authoring_vignettes.publish_problems(vignette) == []
    authoring_vignettes.vignette_transition(
        vignette=vignette, organization=org, actor=instructor, action="submit_for_review"
    )
    authoring_vignettes.vignette_transition(
        vignette=vignette, organization=org, actor=instructor, action="publish"
    )
    vignette.refresh_from_db()
    assert vignette.status == ContentStatus.PUBLISHED
    assert AuditEvent.objects.filter(action="vignette.publish", object_id=str(vignette.pk))


def test_private_exam_pool_is_usable_only_inside_its_organisation(
    org, other_org, instructor, experts, trainee
):
    vignette = make_draft(org, instructor)
    publish_ready(vignette, instructor, experts)
    for action in ("submit_for_review", "publish"):
        authoring_vignettes.vignette_transition(
            vignette=vignette, organization=org, actor=instructor, action=action
        )
    pool = authoring_sets.vignette_set_save(
        organization=org, actor=instructor, slug="north-cport-exam", title="North CPORT exam",
        kind="exam", instrument_slug="cport", vignette_slugs=[vignette.slug],
    )
    assert pool in content_selectors.exam_pool_list(organization=org)
    assert pool not in content_selectors.exam_pool_list(organization=other_org)
    # Exam vignettes are never in the practice library, here or elsewhere.
    assert vignette.slug not in {v.slug for v in content_selectors.practice_library(
        organization=org)}
    assert vignette.slug not in {v.slug for v in content_selectors.practice_library(
        organization=other_org)}
    # The organisation's instructors can build an exam assignment on it; others cannot.
    page = browser_for(instructor).get("/manage/assignments/new/")
    if page.status_code == 200:
        assert "North CPORT exam" in page.content.decode()
    with pytest.raises(ValidationError):
        authoring_sets.vignette_set_save(
            organization=org, actor=instructor, slug="bad", title="Bad", kind="practice",
            instrument_slug=None, vignette_slugs=[vignette.slug],
        )
    south = make_member(other_org, Role.INSTRUCTOR, "south-i")
    with pytest.raises(ValidationError):
        authoring_sets.vignette_set_save(
            organization=other_org, actor=south, slug="steal", title="Steal", kind="exam",
            instrument_slug=None, vignette_slugs=[vignette.slug],
        )


# --- corrections ---------------------------------------------------------------------------


def test_correction_keeps_ratings_on_their_reference_and_records_the_decision(
    org, instructor, experts, trainee
):
    vignette = make_draft(org, instructor, slug="oliver-t-practice", pool="practice")
    publish_ready(vignette, instructor, experts)
    for action in ("submit_for_review", "publish"):
        authoring_vignettes.vignette_transition(
            vignette=vignette, organization=org, actor=instructor, action=action
        )
    attempt = attempt_services.attempt_start_practice(
        user=trainee, organization=org, vignette_slug=vignette.slug, instrument_slugs=["cport"]
    )
    attempt_services.rating_save_draft(
        attempt=attempt, vignette=vignette.slug, instrument="cport", revision=0,
        applicable=True, items={f"CPORT-{i}": 1 if i == 1 else 0 for i in range(1, 8)},
    )
    attempt = attempt_services.attempt_submit(attempt=attempt)
    attempt.refresh_from_db()
    rating = attempt.ratings.get()
    original = rating.reference_scoring
    version = original.instrument_version
    corrected = scoring_input(version, lambda item: 1 if item.code == "CPORT-1" else 0)
    decision = authoring_references.reference_correct(
        vignette=vignette, organization=org, actor=instructor, instrument_slug="cport",
        ref_input=corrected, re_evaluate=True, note="CPORT-1 was miscoded.",
    )
    assert decision.new_reference.number == original.number + 1
    rating.refresh_from_db()
    assert rating.reference_scoring_id == original.pk
    assert CorrectionDecision.objects.filter(re_evaluate=True).count() == 1
    assert AuditEvent.objects.filter(action="reference.correct").exists()
    feedback = selectors.attempt_feedback(attempt)
    assert "6 of 7 items agree" in feedback[0].summary
    assert "7 of 7 items agree" in feedback[0].correction_note
    page = browser_for(trainee).get(f"/attempts/{attempt.pk}/feedback/")
    assert page.status_code == 200
    assert "CPORT-1 was miscoded." in page.content.decode()


# --- content packs -------------------------------------------------------------------------


def _published_content(org, instructor, experts):
    first = make_draft(org, instructor)
    second = make_draft(org, instructor, slug="peter-w-csem", name="Peter W.")
    for vignette in (first, second):
        publish_ready(vignette, instructor, experts)
        for action in ("submit_for_review", "publish"):
            authoring_vignettes.vignette_transition(
                vignette=vignette, organization=org, actor=instructor, action=action
            )
    authoring_sets.vignette_set_save(
        organization=org, actor=instructor, slug="north-cport-exam", title="North CPORT exam",
        kind="exam", instrument_slug="cport", vignette_slugs=[first.slug, second.slug],
    )
    return first, second


def test_pack_export_preview_import_is_idempotent(org, instructor, experts):
    _published_content(org, instructor, experts)
    data = authoring_packs.pack_export(organization=org)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert sorted(names) == ["sets/north-cport-exam.yaml", "vignettes/oliver-t-csem.md",
                             "vignettes/peter-w-csem.md"]
    bundle = authoring_packs.pack_read(data=data, organization=org)
    assert bundle.problems == []
    preview = authoring_packs.pack_preview(bundle=bundle, organization=org)
    assert {c.change for c in preview} == {"unchanged"}


def test_a_pack_with_one_bad_file_imports_nothing(org, other_org, instructor, experts):
    _published_content(org, instructor, experts)
    files = {n: zipfile.ZipFile(io.BytesIO(authoring_packs.pack_export(organization=org))).read(n)
             .decode() for n in zipfile.ZipFile(io.BytesIO(
                 authoring_packs.pack_export(organization=org))).namelist()}
    bad, n = re.subn(r"(CPORT-1:\n\s+value: )0", r"\g<1>7", files["vignettes/peter-w-csem.md"])
    assert n == 1
    files["vignettes/peter-w-csem.md"] = bad
    south = make_member(other_org, Role.INSTRUCTOR, "south-importer")
    with pytest.raises(ContentProblems) as exc:
        authoring_packs.pack_import(data=zip_of(files), organization=other_org, actor=south)
    assert any("CPORT-1" in str(p) for p in exc.value.problems)
    assert not Vignette.objects.filter(owner=other_org).exists()
    assert not VignetteSet.objects.filter(owner=other_org).exists()


@pytest.mark.parametrize("name", ["../evil.md", "/etc/passwd", "vignettes/../../x.md",
                                  "vignettes/run.py", "instruments/cport.yaml"])
def test_pack_zip_safety(org, name):
    bundle = authoring_packs.pack_read(data=zip_of({name: "x"}), organization=org)
    assert bundle.problems and not bundle.vignettes


def test_pack_size_limit_and_not_azip_of(org):
    assert authoring_packs.pack_read(data=b"not a zip", organization=org).problems
    big = b"0" * (authoring_packs.PACK_MAX_BYTES + 1)
    assert authoring_packs.pack_read(data=big, organization=org).problems


def test_import_pages_preview_then_apply(org, other_org, instructor, experts):
    _published_content(org, instructor, experts)
    data = authoring_packs.pack_export(organization=org)
    south = make_member(other_org, Role.INSTRUCTOR, "south-page")
    client = browser_for(south)
    client.get("/author/packs/import/")
    token = client.cookies["csrftoken"].value
    upload = io.BytesIO(data)
    upload.name = "pack.zip"
    preview = client.post("/author/packs/import/", {"csrfmiddlewaretoken": token,
                                                     "pack": upload})
    assert preview.status_code == 200
    assert [c.change for c in preview.context["changes"]] == ["new", "new", "new"]
    assert not Vignette.objects.filter(owner=other_org).exists()
    applied = client.post("/author/packs/import/", {
        "csrfmiddlewaretoken": token, "pack_data": preview.context["pack_data"],
        "confirm": "yes"})
    assert applied.status_code == 302
    assert Vignette.objects.filter(owner=other_org).count() == 2


@pytest.mark.django_db(transaction=True)
def test_content_pack_round_trips_into_a_fresh_database(content, django_user_model):
    """Export, flush the database (a fresh install: bundled content only), import: the
    organisation's content is identical (the re-exported pack is byte for byte the same)."""
    north = OrganizationFactory(name="North Service", slug="north")
    lead = make_member(north, Role.INSTRUCTOR, "lead")
    panel = [make_member(north, Role.INSTRUCTOR, f"rt-expert-{i}") for i in (1, 2)]
    _published_content(north, lead, panel)
    exported = authoring_packs.pack_export(organization=north)
    before = {
        v.slug: (v.pool, v.status, v.current_revision.content_hash,
                 {s: r.content_hash for s, r in authoring_vignettes.current_references(
                     v.current_revision).items()})
        for v in Vignette.objects.filter(owner=north)
    }

    call_command("flush", verbosity=0, interactive=False)
    call_command("load_content", verbosity=0)
    fresh = OrganizationFactory(name="North Service", slug="north")
    importer = make_member(fresh, Role.INSTRUCTOR, "importer")
    authoring_packs.pack_import(data=exported, organization=fresh, actor=importer)

    assert authoring_packs.pack_export(organization=fresh) == exported
    after = {
        v.slug: (v.pool, v.status, v.current_revision.content_hash,
                 {s: r.content_hash for s, r in authoring_vignettes.current_references(
                     v.current_revision).items()})
        for v in Vignette.objects.filter(owner=fresh)
    }
    assert after == before
    assert ReferenceScoring.objects.filter(vignette_revision__vignette__owner=fresh).count() == 6



def test_authoring_pages_render_with_provenance(org, instructor, experts):
    first, _second = _published_content(org, instructor, experts)
    client = browser_for(instructor)
    detail = client.get(f"/author/vignettes/{first.pk}/")
    assert detail.status_code == 200
    assert "Panel, individual codes and agreement" in detail.content.decode()
    panel = first.panels.filter(instrument_versions__instrument__slug="cport").first()
    page = client.get(f"/author/panels/{panel.pk}/")
    html = page.content.decode()
    assert page.status_code == 200 and "ICC(A,1) on totals" in html and "undefined" in html
    for url in ("/author/", "/author/sets/new/", "/author/packs/export/",
                "/author/packs/import/", f"/author/vignettes/{first.pk}/references/cport/correct/"):
        assert client.get(url).status_code == 200, url
    exported = client.post("/author/packs/export/", {
        "csrfmiddlewaretoken": client.cookies["csrftoken"].value})
    assert exported["Content-Type"] == "application/zip"
