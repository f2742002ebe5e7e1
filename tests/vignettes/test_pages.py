"""First pages: public home, sign-in, the practice library and the case file."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory
from vignettes.models import ReferenceItemScore, ReferenceScoring, Vignette

pytestmark = pytest.mark.django_db

SAMPLE = "daniel-r-009"


@pytest.fixture
def trainee_client(client, content):
    from django.utils import timezone

    from training.tenancy import profile_for

    user = UserFactory(username="t1")
    profile = profile_for(user)
    profile.content_notice_seen_at = timezone.now()
    profile.save()
    client.force_login(user)
    return client


def test_home_is_public_and_indexable(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Calibrate" in response.content
    assert "X-Robots-Tag" not in response.headers
    assert b'name="robots"' not in response.content


@pytest.mark.parametrize("url", ["/library/", f"/library/{SAMPLE}/"])
def test_content_pages_require_sign_in(client, content, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_library_lists_published_practice_vignettes_only(trainee_client):
    response = trainee_client.get("/library/?page_size=100")
    assert response.status_code == 200
    listed = {v.slug for v in response.context["page"].paginator.object_list}
    practice = set(
        Vignette.objects.filter(pool="practice", status="published").values_list("slug", flat=True)
    )
    assert listed == practice
    assert not listed & set(Vignette.objects.filter(pool="exam").values_list("slug", flat=True))


def test_library_filters(trainee_client):
    response = trainee_client.get("/library/", {"difficulty": "introductory"})
    assert SAMPLE in [v.slug for v in response.context["page"].paginator.object_list]
    # The instrument filter never answers whether the instrument applies: it lists the cases
    # where the reference says it does not apply alongside those where it does.
    response = trainee_client.get("/library/?page_size=100", {"instrument": "static-99r"})
    listed = {v.slug for v in response.context["page"].paginator.object_list}
    applies = set(ReferenceScoring.objects.filter(
        instrument_version__instrument__slug="static-99r", applicable=True,
        vignette_revision__vignette__pool="practice",
    ).values_list("vignette_revision__vignette__slug", flat=True))
    assert applies and applies < listed
    assert listed == set(Vignette.objects.filter(pool="practice", status="published")
                         .values_list("slug", flat=True))


def test_trainee_facing_pages_and_api_carry_no_case_type(trainee_client):
    from vignettes.models import CaseType

    labels = [str(label) for _value, label in CaseType.choices] + list(CaseType.values)
    html = trainee_client.get("/library/?page_size=100").content.decode()
    html += trainee_client.get(f"/library/{SAMPLE}/").content.decode()
    api = trainee_client.get("/api/v1/vignettes/").content.decode()
    api += trainee_client.get(f"/api/v1/vignettes/{SAMPLE}/").content.decode()
    for label in labels:
        assert label not in html and label not in api, label
    assert "Case type" not in html


def test_an_old_slug_redirects_to_the_renamed_vignette(trainee_client):
    vignette = Vignette.objects.get(slug=SAMPLE)
    assert vignette.former_slugs, "the bundled vignettes list their old slugs"
    old = vignette.former_slugs[0]
    page = trainee_client.get(f"/library/{old}/")
    assert page.status_code == 301 and page.headers["Location"] == f"/library/{SAMPLE}/"
    api = trainee_client.get(f"/api/v1/vignettes/{old}/")
    assert api.status_code == 301 and api.headers["Location"] == f"/api/v1/vignettes/{SAMPLE}/"
    assert trainee_client.get("/library/no-such-case/").status_code == 404
    assert trainee_client.get("/api/v1/vignettes/no-such-case/").status_code == 404


def test_vignette_page_renders_the_case_file_without_reference_data(trainee_client):
    vignette = Vignette.objects.get(slug=SAMPLE)
    response = trainee_client.get(f"/library/{SAMPLE}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h2>Identifying information</h2>" in html
    assert '<meta name="robots" content="noindex, nofollow">' in html
    assert response.headers["X-Robots-Tag"] == "noindex, nofollow"
    references = ReferenceScoring.objects.filter(vignette_revision=vignette.current_revision)
    secrets = [r.not_applicable_reason for r in references if r.not_applicable_reason]
    secrets += [
        s.rationale for s in ReferenceItemScore.objects.filter(reference_scoring__in=references)
    ]
    secrets += [r.panel for r in references]
    assert secrets
    for secret in secrets:
        assert secret[:40] not in html
    assert "Scored " not in html and "rationale" not in html.lower()
    if vignette.current_revision.hard_because:
        assert vignette.current_revision.hard_because[:40] not in html


def test_exam_vignette_is_not_reachable(trainee_client):
    exam = Vignette.objects.filter(pool="exam").first()
    assert trainee_client.get(f"/library/{exam.slug}/").status_code == 404
    assert trainee_client.get(f"/api/v1/vignettes/{exam.slug}/").status_code == 404


def test_retired_vignette_is_not_listed(trainee_client):
    Vignette.objects.filter(slug=SAMPLE).update(status="retired")
    assert trainee_client.get(f"/library/{SAMPLE}/").status_code == 404


def test_api_instruments_with_items_and_values(trainee_client):
    data = trainee_client.get("/api/v1/instruments/").json()
    by_slug = {i["slug"]: i for i in data["results"]}
    assert set(by_slug) == {"cport", "static-99r", "stable-2007"}
    s99r = by_slug["static-99r"]
    assert [v["value"] for v in s99r["items"][0]["allowed_values"]] == [-3, -1, 0, 1]
    assert [b["code"] for b in s99r["bands"]] == ["I", "II", "III", "IVa", "IVb"]
    assert "official" in s99r["notice"]


def test_api_vignettes_list_and_detail_have_no_reference_fields(trainee_client):
    data = trainee_client.get("/api/v1/vignettes/").json()
    assert data["count"] == Vignette.objects.filter(pool="practice", status="published").count()
    detail = trainee_client.get(f"/api/v1/vignettes/{SAMPLE}/").json()
    assert set(detail) == {
        "slug", "title", "revision", "difficulty", "pool", "bundled",
        "word_count", "body_markdown", "body_html", "attempted",
    }


def test_api_rejects_unknown_filter_values(trainee_client):
    response = trainee_client.get("/api/v1/vignettes/", {"difficulty": "nonsense"})
    assert response.status_code == 400
    assert "difficulty" in response.json()


def test_api_requires_authentication(client, content):
    assert client.get("/api/v1/vignettes/").status_code in (401, 403)


def test_api_token(client, content):
    UserFactory(username="tok", password="pw-for-tests-1")
    response = client.post("/api/v1/auth/token/", {"username": "tok", "password": "pw-for-tests-1"})
    assert response.status_code == 200
    token = response.json()["token"]
    response = client.get("/api/v1/instruments/", HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200


def test_openapi_schema_and_local_docs(trainee_client):
    schema = trainee_client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/vignettes/{slug}/" in schema.content
    docs = trainee_client.get("/api/v1/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "cdn" not in html.lower() and "http://" not in html and "https://" not in html


def test_strict_content_security_policy(client):
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
