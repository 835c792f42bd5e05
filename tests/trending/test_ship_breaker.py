"""The trending shipper's circuit breaker (replication/trending_ship_breaker.py), on a real region
Redis and a real global tier: N failed rounds in a row (the global tier's port closed) open it,
the next round fails at once without a send, N-1 failures then a success do not open it, the
cool-down (an injected clock) makes it half-open, and one probe round against the global tier,
now up, closes it and ships the cells. Its state is in the breakers' report (/readyz) and the
region's wiring puts it in front of the trending transport."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal
from podium.region.trending.events import TrendEvent
from podium.region.trending.ship_redis import TrendingOutbox
from podium.region.trending.shipper import TrendingShipper
from podium.region.trending.store_redis import RedisTrendingStore, StreamRegistry
from podium.region.trending.streams import StreamSpec
from podium.replication.trending_ship_breaker import NAME, BreakerTrendingTransport
from podium.replication.trending_transport import HttpTrendingTransport

from podium.breaker import Breakers, CircuitOpen
from podium.clock import FakeClock, SystemClock
from podium.config import GlobalSettings, ReplicationSettings, Settings, TrendingSettings
from podium.devtools.testing import LiveServer
from podium.errors import Unavailable
from podium.redis_client import connect
from podium.redis_server import RedisServer, free_port

SECRET = "trending-breaker-secret"
FAILURES = 3
OPEN_MS = 10_000
LIMITS = TrendingSettings(ship_breaker_failures=FAILURES, ship_breaker_open_ms=OPEN_MS)


class Rig:
    def __init__(self, portal: BlockingPortal, tmp_path: Path, region_url: str) -> None:
        self.portal = portal
        self.tmp_path = tmp_path
        self.port = free_port()           # the global tier's, closed until `start_global`
        self.breaker_clock = FakeClock()
        self.breakers = Breakers(self.breaker_clock)
        self.global_redis: RedisServer | None = None
        self.server: LiveServer | None = None
        self.redis = portal.call(_connect, region_url)
        clock = SystemClock()
        self.store = RedisTrendingStore(self.redis, LIMITS, clock)
        self.store.ship_marks = True
        self.streams = StreamRegistry(self.redis, clock, LIMITS, refresh_ms=0)
        inner = HttpTrendingTransport(f"http://127.0.0.1:{self.port}", SECRET, clock, 30_000)
        self.transport = BreakerTrendingTransport(inner, self.breakers, FAILURES, OPEN_MS, 30_000)
        self.shipper = TrendingShipper(TrendingOutbox(self.redis, LIMITS.ship_exact_items_max), self.streams,
                                       self.transport, "eu-west", clock, LIMITS)

    def start_global(self) -> None:
        from podium.global_.server import create_global_app

        self.global_redis = RedisServer(self.tmp_path / "global", appendonly=False).start()
        settings = Settings(redis_url=self.global_redis.url, data_dir=self.tmp_path, port=self.port, trending=LIMITS,
                            replication=ReplicationSettings(secret=SECRET))
        self.server = LiveServer(create_global_app, settings).__enter__()

    def ship(self) -> Any:
        return self.portal.call(self.shipper.ship_once)

    def state(self) -> str:
        return str(self.breakers.report()[NAME]["state"])

    def close(self) -> None:
        self.portal.call(self.transport.aclose)
        self.portal.call(self.redis.aclose)
        if self.server is not None:
            self.server.__exit__(None, None, None)
        if self.global_redis is not None:
            self.global_redis.stop()


async def _connect(url: str) -> Any:
    return connect(url)


@pytest.fixture
def rig(portal: BlockingPortal, tmp_path: Path) -> Iterator[Rig]:
    # its own region Redis: the outbox's generation and marks are per Redis, not per stream
    region_redis = RedisServer(tmp_path / "region", appendonly=False).start()
    made = Rig(portal, tmp_path, region_redis.url)
    spec = StreamSpec(f"brk-{uuid.uuid4().hex[:10]}")

    async def seed() -> None:
        await made.streams.create(spec)
        now = SystemClock().now_ms()
        await made.store.apply(spec, [TrendEvent(spec.id, f"i{j}", now - 1000, 1 + j, f"e-{spec.id}-{j}")
                                      for j in range(5)])

    portal.call(seed)
    try:
        yield made
    finally:
        made.close()
        region_redis.stop()


def test_consecutive_failures_open_it_and_a_probe_after_the_cool_down_closes_it(rig: Rig) -> None:
    for n in range(FAILURES):
        assert rig.state() == "closed" if n else True
        with pytest.raises(Unavailable) as failed:
            rig.ship()
        assert not isinstance(failed.value, CircuitOpen)      # a real send that failed
    assert rig.state() == "open"
    breaker = rig.breakers.get(NAME)
    with pytest.raises(CircuitOpen) as refused:
        rig.ship()                                            # no send: refused at once
    assert refused.value.http_status == 503 and breaker.rejected == 1
    rig.start_global()
    rig.breaker_clock.advance(OPEN_MS - 1)
    with pytest.raises(CircuitOpen):
        rig.ship()                                            # still cooling down, though the tier is up
    rig.breaker_clock.advance(1)
    assert rig.state() == "half_open"
    assert rig.ship() == 3                                    # the probe round ships every cell (minute, hour, day)
    assert rig.state() == "closed" and breaker.trips == 1


def test_a_success_between_failures_keeps_it_closed_and_a_failed_probe_reopens_it(rig: Rig) -> None:
    for _ in range(FAILURES - 1):
        with pytest.raises(Unavailable):
            rig.ship()
    rig.start_global()
    assert rig.ship() == 3
    assert rig.server is not None
    rig.server.__exit__(None, None, None)                    # the global tier goes away again
    rig.server = None
    for _ in range(FAILURES - 1):
        with pytest.raises(Unavailable):
            rig.ship()
    assert rig.state() == "closed"                            # 2 + 2 failures, but never 3 in a row
    with pytest.raises(Unavailable):
        rig.ship()
    assert rig.state() == "open"
    rig.breaker_clock.advance(OPEN_MS)
    with pytest.raises(Unavailable) as probe:
        rig.ship()                                            # the probe is sent, and fails
    assert not isinstance(probe.value, CircuitOpen)
    assert rig.state() == "open" and rig.breakers.get(NAME).trips == 2


def test_the_region_wiring_puts_the_breaker_in_front_of_the_trending_transport(
        portal: BlockingPortal, tmp_path: Path, redis_server: RedisServer) -> None:
    from podium.region.trending.wiring import build_trending

    settings = Settings(redis_url=redis_server.url, data_dir=tmp_path, global_=GlobalSettings(url="http://127.0.0.1:1"),
                        replication=ReplicationSettings(secret=SECRET))
    breakers = Breakers(SystemClock())
    redis = portal.call(_connect, redis_server.url)
    service = build_trending(settings, redis, SystemClock(), breakers)
    portal.call(redis.aclose)
    assert service.shipper is not None
    portal.call(service.shipper.transport.aclose)
    assert service.shipper is not None and isinstance(service.shipper.transport, BreakerTrendingTransport)
    assert breakers.report()[NAME]["state"] == "closed"
    breaker = breakers.get(NAME)
    assert (breaker.limits.calls_min, breaker.limits.window_calls_max, breaker.limits.failure_ratio) == (5, 5, 1.0)
