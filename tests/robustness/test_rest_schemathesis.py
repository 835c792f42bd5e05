"""Schemathesis fuzzes every REST route of a live region from the OpenAPI description the region
serves at /openapi.json: no input (valid per the document, or not) gives a 5xx, and every error
body carries a documented code. Signed score batches are signed here, so they get past the
signature check and reach validation and ingestion."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from podium.region.api.app import create_app
from podium.region.api.openapi import DOCUMENT
from schemathesis.core import NotSet

from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from podium.signing import signed_headers
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET, region_settings

CODES = set(DOCUMENT["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"])


@pytest.fixture(scope="module")
def rest_server(redis_server: RedisServer) -> Iterator[LiveServer]:
    with LiveServer(create_app, region_settings(f"{redis_server.url}/9")) as server:
        r = httpx.post(f"{server.url}/v1/admin/boards", json={"id": "fuzz"}, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
        assert r.status_code == 201, r.text
        yield server


@pytest.fixture(scope="module")
def rest_schema(rest_server: LiveServer):  # type: ignore[no-untyped-def]
    return schemathesis.openapi.from_url(f"{rest_server.url}/openapi.json")


schema = schemathesis.pytest.from_fixture("rest_schema")


def call_signed(case: Any, base_url: str) -> httpx.Response:
    """A score batch, signed over the exact bytes sent (schemathesis's own encoding may differ)."""
    if isinstance(case.body, NotSet):
        body = b""
    elif isinstance(case.body, bytes | str):
        body = case.body.encode() if isinstance(case.body, str) else case.body
    else:
        body = json.dumps(case.body).encode()
    headers = {k: v for k, v in (case.headers or {}).items() if isinstance(v, str)}
    headers.update(signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/scores", time.time_ns() // 1_000_000, body))
    headers["content-type"] = "application/json"
    return httpx.post(f"{base_url}/v1/scores", content=body, headers=headers, params=case.query or {})


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_rest_routes_never_answer_5xx(case, rest_server: LiveServer) -> None:  # type: ignore[no-untyped-def]
    if case.path == "/v1/scores":
        response = call_signed(case, rest_server.url)
        status, text, ctype = response.status_code, response.text, response.headers.get("content-type", "")
        results = [(status, text, ctype)]
    else:
        results = []
        for admin in (False, True):
            r = case.call(headers={"Authorization": f"Bearer {ADMIN_KEY}"} if admin else {})
            results.append((r.status_code, r.text, (r.headers.get("content-type") or [""])[0]))
    for status, text, ctype in results:
        assert status < 500 or (case.path == "/readyz" and status == 503), text
        assert "Traceback" not in text
        if status >= 400 and ctype.startswith("application/json"):
            assert orjson.loads(text)["error"]["code"] in CODES, text
