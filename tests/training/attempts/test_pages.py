"""The trainee's pages, without JavaScript: sign in, notice, practise, save, submit, feedback."""

import pytest
from django.core import mail
from django.urls import reverse

from tests.conftest import browser_for, make_member
from tests.training.helpers import PRACTICE, reference_for, reference_secrets
from training.models import Attempt, AttemptStatus, Rating, Role

pytestmark = pytest.mark.django_db


def csrf(client):
    return client.cookies["csrftoken"].value


def post(client, url, data):
    return client.post(url, {**data, "csrfmiddlewaretoken": csrf(client)})


def start_practice(client, instruments=("cport", "static-99r", "stable-2007")):
    client.get(reverse("practice-start", args=[PRACTICE]))
    response = post(client, reference := reverse("practice-start", args=[PRACTICE]),
                    {"instruments": list(instruments)})
    assert response.status_code == 302, (reference, response.content[:500])
    return Attempt.objects.latest("pk")


def form_data(instrument, *, miss=None, revision=0):
    ref = reference_for(PRACTICE, instrument)
    data = {"vignette": PRACTICE, "instrument": instrument, "revision": revision,
            "applicable": "yes" if ref.applicable else "no", "rationale": "My reasons."}
    for code, value in (ref.item_states() if ref.applicable else {}).items():
        if code == miss:
            value = 1 - value if value in (0, 1) else 0
        data[f"item-{code}"] = "omit" if value is None else str(value)
        data[f"note-{code}"] = ""
    return data


def test_sign_in_rotates_the_session_and_shows_the_notice_once(client, org):
    make_member(org, Role.TRAINEE, "newbie", notice_seen=False)
    client.get("/accounts/login/")
    before = client.session.session_key
    response = client.post("/accounts/login/", {"username": "newbie",
                                                "password": "pw-for-tests-1"})
    assert response.status_code == 302
    assert client.session.session_key != before
    response = client.get(response.url)
    assert response.status_code == 302 and response.url.startswith("/notice/")
    page = client.get(response.url)
    assert b"fictional case material about sexual offending" in page.content
    client.post("/notice/", {"next": "/dashboard/"})
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/library/").status_code == 200


def test_password_change_and_reset(client, trainee):
    client.force_login(trainee)
    response = client.post("/accounts/password_change/", {
        "old_password": "pw-for-tests-1", "new_password1": "a-new-Passphrase-9",
        "new_password2": "a-new-Passphrase-9"})
    assert response.status_code == 302
    client.logout()
    assert client.login(username="trainee-a", password="a-new-Passphrase-9")
    client.logout()
    client.post("/accounts/password_reset/", {"email": trainee.email})
    assert len(mail.outbox) == 1 and "/accounts/reset/" in mail.outbox[0].body


def test_no_javascript_journey_with_a_deliberate_miss(trainee):
    client = browser_for(trainee)
    attempt = start_practice(client)
    url = reverse("attempt-score", args=[attempt.pk])
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h2>Identifying information</h2>" in html
    assert 'name="item-STABLE-3"' in html and 'value="omit"' in html
    for secret in reference_secrets(PRACTICE):
        assert secret not in html
    assert page.headers["Cache-Control"].startswith("max-age=0")

    response = post(client, url, form_data("cport"))
    assert response.status_code == 302
    response = post(client, url, form_data("static-99r"))
    assert response.status_code == 302
    # A reload mid-way: what was saved is there.
    html = client.get(url).content.decode()
    assert html.count('name="applicable" value="yes" checked') == 1
    assert html.count('name="applicable" value="no" checked') == 1
    # Submit lists what is unscored before asking to confirm.
    page = client.get(reverse("attempt-submit", args=[attempt.pk]))
    assert b"stable-2007" in page.content and b"applicability not decided" in page.content
    post(client, url, form_data("stable-2007", miss="STABLE-1"))
    page = client.get(reverse("attempt-submit", args=[attempt.pk]))
    assert b"Every applicable instrument is fully scored" in page.content
    response = post(client, reverse("attempt-submit", args=[attempt.pk]), {})
    assert response.status_code == 302
    attempt.refresh_from_db()
    assert attempt.status == AttemptStatus.SUBMITTED
    feedback = client.get(reverse("attempt-feedback", args=[attempt.pk])).content.decode()
    assert "12 of 13 items agree" in feedback
    assert reference_for(PRACTICE, "stable-2007").item_scores.first().rationale[:40] in feedback
    # The submitted attempt cannot change through the form either.
    response = post(client, url, form_data("cport", revision=1))
    assert Rating.objects.get(attempt=attempt, instrument_version__instrument__slug="cport"
                              ).revision == 1


