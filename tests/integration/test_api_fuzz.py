"""Property-based fuzzing of every documented operation from /openapi.json: whatever a client
sends, the API answers with a documented status and a body matching its schema, never a 500,
and a request the schema calls valid is accepted."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance
from support import ADMIN_KEY, delete_prefix, make_settings

from moderation import create_app

# Where a schema-valid body can still be refused for what it means (a rule file that does not
# load, a webhook URL that is not a public https address), 422 is the documented answer, so
# "valid data is accepted" does not apply.
SEMANTIC_422 = {
    ("POST", "/v1/rules/validate"),
    ("PUT", "/v1/ruleset"),
    ("POST", "/v1/webhooks"),
    ("PATCH", "/v1/webhooks/{webhook_id}"),
}


@pytest.fixture
def fuzz_app(redis_url: str) -> Iterator[Flask]:
    """Its own key prefix: fuzzed writes (rulesets, bans) must not leak into other tests."""
    prefix = f"test-fuzz-{uuid.uuid4().hex[:8]}:"
    yield create_app(make_settings(redis_url, prefix))
    delete_prefix(redis_url, prefix)


def fuzz(operation: Any, headers: dict[str, str], excluded: list[Any]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None
    )
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, excluded_checks=excluded)

    conforms()


def test_every_operation_conforms_to_its_schema(fuzz_app: Flask) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", fuzz_app)
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    # /readyz answers 503 by design when no worker is up; its own tests cover it.
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path != "/readyz"]
    assert len(operations) >= 8
    for operation in operations:
        semantic = (operation.method.upper(), operation.path) in SEMANTIC_422
        fuzz(operation, headers, [positive_data_acceptance] if semantic else [])
