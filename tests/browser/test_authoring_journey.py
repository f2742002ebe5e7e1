"""Authoring in a browser: an instructor writes a vignette, previews it and saves the draft,
edits it, runs a reference panel to a consensus reference, submits it for review and puts it in
a set, under the strict CSP without violations and with every form posted once in Chromium."""

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from tests.vignettes.helpers import case_body, make_draft, publish_inputs, publish_ready
from training.models import Organization, Role
from vignettes.models import Vignette

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_instructor_writes_previews_and_saves_a_vignette(content, live_server, watched):
    from django.db import connection

    org = Organization.objects.create(name="Author Service", slug="author-service")
    make_member(org, Role.INSTRUCTOR, "author-instructor")
    connection.close()
    page = watched.page
    base = live_server.url
    sign_in(page, base, "author-instructor")
    page.goto(f"{base}/author/")
    page.click("text=New vignette")
    page.fill("#id_slug", "oliver-t-csem")
    page.fill("#id_title", "Oliver T. (case 201)")
    page.check("input[name=case_types][value=csem-exclusive]")
    page.select_option("#id_pool", "exam")
    page.fill("#id_body", case_body("Oliver T.", "browser") + "\n<script>alert(1)</script>\n")
    page.click("button[name=preview]")
    page.wait_for_load_state("networkidle")
    assert page.locator(".author-preview h2", has_text="Current situation").count() == 1
    assert page.locator(".author-preview script").count() == 0
    watched.shot("author-preview")
    page.click("button[name=save]")
    page.wait_for_load_state("networkidle")
    assert page.locator("h1", has_text="Oliver T.").count() == 1
    watched.shot("author-vignette")
    assert Vignette.objects.get(owner=org, slug="oliver-t-csem").status == "draft"
    watched.assert_clean()


def test_instructor_edits_a_draft_runs_a_reference_panel_and_records_consensus(
        content, live_server, watched):
    """Every authoring form after the first save, posted once in Chromium: edit the draft,
    start a panel (it covers every instrument), find it waiting on the dashboard and score it
    as an expert, record the consensus from the prefilled form, submit for review, make a
    set."""
    from django.core import mail
    from django.db import connection

    from vignettes.authoring import panels as authoring_panels
    from vignettes.models import ReferencePanel, ReferenceScoring, VignetteSet

    org = Organization.objects.create(name="Panel Service", slug="panel-service")
    lead = make_member(org, Role.INSTRUCTOR, "panel-lead")
    expert = make_member(org, Role.INSTRUCTOR, "panel-expert")
    vignette = make_draft(org, lead)
    inputs = publish_inputs()
    connection.close()
    page = watched.page
    base = live_server.url
    sign_in(page, base, "panel-lead")

    page.goto(f"{base}/author/vignettes/{vignette.pk}/")
    # Nothing is agreed yet: review is unavailable and the page says why.
    assert page.get_by_role("button", name="Submit for review").is_disabled()
    assert page.get_by_text("content checks fail").count() == 1
    page.get_by_role("link", name="Edit", exact=True).click()
    page.fill("#id_title", "Oliver T. (case 202)")
    page.click("button[name=save]")
    page.locator("h1", has_text="case 202").wait_for()
    assert vignette.revisions.count() == 2

    # One panel of the lead and one more expert, on every instrument.
    page.get_by_role("link", name="Start a reference panel").click()
    page.check(f"input[name=experts][value='{lead.pk}']")
    page.check(f"input[name=experts][value='{expert.pk}']")
    watched.shot("panel-new")
    page.get_by_role("button", name="Invite the experts").click()
    page.get_by_text("Panel created; the experts can now score.").wait_for()
    panel = ReferencePanel.objects.get(vignette=vignette)
    assert sorted(v.instrument.slug for v in panel.instrument_versions.all()) == sorted(inputs)
    assert [m.to for m in mail.outbox] == [[expert.email]]  # the lead started it

    # The other expert scores CPORT-2 one higher; the lead finds the panel on the dashboard.
    first = publish_inputs()
    first["cport"].codes["CPORT-2"] += 1
    authoring_panels.panel_scoring_submit(panel=panel, user=expert, ref_inputs=first)
    connection.close()
    page.goto(f"{base}/dashboard/")
    waiting = page.locator("section[aria-labelledby=panels-waiting-h]")
    waiting.get_by_role("link", name="Oliver T. (case 202)").click()
    scoring = page.locator("section[aria-labelledby=score-h]")
    for slug, ref_input in inputs.items():
        name = {"cport": "CPORT", "stable-2007": "STABLE-2007", "static-99r": "Static-99R"}
        group = scoring.get_by_role("group", name=f"Does {name[slug]} apply?")
        if not ref_input.applicable:
            group.get_by_role("radio", name="Does not apply").check()
            page.fill(f"#id_{slug}-reason", ref_input.reason)
            assert page.locator(f"table[data-items-of='{slug}-applicable']").is_hidden()
            continue
        group.get_by_role("radio", name="Applies").check()
        for code, value in ref_input.codes.items():
            page.select_option(f"#{slug}-item-{code}", str(value))
            page.fill(f"#{slug}-rationale-{code}", ref_input.rationales[code])
    watched.shot("panel-score")
    scoring.get_by_role("button", name="Submit my scoring").click()
    page.get_by_text("Your scoring is submitted.").wait_for()

    # The consensus form starts from what both agreed; CPORT-2 is empty and marked.
    consensus = page.locator("section[aria-labelledby=consensus-h]")
    assert consensus.locator("#cport-item-CPORT-1").input_value() == str(
        inputs["cport"].codes["CPORT-1"])
    assert consensus.locator("#cport-rationale-CPORT-1").input_value() == (
        inputs["cport"].rationales["CPORT-1"])
    assert consensus.locator("#cport-item-CPORT-2").input_value() == ""
    assert consensus.locator("tr.disagree").count() == 1
    assert consensus.locator("#id_static-99r-reason").input_value() == (
        inputs["static-99r"].reason)
    watched.shot("panel-consensus")
    consensus.locator("#cport-item-CPORT-2").select_option(
        str(inputs["cport"].codes["CPORT-2"]))
    consensus.locator("#cport-rationale-CPORT-2").fill("Settled together: scored as agreed.")
    consensus.get_by_role("button", name="Record consensus").click()
    page.get_by_text("Consensus references recorded.").wait_for()
    assert ReferenceScoring.objects.filter(source_panel=panel).count() == 3
    assert page.get_by_text("). on").count() == 0  # no doubled full stop after the panel

    page.get_by_role("button", name="Submit for review").click()
    page.wait_for_load_state("networkidle")
    vignette.refresh_from_db()
    assert vignette.status == "in_review"
    assert page.get_by_role("button", name="Edit").is_disabled()
    assert page.get_by_text("In review: return it to draft").count() == 1

    page.goto(f"{base}/author/sets/new/")
    page.fill("#id_slug", "browser-exam-pool")
    page.fill("#id_title", "Browser exam pool")
    page.select_option("#id_kind", "exam")
    page.check(f"input[name=vignettes][value='{vignette.slug}']")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    assert VignetteSet.objects.filter(owner=org, slug="browser-exam-pool").exists()
    watched.assert_clean()


