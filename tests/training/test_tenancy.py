"""A request for another organisation's object by id answers exactly like a missing object,
and is recorded server-side (user, organisations, object, method, path, client IP), at most
a few times a minute per user."""

import ast
import datetime as dt
import logging
import re
from pathlib import Path

import pytest
import time_machine
from django.http import Http404

from tests.conftest import api_for, make_member, signed_in
from tests.training.helpers import PRACTICE
from training import security, tenancy
from training.attempts import services as attempt_services
from training.models import Cohort, Membership, Role
from training.tenancy import STAFF_ROLES, int_or_404

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
MISSING = 999_999
ADDRESS = "203.0.113.7"  # the client address the denial records carry


@pytest.fixture
def south_attempt(outsider, other_org):
    return attempt_services.attempt_start_practice(
        user=outsider, organization=other_org, vignette_slug=PRACTICE, instrument_slugs=["cport"])


@pytest.fixture
def denials(caplog):
    caplog.set_level(logging.WARNING, logger="calibrate.security")

    def records():
        return [r for r in caplog.records if r.name == "calibrate.security"]

    return records


def same_page(a, b) -> bool:
    # A page carries a fresh CSP nonce and CSRF token each time; nothing else may differ.
    def normal(html):
        html = re.sub(r'nonce="[^"]+"', 'nonce=""', html)
        return re.sub(r'value="[A-Za-z0-9]{64}"', 'value=""', html)

    return (a.status_code, normal(a.content.decode())) == (b.status_code,
                                                           normal(b.content.decode()))


def test_another_organisations_attempt_on_a_page_answers_as_missing_and_is_recorded(
        trainee, south_attempt, denials):
    client = signed_in(trainee, REMOTE_ADDR=ADDRESS)
    missing = client.get(f"/attempts/{MISSING}/")
    assert missing.status_code == 404 and denials() == []  # a missing object is not a probe
    foreign = client.get(f"/attempts/{south_attempt.pk}/")
    assert foreign.status_code == 404 and same_page(foreign, missing)

    [record] = denials()
    fields = record.security
    assert fields == {
        "event": "cross_organization_denied",
        "user_id": trainee.pk,
        "organization": "north",
        "object_type": "training.Attempt",
        "object_id": str(south_attempt.pk),
        "object_organization": "south",
        "method": "GET",
        "path": f"/attempts/{south_attempt.pk}/",
        "ip": "203.0.113.7",
    }
    assert f"user_id={trainee.pk}" in record.getMessage()
    assert "ip=203.0.113.7" in record.getMessage()


def test_another_organisations_attempt_on_the_api_answers_as_missing_and_is_recorded(
        trainee, south_attempt, denials):
    api = api_for(trainee)
    missing = api.get(f"/api/v1/attempts/{MISSING}/", REMOTE_ADDR="198.51.100.4")
    foreign = api.get(f"/api/v1/attempts/{south_attempt.pk}/", REMOTE_ADDR="198.51.100.4")
    assert (foreign.status_code, foreign.content) == (missing.status_code, missing.content)
    assert foreign.status_code == 404 and foreign.json() == {"detail": "Not found."}
    # A write is recorded the same way.
    put = api.put(f"/api/v1/attempts/{south_attempt.pk}/ratings/",
                  {"vignette": PRACTICE, "instrument": "cport", "revision": 0},
                  format="json", REMOTE_ADDR="198.51.100.4")
    assert put.status_code == 404 and put.content == missing.content

    get, write = (r.security for r in denials())
    assert get["user_id"] == trainee.pk and get["organization"] == "north"
    assert get["object_organization"] == "south" and get["ip"] == "198.51.100.4"
    assert get["path"] == f"/api/v1/attempts/{south_attempt.pk}/" and get["method"] == "GET"
    assert write["method"] == "PUT" and write["path"].endswith("/ratings/")


def test_an_admins_member_lookup_on_the_api_keeps_its_own_404(org_admin, outsider, denials):
    api = api_for(org_admin)
    south_membership = Membership.objects.get(user=outsider)
    missing = api.get(f"/api/v1/members/{MISSING}/export/")
    foreign = api.get(f"/api/v1/members/{south_membership.pk}/export/")
    assert foreign.status_code == 404 and foreign.content == missing.content
    assert foreign.json() == {"detail": "No such member in this organisation."}
    [record] = denials()
    assert record.security["object_type"] == "training.Membership"


@pytest.mark.parametrize("url", [
    "/manage/members/{membership}/",
    "/manage/cohorts/{cohort}/",
    "/teach/cohorts/{cohort}/",
])
def test_other_pages_looking_up_ids_answer_and_record_the_same(url, org_admin, other_org,
                                                               outsider, denials):
    ids = {"membership": Membership.objects.get(user=outsider).pk,
           "cohort": Cohort.objects.create(organization=other_org, name="South cohort").pk}
    client = signed_in(org_admin, REMOTE_ADDR=ADDRESS)
    missing = client.get(url.format(membership=MISSING, cohort=MISSING))
    foreign = client.get(url.format(**ids))
    assert foreign.status_code == 404 and same_page(foreign, missing)
    [record] = denials()
    assert record.security["organization"] == "north"
    assert record.security["object_organization"] == "south"


