"""Guards over a real server: per-client and per-IP rate limits (Redis token buckets), query depth,
aliases, cost, introspection off; every refusal carries `extensions.code`."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from podium.region.api.app import create_app

from podium.clock import FakeClock
from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import Subscriber
from podium.errors import RateLimited
from podium.rate_limit import TokenBuckets
from podium.redis_client import connect
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.region.helpers import create_board


@pytest.fixture(scope="module")
def guarded(redis_server: RedisServer) -> Iterator[LiveServer]:
    settings = region_settings(redis_server.url, api={
        "rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000, "query_depth_max": 2, "aliases_max": 3,
        "introspection": False})
    with LiveServer(create_app, settings) as server:
        yield server


@pytest.fixture(scope="module")
def limited(redis_server: RedisServer) -> Iterator[LiveServer]:
    # one token per 20 s: the burst runs out within the test however slowly a loaded machine serves it
    # (at 2 tokens/s, requests slower than 0.5 s each never emptied the bucket)
    settings = region_settings(redis_server.url, api={"rate_limit_per_s": 0.05, "rate_limit_burst": 5})
    with LiveServer(create_app, settings) as server:
        yield server


def post(server: LiveServer, query: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}/graphql", json={"query": query}, headers=headers or {})


def test_rate_limit_answers_429_with_code_and_retry_after(limited: LiveServer) -> None:
    responses = [post(limited, "{ boards { id } }", {"Authorization": "Bearer someone"}) for _ in range(15)]
    codes = [r.status_code for r in responses]
    assert codes[:4] == [200] * 4 and 429 in codes[4:]
    r = responses[codes.index(429)]
    assert int(r.headers["retry-after"]) >= 1
    error = r.json()["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED" and error["extensions"]["retryAfter"] > 0
    assert httpx.get(f"{limited.url}/healthz").status_code == 200   # probes are never limited


@pytest.mark.anyio
async def test_token_bucket_refills_with_the_injected_clock(redis_server: RedisServer) -> None:
    clock = FakeClock()
    redis = connect(redis_server.url)
    buckets = TokenBuckets(redis, rate_per_s=1.0, burst=2, clock=clock)
    try:
        await buckets.take("ip:1.2.3.4")
        await buckets.take("ip:1.2.3.4")
        with pytest.raises(RateLimited) as exc:
            await buckets.take("ip:1.2.3.4")
        assert exc.value.retry_after_s == 1.0
        clock.advance(1000)
        await buckets.take("ip:1.2.3.4")      # one token back after a second
        await buckets.take("ip:5.6.7.8")      # buckets are per key
    finally:
        await redis.aclose()


@pytest.mark.parametrize(
    ("query", "message_part"),
    [
        ('{ leaderboard(board:"x"){ edges { node { rank } } } }', "exceeds maximum operation depth"),
        ('{ a: boards { id } b: boards { id } c: boards { id } d: boards { id } }', "aliases"),
        ('{ __schema { types { name } } }', "introspection"),
    ],
)
def test_depth_aliases_and_introspection_are_refused(guarded: LiveServer, query: str, message_part: str) -> None:
    r = post(guarded, query)
    assert r.status_code == 200
    error = r.json()["errors"][0]
    assert message_part.lower() in error["message"].lower()
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.anyio
async def test_no_http_500_when_redis_is_gone(tmp_path: Path) -> None:
    """Redis lost under a running region: queries answer coded GraphQL errors, websocket handshakes
    still upgrade (the rate limiter fails open) and subscriptions get a coded error, never a 500."""
    redis = RedisServer(tmp_path / "redis", appendonly=False)
    redis.start()
    settings = region_settings(redis.url, api={"rate_limit_per_s": 100.0, "rate_limit_burst": 100})
    with LiveServer(create_app, settings) as server:
        board = create_board(server.url)
        redis.stop()
        r = httpx.post(f"{server.url}/graphql", json={"query": f'{{ count(board: "{board}") }}'})
        assert r.status_code == 503 and r.headers["retry-after"], r.text
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        sub = await Subscriber(server.ws_url).connect()      # raised on a failed handshake before
        try:
            await sub.subscribe('subscription($b: String!) { topChanged(board: $b, n: 3) { seq } }', {"b": board})
            payload = await asyncio.wait_for(sub.next(), 10)
            assert payload["errors"][0]["extensions"]["code"] == "UNAVAILABLE", payload
        finally:
            await sub.close()
