"""schemathesis against the ingest app's own OpenAPI document: generated requests to every
operation, with a key and without, get no server error and nothing the document does not say
(status codes, content types, bodies, headers). Examples are bounded, so it runs in seconds.

Driven through Hypothesis directly: schemathesis' pytest fixture loader reads a private pytest
attribute that pytest 9 no longer has."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ingest.app import create_app
from jobs.celery_app import make_celery
from tests.ingest.conftest import AUTH, make_settings

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
BOUNDED = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.mark.parametrize("auth", [AUTH, {}], ids=["key", "anonymous"])
def test_every_operation_conforms(tmp_path: Path, auth: dict[str, str]) -> None:
    ingest_settings = make_settings(tmp_path, "filesystem")
    app = create_app(ingest_settings, celery_app=make_celery(ingest_settings.broker))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.label for op in operations} >= {"GET /assets", "GET /assets/{asset_id}", "POST /files/"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @BOUNDED
        def conforms(case: schemathesis.Case) -> None:
            headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
            case.call_and_validate(headers={**headers, **auth}, checks=CHECKS)

        conforms()