def test_another_trainees_attempt_in_the_same_organisation_is_not_a_cross_organisation_probe(
        org, trainee, denials):
    neighbour = make_member(org, Role.TRAINEE, "neighbour")
    attempt = attempt_services.attempt_start_practice(
        user=neighbour, organization=org, vignette_slug=PRACTICE, instrument_slugs=["cport"])
    assert signed_in(trainee, REMOTE_ADDR=ADDRESS).get(f"/attempts/{attempt.pk}/").status_code == 404
    assert denials() == []


def test_denials_are_capped_per_user_and_minute_then_summarised(trainee, trainee2,
                                                                 south_attempt, denials):
    limit = security.DENIALS_LOGGED_PER_MINUTE
    client = signed_in(trainee, REMOTE_ADDR=ADDRESS)
    with time_machine.travel(T0, tick=False):
        for _ in range(limit + 5):
            assert client.get(f"/attempts/{south_attempt.pk}/").status_code == 404
        events = [r.security["event"] for r in denials()]
        assert events == ["cross_organization_denied"] * limit + [
            "cross_organization_denied_suppressed"]
        # Another user has a budget of their own.
        signed_in(trainee2, REMOTE_ADDR=ADDRESS).get(f"/attempts/{south_attempt.pk}/")
        assert denials()[-1].security["user_id"] == trainee2.pk
    # The next minute, recording resumes.
    with time_machine.travel(T0 + dt.timedelta(minutes=1), tick=False):
        client.get(f"/attempts/{south_attempt.pk}/")
    assert denials()[-1].security["event"] == "cross_organization_denied"
    assert len(denials()) == limit + 3


def test_a_denial_is_one_json_line_with_its_fields_in_production(trainee, south_attempt,
                                                                 denials):
    import json

    from config.logging import JsonFormatter

    signed_in(trainee, REMOTE_ADDR=ADDRESS).get(f"/attempts/{south_attempt.pk}/")
    [record] = denials()
    line = json.loads(JsonFormatter().format(record))
    assert line["logger"] == "calibrate.security" and line["level"] == "WARNING"
    assert line["event"] == "cross_organization_denied" and line["user_id"] == trainee.pk
    assert line["object_organization"] == "south" and line["ip"] == "203.0.113.7"


@pytest.mark.parametrize("value, expected", [("12", 12), (12, 12), (" 7 ", 7)])
def test_int_or_404_takes_whole_numbers(value, expected):
    assert int_or_404(value) == expected


@pytest.mark.parametrize("value", ["abc", "", None, "1.5", "12x", [3]])
def test_int_or_404_answers_anything_else_as_missing(value):
    with pytest.raises(Http404):
        int_or_404(value)


def _modules():
    root = Path(__file__).resolve().parents[2]
    for package in ("training", "vignettes", "config"):
        for path in sorted((root / package).rglob("*.py")):
            if "migrations" not in path.parts:
                yield path.relative_to(root).as_posix(), ast.parse(path.read_text())


def _role_names(nodes) -> set[str]:
    return {n.attr for n in nodes if isinstance(n, ast.Attribute)
            and isinstance(n.value, ast.Name) and n.value.id == "Role"}


def test_the_staff_roles_are_spelled_out_once():
    places = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            elements = (node.elts if isinstance(node, ast.Tuple | ast.List | ast.Set)
                        else node.args if isinstance(node, ast.Call) else [])
            if {"INSTRUCTOR", "ORG_ADMIN"} <= _role_names(elements):
                places.append(f"{name}:{node.lineno}")
    assert places == ["training/tenancy.py:" + str(_staff_roles_line())]
    assert STAFF_ROLES == (Role.INSTRUCTOR, Role.ORG_ADMIN)


def _staff_roles_line() -> int:
    source = Path(tenancy.__file__).read_text().splitlines()
    return next(i for i, line in enumerate(source, 1) if line.startswith("STAFF_ROLES ="))


def test_ids_become_404s_in_one_place():
    places = []
    for name, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Try):
                continue
            converts = any(isinstance(n, ast.Call) and getattr(n.func, "id", "") == "int"
                           for stmt in node.body for n in ast.walk(stmt))
            answers_404 = any(isinstance(n, ast.Raise) and "Http404" in ast.unparse(n)
                              for h in node.handlers for n in ast.walk(h))
            if converts and answers_404:
                places.append(name)
    assert places == ["training/tenancy.py"]
