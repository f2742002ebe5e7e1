"""Schemathesis against /api/v1/schema/ with a token of each role: no 5xx, and responses
match the schema. Runs in CI on both databases (a bounded number of examples per operation)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application


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
