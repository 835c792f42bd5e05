"""Both tiers as live servers, so one test module checks the same limits and auth rules on each."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from podium.global_.server import create_global_app
from podium.region.api.app import create_app

from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import region_settings

# Small enough that each limit is quick to reach over loopback.
GUARD_API: dict[str, Any] = {
    "rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000, "cache_ttl_ms": 0,
    "graphql_body_bytes_max": 16_384, "ws_message_bytes_max": 16_384, "connection_init_wait_ms": 500,
}
TIERS = ("region", "global")
_DB = {"region": 2, "global": 3}   # separate Redis databases: the tiers' keys never meet


def tier_settings(tier: str, redis: RedisServer, api: dict[str, Any]) -> Settings:
    url = f"{redis.url}/{_DB[tier]}"
    if tier == "region":
        return region_settings(url, api=api)
    return Settings(redis_url=url, port=0, api=api)


def serve_tier(tier: str, redis: RedisServer, api: dict[str, Any]) -> LiveServer:
    factory = create_app if tier == "region" else create_global_app
    return LiveServer(factory, tier_settings(tier, redis, api))


# Servers whose prepared-operation cache is on: the tests send every request to them twice, so the
# second answer comes from the cache, by the fast path (graphql-core directly, on by default with
# the cache), and must equal the first (and the uncached server's).
CACHED_URLS: set[str] = set()


@pytest.fixture(scope="module", params=[(t, cache) for t in TIERS for cache in ("cached", "uncached")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def tier(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[LiveServer]:
    """A region and the global tier, each with the same (small) limits, with the prepared-operation
    cache (and with it the fast path) on and off: every limit and auth test gives the same results
    either way."""
    name, cache = request.param
    api = {**GUARD_API, "operation_cache_entries_max": 1000 if cache == "cached" else 0,
           "graphql_fast_path": cache == "cached"}
    with serve_tier(name, redis_server, api) as server:
        if cache == "cached":
            CACHED_URLS.add(server.url)
        yield server
        CACHED_URLS.discard(server.url)
