"""Two app instances on one Redis (as two processes of a region would be): each lets requests
through on its own in-process buckets, yet the shared limit binds. A client that spent its budget
on one instance is refused by the other after one sync, while the other's own bucket still has
tokens left."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable

import httpx
import redis as redis_sync
from podium.region.api.app import create_app

from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.rate_limit_local import LocalBuckets
from podium.redis_server import RedisServer
from tests.conftest import region_settings

BURST = 5
DEADLINE_S = 30.0


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def _local(server: LiveServer) -> LocalBuckets:
    local: LocalBuckets = server.app.state.service.rate_limits.local
    return local


def test_the_shared_limit_binds_across_two_instances(redis_server: RedisServer) -> None:
    def settings() -> Settings:
        # one token per 100 s: no refill within the test however slowly a loaded machine runs it;
        # the IP bucket is a thousand times larger, so only the credential's bucket matters here
        return region_settings(redis_server.url, api={
            "rate_limit_per_s": 0.01, "rate_limit_burst": BURST, "rate_limit_ip_factor": 1000.0,
            "rate_limit_sync_ms": 50, "cache_ttl_ms": 0})
    who = {"Authorization": f"Bearer shared-{uuid.uuid4()}"}
    key = "prl:{client:" + hashlib.sha256(who["Authorization"].encode()).hexdigest()[:24] + "}"
    with LiveServer(create_app, settings()) as a, LiveServer(create_app, settings()) as b, \
            httpx.Client(timeout=30) as http:

        def ask(server: LiveServer) -> httpx.Response:
            return http.post(f"{server.url}/graphql", json={"query": "{ boards { id } }"}, headers=who)

        assert [ask(a).status_code for _ in range(BURST + 1)] == [200] * BURST + [429]
        _wait(lambda: _local(a).shared_calls >= 1 and _local(a).settled, "instance a to charge Redis")
        shared = redis_sync.Redis.from_url(redis_server.url)
        try:
            assert float(shared.hget(key, "t") or BURST) < 1   # the shared bucket holds a's spending
        finally:
            shared.close()

        # b has not seen this client yet: one request goes through on its own bucket (the bound:
        # at most one sync interval per process), and is charged to the shared bucket in debt
        assert ask(b).status_code == 200
        _wait(lambda: _local(b).shared_calls >= 1 and _local(b).settled, "instance b to charge Redis")
        refused = [ask(b) for _ in range(3)]     # b's own bucket still has BURST - 1 tokens
        assert [r.status_code for r in refused] == [429] * 3
        assert int(refused[0].headers["retry-after"]) >= 1
        assert refused[0].json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"
        assert ask(a).status_code == 429
