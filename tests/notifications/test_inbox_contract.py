"""The inbox port's contract, the same cases on every adapter: SQLite and Cassandra (the warm
store: a real Cassandra 5 node) and Redis (used only when the warm store is off). Newest first,
paging by cursor without loss or repeat, unread subset and count, mark read (some, all), the
bound per player, idempotent writes (a repeated write neither duplicates nor marks unread again),
`since` for the live subscription, and forged cursors refused."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from podium.region.notifications.inbox import InboxStore
from podium.region.notifications.inbox_cassandra import CassandraInbox
from podium.region.notifications.inbox_redis import RedisInbox
from podium.region.notifications.inbox_sqlite import SqliteInbox
from podium.region.notifications.inbox_window_redis import WindowedInbox

from podium.config import HistorySettings
from podium.errors import BadUserInput
from podium.notify_rules import Notification, RuleKind
from podium.redis_server import RedisServer

pytestmark = pytest.mark.anyio
LEN_MAX = 5
_keyspaces = count()


@pytest.fixture(params=["sqlite", "cassandra", "redis", "sqlite+window"])
async def inbox(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[InboxStore]:
    store: InboxStore
    client = None
    if request.param == "sqlite":
        store = SqliteInbox(tmp_path / "inbox.sqlite3", LEN_MAX)
    elif request.param == "cassandra":
        base: HistorySettings = request.getfixturevalue("cassandra_settings")
        # A fresh keyspace per test: no data leaks between tests.
        ks = f"podium_inbox{os.getpid()}_{next(_keyspaces)}"
        store = CassandraInbox(base.model_copy(update={"cassandra_keyspace": ks}), LEN_MAX)
    elif request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        client = aioredis.Redis.from_url(server.url)
        await client.flushdb()
        store = RedisInbox(client, LEN_MAX, 1000)
    else:   # the warm store with its Redis window of each player's newest (smaller than the inbox)
        server = request.getfixturevalue("redis_server")
        client = aioredis.Redis.from_url(server.url)
        await client.flushdb()
        store = WindowedInbox(SqliteInbox(tmp_path / "inbox.sqlite3", LEN_MAX), client, 3, 60_000, LEN_MAX)
    await store.open()
    yield store
    await store.close()
    if client is not None:
        await client.aclose()


def note(i: int, player: str = "ann") -> Notification:
    return Notification(f"r:{player}:{i}", RuleKind.THRESHOLD, "r", "b", player, 1_000 + i, score=i)


async def all_ids(inbox: InboxStore, player: str, first: int, unread_only: bool = False) -> list[str]:
    seen: list[str] = []
    after = None
    for _ in range(100):
        page = await inbox.page(player, first, after, unread_only)
        seen += [i.notification.id for i in page.items]
        if not page.has_next:
            return seen
        after = page.items[-1].cursor
    raise AssertionError("paging did not end")


async def test_pages_newest_first_bounded_and_idempotent(inbox: InboxStore) -> None:
    await inbox.append([note(i) for i in range(8)] + [note(0, "bob")])
    await inbox.append([note(7), note(6)])                     # a retried write: kept once
    for first in (1, 2, 3, 5, 10):
        assert await all_ids(inbox, "ann", first) == [f"r:ann:{i}" for i in (7, 6, 5, 4, 3)]
    assert await all_ids(inbox, "bob", 10) == ["r:bob:0"]
    assert await inbox.unread("ann") == 5 and await inbox.unread("bob") == 1
    assert await inbox.unread("nobody") == 0 and await all_ids(inbox, "nobody", 3) == []
    page = await inbox.page("ann", 2, None, False)
    assert page.unread == 5 and page.has_next and page.items[0].notification == note(7)


async def test_mark_read_some_then_all(inbox: InboxStore) -> None:
    await inbox.append([note(i) for i in range(5)])
    assert await inbox.mark_read("ann", ["r:ann:3", "r:ann:1", "r:ann:unknown"]) == 3
    assert await inbox.mark_read("ann", []) == 3
    assert await all_ids(inbox, "ann", 2, unread_only=True) == ["r:ann:4", "r:ann:2", "r:ann:0"]
    flags = {i.notification.id: i.read for i in (await inbox.page("ann", 10, None, False)).items}
    assert flags == {"r:ann:4": False, "r:ann:3": True, "r:ann:2": False, "r:ann:1": True, "r:ann:0": False}
    await inbox.append([note(3)])                                  # written again: stays read
    assert await inbox.unread("ann") == 3
    assert await inbox.mark_read("ann", None) == 0
    assert await all_ids(inbox, "ann", 2, unread_only=True) == []
    await inbox.append([note(5)])                                  # a new one after "all read"
    assert await inbox.unread("ann") == 1 and await all_ids(inbox, "ann", 10, unread_only=True) == ["r:ann:5"]


async def test_since_follows_new_notifications_in_order(inbox: InboxStore) -> None:
    assert await inbox.newest("ann") is None
    await inbox.append([note(0), note(1)])
    cursor = await inbox.newest("ann")
    assert await inbox.since("ann", cursor, 10) == []
    await inbox.append([note(2), note(3), note(4)])
    got = await inbox.since("ann", cursor, 2)
    assert [n.id for _, n in got] == ["r:ann:2", "r:ann:3"]
    rest = await inbox.since("ann", got[-1][0], 10)
    assert [n.id for _, n in rest] == ["r:ann:4"]
    assert [n.id for _, n in await inbox.since("ann", None, 10)] == [f"r:ann:{i}" for i in range(5)]


@pytest.mark.parametrize("bad", ["", "!!", "bjotMQ==", "eDo1", "dDp4Ong=", "x" * 5000])
async def test_forged_cursors_are_refused(inbox: InboxStore, bad: str) -> None:
    await inbox.append([note(0)])
    with pytest.raises(BadUserInput):
        await inbox.page("ann", 2, bad, False)
