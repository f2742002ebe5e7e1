"""The edge guards in a real browser: a multipart form (the content-pack upload, read by the
guard before the CSRF check) still works with its token, a damaged pack is a problem line, and
a NUL in an address is the 400 page naming the field."""

import pytest

from tests.browser.conftest import sign_in
from tests.conftest import make_member
from tests.vignettes.helpers import bad_crc
from training.models import Organization, Role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_pack_upload_and_a_bad_address_in_the_browser(content, live_server, watched):
    from django.db import connection

    org = Organization.objects.create(name="Guard Service", slug="guard-service")
    make_member(org, Role.INSTRUCTOR, "guard-instructor")
    connection.close()
    page = watched.page
    base = live_server.url
    sign_in(page, base, "guard-instructor")
    page.goto(f"{base}/author/packs/import/")
    page.set_input_files("#id_pack", files=[{
        "name": "pack.zip", "mimeType": "application/zip", "buffer": bytes(bad_crc())}])
    page.click("main button[type=submit]")
    page.wait_for_load_state("networkidle")
    problems = page.locator(".pack-problems li")
    assert problems.count() == 1
    assert "checksum (CRC-32) does not match" in problems.first.inner_text()
    watched.shot("damaged-pack")

    response = page.goto(f"{base}/library/?q=a%00b")
    assert response.status == 400
    assert "Field 'q' contains a NUL character." in page.locator("main").inner_text()
    watched.shot("bad-request")
    # The next ordinary request is served as usual: nothing of the refused one lingers.
    response = page.goto(f"{base}/library/?q=daniel")
    assert response.status == 200
    watched.assert_clean()
