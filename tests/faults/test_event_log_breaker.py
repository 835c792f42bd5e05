"""The event log's breaker on a real broker that stops answering (SIGSTOP: it keeps its sockets
open, the worst case for a producer): the first batches fail after `produce_timeout_ms`, then the
breaker opens and batches fail at once with 503 + Retry-After; when the broker answers again a
half-open probe gets through and batches are acknowledged. Baseline, same run and same stopped
broker: a sink without breaker, where every batch waits out the produce timeout."""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest
import redis.asyncio as aioredis
from podium.region.rank_store_redis import RedisRankStore
from podium.region.stream.sink_kafka import EVENT_LOG_BREAKER, KafkaSink

from podium.breaker import Breakers, BreakerState, CircuitOpen
from podium.clock import SystemClock
from podium.config import BreakerSettings, KafkaSettings, Settings
from podium.devtools.kafka_broker import KafkaCluster
from podium.errors import Unavailable
from podium.model import Board, Operator, ScoreEntry
from podium.redis_server import RedisServer, free_port
from tests.faults.sigstop import stopped as stopped_pids
from tests.stream.conftest import kafka_bootstrap, kafka_broker, say  # noqa: F401 - fixtures used here

pytestmark = pytest.mark.anyio
PRODUCE_TIMEOUT_MS = 1000
LIMITS = BreakerSettings(calls_min=3, window_calls_max=10, failure_ratio=0.5, open_ms=1500)
BATCHES_WHILE_DOWN = 12
SLACK_MS = 3000    # one batch's own overhead on a loaded 2-core machine


@contextmanager
def stopped(cluster: KafkaCluster) -> Iterator[None]:
    pids = [p for p in cluster.pids if p is not None]
    assert pids, "the broker is not running"
    with stopped_pids(pids):
        yield


@pytest.fixture
async def store(redis_server: RedisServer) -> AsyncIterator[RedisRankStore]:
    redis = aioredis.Redis.from_url(redis_server.url)
    yield RedisRankStore(redis)
    await redis.aclose()


def _sink(bootstrap: str, store: RedisRankStore, breakers: Breakers | None) -> KafkaSink:
    settings = Settings(region="eu", kafka=KafkaSettings(bootstrap=bootstrap, topic_prefix=f"eb{free_port()}",
                                                         produce_timeout_ms=PRODUCE_TIMEOUT_MS))
    return KafkaSink(settings, store, breakers)


def _batch(board: Board, n: int) -> list[tuple[int, ScoreEntry]]:
    return [(i, ScoreEntry(board.id, f"p{i}", 1, 1_700_000_000_000 + n, f"e{n}-{i}")) for i in range(5)]


async def _timed_puts(sink: KafkaSink, board: Board, n: int) -> list[tuple[float, BaseException | None]]:
    out: list[tuple[float, BaseException | None]] = []
    for k in range(n):
        t0 = time.perf_counter()
        try:
            await sink.put({board.id: board}, _batch(board, k), 0)
            error: BaseException | None = None
        except Unavailable as exc:
            error = exc
        out.append(((time.perf_counter() - t0) * 1000, error))
    return out


async def _acknowledged(sink: KafkaSink, board: Board) -> None:
    """Puts a batch until the broker acknowledges one (60 s deadline)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if len(await sink.put({board.id: board}, _batch(board, 100), 0)) == 5:
                return
        except Unavailable:
            assert time.monotonic() < deadline, "no batch acknowledged within 60 s"
            await asyncio.sleep(0.2)


async def test_a_stopped_broker_opens_the_event_log_breaker_and_batches_fail_fast(
        kafka_bootstrap: str, kafka_broker: KafkaCluster | None, store: RedisRankStore,  # noqa: F811
        pytestconfig: pytest.Config) -> None:
    if kafka_broker is None:
        pytest.fail("this fault test needs the suite's own broker (it stops its process)")
    board = Board(f"eb-{free_port()}", operator=Operator.INCREMENT)
    breakers = Breakers(SystemClock(), LIMITS)
    guarded, baseline = _sink(kafka_bootstrap, store, breakers), _sink(kafka_bootstrap, store, None)
    await guarded.start()
    await baseline.start()
    try:
        # fresh topics on a loaded machine: the first batches may wait for leaders; not measured
        await _acknowledged(guarded, board)
        await _acknowledged(baseline, board)
        guarded.breakers = breakers = Breakers(SystemClock(), LIMITS)   # the warm-up's verdicts forgotten
        with stopped(kafka_broker):
            unguarded = await _timed_puts(baseline, board, 4)
            down = await _timed_puts(guarded, board, BATCHES_WHILE_DOWN)
        # baseline: every batch fails only after waiting (about) the produce timeout
        assert all(isinstance(e, Unavailable) and ms >= PRODUCE_TIMEOUT_MS * 0.9 for ms, e in unguarded)
        # guarded: every batch fails, none waits past the produce timeout; once open, they fail at once
        assert all(e is not None and ms <= PRODUCE_TIMEOUT_MS + SLACK_MS for ms, e in down)
        refused = [(ms, e) for ms, e in down if isinstance(e, CircuitOpen)]
        assert len(refused) >= BATCHES_WHILE_DOWN - LIMITS.calls_min - 1
        assert all(e.extensions["retryAfter"] > 0 and e.dependency == EVENT_LOG_BREAKER
                   for _, e in refused if isinstance(e, CircuitOpen))
        assert breakers.get(EVENT_LOG_BREAKER).trips >= 1
        open_p99 = max(ms for ms, _ in refused)
        say(pytestconfig, f"[event-log breaker] broker SIGSTOPped: batch latency without breaker median "
                          f"{statistics.median(ms for ms, _ in unguarded):.0f} ms (all waited the {PRODUCE_TIMEOUT_MS} ms "
                          f"produce timeout); with the breaker open max {open_p99:.1f} ms over {len(refused)} refused "
                          f"batches (load {os.getloadavg()[0]:.1f})")

        # the broker answers again: a half-open probe is acknowledged and the breaker closes
        await _acknowledged(guarded, board)
        assert breakers.get(EVENT_LOG_BREAKER).state(breakers.clock.now_ms()) is BreakerState.CLOSED
    finally:
        await guarded.close()
        await baseline.close()
