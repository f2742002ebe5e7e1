"""Issue 9 in a browser: an instructor writes a vignette, previews it and saves the draft,
under the strict CSP without violations."""

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
