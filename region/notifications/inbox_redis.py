"""Player inboxes in Redis: the inbox adapter used only when the warm store is disabled
(history.enabled=false); it does not survive a Redis loss. The outbox is `outbox_redis`.

    pn:{P}:in     sorted set: notification id -> sequence number (newest highest), bounded
    pn:{P}:un     sorted set: the unread subset of `in`
    pn:{P}:doc    hash: notification id -> JSON
    pn:{P}:seq    counter
One Lua call appends to an inbox atomically and ignores an id it already holds, so a notification
evaluated twice (a retried tick) reaches the inbox once.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import orjson
from podium.region.notifications.inbox import InboxItem, InboxPage, InboxStore
from podium.region.notifications.outbox_redis import OUTBOX_KEY, RedisOutbox

from podium.errors import BadUserInput
from podium.notify_rules import Notification
from podium.redis_client import AnyRedis, store_reply

T = TypeVar("T")
__all__ = ["OUTBOX_KEY", "InboxItem", "InboxPage", "RedisInbox"]

_APPEND = """
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 0 end
local seq = redis.call('INCR', KEYS[4])
redis.call('ZADD', KEYS[1], seq, ARGV[1])
redis.call('ZADD', KEYS[2], seq, ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if excess > 0 then
  local old = redis.call('ZRANGE', KEYS[1], 0, excess - 1)
  redis.call('ZREM', KEYS[1], unpack(old))
  redis.call('ZREM', KEYS[2], unpack(old))
  redis.call('HDEL', KEYS[3], unpack(old))
end
return seq
"""


def _keys(player: str) -> list[str]:
    tag = "{" + player.replace("}", "%7D") + "}"
    return [f"pn:{tag}:in", f"pn:{tag}:un", f"pn:{tag}:doc", f"pn:{tag}:seq"]


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"n:{seq}".encode()).decode()


def decode_cursor(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode()
        kind, _, seq = text.partition(":")
        if kind != "n" or not seq.isdigit() or len(seq) > 18:
            raise ValueError(text)
        return int(seq)
    except (ValueError, UnicodeError) as exc:
        raise BadUserInput("after is not a notifications cursor from this API", field="after") from exc


class RedisInbox:
    def __init__(self, redis: AnyRedis, inbox_len_max: int, outbox_len_max: int) -> None:
        self.redis = redis
        self.inbox_len_max = inbox_len_max
        self.outbox_len_max = outbox_len_max
        self._append = redis.register_script(_APPEND)
        self.outbox = RedisOutbox(redis, outbox_len_max)

    async def open(self) -> None:
        """Nothing to open: the region's Redis client is shared."""

    async def close(self) -> None:
        """Nothing to close: the region owns the Redis client."""

    async def _call(self, pending: Awaitable[T]) -> T:
        return await store_reply(pending, "notification store", retry_after_s=1.0)

    async def append(self, notes: Sequence[Notification]) -> None:
        for note in notes:
            doc = orjson.dumps(note.to_dict())
            await self._call(self._append(keys=_keys(note.player), args=[note.id, doc, self.inbox_len_max]))

    async def publish(self, notes: Sequence[Notification]) -> None:
        """Inbox, then outbox (the publisher's order, for tests that write both at once)."""
        await self.append(notes)
        await self.outbox.add(notes)

    async def page(self, player: str, first: int, after: str | None, unread_only: bool) -> InboxPage:
        k_in, k_un, k_doc, _ = _keys(player)
        top = f"({decode_cursor(after)}" if after is not None else "+inf"
        rows: Any = await self._call(self.redis.zrevrangebyscore(k_un if unread_only else k_in, top, "-inf",
                                                            start=0, num=first + 1, withscores=True))
        rows, has_next = rows[:first], len(rows) > first
        ids = [r[0] for r in rows]
        docs = await self._call(self.redis.hmget(k_doc, ids)) if ids else []
        unread_flags = await self._call(self.redis.zmscore(k_un, ids)) if ids else []
        items = [InboxItem(Notification.from_dict(orjson.loads(doc)), encode_cursor(int(seq)), flag is None)
                 for (_, seq), doc, flag in zip(rows, docs, unread_flags, strict=True) if doc is not None]
        return InboxPage(items, has_next, await self.unread(player))

    async def unread(self, player: str) -> int:
        return int(await self._call(self.redis.zcard(_keys(player)[1])))

    async def mark_read(self, player: str, ids: Sequence[str] | None) -> int:
        """Mark the given ids (all when None) read; the unread count after."""
        k_un = _keys(player)[1]
        if ids is None:
            await self._call(self.redis.delete(k_un))
        elif ids:
            await self._call(self.redis.zrem(k_un, *ids))
        return await self.unread(player)

    async def newest(self, player: str) -> str | None:
        raw = await self._call(self.redis.get(_keys(player)[3]))
        return encode_cursor(int(raw)) if raw else None

    async def since(self, player: str, after: str | None, count_max: int) -> list[tuple[str, Notification]]:
        """Notifications after the cursor, oldest first (the live subscription's poll)."""
        seq = 0 if after is None else decode_cursor(after)
        k_in, _, k_doc, _ = _keys(player)
        rows: Any = await self._call(self.redis.zrangebyscore(k_in, f"({seq}", "+inf", start=0, num=count_max,
                                                         withscores=True))
        docs = await self._call(self.redis.hmget(k_doc, [r[0] for r in rows])) if rows else []
        return [(encode_cursor(int(s)), Notification.from_dict(orjson.loads(d)))
                for (_, s), d in zip(rows, docs, strict=True) if d is not None]


_: type[InboxStore] = RedisInbox