def test_form_errors_are_shown_and_nothing_is_stored(trainee):
    client = browser_for(trainee)
    attempt = start_practice(client, instruments=["cport"])
    url = reverse("attempt-score", args=[attempt.pk])
    data = form_data("cport")
    data["item-CPORT-1"] = "7"
    response = post(client, url, data)
    assert response.status_code == 400
    assert b"items.CPORT-1" in response.content and b"not an allowed value" in response.content
    assert not Rating.objects.filter(attempt=attempt).exists()


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"applicable": "maybe"}, b"applicable", b"Must be yes, no or not decided"),
    ({"item-CPORT-1": "abc"}, b"items.CPORT-1", b"abc is not an allowed value (allowed: 0, 1)"),
    ({"note-CPORT-1": "x" * 2001}, b"notes.CPORT-1", b"At most 2000 characters"),
    ({"rationale": "x" * 10001}, b"rationale", b"At most 10000 characters"),
    ({"revision": "one"}, b"revision", b"Send the revision you last saw"),
])
def test_the_scoring_form_names_what_is_wrong_as_the_api_does(trainee, change, field, message):
    client = browser_for(trainee)
    attempt = start_practice(client, instruments=["cport"])
    url = reverse("attempt-score", args=[attempt.pk])
    response = post(client, url, {**form_data("cport"), **change})
    assert response.status_code == 400
    assert field + b": " + message in response.content
    assert not Rating.objects.filter(attempt=attempt).exists()


def test_stale_form_is_refused(trainee):
    client = browser_for(trainee)
    attempt = start_practice(client, instruments=["cport"])
    url = reverse("attempt-score", args=[attempt.pk])
    post(client, url, form_data("cport"))
    response = post(client, url, {**form_data("cport"), "item-CPORT-1": "0"})
    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "saved elsewhere" in page


def test_forms_need_csrf(trainee):
    client = browser_for(trainee)
    response = client.post(reverse("practice-start", args=[PRACTICE]), {"instruments": ["cport"]})
    assert response.status_code == 403
    assert not Attempt.objects.exists()


def test_other_trainees_pages_are_404(trainee, trainee2, outsider):
    client = browser_for(trainee)
    attempt = start_practice(client, instruments=["cport"])
    for other in (trainee2, outsider):
        c = browser_for(other)
        for name in ("attempt-score", "attempt-submit", "attempt-feedback"):
            assert c.get(reverse(name, args=[attempt.pk])).status_code == 404


def test_exam_vignette_cannot_be_practised(trainee):
    client = browser_for(trainee)
    exam = "ulrich-b-041"
    assert client.get(reverse("practice-start", args=[exam])).status_code == 404


def test_progress_page_draws_its_chart_with_a_table(trainee):
    client = browser_for(trainee)
    attempt = start_practice(client, instruments=["stable-2007"])
    post(client, reverse("attempt-score", args=[attempt.pk]),
         form_data("stable-2007", miss="STABLE-4"))
    post(client, reverse("attempt-submit", args=[attempt.pk]), {})
    html = client.get(reverse("progress")).content.decode()
    assert "<svg" in html and 'role="img"' in html
    assert "Numbers for:" in html
    assert "STABLE-4" in html
    assert "style=" not in html


def test_switching_organisation(trainee, other_org):
    from training.models import Membership

    Membership.objects.create(user=trainee, organization=other_org, role=Role.INSTRUCTOR)
    client = browser_for(trainee)
    client.get("/dashboard/")
    response = post(client, reverse("organization-switch"), {"organization": other_org.slug})
    assert response.status_code == 302
    assert b"South Service" in client.get("/dashboard/").content
    response = post(client, reverse("organization-switch"), {"organization": "nope"})
    assert response.status_code == 404


def test_library_puts_cases_not_yet_attempted_first_and_filters_them(trainee):
    from tests.conftest import api_for

    client = browser_for(trainee)
    attempt = start_practice(client, instruments=["static-99r"])
    post(client, reverse("attempt-score", args=[attempt.pk]), form_data("static-99r"))
    post(client, reverse("attempt-submit", args=[attempt.pk]), {})
    listed = client.get("/library/").context["page"].paginator.object_list
    assert listed[len(listed) - 1].slug == PRACTICE and listed[len(listed) - 1].attempted
    assert not listed[0].attempted
    not_yet = client.get("/library/?attempted=no").context["page"].paginator.object_list
    assert PRACTICE not in [v.slug for v in not_yet]
    done = client.get("/library/?attempted=yes").context["page"].paginator.object_list
    assert [v.slug for v in done] == [PRACTICE]
    api = api_for(trainee)
    assert [v["slug"] for v in api.get("/api/v1/vignettes/?attempted=true").json()["results"]
            ] == [PRACTICE]
