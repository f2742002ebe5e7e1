"""Every route, found by enumeration (Django's URL resolver and the OpenAPI schema), refuses
input that crashed it: JSON nested 5,000 deep, a NUL character, a lone surrogate (raw, percent
encoded, JSON-escaped), in the query, the body and the path, signed out and signed in as a
trainee and as an org admin — always 400 from the edge guard, never a 5xx. A new route is
covered without anyone adding it here. Run on SQLite and on PostgreSQL (which refuses NUL in
any string parameter)."""

import json
import re

import pytest
from django.apps import apps
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RegexPattern, RoutePattern

DEEP_JSON = '{"a": ' * 5000 + "1" + "}" * 5000
NUL = "a\x00b"
ROUTE_PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")
SCHEMA_PARAM = re.compile(r"{(?P<name>\w+)}")

# (name, method, query string, body, content type): each carries exactly one bad thing.
BAD_INPUTS = [
    ("query NUL", "get", "q=a%00b&instrument=cport", None, None),
    ("query surrogate, percent-encoded", "get", "instrument=%ED%A0%80", None, None),
    ("query surrogate, raw bytes", "get", "q=\xed\xa0\x80", None, None),
    ("query control character", "get", "window=month%1B", None, None),
    ("form NUL", "post", "", f"username={NUL}&password=x&q=1&name=x",
     "application/x-www-form-urlencoded"),
    ("form surrogate", "post", "", "reason=%ED%A0%80&note=x", "application/x-www-form-urlencoded"),
    ("multipart NUL", "post", "", None, "multipart"),
    ("JSON 5,000 deep", "post", "", DEEP_JSON, "application/json"),
    ("JSON NUL", "put", "", '{"vignette": "a\\u0000b", "revision": 0}', "application/json"),
    ("JSON surrogate", "post", "", '{"organization": "\\ud800"}', "application/json"),
    ("JSON key surrogate", "patch", "", '{"items": {"\\udc00": 1}}', "application/json"),
]


def walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix, pattern, namespace


def plausible_int(name: str) -> int:
    """The id of an existing object of the model the parameter names (attempt_id -> an
    Attempt, decision_id -> a CertificationDecision), else 1."""
    stem = name.removesuffix("_id").replace("_", "")
    models = apps.get_models()
    for model in sorted(models, key=lambda m: (m._meta.model_name != stem, m._meta.model_name)):
        if model._meta.model_name == stem or model._meta.model_name.endswith(stem):
            pk = model.objects.order_by("pk").values_list("pk", flat=True).first()
            return pk if pk is not None else 1
    return 1


def plausible(name: str, converter: str | None) -> str:
    if converter == "int" or name.endswith("_id") or name == "pk":
        return str(plausible_int(name))
    from training.models import Certificate

    return {
        "slug": "daniel-r-009", "instrument": "cport", "app_label": "training",
        "code": Certificate.objects.values_list("verification_code", flat=True).first() or "x",
        "object_id": "1", "uidb64": "MQ", "token": "set-password",
    }.get(name, "x")


def route_paths() -> list[str]:
    """One concrete path per URL pattern: converters filled with plausible values."""
    paths = set()
    for prefix, pattern, namespace in walk(get_resolver().url_patterns):
        if isinstance(pattern.pattern, RoutePattern):
            route = prefix + str(pattern.pattern)
            paths.add("/" + ROUTE_PARAM.sub(
                lambda m: plausible(m["name"], m["converter"]), route))
        elif isinstance(pattern.pattern, RegexPattern) and pattern.name:
            groups = pattern.pattern.regex.groupindex
            kwargs = {name: plausible(name, None) for name in groups}
            try:
                paths.add(reverse(namespace + pattern.name, kwargs=kwargs))
            except Exception:  # a pattern the plausible values do not fit: its bare prefix
                paths.add("/" + prefix)
    return sorted(paths)


def schema_operations(client) -> list[tuple[str, str]]:
    response = client.get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = json.loads(response.content)
    operations = []
    for path, item in schema["paths"].items():
        for method in item:
            if method in {"get", "post", "put", "patch", "delete"}:
                filled = SCHEMA_PARAM.sub(lambda m: plausible(m["name"], None), path)
                operations.append((filled, method))
    return operations


def send(client, method, path, query, body, content_type):
    url = f"{path}?{query}" if query else path
    if content_type is None:
        return getattr(client, method)(url)
    if content_type == "multipart":
        fields = {"name": NUL, "comment": "x"}
        if method == "post":
            return client.post(url, fields)
        body, content_type = encode_multipart(BOUNDARY, fields), MULTIPART_CONTENT
    return getattr(client, method)(url, body, content_type=content_type)


@pytest.fixture
def identities(tokens, django_user_model):
    """Signed out, signed in as a trainee (session) and as an org admin (API token)."""
    signed_out = Client(raise_request_exception=False)
    trainee = Client(raise_request_exception=False)
    trainee.force_login(django_user_model.objects.get(username="fuzz-trainee"))
    org_admin = Client(raise_request_exception=False,
                       HTTP_AUTHORIZATION=f"Token {tokens['org_admin']}")
    return {"signed out": signed_out, "trainee": trainee, "org admin": org_admin}


def refusals(identities, targets):
    """Every (who, input, method, path, status) that was not the guard's 400."""
    wrong = []
    for who, client in identities.items():
        for path, method in targets:
            for name, default_method, query, body, content_type in BAD_INPUTS:
                use = method or default_method
                if use == "get" and content_type is not None:
                    continue  # a body goes with the operation's other methods
                response = send(client, use, path, query, body, content_type)
                if response.status_code != 400:
                    wrong.append((who, name, use.upper(), path, response.status_code))
    return wrong


def test_every_url_pattern_refuses_bad_input_with_400(identities):
    paths = route_paths()
    assert len(paths) > 100 and "/api/v1/auth/token/" in paths
    assert any(p.startswith("/admin/") for p in paths)
    wrong = refusals(identities, [(path, None) for path in paths])
    assert [w for w in wrong if w[-1] >= 500] == []
    assert wrong == []


def test_every_str_path_parameter_refuses_nul_and_control_characters(identities):
    wrong = []
    checked = 0
    for prefix, pattern, _namespace in walk(get_resolver().url_patterns):
        if not isinstance(pattern.pattern, RoutePattern):
            continue
        route = prefix + str(pattern.pattern)
        if not any(m["converter"] in {"str", "path"} for m in ROUTE_PARAM.finditer(route)):
            continue
        checked += 1
        for bad in ("%00", "%1B", "%ED%A0%80"):
            path = "/" + ROUTE_PARAM.sub(
                lambda m, bad=bad: plausible(m["name"], m["converter"])
                + (bad if m["converter"] in {"str", "path"} else ""),
                route)
            for who, client in identities.items():
                status = client.get(path).status_code
                # A percent-encoded surrogate stays percent-encoded in Django's path (it is
                # not UTF-8): the view sees harmless text and answers as it would.
                if status >= 500 or (bad != "%ED%A0%80" and status != 400):
                    wrong.append((who, path, status))
    assert checked >= 3
    assert [w for w in wrong if w[-1] >= 500] == []
    assert wrong == []


def test_every_openapi_operation_refuses_bad_input_with_400(identities):
    operations = schema_operations(identities["org admin"])
    assert len(operations) >= 15
    assert ("/api/v1/auth/token/", "post") in operations
    wrong = refusals(identities, operations)
    assert [w for w in wrong if w[-1] >= 500] == []
    assert wrong == []
