"""Fuzz the API from its own OpenAPI schema: a client's mistake is never a 500.

A bounded number of generated requests per operation, against a real server on loopback.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import World
from tests.web.conftest import serving
from tests.web.test_api import declare, token
from warroom.web.app import create_app

EXAMPLES_PER_OPERATION = 12


def test_it_never_answers_a_client_mistake_with_a_server_error(world: World) -> None:
    with serving(create_app(world.runtime)) as http:
        auth = token(world, "fuzzer")
        declare(http, auth)  # INC-1 exists, so generated ids sometimes hit something
        schema = schemathesis.openapi.from_url(f"{http.base_url}/openapi.json")
        failures: list[str] = []
        operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
        assert len(operations) > 20
        for operation in operations:
            failures += fuzz(operation, auth)
    assert failures == []


def fuzz(operation: Any, auth: dict[str, str]) -> list[str]:
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples on every run: CI stays reproducible
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def attempt(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        if case.path == "/api/v1/events":
            case.query = {**(case.query or {}), "limit": 1, "after": 0}
        response = case.call(headers=auth, timeout=10)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} {case.body!r}: {response.text[:300]}"
            )

    attempt()
    return failures
