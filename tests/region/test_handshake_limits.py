"""Websocket handshakes under a connect storm: they draw from in-process buckets (no Redis call per
handshake) charged to the shared Redis bucket asynchronously, and a refusal is a 429 coded
RATE_LIMITED."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis as redis_sync
import websockets
from podium.region.api.app import create_app

from podium.clock import FakeClock
from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import Subscriber
from podium.errors import RateLimited
from podium.rate_limit import TokenBuckets
from podium.rate_limit_local import LocalBuckets
from podium.redis_client import connect
from podium.redis_server import RedisServer
from tests.conftest import region_settings

pytestmark = pytest.mark.anyio


async def test_local_buckets_refuse_without_redis_and_charge_it_once_per_interval(redis_server: RedisServer) -> None:
    clock = FakeClock()
    redis = connect(redis_server.url)
    try:
        shared = TokenBuckets(redis, rate_per_s=1.0, burst=5, clock=clock)
        local = LocalBuckets(shared, clock, sync_ms=20, keys_max=10)
        for _ in range(5):
            local.take("ip:9.9.9.1")
        with pytest.raises(RateLimited) as exc:
            local.take("ip:9.9.9.1")                  # the local bucket says no: no I/O at all
        assert exc.value.retry_after_s == 1.0 and local.shared_calls == 0
        await asyncio.sleep(0.2)                      # the sync charges 5 in one call
        assert local.shared_calls == 1
        with pytest.raises(RateLimited):
            await shared.take("ip:9.9.9.1")           # the shared bucket holds what was let through
    finally:
        await redis.aclose()


async def test_a_client_that_spent_its_budget_elsewhere_is_refused_after_one_sync(redis_server: RedisServer) -> None:
    clock = FakeClock()
    redis = connect(redis_server.url)
    try:
        shared = TokenBuckets(redis, rate_per_s=1.0, burst=3, clock=clock)
        for _ in range(3):
            await shared.take("ip:9.9.9.2")           # another process took the whole burst
        local = LocalBuckets(shared, clock, sync_ms=10, keys_max=10)
        local.take("ip:9.9.9.2")                      # this process does not know yet
        await asyncio.sleep(0.2)
        with pytest.raises(RateLimited):
            local.take("ip:9.9.9.2")                  # now it does, without asking Redis again
        assert local.shared_calls == 1
    finally:
        await redis.aclose()


@pytest.fixture(scope="module")
def tight(redis_server: RedisServer) -> Iterator[LiveServer]:
    settings = region_settings(redis_server.url, api={"rate_limit_per_s": 0.01, "rate_limit_burst": 2,
                                                      "rate_limit_ip_factor": 1.0})
    with LiveServer(create_app, settings) as server:
        yield server
    # the loopback IP's shared bucket is left nearly empty: other modules' servers use the same key
    redis_sync.Redis.from_url(redis_server.url).delete("prl:{ip:127.0.0.1}")


async def test_a_refused_handshake_is_a_429_coded_rate_limited(tight: LiveServer) -> None:
    subs = [await Subscriber(tight.ws_url).connect() for _ in range(2)]
    try:
        with pytest.raises(websockets.InvalidStatus) as exc:
            await Subscriber(tight.ws_url).connect()
        response = exc.value.response
        assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
        assert b'"RATE_LIMITED"' in response.body
    finally:
        for sub in subs:
            await sub.close()
