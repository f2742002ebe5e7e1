import pytest

from tests.factories import UserFactory
from vignettes.models import Instrument, InstrumentVersion, ReferenceScoring, Vignette

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, content):
    user = UserFactory(username="staff")
    user.is_staff = user.is_superuser = True
    user.save()
    client.force_login(user)
    return client


def test_admin_shows_instrument_versions_with_items(staff_client):
    version = InstrumentVersion.objects.get(instrument__slug="stable-2007")
    response = staff_client.get(f"/admin/vignettes/instrumentversion/{version.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "STABLE-3" in html and "Emotional identification with children" in html
    assert "0 = No problem; 1 = Some problem; 2 = Definite problem" in html


def test_admin_shows_vignettes_with_reference_scorings(staff_client):
    vignette = Vignette.objects.get(slug="daniel-r-009")
    response = staff_client.get(
        f"/admin/vignettes/vignetterevision/{vignette.current_revision.pk}/change/"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h2>Identifying information</h2>" in html  # sanitised preview
    assert html.count("/admin/vignettes/referencescoring/") >= 3
    ref = ReferenceScoring.objects.filter(vignette_revision=vignette.current_revision).first()
    response = staff_client.get(f"/admin/vignettes/referencescoring/{ref.pk}/change/")
    assert response.status_code == 200


def test_bundled_content_is_read_only_in_admin(staff_client):
    instrument = Instrument.objects.get(slug="cport")
    url = f"/admin/vignettes/instrument/{instrument.pk}/change/"
    response = staff_client.post(url, {"name": "Changed", "short_name": "X", "slug": "cport"})
    assert response.status_code == 403
    instrument.refresh_from_db()
    assert instrument.name != "Changed"
    vignette = Vignette.objects.get(slug="daniel-r-009")
    response = staff_client.post(f"/admin/vignettes/vignette/{vignette.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert staff_client.get("/admin/vignettes/vignetterevision/add/").status_code == 403


def test_admin_search_and_filters(staff_client):
    response = staff_client.get("/admin/vignettes/vignette/", {"q": "daniel", "pool": "practice"})
    assert response.status_code == 200
    assert "daniel-r-009" in response.content.decode()


def test_sanitised_markdown_strips_scripts_and_attributes():
    from vignettes.rendering import render_markdown

    html = render_markdown('## A\n\n<script>alert(1)</script><p style="x" onclick="y">t</p>'
                           "\n\n[link](javascript:alert(1))")
    assert "<script" not in html and "style=" not in html and "onclick" not in html
    assert "javascript:" not in html
