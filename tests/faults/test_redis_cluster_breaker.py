"""The Redis breaker on a real 3-primary Redis Cluster (redis-server processes joined by redis-cli),
through the rank store adapter: with every primary stopped (SIGSTOP: sockets open, no answers),
applies (Lua) and reads (commands, pipelines) fail within the call timeout, then the breaker opens
and they fail at once as `Unavailable` with the Retry-After of the open period; once the nodes
answer again a half-open probe closes it. Baseline, same run and same stopped cluster: an unguarded
cluster client, whose calls wait out the client's own socket timeout."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from podium.region.rank_store_redis import RedisRankStore
from redis.asyncio.cluster import ClusterNode, RedisCluster

from podium.breaker import Breakers, BreakerState
from podium.clock import SystemClock
from podium.config import BreakerSettings
from podium.errors import Unavailable
from podium.model import Board, Operator, ScoreEntry
from podium.redis_client import connect
from podium.redis_guard import GuardedRedisCluster
from podium.redis_server import RedisClusterServers
from tests.faults.sigstop import stopped as stopped_pids
from tests.stream.conftest import say

pytestmark = pytest.mark.anyio
CALL_TIMEOUT_MS = 400
LIMITS = BreakerSettings(call_timeout_ms=CALL_TIMEOUT_MS, calls_min=3, window_calls_max=10, failure_ratio=0.5,
                         open_ms=1500)
BASELINE_SOCKET_TIMEOUT_S = 2.0
CALLS_WHILE_DOWN = 12
SLACK_MS = 3000
T0 = 1_700_000_000_000


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServers]:
    with RedisClusterServers(Path(tmp_path_factory.mktemp("breaker-cluster"))) as servers:
        yield servers


@contextmanager
def stopped(servers: RedisClusterServers) -> Iterator[None]:
    pids = [s.process.pid for s in servers.servers if s.process is not None]
    assert len(pids) == 3
    with stopped_pids(pids):
        yield


async def _timed(store: RedisRankStore, board: Board, n: int) -> list[tuple[float, BaseException | None]]:
    """Alternates a Lua apply and a page read (a pipeline), each timed."""
    out: list[tuple[float, BaseException | None]] = []
    for k in range(n):
        t0 = time.perf_counter()
        error: BaseException | None = None
        try:
            if k % 2:
                await store.range(board, 0, 10)
            else:
                await store.apply(board, [ScoreEntry(board.id, f"p{k}", k, T0 + k, f"d{k}")], T0)
        except Unavailable as exc:
            error = exc
        out.append(((time.perf_counter() - t0) * 1000, error))
    return out


async def test_a_stopped_cluster_opens_the_redis_breaker_and_calls_fail_fast(
        cluster: RedisClusterServers, pytestconfig: pytest.Config) -> None:
    breakers = Breakers(SystemClock(), LIMITS)
    url = "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in cluster.startup_nodes)
    guarded = connect(url, breakers=breakers, breaker_name="redis")
    assert isinstance(guarded, GuardedRedisCluster)
    plain = RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in cluster.startup_nodes],
                         socket_timeout=BASELINE_SOCKET_TIMEOUT_S)
    board = Board(f"cb{os.getpid()}", operator=Operator.BEST)
    store, baseline_store = RedisRankStore(guarded), RedisRankStore(plain)
    try:
        for s in (store, baseline_store):   # both clients know the slots and hold connections
            await s.apply(board, [ScoreEntry(board.id, "warm", 1, T0, "w")], T0)
            assert [e.player for e in await s.range(board, 0, 10)] == ["warm"]
        with stopped(cluster):
            baseline = await _timed(baseline_store, board, 2)
            down = await _timed(store, board, CALLS_WHILE_DOWN)
        assert all(e is not None and ms >= BASELINE_SOCKET_TIMEOUT_S * 1000 * 0.9 for ms, e in baseline)
        assert all(isinstance(e, Unavailable) and ms <= CALL_TIMEOUT_MS + SLACK_MS for ms, e in down)
        timed_out = [ms for ms, e in down if ms >= CALL_TIMEOUT_MS * 0.9]
        refused = [ms for ms, _ in down if ms < CALL_TIMEOUT_MS * 0.9]
        assert breakers.get("redis").trips >= 1
        assert len(timed_out) <= LIMITS.calls_min + 1     # then the open breaker answered at once
        assert len(refused) >= CALLS_WHILE_DOWN - LIMITS.calls_min - 1
        assert all(isinstance(e, Unavailable) and float(e.extensions["retryAfter"]) > 0 for _, e in down)
        say(pytestconfig, f"[redis cluster breaker] 3 primaries SIGSTOPped: unguarded client median "
                          f"{statistics.median(ms for ms, _ in baseline):.0f} ms per call; guarded: "
                          f"{len(timed_out)} calls cut at the {CALL_TIMEOUT_MS} ms call timeout, then {len(refused)} "
                          f"refused at once (max {max(refused):.1f} ms) (load {os.getloadavg()[0]:.1f})")

        # the nodes answer again: after open_ms a probe gets through and the breaker closes
        deadline = time.monotonic() + 30
        while True:
            try:
                assert "warm" in [e.player for e in await store.range(board, 0, 10)]
                break
            except Unavailable:
                assert time.monotonic() < deadline, "the cluster's breaker never closed"
                await asyncio.sleep(0.1)
        assert breakers.get("redis").state(breakers.clock.now_ms()) is BreakerState.CLOSED
    finally:
        await guarded.aclose()
        await plain.aclose()
