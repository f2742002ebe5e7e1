"""Input at the edge: one guard for every JSON body (size, nesting depth, duplicate keys) and
one for text (NUL, lone surrogates, control characters) — 400 naming the field, nothing stored,
before sign-in throttling or any view reads the request."""

import io
import json

import pytest
from django.test import Client, override_settings

from config import input_guards
from tests.conftest import api_for, browser_for
from tests.training.helpers import PRACTICE
from training.models import Attempt, Rating

DEEP_JSON = '{"a": ' * 5000 + "1" + "}" * 5000


# --- the JSON guard ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "depth"), [
    ("1", 0), ("[]", 1), ('{"a": [1, {"b": 2}]}', 3), ('["[[[", "\\"[[", {"]": "}"}]', 2),
    ('"\\\\"', 0), ("[" * 100 + "]" * 100, 100),
])
def test_json_nesting_depth_skips_string_contents(text, depth):
    assert input_guards.json_nesting_depth(text) == depth


def test_load_json_refuses_deep_nesting_before_parsing(settings):
    with pytest.raises(input_guards.JSONInputError) as exc:
        input_guards.load_json(DEEP_JSON.encode())
    assert exc.value.status == 400
    assert "nested more than 64 levels deep" in exc.value.message
    at_limit = "[" * settings.CALIBRATE_MAX_JSON_DEPTH + "]" * settings.CALIBRATE_MAX_JSON_DEPTH
    assert input_guards.load_json(at_limit) is not None
    with pytest.raises(input_guards.JSONInputError):
        input_guards.load_json("[" + at_limit + "]")


def test_load_json_size_duplicates_and_encoding(settings):
    settings.CALIBRATE_MAX_JSON_BODY = 100
    with pytest.raises(input_guards.JSONInputError) as exc:
        input_guards.load_json(json.dumps({"x": "y" * 200}))
    assert exc.value.status == 413
    with pytest.raises(input_guards.JSONInputError, match="appears twice"):
        input_guards.load_json(b'{"a": 1, "a": 2}')
    with pytest.raises(input_guards.JSONInputError, match="not utf-8 text"):
        input_guards.load_json(b'"\xff"')
    assert input_guards.load_json(b'{"a": "\\u00e9"}') == {"a": "é"}


@pytest.mark.parametrize(("value", "problem"), [
    ("a\x00b", "contains a NUL character"),
    ("a\ud800", "contains a lone surrogate (U+D800)"),
    ("\udfff", "contains a lone surrogate (U+DFFF)"),
    ("bell\x07", "contains the control character U+0007"),
    ("\x7f", "contains the control character U+007F"),
    ("\x85", "contains the control character U+0085"),
])
def test_text_problem_names_the_character(value, problem):
    assert problem in input_guards.text_problem(value)


@pytest.mark.parametrize("value", ["plain", "tab\there", "lines\r\nand\nmore", "é ü 中文 😀",
                                   "\u2028", ""])
def test_text_a_person_types_passes(value):
    assert input_guards.text_problem(value) is None


@pytest.mark.parametrize(("raw", "field", "problem"), [
    (b"q=a%00b", "q", "NUL"),
    (b"q=%ED%A0%80", "q", "lone surrogate (U+D800)"),
    (b"q=\xed\xa0\x80", "q", "lone surrogate (U+D800)"),
    (b"ok=1&instrument=%FF", "instrument", "is not UTF-8 text"),
    (b"a%00=1", "a\x00", "NUL"),
    (b"note=x%1B", "note", "U+001B"),
])
def test_urlencoded_problem_reads_the_raw_bytes(raw, field, problem):
    found = input_guards.urlencoded_problem(raw)
    assert found is not None and found[0] == field and problem in found[1]


def test_urlencoded_text_a_person_types_passes():
    assert input_guards.urlencoded_problem(b"q=caf%C3%A9+au+lait&x=&&y=a%0D%0Ab%09") is None


def test_json_text_problem_names_the_path():
    assert input_guards.json_text_problem({"notes": {"CPORT-1": "x\x00"}})[0] == "notes.CPORT-1"
    assert input_guards.json_text_problem({"instruments": ["ok", "\ud800"]})[0] == (
        "instruments[1]")
    assert input_guards.json_text_problem({"bad\x00key": 1})[0] == "bad\x00key"
    assert input_guards.json_text_problem("\x00")[0] == "(body)"
    assert input_guards.json_text_problem({"a": [1, None, True, {"b": "fine"}]}) is None
    assert input_guards.field_problem("bad\x00key", "contains a NUL character") == (
        "Field 'bad\\u0000key' contains a NUL character.")


# --- the routes the outside probe found, end to end ----------------------------------------


