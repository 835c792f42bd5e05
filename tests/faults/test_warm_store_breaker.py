"""The warm store's reads behind its breaker, on a real Cassandra 5 node that stops answering
(SIGSTOP: connections open, no replies): the first history reads fail within the breaker's call
timeout, then the breaker opens and reads fail at once with `CircuitOpen` (503 + Retry-After);
when the node answers again a half-open probe closes it and the history is read. Baseline, same
run and same stopped node: the store read without the breaker, which waits out the driver's
request timeout."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from podium.region.history.cassandra import CassandraHistoryStore
from podium.region.history.store import ScoreRow
from podium.region.history.store_breaker import WARM_STORE_BREAKER, BreakerHistoryStore

from podium.breaker import Breakers, BreakerState, CircuitOpen
from podium.clock import SystemClock
from podium.config import BreakerSettings, HistorySettings
from podium.devtools.cassandra_server import CassandraServer
from podium.errors import Unavailable
from tests.faults.sigstop import stopped as stopped_pids
from tests.stream.conftest import say

pytestmark = pytest.mark.anyio
CALL_TIMEOUT_MS = 1000
LIMITS = BreakerSettings(call_timeout_ms=CALL_TIMEOUT_MS, calls_min=3, window_calls_max=10, failure_ratio=0.5,
                         open_ms=1500)
READS_WHILE_DOWN = 12
SLACK_MS = 3000


@pytest.fixture(scope="module")
def cassandra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraServer]:
    with CassandraServer(Path(tmp_path_factory.mktemp("cassandra-breaker"))) as server:
        yield server


@contextmanager
def stopped(server: CassandraServer) -> Iterator[None]:
    assert server.process is not None
    with stopped_pids([server.process.pid]):
        yield


@pytest.fixture
async def store(cassandra: CassandraServer) -> AsyncIterator[CassandraHistoryStore]:
    settings = HistorySettings(cassandra_contact_points=["127.0.0.1"], cassandra_port=cassandra.port,
                               cassandra_protocol_version=5, cassandra_keyspace=f"podium_wb{os.getpid()}")
    history = CassandraHistoryStore(settings)
    await history.open()
    await history.append_scores([ScoreRow("wb@1", f"p{i % 3}", f"e{i}", i, 1_700_000_000_000 + i) for i in range(30)])
    yield history
    await history.close()


async def _timed_reads(store: CassandraHistoryStore | BreakerHistoryStore, n: int) -> list[tuple[float, BaseException | None]]:
    out: list[tuple[float, BaseException | None]] = []
    for _ in range(n):
        t0 = time.perf_counter()
        error: BaseException | None = None
        try:
            await store.score_history("wb@1", "p1", 5)
        except Unavailable as exc:
            error = exc
        out.append(((time.perf_counter() - t0) * 1000, error))
    return out


async def test_a_stopped_warm_store_opens_its_breaker_and_history_reads_fail_fast(
        cassandra: CassandraServer, store: CassandraHistoryStore, pytestconfig: pytest.Config) -> None:
    breakers = Breakers(SystemClock(), LIMITS)
    guarded = BreakerHistoryStore(store, breakers)
    assert len(await guarded.score_history("wb@1", "p1", 5)) == 5
    with stopped(cassandra):
        baseline = await _timed_reads(store, 1)
        down = await _timed_reads(guarded, READS_WHILE_DOWN)
    # baseline: the unguarded read fails too, usually after the driver's request timeout (10 s), far
    # past the breaker's call timeout; on a starved machine the driver may have marked the node down
    # already and fail sooner, so only the failure is asserted and its time is reported
    assert all(isinstance(e, Unavailable) for _, e in baseline), baseline
    assert all(isinstance(e, Unavailable) and ms <= CALL_TIMEOUT_MS + SLACK_MS for ms, e in down)
    refused = [(ms, e) for ms, e in down if isinstance(e, CircuitOpen)]
    assert len(refused) >= READS_WHILE_DOWN - LIMITS.calls_min - 1
    assert all(isinstance(e, CircuitOpen) and e.dependency == WARM_STORE_BREAKER and e.extensions["retryAfter"] > 0
               for _, e in refused)
    say(pytestconfig, f"[warm-store breaker] Cassandra SIGSTOPped: unguarded read {baseline[0][0]:.0f} ms; guarded: "
                      f"{len(down) - len(refused)} reads cut at the {CALL_TIMEOUT_MS} ms call timeout (median "
                      f"{statistics.median(ms for ms, e in down if not isinstance(e, CircuitOpen)):.0f} ms), then "
                      f"{len(refused)} refused at once (max {max(ms for ms, _ in refused):.1f} ms) "
                      f"(load {os.getloadavg()[0]:.1f})")

    # the node answers again: a probe closes the breaker and the history is read
    deadline = time.monotonic() + 60
    while True:
        try:
            assert len(await guarded.score_history("wb@1", "p1", 5)) == 5
            break
        except Unavailable:
            assert time.monotonic() < deadline, "the warm store's breaker never closed"
            await asyncio.sleep(0.2)
    assert breakers.get(WARM_STORE_BREAKER).state(breakers.clock.now_ms()) is BreakerState.CLOSED
