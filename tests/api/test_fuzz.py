"""Schemathesis against /api/v1/schema/ with a token of each role: no 5xx, and responses
match the schema. Runs in CI on both databases (a bounded number of examples per operation)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application
from tests.conftest import api_for, make_member
from training.models import Cohort, Role


@pytest.fixture
def tokens(org):
    users = {
        "trainee": make_member(org, Role.TRAINEE, "fuzz-trainee"),
        "instructor": make_member(org, Role.INSTRUCTOR, "fuzz-instructor"),
        "org_admin": make_member(org, Role.ORG_ADMIN, "fuzz-admin"),
    }
    cohort = Cohort.objects.create(organization=org, name="Fuzz cohort")
    cohort.trainees.add(users["trainee"])
    cohort.instructors.add(users["instructor"])
    # One attempt so attempt routes have something real to hit.
    api_for(users["trainee"]).post("/api/v1/attempts/", {"vignette": "daniel-r-csem",
                                                         "instrument": "cport"}, format="json")
    # A passed exam, so the certificate and decision routes answer with real records.
    import time_machine

    from tests.training.certification.test_certification import T0, make_exam, take_and_pass
    from training.certification import rules

    rules.rule_save(actor=users["org_admin"], organization=org, instrument_slug="cport",
                            now=T0)
    exam = make_exam(org, [users["trainee"]], users["instructor"])
    with time_machine.travel(T0, tick=False):
        take_and_pass(api_for(users["trainee"]), exam)
    from training.models import ApiToken

    return {role: ApiToken.objects.create(user=u)[1] for role, u in users.items()}


@pytest.fixture
def keep_test_connection():
    """Schemathesis calls the WSGI app directly; like Django's test client, keep the request
    signals from closing the test transaction's database connection between requests."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def test_api_never_errors_and_matches_its_schema(db, tokens, keep_test_connection):
    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case):
            for token in tokens.values():
                response = case.call(headers={"Authorization": f"Token {token}"})
                case.validate_response(response, checks=[not_a_server_error,
                                                         response_schema_conformance])

        check()
