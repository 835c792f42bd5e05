"""Settings → the inbox store: the warm store's adapter (Cassandra when history names contact
points, else embedded SQLite), or Redis when the warm store is off."""

from __future__ import annotations

from pathlib import Path

from podium.region.notifications.inbox import InboxStore
from podium.region.notifications.inbox_redis import RedisInbox
from podium.region.notifications.inbox_sqlite import SqliteInbox
from podium.region.notifications.inbox_window_redis import WindowedInbox

from podium.config import Settings
from podium.redis_client import AnyRedis


def inbox_sqlite_path(settings: Settings) -> Path:
    path = settings.notifications.inbox_sqlite_path
    return Path(path) if path else settings.data_dir / "notifications.sqlite3"


def build_inbox_store(settings: Settings, redis: AnyRedis) -> InboxStore:
    """Not opened yet: the caller owns open() and close(). A warm store gets the Redis window of
    each player's newest notifications in front (`inbox_window_len` > 0)."""
    s = settings.notifications
    if not (s.inbox_warm and settings.history.enabled):
        return RedisInbox(redis, s.inbox_len_max, s.outbox_len_max)
    warm = _warm_store(settings)
    if s.inbox_window_len <= 0:
        return warm
    return WindowedInbox(warm, redis, s.inbox_window_len, s.inbox_window_ttl_ms, s.inbox_len_max)


def _warm_store(settings: Settings) -> InboxStore:
    s = settings.notifications
    if settings.history.cassandra_contact_points:
        # Imported only here: the driver is heavy and the embedded default never needs it.
        from podium.region.notifications.inbox_cassandra import CassandraInbox

        return CassandraInbox(settings.history, s.inbox_len_max)
    return SqliteInbox(inbox_sqlite_path(settings), s.inbox_len_max)