def test_author_corrects_a_reference_and_moves_content_to_another_organisation_by_pack(
        content, live_server, watched):
    """A published vignette's reference is corrected; the vignette leaves as a content pack
    (the export form), the author switches organisation (the switch in the header) and the
    pack is uploaded there, previewed and imported, all posted in Chromium."""
    import io
    import zipfile
    from pathlib import Path

    from django.db import connection

    from training.models import Membership
    from vignettes.authoring import vignettes as authoring_vignettes

    north = Organization.objects.create(name="North Authors", slug="north-authors")
    south = Organization.objects.create(name="South Authors", slug="south-authors")
    lead = make_member(north, Role.INSTRUCTOR, "pack-lead")
    experts = [make_member(north, Role.INSTRUCTOR, f"pack-expert-{i}") for i in (1, 2)]
    Membership.objects.create(user=lead, organization=south, role=Role.INSTRUCTOR)
    vignette = make_draft(north, lead)
    publish_ready(vignette, lead, experts)
    for action in ("submit_for_review", "publish"):
        authoring_vignettes.vignette_transition(vignette=vignette, organization=north, actor=lead,
                                      action=action)
    before = authoring_vignettes.current_references(vignette.current_revision)["cport"]
    connection.close()
    page = watched.page
    base = live_server.url
    sign_in(page, base, "pack-lead")

    # Correct the CPORT reference: CPORT-1 was miscoded.
    page.goto(f"{base}/author/vignettes/{vignette.pk}/")
    page.locator("a[href$='/references/cport/correct/']").click()
    page.get_by_label("Code for CPORT-1").select_option("1")
    page.get_by_label("What was corrected and why").fill("CPORT-1 was miscoded.")
    watched.shot("correct-reference")
    page.get_by_role("button", name="Publish the correction").click()
    page.get_by_text("Corrected reference published.").wait_for()
    after = authoring_vignettes.current_references(vignette.current_revision)["cport"]
    assert after.number == before.number + 1
    assert after.item_states()["CPORT-1"] == 1

    # Export it as a content pack.
    page.goto(f"{base}/author/")
    page.get_by_role("link", name="Export a content pack").click()
    page.check(f"input[name=vignettes][value='{vignette.slug}']")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the pack").click()
    pack = Path(download.value.path())
    assert zipfile.ZipFile(io.BytesIO(pack.read_bytes())).namelist() == [
        f"vignettes/{vignette.slug}.md"]

    # Switch to the other organisation and import the pack there: preview, then confirm.
    page.click("details.account-menu > summary")
    page.get_by_label("Organisation").select_option("south-authors")
    page.get_by_role("button", name="Switch").click()
    page.get_by_text("You are now working in South Authors.").wait_for()
    page.goto(f"{base}/author/")
    page.get_by_role("link", name="Import a content pack").click()
    page.get_by_label("Content pack (.zip)").set_input_files(str(pack))
    page.get_by_role("button", name="Check and preview").click()
    preview = page.locator("table.pack-preview")
    preview.wait_for()
    assert preview.locator("tbody tr").count() == 1 and "new" in preview.inner_text()
    watched.shot("pack-preview")
    assert not Vignette.objects.filter(owner=south).exists()
    page.get_by_role("button", name="Import", exact=True).click()
    page.get_by_text("Pack imported: 1 change(s).").wait_for()
    imported = Vignette.objects.get(owner=south, slug=vignette.slug)
    assert authoring_vignettes.current_references(imported.current_revision)["cport"].item_states() == (
        after.item_states())
    watched.assert_clean()
