"""The region's composition root: builds the whole object graph once, every dependency passed to a
constructor, and hands it to `RegionService` (which only runs it: open → close).

Adapters (one per file, `*_redis.py`: the only modules that call Redis) are built here and nowhere
else in the region's core; the handlers get the narrow fronts built from them: `RegionReads`
(reads), `IngestService` (score batches), `BoardAdmin` (admin writes, with `Seasons`)."""

from __future__ import annotations

from typing import NamedTuple

from opentelemetry.metrics import CallbackOptions, Observation
from podium.region.admin import BoardAdmin
from podium.region.history.backlog_monitor import HistoryBacklogMonitor
from podium.region.history.backlog_redis import RedisHistoryBacklog
from podium.region.history.factory import build_history_store, history_writer, rank_store, snapshot_dir
from podium.region.history.store import HistoryStore
from podium.region.history.store_breaker import BreakerHistoryStore
from podium.region.history.writer import HistoryWriter
from podium.region.idempotency_redis import IdempotencyStore
from podium.region.ingest import IngestService
from podium.region.rank_store_redis import RedisRankStore
from podium.region.read_cache import ReadCache
from podium.region.reads import LiveReads, RegionReads
from podium.region.recovery import Rebuilder
from podium.region.region_marks_redis import RedisRegionMarks
from podium.region.seasons import Seasons
from podium.region.service import RegionService, Replication
from podium.region.top_snapshots import TopSnapshots
from podium.region.trending.wiring import build_trending
from podium.replication.anti_entropy import AntiEntropy
from podium.replication.change_feed_redis import RedisChangeFeed
from podium.replication.ship_breaker import BreakerShipTransport
from podium.replication.ship_kafka import KafkaShipTransport
from podium.replication.shipper import Shipper
from podium.replication.transport import HttpShipTransport, ShipTransport

from podium.boards import BoardRegistry
from podium.breaker import Breakers
from podium.clock import Clock, SystemClock
from podium.config import Settings
from podium.errors import Unavailable
from podium.model import Board
from podium.rate_limit import TokenBuckets
from podium.redis_client import AnyRedis, connect
from podium.redis_memory import RedisMemoryProbe
from podium.signing import ReplayGuard
from podium.tasks import Supervisor
from podium.telemetry import Telemetry


class History(NamedTuple):
    store: HistoryStore
    writer: HistoryWriter | None      # None: `podium history-writer` drains the backlog (writer_placement=separate)
    rebuilder: Rebuilder
    backlog: HistoryBacklogMonitor


def build_region(settings: Settings, clock: Clock | None = None, redis: AnyRedis | None = None) -> RegionService:
    """The region's service over `redis` (or a client to `settings.redis_url`, behind the "redis" breaker)."""
    clock = clock or SystemClock()
    breakers = Breakers(clock, settings.breakers)
    if redis is None:
        if not settings.redis_url:
            raise Unavailable("no Redis configured: set REDIS_URL (or run `podium up` for an embedded one)")
        redis = connect(settings.redis_url, cluster=settings.redis_cluster,
                        connections_max=settings.redis_pool_connections_max, breakers=breakers, breaker_name="redis",
                        lean_pending_max=settings.redis_lean_pending_max)
    telemetry = _telemetry(settings, breakers)
    supervisor = Supervisor(settings.supervisor)
    telemetry.watch_loops(supervisor.report)
    store = rank_store(redis, settings)
    boards = BoardRegistry(redis, clock)
    live = LiveReads(boards, store)
    ingest = _ingest(settings, clock, redis, store, boards, telemetry, breakers)
    lookups = telemetry.cache_lookups
    read_cache = ReadCache(settings.api.cache_ttl_ms, settings.api.cache_entries_max, clock,
                           on_lookup=lambda result: lookups.add(1, {"result": result}))
    top_snapshots = TopSnapshots(live.top, live.versions, clock, entries=settings.api.top_snapshot_entries,
                                 boards_max=settings.api.top_snapshot_boards_max)
    store.on_write = top_snapshots.drop
    history = _history(settings, clock, redis, store, boards, breakers, telemetry)
    reads = RegionReads(settings, clock, boards, store, read_cache, top_snapshots, breakers,
                        history.store if history else None)
    seasons = Seasons(boards, reads.history, reads.standings, clock, snapshot_dir(settings))
    admin = BoardAdmin(boards, store, seasons.reset, seasons.snapshot_now if history else None)
    service = RegionService(
        settings, clock, redis, store, boards, live, reads, ingest, admin,
        marks=RedisRegionMarks(redis, settings.region),
        replay_guard=ReplayGuard(redis, settings.ingest.signature_window_ms),
        rate_limits=TokenBuckets.from_limits(redis, settings.api, clock),
        memory=RedisMemoryProbe(redis, telemetry.provider.get_meter("podium"), settings.metrics, live.board_keys),
        telemetry=telemetry, supervisor=supervisor, breakers=breakers,
        history=history.store if history else None, history_writer=history.writer if history else None,
        rebuilder=history.rebuilder if history else None, history_backlog=history.backlog if history else None,
        trending=build_trending(settings, redis, clock, breakers),
        replication=_replication(settings, clock, redis, boards, breakers, telemetry))
    boards.on_change = service.board_changed
    return service