def start(api):
    response = api.post("/api/v1/attempts/", {"vignette": PRACTICE, "instruments": ["cport"]},
                        format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def test_deep_json_is_400_on_the_api_signed_in_and_out(trainee):
    api = api_for(trainee)
    attempt_id = start(api)
    for method, url in [("put", f"/api/v1/attempts/{attempt_id}/ratings/"),
                        ("post", "/api/v1/attempts/"), ("post", "/api/v1/me/")]:
        response = getattr(api, method)(url, DEEP_JSON, content_type="application/json")
        assert response.status_code == 400, (url, response.content[:200])
        assert "nested more than 64 levels deep" in response.json()["detail"]
    response = Client().post("/api/v1/auth/token/", DEEP_JSON, content_type="application/json")
    assert response.status_code == 400
    assert "nested more than 64 levels deep" in response.json()["detail"]
    assert Attempt.objects.filter(user=trainee).count() == 1


@pytest.mark.parametrize("bad", ["\x00", "\ud800", "\x1b"])
def test_bad_text_in_a_rating_is_400_naming_the_field_and_stores_nothing(trainee, bad):
    api = api_for(trainee)
    attempt_id = start(api)
    body = {"vignette": PRACTICE, "instrument": "cport", "revision": 0, "applicable": True,
            "items": {"CPORT-1": 1}, "notes": {"CPORT-1": f"seen{bad}"}}
    response = api.put(f"/api/v1/attempts/{attempt_id}/ratings/", json.dumps(body),
                       content_type="application/json")
    assert response.status_code == 400
    [message] = response.json()["notes.CPORT-1"]
    assert message.startswith("Field 'notes.CPORT-1' contains ")
    assert "no-store" in response["Cache-Control"]
    assert not Rating.objects.filter(attempt_id=attempt_id, revision__gt=0).exists()


@pytest.mark.parametrize("query", ["q=a%00", "q=%ED%A0%80", "instrument=%00", "q=%0B"])
def test_bad_text_in_the_query_is_400_on_the_api_and_on_pages(trainee, query):
    response = api_for(trainee).get(f"/api/v1/vignettes/?{query}")
    assert response.status_code == 400
    assert set(response.json()) in ({"detail", "q"}, {"detail", "instrument"})
    page = browser_for(trainee).get(f"/library/?{query}")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
    assert b"Bad request" in page.content and b"contains" in page.content


@override_settings(AXES_ENABLED=True)
def test_token_endpoint_refuses_a_nul_before_the_sign_in_throttle_looks_it_up(db):
    from axes.models import AccessAttempt

    response = Client().post("/api/v1/auth/token/", {"username": "admin\x00", "password": "x"})
    assert response.status_code == 400
    message = "Field 'username' contains a NUL character."
    assert response.json() == {"detail": message, "username": [message]}
    response = Client().post("/accounts/login/", "username=a%ED%A0%80&password=x",
                             content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert not AccessAttempt.objects.exists()


def test_the_path_a_cookie_and_the_token_header_are_checked(trainee):
    assert Client().get("/verify/abc%00def").status_code == 400
    client = Client()
    client.cookies["sessionid"] = "abc\x00def"
    assert client.get("/library/").status_code == 400
    response = Client().get("/api/v1/me/", HTTP_AUTHORIZATION="Token abc\x00def")
    assert response.status_code == 400
    assert response.json()["detail"] == "Header 'Authorization' contains a NUL character."


def test_a_content_pack_upload_is_checked_in_its_text_fields_only(instructor):
    client = browser_for(instructor)
    client.get("/author/packs/import/")
    token = client.cookies["csrftoken"].value
    # A zip is binary: NUL bytes in the file are the pack reader's to judge, not the guard's.
    upload = io.BytesIO(b"PK\x03\x04\x00\x00\x00\xed\xa0\x80")
    upload.name = "pack.zip"
    response = client.post("/author/packs/import/", {"csrfmiddlewaretoken": token,
                                                     "pack": upload})
    assert response.status_code == 200
    assert b"is not a .zip file" in response.content
    upload.seek(0)
    response = client.post("/author/packs/import/", {"csrfmiddlewaretoken": token,
                                                     "pack": upload, "confirm": "y\x00"})
    assert response.status_code == 400
    assert b"Field &#x27;confirm&#x27; contains a NUL character." in response.content


def test_multipart_and_forms_to_the_api_are_checked_and_still_parsed(org, trainee):
    from django.test.client import encode_multipart

    api = api_for(trainee)
    attempt_id = start(api)
    body = encode_multipart("BoUnDaRy", {"vignette": "x\x00"})
    response = api.put(f"/api/v1/attempts/{attempt_id}/ratings/", body,
                       content_type="multipart/form-data; boundary=BoUnDaRy")
    assert response.status_code == 400
    assert response.json()["vignette"] == ["Field 'vignette' contains a NUL character."]
    # Good text passes on to the view, which reads the body the guard already read: as
    # multipart (parsed by Django for the guard) and as a plain form.
    response = api.post("/api/v1/me/", {"organization": org.slug})
    assert response.status_code == 200, response.content
    response = api.post("/api/v1/me/", f"organization={org.slug}",
                        content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200, response.content
    response = api.post("/api/v1/me/", {"organization": "north\x00"})
    assert response.status_code == 400


def test_good_json_and_forms_still_reach_the_views(trainee):
    api = api_for(trainee)
    attempt_id = start(api)
    body = {"vignette": PRACTICE, "instrument": "cport", "revision": 0, "applicable": True,
            "items": {"CPORT-1": 1}, "notes": {"CPORT-1": "Tab\there, lines\r\nand é 😀"}}
    response = api.put(f"/api/v1/attempts/{attempt_id}/ratings/", json.dumps(body),
                       content_type="application/json")
    assert response.status_code == 200, response.content
    rating = Rating.objects.get(attempt_id=attempt_id)
    assert rating.notes["CPORT-1"] == "Tab\there, lines\r\nand é 😀"


def test_a_field_named_detail_keeps_detail_a_sentence(trainee):
    response = api_for(trainee).get("/api/v1/certificates/?detail=%00")
    assert response.status_code == 400
    assert response.json() == {"detail": "Field 'detail' contains a NUL character."}
