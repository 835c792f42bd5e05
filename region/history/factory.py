"""Settings → the warm store: Cassandra when contact points are configured, else embedded SQLite.

Also the one-shot context the CLI commands (`podium rebuild`, `podium snapshot …`) work in: Redis,
the rank store, the board registry and the warm store, opened and closed together."""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from podium.region.history.backlog_redis import RedisHistoryBacklog
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import HistoryStore
from podium.region.history.writer import HistoryWriter
from podium.region.rank_store_redis import RedisRankStore

from podium.boards import BoardRegistry
from podium.breaker import Breakers
from podium.clock import Clock, SystemClock
from podium.config import Settings
from podium.errors import Unavailable
from podium.model import Board
from podium.redis_client import AnyRedis, connect


def sqlite_path(settings: Settings) -> Path:
    return Path(settings.history.sqlite_path) if settings.history.sqlite_path else settings.data_dir / "history.sqlite3"


def snapshot_dir(settings: Settings) -> Path:
    return Path(settings.history.snapshot_dir) if settings.history.snapshot_dir else settings.data_dir / "snapshots"


def build_history_store(settings: Settings) -> HistoryStore | None:
    """None when history is disabled. Not opened yet: the caller owns open() and close()."""
    if not settings.history.enabled:
        return None
    if settings.history.cassandra_contact_points:
        # Imported only here: the driver is heavy and the embedded default never needs it.
        from podium.region.history.cassandra import CassandraHistoryStore

        return CassandraHistoryStore(settings.history)
    return SqliteHistoryStore(sqlite_path(settings))


def rank_store(redis: AnyRedis, settings: Settings) -> RedisRankStore:
    """The rank store; with history on, every apply also fills the board's history backlog."""
    backlog_max = settings.history.backlog_entries_max if settings.history.enabled else None
    return RedisRankStore(redis, settings.ingest, history_backlog_max=backlog_max,
                          members_max=settings.redis_rank_members_max)


def history_writer(settings: Settings, history: HistoryStore, redis: AnyRedis, registry: BoardRegistry,
                   breakers: Breakers | None = None) -> HistoryWriter:
    """The writer draining the history backlog into `history`, as one consumer of its group."""
    h = settings.history
    consumer = f"{settings.region}-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"

    async def boards() -> list[Board]:
        return list((await registry.all()).values())

    return HistoryWriter(history, RedisHistoryBacklog(redis, consumer, h.backlog_claim_idle_ms), boards,
                         batch_entries_max=h.write_batch_entries_max, poll_ms=h.write_poll_ms,
                         retry_ms_max=h.write_retry_ms_max,
                         pages_in_flight_max=h.write_pages_in_flight_max, breakers=breakers)


@dataclass
class HistoryContext:
    settings: Settings
    clock: Clock
    redis: AnyRedis
    rank_store: RedisRankStore
    boards: BoardRegistry
    history: HistoryStore


@contextlib.asynccontextmanager
async def history_context(settings: Settings, clock: Clock | None = None) -> AsyncIterator[HistoryContext]:
    if not settings.redis_url:
        raise Unavailable("no Redis configured: set REDIS_URL")
    history = build_history_store(settings)
    if history is None:
        raise Unavailable("history is disabled (history.enabled=false): there is no warm store to use")
    clock = clock or SystemClock()
    redis = connect(settings.redis_url, cluster=settings.redis_cluster, connections_max=settings.redis_pool_connections_max)
    try:
        await history.open()
        try:
            yield HistoryContext(settings, clock, redis, rank_store(redis, settings),
                                 BoardRegistry(redis, clock), history)
        finally:
            await history.close()
    finally:
        await redis.aclose()
