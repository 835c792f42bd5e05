"""Builds trending's object graph for a region (one place), and its live ticker."""

from __future__ import annotations

from podium.region.idempotency_redis import IdempotencyStore
from podium.region.trending.live import Dims, TrendingFanOut
from podium.region.trending.log_apply import EventLogApplier
from podium.region.trending.service import TrendingService
from podium.region.trending.ship_redis import TrendingOutbox
from podium.region.trending.shipper import TrendingShipper, TrendingTransport
from podium.region.trending.sink_kafka import EventLogSink
from podium.region.trending.store_redis import RedisTrendingStore, StreamRegistry
from podium.replication.trending_ship_breaker import BreakerTrendingTransport
from podium.replication.trending_transport import HttpTrendingTransport

from podium.breaker import Breakers
from podium.clock import Clock
from podium.config import Settings
from podium.model import RankedEntry
from podium.redis_client import AnyRedis


def build_trending(settings: Settings, redis: AnyRedis, clock: Clock, breakers: Breakers | None = None) -> TrendingService:
    """With `breakers` (the region's), the shipper's sends pass its "global-trending" breaker."""
    limits = settings.trending
    service = TrendingService(RedisTrendingStore(redis, limits, clock), StreamRegistry(redis, clock, limits),
                              IdempotencyStore(redis, settings.ingest.idempotency_ttl_ms), limits, clock)
    if settings.kafka.bootstrap and limits.event_log:     # event-log mode: produce, the worker counts (log_apply)
        service.sink = EventLogSink(settings)
    if settings.global_.url and settings.replication.secret:   # world-wide trending on the global tier
        service.store.ship_marks = True
        http = HttpTrendingTransport(settings.global_.url, settings.replication.secret, clock,
                                     settings.replication.request_timeout_ms)
        transport: TrendingTransport = http if breakers is None else BreakerTrendingTransport(
            http, breakers, limits.ship_breaker_failures, limits.ship_breaker_open_ms,
            settings.replication.request_timeout_ms)
        service.shipper = TrendingShipper(TrendingOutbox(redis, limits.ship_exact_items_max), service.streams,
                                          transport, settings.region, clock, limits)
    return service


def build_log_applier(settings: Settings, redis: AnyRedis, clock: Clock) -> EventLogApplier:
    """The worker's applier of the events topic."""
    limits = settings.trending
    return EventLogApplier(RedisTrendingStore(redis, limits, clock), StreamRegistry(redis, clock, limits), clock)


def build_live(service: TrendingService, settings: Settings, clock: Clock) -> TrendingFanOut:
    async def read_top(stream: str, window: str, k: int, dims: Dims) -> list[RankedEntry]:
        answer = await service.query(stream, last=window, k=k, dims=dict(dims))
        return [RankedEntry(t.rank, t.item, t.count, 0) for t in answer.items]

    return TrendingFanOut(read_top, service.store.versions, settings.api, settings.trending, clock)
