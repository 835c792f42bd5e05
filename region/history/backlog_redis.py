"""The history backlog on Redis: per-board streams (`pb:{B}:hist`) that `podium/lua/apply.lua`
fills in the same atomic call that applies the scores, drained by the history writer through a
consumer group with acknowledgement.

Why a stream and not an in-process queue: a process killed between acknowledging a batch and
writing it to the warm store lost those scores for good (and retries were answered "duplicate").
Now an entry leaves the backlog only after the warm store took it: `read` hands out new entries
and takes over entries another consumer left pending for `claim_idle_ms` (a crashed process),
`ack` acknowledges and deletes them, so the stream's length is the backlog.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import msgspec
import orjson
from podium.region.history.store import ScoreRow
from redis.exceptions import ResponseError

from podium.keys import keys_of
from podium.model import Board
from podium.redis_client import AnyRedis
from podium.store_errors import translate_store_errors

GROUP = "history"
RANGE_CHUNK_ENTRIES = 1000   # backlog entries per XRANGE when a rebuild reads the whole backlog


@dataclass(frozen=True, slots=True)
class BacklogEntry:
    board: Board
    entry_id: str
    rows: tuple[ScoreRow, ...]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _dropped(fields: dict[Any, Any]) -> frozenset[int]:
    """The indexes of a packed record's rows that were not accepted (apply.lua's field "x")."""
    return frozenset(map(int, fields.get(b"x", b"").split()))


def _rows(fields: dict[Any, Any]) -> tuple[ScoreRow, ...]:
    key = _text(fields[b"k"])
    if b"a" in fields:   # packed: every entry's row (player, score, hex time, event), less those dropped
        dropped = _dropped(fields)
        return tuple(ScoreRow(key, player, event_id, int(score), int(ts, 16))
                     for i, (player, score, ts, event_id) in enumerate(orjson.loads(fields[b"a"])) if i not in dropped)
    return tuple(ScoreRow(key, player, event_id, int(score), int(ts, 16))
                 for player, event_id, score, ts in orjson.loads(fields[b"r"]))


class BacklogRow(msgspec.Struct, frozen=True, gc=False):
    """A backlog row on its way to the warm store, with ScoreRow's attribute names (the stores read
    only those): the writer reads every accepted score, and a frozen dataclass's __init__ per row
    was most of reading the backlog."""

    board: str
    player: str
    event_id: str
    score: int
    achieved_at_ms: int


_RECORD = msgspec.json.Decoder(list[tuple[str, str, str, str]])   # apply.lua's older rows: player, event, score, hex time
_PACKED = msgspec.json.Decoder(list[tuple[str, int, str, str]])   # the store's packed rows: player, score, hex time, event


def _writer_rows(fields: dict[Any, Any]) -> tuple[ScoreRow, ...]:
    """`_rows` for the writer: the record decoded and typed in C, one small struct per row; a record
    of any other shape takes `_rows` (the same rows or the same error)."""
    if b"a" in fields:
        try:
            packed = _PACKED.decode(fields[b"a"])
        except (msgspec.DecodeError, msgspec.ValidationError):
            return _rows(fields)
        key, dropped = _text(fields[b"k"]), _dropped(fields)
        kept: tuple[Any, ...] = tuple([BacklogRow(key, player, event_id, score, int(ts, 16))
                                       for i, (player, score, ts, event_id) in enumerate(packed) if i not in dropped])
        return kept
    try:
        rows = _RECORD.decode(fields[b"r"])
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _rows(fields)
    key = _text(fields[b"k"])
    made: tuple[Any, ...] = tuple([BacklogRow(key, player, event_id, int(score), int(ts, 16))
                                   for player, event_id, score, ts in rows])
    return made


@translate_store_errors("the history backlog (Redis)")
class RedisHistoryBacklog:
    def __init__(self, redis: AnyRedis, consumer: str, claim_idle_ms: int) -> None:
        self.redis = redis
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self._grouped: set[str] = set()

    async def _group(self, stream: str) -> None:
        if stream in self._grouped:
            return
        try:
            await self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._grouped.add(stream)

    async def read(self, board: Board, count: int) -> list[BacklogEntry]:
        """Up to `count` entries: first those a dead consumer left pending, then new ones."""
        try:
            return await self._read(keys_of(board).history, board, count)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # Redis lost the stream and its group (restarted without its AOF, flushed): make them again.
            self._grouped.discard(keys_of(board).history)
            return await self._read(keys_of(board).history, board, count)

    async def _read(self, stream: str, board: Board, count: int) -> list[BacklogEntry]:
        await self._group(stream)
        # redis-py types stream replies loosely: [next id, [(id, fields)…], …] and [(stream, [(id, fields)…])]
        reply: list[Any] = await self.redis.xautoclaim(stream, GROUP, self.consumer, self.claim_idle_ms,
                                                       start_id="0-0", count=count)
        rows: list[tuple[Any, Any]] = [(i, f) for i, f in reply[1] if f]   # entries deleted meanwhile come back empty
        if len(rows) < count:
            fresh = cast(list[Any], await self.redis.xreadgroup(GROUP, self.consumer, {stream: ">"},
                                                                count=count - len(rows)) or [])
            for _stream, entries in fresh:
                rows += [(i, f) for i, f in entries if f]
        out = []
        for i, f in rows:
            out.append(BacklogEntry(board, _text(i), _writer_rows(f)))
            # an entry holds up to a whole apply's rows (1000): the event loop gets a turn between
            # entries, so reading a full backlog batch does not hold up the requests for tens of ms
            await asyncio.sleep(0)
        return out

    async def ack(self, board: Board, entry_ids: Sequence[str]) -> None:
        """The warm store has these entries: acknowledge and delete them (the backlog shrinks)."""
        if not entry_ids:
            return
        stream = keys_of(board).history
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(stream, GROUP, *entry_ids)
            pipe.xdel(stream, *entry_ids)
            await pipe.execute()

    async def rows(self, board: Board, history: str) -> list[ScoreRow]:
        """Every row still in the board's backlog for history key `history` (pending or not): what a
        rebuild adds to the warm store's rows. Bounded by `history.backlog_entries_max` entries."""
        stream, out, start = keys_of(board).history, [], "-"
        while True:
            chunk = cast(list[Any], await self.redis.xrange(stream, min=start, max="+", count=RANGE_CHUNK_ENTRIES))
            out += [row for _i, f in chunk if f for row in _rows(f) if row.board == history]
            if len(chunk) < RANGE_CHUNK_ENTRIES:
                return out
            start = "(" + _text(chunk[-1][0])

    async def size(self, boards: Iterable[Board]) -> int:
        """Entries not yet in the warm store, over the given boards."""
        total = 0
        for board in boards:
            total += int(await self.redis.xlen(keys_of(board).history))
        return total

    async def depth(self, boards: Iterable[Board]) -> tuple[int, int | None]:
        """Entries not yet in the warm store over `boards`, and the Redis time (ms) of the oldest one
        (None: the backlog is empty): one pipelined XLEN + XRANGE per board. A stream entry's id
        starts with the Redis clock's milliseconds when apply.lua added it."""
        streams = [keys_of(board).history for board in boards]
        if not streams:
            return 0, None
        async with self.redis.pipeline(transaction=False) as pipe:
            for stream in streams:
                pipe.xlen(stream)
                pipe.xrange(stream, min="-", max="+", count=1)
            replies: list[Any] = await pipe.execute()
        entries, oldest = 0, None
        for length, first in zip(replies[::2], replies[1::2], strict=True):
            entries += int(length)
            if first:
                ms = int(_text(first[0][0]).partition("-")[0])
                oldest = ms if oldest is None else min(oldest, ms)
        return entries, oldest
