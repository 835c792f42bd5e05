"""Schemathesis fuzzes every query and mutation of the live GraphQL API (generated from its own
schema, with the `Long` scalar registered): no input may give an HTTP 500 or a traceback, and every
error must carry an `extensions.code` from the documented list."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app
from schemathesis.graphql import nodes

from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings

CODES = {"BAD_USER_INPUT", "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND", "CONFLICT", "CONTEST_LOCKED", "RATE_LIMITED",
         "UNAVAILABLE", "INTERNAL"}

schemathesis.graphql.scalar("Long", st.integers(-(2**53), 2**53).map(nodes.Int))
schemathesis.graphql.scalar("DateTime", st.just("2026-01-01T00:00:00+00:00").map(nodes.String))
schemathesis.graphql.scalar("JSON", st.just("{}").map(nodes.String))


@pytest.fixture(scope="module")
def fuzz_server(redis_server: RedisServer) -> Iterator[LiveServer]:
    with LiveServer(create_app, region_settings(redis_server.url)) as server:
        yield server


@pytest.fixture(scope="module")
def gql_schema(fuzz_server: LiveServer):  # type: ignore[no-untyped-def]
    return schemathesis.graphql.from_url(f"{fuzz_server.url}/graphql")


schema = schemathesis.pytest.from_fixture("gql_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_gives_a_500(case) -> None:  # type: ignore[no-untyped-def]
    for headers in ({}, {"Authorization": f"Bearer {ADMIN_KEY}"}):
        response = case.call(headers=headers)
        assert response.status_code < 500, response.text
        body = response.json()
        assert "Traceback" not in response.text
        for error in body.get("errors") or []:
            assert error.get("extensions", {}).get("code") in CODES, error
