"""The region's Faust app: one agent reads the scores topic in micro-batches and hands each to the
`StreamProcessor` (all of Podium's logic lives there, not here). Offsets are committed by Faust after
the batch was processed (`take_events` acks on return): at-least-once, made effect-level
exactly-once by the offsets the Lua apply stores per board."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from typing import Any

import faust
from podium.region.history.factory import build_history_store, history_writer, rank_store
from podium.region.stream.anticheat import AntiCheat
from podium.region.stream.metrics import StreamMetrics
from podium.region.stream.processor import BatchReport, LogRecord, StreamProcessor

from podium.boards import BoardRegistry
from podium.clock import SystemClock
from podium.config import Settings
from podium.errors import PodiumError
from podium.redis_client import AnyRedis, connect
from podium.stream_topics import StreamTopics
from podium.tasks import Supervisor
from podium.telemetry import Telemetry

log = logging.getLogger("podium.stream")
RETRY_BACKOFF_MS_MAX = 2000


def broker_urls(bootstrap: str) -> str:
    return ";".join(f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip())


def create_stream_app(settings: Settings, telemetry: Telemetry | None = None) -> faust.App:
    k = settings.kafka
    if not k.bootstrap:
        raise ValueError("the stream worker needs kafka.bootstrap (PODIUM_KAFKA__BOOTSTRAP)")
    if not settings.redis_url:
        raise ValueError("the stream worker needs REDIS_URL")
    topics = StreamTopics.of(settings)
    telemetry = telemetry or Telemetry("podium-worker", settings.region)
    if settings.metrics.spans_dir:
        telemetry.write_spans(settings.metrics.spans_dir)
    metrics = StreamMetrics(telemetry)
    app = faust.App(
        k.group_id or f"{k.topic_prefix}-{settings.region}-worker",
        broker=broker_urls(k.bootstrap),
        store="memory://",
        web_enabled=False,           # several workers on one host would clash on the web port
        autodiscover=False,
        topic_partitions=k.scores_partitions,
        topic_replication_factor=k.replication_factor,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=k.session_timeout_ms / 1000,
        broker_heartbeat_interval=k.heartbeat_interval_ms / 1000,
        broker_commit_interval=k.commit_interval_ms / 1000,
        producer_acks=-1,
    )
    scores = app.topic(topics.scores, key_serializer="raw", value_serializer="raw", partitions=k.scores_partitions)
    outputs = {name: app.topic(name, key_serializer="raw", value_serializer="raw") for name in topics.all()}
    state: dict[str, StreamProcessor] = {}

    async def emit(topic: str, key: bytes, value: bytes) -> None:
        await outputs[topic].send(key=key, value=value)

    supervisor = Supervisor(settings.supervisor)
    telemetry.watch_loops(supervisor.report)

    async def start_history_writer(redis: AnyRedis, registry: BoardRegistry) -> None:
        store = build_history_store(settings)
        if store is None or settings.history.writer_placement == "separate":   # `podium history-writer` drains it
            return
        await store.open()
        history_writer(settings, store, redis, registry).start(supervisor)

    async def processor() -> StreamProcessor:
        # built lazily: the Redis client and the warm store must belong to the worker's event loop
        if "p" not in state:
            redis = connect(settings.redis_url or "", cluster=settings.redis_cluster,
                            connections_max=settings.redis_pool_connections_max)
            clock = SystemClock()
            registry = BoardRegistry(redis, clock)
            await start_history_writer(redis, registry)
            state["p"] = StreamProcessor(
                rank_store(redis, settings), registry, topics,
                AntiCheat(k.player_entries_per_minute_max, k.anomaly_z_max, k.anomaly_samples_min,
                          k.anti_cheat_players_max),
                clock, emit, settings.region, settings.ingest.quarantine_len_max,
                on_quarantine=lambda board, v: metrics.quarantined.add(1, {"board": board, "reason": v.reason}),
                apply_entries_max=k.apply_entries_max, tracer=telemetry.tracer,
            )
        return state["p"]

    if settings.trending.event_log:
        _trending_agent(app, settings, topics)
    if settings.contests.event_log:
        _contest_feed_agent(app, settings, topics)

    @app.agent(scores, name="apply-scores")
    async def apply_scores(stream: Any) -> None:
        async for events in stream.take_events(k.take_entries_max, within=k.take_within_ms / 1000):
            records = [LogRecord(e.message.partition, e.message.offset, e.message.value, e.message.headers)
                       for e in events]
            started = time.perf_counter()
            report = await _with_retry(await processor(), records)
            metrics.batch_ms.record((time.perf_counter() - started) * 1000)
            metrics.records.add(len(records))
            metrics.entries.add(report.entries)
            tps = {e.message.partition: e.message.tp for e in events}
            metrics.note_positions({r.partition: r.offset for r in records},
                                   functools.partial(_highwater, app, tps))

    return app


async def _with_retry(processor: StreamProcessor, records: list[LogRecord]) -> BatchReport:
    """Retries a micro-batch until Redis takes it: its offsets must not be committed unapplied."""
    backoff_ms = 50
    while True:
        try:
            return await processor.process(records)
        except PodiumError as exc:
            log.warning("micro-batch of %d records failed (%s); retrying in %d ms", len(records), exc.message, backoff_ms)
        await asyncio.sleep(backoff_ms / 1000)
        backoff_ms = min(2 * backoff_ms, RETRY_BACKOFF_MS_MAX)




def _trending_agent(app: faust.App, settings: Settings, topics: StreamTopics) -> None:
    """The agent applying trending's events topic (region/trending/log_apply.py), when
    `trending.event_log` is on; each stream's records keep their order."""
    def build(redis: Any) -> Any:
        from podium.region.trending.wiring import build_log_applier

        return build_log_applier(settings, redis, SystemClock())

    _records_agent(app, settings, topics.events, "apply-trending-events", build)


