"""A bounded recent-inbox copy per player in Redis, in front of the warm inbox (SQLite or Cassandra).

The warm store stays the durable copy. Redis keeps, per player who read their inbox lately, the
newest `inbox_window_len` notifications with their read flags and the unread count, so the
`notifications` query of the first pages is one Redis call instead of a warm-store read (SQLite
runs on one thread: every read queued behind the engine's writes). Keys (`{P}`: the player, as a
hash tag, all keys of one player on one cluster slot), each expiring `inbox_window_ttl_ms` after
the last write or fill:

    pni:{P}:w   sorted set, all scores 0: "<at_ms, 19 digits>:<id>", so lexical order is the warm
                store's (at_ms, id) order (both compare bytes)
    pni:{P}:u   the unread subset of w
    pni:{P}:d   hash: member -> notification JSON
    pni:{P}:k   hash: id -> member
    pni:{P}:m   hash: complete (1: w holds the player's whole inbox), unread (the inbox's count)
    pni:{P}:v   version, a random token: a fill sets a new one before reading the warm store and
                installs what it read only if it is unchanged; every write replaces it when it
                exists (no key: no reader ever filled, or started filling, that player's window,
                so nothing to invalidate). Random, not a counter: a counter restarts after a Redis
                loss, and a fill paused across the loss would find its own value again

Which request is answered where:
- a window holding the page (or the whole inbox): Redis, one Lua call;
- a page reaching past an incomplete window, or no window: the warm store; a miss fills the
  window from the warm store's newest `inbox_window_len` (one warm read, which also answers the
  first page);
- a Redis error on a read: the warm store (the window is only a copy).
Writes go to the warm store first, then Redis, in the same step (`append` is the publisher's
inbox write). An append updates a complete window in place (each notification once per id, the
oldest past `inbox_len_max` dropped exactly as the warm store drops them); on an incomplete window
a new notification may push an unknown one out of the warm store (its read flag unknown), so the
window is dropped and refilled at the next read. Marking read drops the window (a concurrent
append and mark-all reach Redis in either order; the warm store alone knows the outcome). A Redis
write that fails after the warm write leaves the window stale until the write is retried (the
publisher retries its batch; a client retries its 503'd mark) or the window expires.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import orjson
from podium.region.notifications.inbox import (
    InboxItem,
    InboxPage,
    InboxStore,
    decode_key_cursor,
    encode_key_cursor,
)
from redis.exceptions import NoScriptError

from podium.errors import Unavailable
from podium.notify_rules import Notification
from podium.redis_client import AnyRedis, store_reply
from podium.redis_lean import lean_of

AT_DIGITS = 19
AT_LIMIT = 10**18          # cursors carry at most 18 digits: a later at_ms is not windowed

# KEYS: w u d k m v. ARGV: expected version, ttl ms, complete, unread, then member, id, doc, unread flag ...
_FILL = """
local v = redis.call('GET', KEYS[6])
if v ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
for i = 5, #ARGV, 4 do
  redis.call('ZADD', KEYS[1], 0, ARGV[i])
  if ARGV[i + 3] == '1' then redis.call('ZADD', KEYS[2], 0, ARGV[i]) end
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 2])
  redis.call('HSET', KEYS[4], ARGV[i + 1], ARGV[i])
end
redis.call('HSET', KEYS[5], 'complete', ARGV[3], 'unread', ARGV[4])
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
return 1
"""

# KEYS: w u d k m v. ARGV: ttl ms, window len, inbox len max, new version, then member, id, doc ...
# Returns 1 (updated), 0 (no window), -1 (dropped). Like the warm store, the whole batch goes in
# first (an id already there, or earlier in the batch, is kept as it is) and only then are the
# oldest past `inbox_len_max` dropped: trimming note by note would forget an id half-way and take
# a later repeat of it as new.
_APPEND = """
local function drop()
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5])
  return -1
end
local function remove_oldest()
  local member = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  redis.call('ZREM', KEYS[1], member)
  local was_unread = redis.call('ZREM', KEYS[2], member)
  redis.call('HDEL', KEYS[3], member)
  redis.call('HDEL', KEYS[4], string.sub(member, 21))
  return was_unread
end
if redis.call('EXISTS', KEYS[6]) == 1 then
  redis.call('SET', KEYS[6], ARGV[4], 'PX', ARGV[1])
end
if redis.call('EXISTS', KEYS[5]) == 0 then return 0 end
local n, cap = tonumber(ARGV[2]), tonumber(ARGV[3])
local complete = redis.call('HGET', KEYS[5], 'complete') == '1'
local unread = tonumber(redis.call('HGET', KEYS[5], 'unread'))
for i = 5, #ARGV, 3 do
  local member, id = ARGV[i], ARGV[i + 1]
  if redis.call('HEXISTS', KEYS[4], id) == 0 then
    if not complete then return drop() end
    redis.call('ZADD', KEYS[1], 0, member)
    redis.call('ZADD', KEYS[2], 0, member)
    redis.call('HSET', KEYS[3], member, ARGV[i + 2])
    redis.call('HSET', KEYS[4], id, member)
    unread = unread + 1
  end
