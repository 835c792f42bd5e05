"""The Redis inbox and outbox against the real redis-server: order, paging, unread, bounds, dedupe."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from podium.region.notifications.inbox_redis import OUTBOX_KEY, RedisInbox

from podium.errors import BadUserInput
from podium.notify_rules import Notification, RuleKind

pytestmark = pytest.mark.anyio


def note(i: int, player: str = "ann") -> Notification:
    return Notification(f"r:{player}:{i}", RuleKind.THRESHOLD, "r", "b", player, i, score=i)


async def test_pages_newest_first_with_cursor_and_unread(redis_single: aioredis.Redis) -> None:
    inbox = RedisInbox(redis_single, inbox_len_max=5, outbox_len_max=1000)
    await inbox.publish([note(i) for i in range(8)] + [note(0, "bob")])
    await inbox.publish([note(7)])                       # a re-evaluated event: the inbox keeps it once
    seen, after = [], None
    while True:
        page = await inbox.page("ann", 2, after, unread_only=False)
        seen += [i.notification.id for i in page.items]
        if not page.has_next:
            break
        after = page.items[-1].cursor
    assert seen == [f"r:ann:{i}" for i in (7, 6, 5, 4, 3)]          # bounded to the newest 5
    assert await inbox.unread("ann") == 5 and await inbox.unread("bob") == 1
    assert await inbox.mark_read("ann", ["r:ann:6", "r:ann:4"]) == 3
    unread = await inbox.page("ann", 10, None, unread_only=True)
    assert [i.notification.id for i in unread.items] == ["r:ann:7", "r:ann:5", "r:ann:3"]
    read_flags = {i.notification.id: i.read for i in (await inbox.page("ann", 10, None, False)).items}
    assert read_flags["r:ann:6"] and not read_flags["r:ann:7"]
    assert await inbox.mark_read("ann", None) == 0
    assert await redis_single.xlen(OUTBOX_KEY) == 10                  # the outbox gets every publish


async def test_outbox_is_bounded_and_cursors_are_checked(redis_single: aioredis.Redis) -> None:
    inbox = RedisInbox(redis_single, inbox_len_max=5, outbox_len_max=10)
    await inbox.publish([note(i) for i in range(300)])
    assert await redis_single.xlen(OUTBOX_KEY) < 300                   # MAXLEN ~ trims
    for bad in ["", "!!", "bjotMQ==", "eDo1"]:
        with pytest.raises(BadUserInput):
            await inbox.page("ann", 2, bad, False)