def _contest_feed_agent(app: faust.App, settings: Settings, topics: StreamTopics) -> None:
    """The agent fanning out the contest feed's records (region/contests/feed_apply.py), when
    `contests.event_log` is on; offsets are committed after the batch is applied, and a replay is
    harmless (each event's fan-out progress is stored with every chunk)."""
    def build(redis: Any) -> Any:
        from podium.region.contests.wiring import build_feed_applier

        return build_feed_applier(settings, redis)

    _records_agent(app, settings, topics.contest_feed, "apply-contest-feed", build)


def _records_agent(app: faust.App, settings: Settings, topic: str, name: str,
                   build: Callable[[Any], Any]) -> None:
    """An agent applying a topic's raw records in micro-batches with an applier built, on its first
    batch, over its own Redis connection."""
    k = settings.kafka
    records_topic = app.topic(topic, key_serializer="raw", value_serializer="raw", partitions=k.scores_partitions)
    appliers: dict[str, Any] = {}

    @app.agent(records_topic, name=name)
    async def apply_records(stream: Any) -> None:
        async for events in stream.take_events(k.take_entries_max, within=k.take_within_ms / 1000):
            if "a" not in appliers:
                appliers["a"] = build(connect(settings.redis_url or "", cluster=settings.redis_cluster,
                                              connections_max=settings.redis_pool_connections_max))
            await _with_retry_events(appliers["a"], [e.message.value for e in events])


async def _with_retry_events(applier: Any, values: list[bytes]) -> None:
    """As `_with_retry`, for trending's event records and the contest feed's (re-applying is
    harmless: ids dedup)."""
    backoff_ms = 50
    while True:
        try:
            await applier.apply(values)
            return
        except PodiumError as exc:
            log.warning("%d event records failed (%s); retrying in %d ms", len(values), exc.message, backoff_ms)
        await asyncio.sleep(backoff_ms / 1000)
        backoff_ms = min(2 * backoff_ms, RETRY_BACKOFF_MS_MAX)


def _highwater(app: Any, tps: dict[int, Any], partition: int) -> int:
    """The broker's high-water mark of one partition, as the consumer last saw it."""
    return int(app.consumer.highwater(tps[partition]))