end
while redis.call('ZCARD', KEYS[1]) > cap do          -- the warm store drops its oldest too
  unread = unread - remove_oldest()
end
while redis.call('ZCARD', KEYS[1]) > n do            -- they stay in the warm store, past the window
  remove_oldest()
  complete = false
end
redis.call('HSET', KEYS[5], 'complete', complete and '1' or '0', 'unread', unread)
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
return 1
"""

# KEYS: w u d m. ARGV: upper lex bound, count, unread only. Returns false without a window, else
# {complete, unread, members, docs, unread flags}.
_READ = """
if redis.call('EXISTS', KEYS[4]) == 0 then return false end
local set = KEYS[1]
if ARGV[3] == '1' then set = KEYS[2] end
local members = redis.call('ZREVRANGEBYLEX', set, ARGV[1], '-', 'LIMIT', 0, tonumber(ARGV[2]))
local meta = redis.call('HMGET', KEYS[4], 'complete', 'unread')
local docs, flags = {}, {}
if #members > 0 then
  docs = redis.call('HMGET', KEYS[3], unpack(members))
  local scores = redis.call('ZMSCORE', KEYS[2], unpack(members))
  for i = 1, #members do flags[i] = scores[i] and 1 or 0 end
end
return {meta[1], meta[2], members, docs, flags}
"""


# KEYS: version keys. Returns 1/0 per key. Only over the lean connection, which exists only for a
# single node (lean_of): on a cluster the players' keys are in different slots, and a pipeline of
# EXISTS is used instead.
_EXISTS_EACH = """
local out = {}
for i = 1, #KEYS do out[i] = redis.call('EXISTS', KEYS[i]) end
return out
"""


def _version() -> str:
    """A version no other write or fill ever takes: a counter restarts after a Redis loss (or the
    key's expiry), and a fill paused across one would find its old value again."""
    return secrets.token_hex(8)


def window_keys(player: str) -> list[str]:
    tag = "{" + player.replace("}", "%7D") + "}"
    return [f"pni:{tag}:{part}" for part in ("w", "u", "d", "k", "m", "v")]


def member_of(at_ms: int, note_id: str) -> str | None:
    """The window's sort key of a notification; None: outside the windowed range."""
    return f"{at_ms:0{AT_DIGITS}d}:{note_id}" if 0 <= at_ms < AT_LIMIT else None


def cursor_of(member: str) -> str:
    return encode_key_cursor(int(member[:AT_DIGITS]), member[AT_DIGITS + 1:])


class WindowedInbox:
    """The warm inbox with a Redis window in front (see the module doc)."""

    def __init__(self, warm: InboxStore, redis: AnyRedis, window_len: int, ttl_ms: int, inbox_len_max: int) -> None:
        self.warm = warm
        self.redis = redis
        self.window_len = window_len
        self.ttl_ms = ttl_ms
        self.inbox_len_max = inbox_len_max
        self._fill = redis.register_script(_FILL)
        self._append = redis.register_script(_APPEND)
        self._read = redis.register_script(_READ)
        self._exists_each = redis.register_script(_EXISTS_EACH)
        self._lean = lean_of(redis)   # the client's pipelined read connection (podium/redis_lean.py), if any
        self.served = 0      # pages answered from the window
        self.filled = 0      # windows filled from the warm store
        self.warm_reads = 0  # pages answered by the warm store

    async def open(self) -> None:
        await self.warm.open()

    async def close(self) -> None:
        await self.warm.close()

    async def append(self, notes: Sequence[Notification]) -> None:
        """The warm store first, then the windows of the batch's players that have a version key
        (one pipelined EXISTS for all; most players never read their inbox, and their notifications
        are neither encoded nor sent again). A reader that starts filling after that check reads
        the warm store with this batch in it."""
        await self.warm.append(notes)
        players = list(dict.fromkeys(n.player for n in notes))
        if not players:
            return
        known = await store_reply(self._versions_exist([window_keys(p)[5] for p in players]),
                                  "notification inbox window", retry_after_s=1.0)
        readers = {p for p, exists in zip(players, known, strict=True) if exists}
        if not readers:
            return
        by_player: dict[str, list[Any]] = {}
        unwindowed: set[str] = set()
        for note in notes:
            if note.player not in readers:
                continue
            member = member_of(note.at_ms, note.id)
            if member is None:
                unwindowed.add(note.player)
            else:
                by_player.setdefault(note.player, []).extend((member, note.id, orjson.dumps(note.to_dict())))
        async with self.redis.pipeline(transaction=False) as pipe:
            for player, args in by_player.items():
                if player not in unwindowed:
                    await self._append(keys=window_keys(player),
                                       args=[self.ttl_ms, self.window_len, self.inbox_len_max, _version(), *args],
                                       client=pipe)  # type: ignore[arg-type]   # a pipeline queues the EVALSHA
            for player in unwindowed:
                self._drop(pipe, player)
            await store_reply(pipe.execute(), "notification inbox window", retry_after_s=1.0)

    async def _versions_exist(self, keys: list[str]) -> list[Any]:
        """Whether each version key exists: one script call over the lean connection on a single
        node (a pipeline of one EXISTS per player cost redis-py's packing and parsing per command,
        for every player of every published batch), else one pipelined EXISTS per key."""
        lean = self._lean
        if lean is not None and lean.ready():
            try:
                return list(await lean.call("EVALSHA", self._exists_each.sha, len(keys), *keys))
            except NoScriptError:
                return list(await self._exists_each(keys=keys))
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.exists(key)
            return list(await pipe.execute())

    def _drop(self, pipe: Any, player: str) -> None:
        keys = window_keys(player)
        pipe.set(keys[5], _version(), px=self.ttl_ms)
        pipe.delete(*keys[:5])

    async def page(self, player: str, first: int, after: str | None, unread_only: bool) -> InboxPage:
        if after is None:
            bound = "+"
        else:
            member = member_of(*decode_key_cursor(after))
            if member is None:
                return await self._warm_page(player, first, after, unread_only)
            bound = "(" + member
        keys = window_keys(player)
        try:
            reply: Any = await store_reply(self._read_window([keys[0], keys[1], keys[2], keys[4]],
                                                             [bound, first + 1, "1" if unread_only else "0"]),
                                           "notification inbox window", retry_after_s=1.0)
        except Unavailable:
            return await self._warm_page(player, first, after, unread_only)
        if reply is None:
            return await self._miss(player, first, after, unread_only)
        complete, unread, members, docs, flags = reply
        if len(members) <= first and complete != b"1":
            return await self._warm_page(player, first, after, unread_only)   # the page reaches past the window
        self.served += 1
        items = [InboxItem(Notification.from_dict(orjson.loads(doc)), cursor_of(m.decode()), not flag)
                 for m, doc, flag in zip(members[:first], docs, flags, strict=False)]
        return InboxPage(items, len(members) > first, int(unread))

    async def _read_window(self, keys: list[str], args: list[Any]) -> Any:
        """The read script's reply over the lean connection when the client has one with room (one
        packed write, replies in order: a fraction of redis-py's per-command CPU); else, or when Redis
        does not hold the script yet, through the client (which loads it)."""
        lean = self._lean
        if lean is not None and lean.ready():
            try:
                return await lean.call("EVALSHA", self._read.sha, len(keys), *keys, *args)
            except NoScriptError:
                pass
        return await self._read(keys=keys, args=args)

    async def _warm_page(self, player: str, first: int, after: str | None, unread_only: bool) -> InboxPage:
        self.warm_reads += 1
        return await self.warm.page(player, first, after, unread_only)

    async def _miss(self, player: str, first: int, after: str | None, unread_only: bool) -> InboxPage:
        """Fills the window from the warm store's newest; that read answers a first page too."""
        keys = window_keys(player)
        version = _version()
        try:   # set first: a write from now on sees the key and changes it (the fill then fails)
            await store_reply(self.redis.set(keys[5], version, px=self.ttl_ms), "notification inbox window",
                              retry_after_s=1.0)
        except Unavailable:
            return await self._warm_page(player, first, after, unread_only)
        self.warm_reads += 1
        newest = await self.warm.page(player, self.window_len, None, False)
        args: list[Any] = [version, self.ttl_ms, "0" if newest.has_next else "1", newest.unread]
        for item in newest.items:
            n = item.notification
            member = member_of(n.at_ms, n.id)
            if member is None:
                args = []
                break
            args.extend((member, n.id, orjson.dumps(n.to_dict()), "0" if item.read else "1"))
        if args:
            try:
                if await store_reply(self._fill(keys=keys, args=args), "notification inbox window", retry_after_s=1.0):
                    self.filled += 1
            except Unavailable:
                pass   # the answer below is the warm store's either way
        if after is None and not unread_only and first <= self.window_len:
            return InboxPage(newest.items[:first], len(newest.items) > first or newest.has_next, newest.unread)
        return await self._warm_page(player, first, after, unread_only)

    async def unread(self, player: str) -> int:
        try:
            raw = await store_reply(self.redis.hget(window_keys(player)[4], "unread"), "notification inbox window",
                                    retry_after_s=1.0)
        except Unavailable:
            raw = None
        return int(raw) if raw is not None else await self.warm.unread(player)

    async def mark_read(self, player: str, ids: Sequence[str] | None) -> int:
        unread = await self.warm.mark_read(player, ids)
        async with self.redis.pipeline(transaction=False) as pipe:
            self._drop(pipe, player)
            await store_reply(pipe.execute(), "notification inbox window", retry_after_s=1.0)
        return unread

    async def newest(self, player: str) -> str | None:
        return await self.warm.newest(player)

    async def since(self, player: str, after: str | None, count_max: int) -> list[tuple[str, Notification]]:
        return await self.warm.since(player, after, count_max)


_: type[InboxStore] = WindowedInbox