def _telemetry(settings: Settings, breakers: Breakers) -> Telemetry:
    telemetry = Telemetry("podium-region", settings.region)
    telemetry.watch_breakers(breakers)
    if settings.metrics.spans_dir:
        telemetry.write_spans(settings.metrics.spans_dir)
    return telemetry


def _ingest(settings: Settings, clock: Clock, redis: AnyRedis, store: RedisRankStore, boards: BoardRegistry,
            telemetry: Telemetry, breakers: Breakers) -> IngestService:
    idempotency = IdempotencyStore(redis, settings.ingest.idempotency_ttl_ms, settings.ingest.idempotency_pending_ms)
    ingest = IngestService(store, boards, idempotency, settings.ingest, clock, settings.region)
    scores = telemetry.scores

    def count_scores(counts: dict[str, int]) -> None:
        for outcome, n in counts.items():
            if n:
                scores.add(n, {"outcome": outcome})

    ingest.on_counts = count_scores
    if settings.kafka.bootstrap:
        from podium.region.stream.sink_kafka import KafkaSink  # event-log mode: produce, a worker applies

        ingest.sink = KafkaSink(settings, store, breakers)
    return ingest


def _history(settings: Settings, clock: Clock, redis: AnyRedis, store: RedisRankStore, boards: BoardRegistry,
             breakers: Breakers, telemetry: Telemetry) -> History | None:
    """The warm store, the writer that feeds it and the rebuilder that reads it (None: history off)."""
    warm = build_history_store(settings)
    if warm is None:
        return None
    h = settings.history
    writer = history_writer(settings, warm, redis, boards, breakers) if h.writer_placement == "in_process" else None

    async def all_boards() -> list[Board]:
        return list((await boards.all()).values())

    monitor = HistoryBacklogMonitor(RedisHistoryBacklog(redis, "monitor", h.backlog_claim_idle_ms), all_boards,
                                    clock, placement=h.writer_placement, check_ms=h.backlog_check_ms)

    def backlog(options: CallbackOptions) -> list[Observation]:
        return [Observation(monitor.entries)]

    def age(options: CallbackOptions) -> list[Observation]:
        return [Observation(monitor.age_ms)]

    meter = telemetry.provider.get_meter("podium")
    meter.create_observable_gauge("podium_history_backlog_entries", callbacks=[backlog],
                                  description="Apply calls whose scores wait for the warm store (as of the last check)")
    meter.create_observable_gauge("podium_history_backlog_age", callbacks=[age], unit="ms",
                                  description="Age of the oldest apply call whose scores wait for the warm store")
    # a rebuild first waits for the backlog to reach the warm store, whichever process drains it
    flush = writer.flush if writer is not None else monitor.flush
    rebuilder = Rebuilder(redis, store, warm, boards, clock, h, dedup_window_ms=settings.ingest.dedup_window_ms,
                          flush=lambda: flush(h.close_drain_ms_max / 1000))
    # request-path reads pass the warm store's breaker; the writer and rebuilds use the store itself
    return History(BreakerHistoryStore(warm, breakers), writer, rebuilder, monitor)


def _replication(settings: Settings, clock: Clock, redis: AnyRedis, boards: BoardRegistry,
                 breakers: Breakers, telemetry: Telemetry) -> Replication | None:
    """Shipping to the global tier, when one is configured."""
    g, r = settings.global_, settings.replication
    if not g.url:
        return None
    if not r.secret:
        raise Unavailable("global.url is set but replication.secret is not: the global tier would refuse us")
    transport: ShipTransport
    if r.transport == "kafka":
        transport = KafkaShipTransport(settings, r.secret, clock)
    else:
        transport = HttpShipTransport(g.url, r.secret, clock, r.request_timeout_ms)
    # "global": the global tier (HTTP) or the replication topic (Kafka) as this region sees it
    transport = BreakerShipTransport(transport, breakers, "global", r.request_timeout_ms)
    feed = RedisChangeFeed(redis, boards, settings.region, settings.ingest.changes_len_max)
    return Replication(Shipper(feed, settings.region, transport, clock, r, tracer=telemetry.tracer),
                       AntiEntropy(feed, settings.region, g.url, r.secret, clock, r), transport)
