"""Authoring in a browser: an instructor writes a vignette, previews it and saves the draft,
edits it, runs a reference panel to a consensus reference, submits it for review and puts it in
a set, under the strict CSP without violations and with every form posted once in Chromium."""

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from tests.vignettes.test_authoring import case_body
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
    page.fill("#id_title", "Oliver T.: possession of images, first conviction")
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
    start a panel, score as an expert, record the consensus, submit for review, make a set."""
    from django.db import connection

    from tests.vignettes.test_authoring import make_draft, not_applicable
    from vignettes import authoring
    from vignettes.models import ReferencePanel, VignetteSet

    org = Organization.objects.create(name="Panel Service", slug="panel-service")
    lead = make_member(org, Role.INSTRUCTOR, "panel-lead")
    expert = make_member(org, Role.INSTRUCTOR, "panel-expert")
    vignette = make_draft(org, lead)
    connection.close()
    page = watched.page
    base = live_server.url
    sign_in(page, base, "panel-lead")

    page.goto(f"{base}/author/vignettes/{vignette.pk}/")
    page.get_by_role("link", name="Edit", exact=True).click()
    page.fill("#id_title", "Oliver T.: possession of images, edited in the browser")
    page.click("button[name=save]")
    page.locator("h1", has_text="edited in the browser").wait_for()
    assert vignette.revisions.count() == 2

    # A Static-99R panel of the lead and one more expert (it does not apply: CSEM only).
    page.get_by_role("link", name="Start a reference panel").click()
    page.get_by_label("Instrument").select_option("static-99r")
    page.check(f"input[name=experts][value='{lead.pk}']")
    page.check(f"input[name=experts][value='{expert.pk}']")
    watched.shot("panel-new")
    page.get_by_role("button", name="Invite the experts").click()
    page.get_by_text("Panel created; the experts can now score.").wait_for()
    panel = ReferencePanel.objects.get(vignette=vignette)
    reason = "Not scored: his only offence is a CSEM offence."
    scoring = page.locator("section[aria-labelledby=score-h]")
    scoring.get_by_role("radio", name="Does not apply").check()
    scoring.get_by_label("If it does not apply: why").fill(reason)
    scoring.get_by_role("button", name="Submit my scoring").click()
    page.get_by_text("Your scoring is submitted.").wait_for()
    authoring.panel_scoring_submit(panel=panel, user=expert, ref_input=not_applicable())
    connection.close()

    page.reload()
    consensus = page.locator("section[aria-labelledby=consensus-h]")
    consensus.get_by_role("radio", name="Does not apply").check()
    consensus.get_by_label("If it does not apply: why").fill(reason)
    watched.shot("panel-consensus")
    consensus.get_by_role("button", name="Record consensus").click()
    page.get_by_text("Consensus reference recorded.").wait_for()
    assert panel.references.count() == 1

    page.get_by_role("button", name="Submit for review").click()
    page.wait_for_load_state("networkidle")
    vignette.refresh_from_db()
    assert vignette.status == "in_review"

    page.goto(f"{base}/author/sets/new/")
    page.fill("#id_slug", "browser-exam-pool")
    page.fill("#id_title", "Browser exam pool")
    page.select_option("#id_kind", "exam")
    page.check(f"input[name=vignettes][value='{vignette.slug}']")
    page.get_by_role("button", name="Save").click()
    page.wait_for_load_state("networkidle")
    assert VignetteSet.objects.filter(owner=org, slug="browser-exam-pool").exists()
    watched.assert_clean()
