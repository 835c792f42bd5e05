"""Builds the contest front of a region from its settings: the Redis store on the region's Redis,
the ledger (PostgreSQL when `contests.ledger_url` is set, else SQLite in the data dir), the signer,
and in event-log mode the feed's producer; `build_feed_applier` is the worker's side."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from podium.region.contests.feed_apply import FeedLogApplier
from podium.region.contests.joins import JoinLimits
from podium.region.contests.ledger import Ledger
from podium.region.contests.ledger_batcher import LedgerBatcher
from podium.region.contests.ledger_postgres import PostgresLedger
from podium.region.contests.ledger_sqlite import SqliteLedger
from podium.region.contests.service import ContestService, SettlementSigner
from podium.region.contests.settlement_outbox_redis import RedisSettlementOutbox
from podium.region.contests.sink_kafka import ContestFeedSink
from podium.region.contests.store_redis import RedisContestStore

from podium.clock import Clock
from podium.config import Settings
from podium.fanout import FanOut
from podium.redis_client import AnyRedis
from podium.tasks import cancel_and_wait


def build_ledger(settings: Settings) -> Ledger:
    url = settings.contests.ledger_url
    if url and url.startswith(("postgresql://", "postgres://")):
        return PostgresLedger(url)
    return SqliteLedger(settings.data_dir / settings.region / "contests-ledger.db")


def signer_of(settings: Settings) -> SettlementSigner | None:
    keys = settings.game_server_keys
    key_id = settings.contests.settlement_key_id or (min(keys) if keys else None)
    return SettlementSigner(key_id, keys[key_id]) if key_id and key_id in keys else None


@dataclass
class Contests:
    """The contest front and its live-tick hub (one read per contest per tick, shared by every
    subscriber), with the ticker task they own."""

    service: ContestService
    fanout: FanOut
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    ticker: asyncio.Task[None] | None = None


async def open_contests(settings: Settings, redis: AnyRedis, clock: Clock) -> Contests:
    ledger = build_ledger(settings)
    await ledger.open()
    batcher = LedgerBatcher(ledger, settings.contests.ledger_commit_window_ms, settings.contests.ledger_pending_max)
    store = RedisContestStore(redis, settings.contests.fanout_chunk_entries, settings.contests.index_scan_entries)
    limits = settings.api.model_copy(update={"tick_ms": settings.contests.tick_ms})
    fanout = FanOut(store.ranked, store.ranked_entries, store.versions, limits, clock, read_ranges=store.ranked_ranges)
    # Settlements go out through the notification webhooks' outbox when notifications run here.
    publisher = RedisSettlementOutbox(redis, settings.notifications.outbox_len_max) if settings.notifications.enabled else None
    c = settings.contests
    joins = JoinLimits(c.join_window_ms, c.join_batch_max, c.join_pending_max, c.join_flushes_max)
    contests = Contests(ContestService(store, batcher, clock, signer_of(settings), publisher, joins), fanout)
    if settings.kafka.bootstrap and settings.contests.event_log:   # event-log mode: produce, the worker fans out
        contests.service.sink = ContestFeedSink(settings)
        await contests.service.sink.start()
    contests.ticker = asyncio.create_task(fanout.run(contests.stop), name="contest ticks")
    return contests


async def close_contests(contests: Contests) -> None:
    contests.stop.set()
    if contests.ticker is not None:
        await cancel_and_wait(contests.ticker)
    if contests.service.sink is not None:
        await contests.service.sink.close()
    await contests.service.aclose()
    await contests.service.ledger.ledger.close()


def build_feed_applier(settings: Settings, redis: AnyRedis) -> FeedLogApplier:
    """The worker's applier of the contest-feed topic."""
    return FeedLogApplier(RedisContestStore(redis, settings.contests.fanout_chunk_entries,
                                            settings.contests.index_scan_entries))
