"""RankStore on Redis sorted sets (single node or Redis Cluster); writes go through Lua (EVALSHA).

This module holds the store's writes (score applies, loads, rebuilds' build-aside and swap, clears)
and its construction; the reads are in `rank_store_reads_redis.py`, player removal, bans and the
quarantine stream in `rank_store_moderation_redis.py`, what they share in `rank_store_shared.py`."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from itertools import chain, islice
from operator import attrgetter
from typing import Any

import msgspec
from podium.region.bulk_load_redis import RedisBoardLoader
from podium.region.history.store import history_key
from podium.region.rank_index import DROP_CHUNK_KEYS, lua_with_index, lua_with_index_reads
from podium.region.rank_index import lua as _lua
from podium.region.rank_members import MEMBERS_MAX_DEFAULT, MemberCache
from podium.region.rank_store import ApplyOutcome, RankStore
from podium.region.rank_store_moderation_redis import RedisRankModeration
from podium.region.rank_store_reads_redis import RedisRankReads
from podium.region.rank_store_reply import AppliedLog, outcomes
from podium.region.rank_store_shared import text as _text
from redis.exceptions import RedisError
from redis.typing import EncodableT

from podium.config import IngestLimits
from podium.errors import Unavailable
from podium.invariant import invariant
from podium.keys import BoardKeys, keys_of
from podium.model import ACHIEVED_AT_MAX_MS, Board, ScoreEntry, SortOrder
from podium.ranking import (
    decode_legacy_member,
    from_zscore,
    to_zscore,
    ts_key,
)
from podium.redis_client import AnyRedis, scored_members
from podium.redis_lean import lean_of
from podium.store_errors import translate_store_errors
from podium.trace_context import current_traceparent

LOAD_CHUNK_ENTRIES = 5000
# Entries per load.lua call: a script blocks Redis while it runs, and a 5,000-entry call (index
# splits included) outran the client's read timeout on the loaded bench machine.
LOAD_SCRIPT_ENTRIES = 1000
_TIMES = attrgetter("achieved_at_ms")
_HISTORY_ROWS = msgspec.json.Encoder()   # apply.lua's ARGV 12 (region/history/backlog_redis.py reads it)



@translate_store_errors("the rank store (Redis)")
class RedisRankStore(RedisRankReads, RedisRankModeration):
    def __init__(self, redis: AnyRedis, limits: IngestLimits | None = None, *,
                 history_backlog_max: int | None = None, members_max: int = MEMBERS_MAX_DEFAULT) -> None:
        """`history_backlog_max`: with history on, accepted entries go to the board's history
        backlog in the apply itself; a batch meeting a full backlog is refused (503), never dropped.
        `members_max`: players' members kept for rank reads (region/rank_members.py); 0: none."""
        self.redis = redis
        self.limits = limits or IngestLimits()
        self.history_backlog_max = history_backlog_max
        # Called with a board id before every write this store makes (in-memory tops drop it).
        self.on_write: Callable[[str], None] | None = None   # see RedisScriptsBase
        self._apply = redis.register_script(lua_with_index("apply"))
        self._lean = lean_of(redis)
        self._members = MemberCache(members_max) if members_max > 0 else None
        self._read_players = redis.register_script(lua_with_index_reads("read_players"))
        self._around = redis.register_script(lua_with_index_reads("around"))
        self._after = redis.register_script(_lua("after"))
        self._remove = redis.register_script(lua_with_index("remove"))
        self._loader = RedisBoardLoader(redis)
        self._load = redis.register_script(lua_with_index("load"))
        self._clear = redis.register_script(lua_with_index("clear"))

    async def apply(
        self,
        board: Board,
        entries: Sequence[ScoreEntry],
        now_ms: int,
        *,
        partition: str | None = None,
        offset: int | None = None,
    ) -> list[ApplyOutcome] | None:
        raw = await self._apply_raw(board, entries, now_ms, "" if partition is None else partition,
                                    "" if offset is None else offset)
        if raw is None:
            return None
        return outcomes(raw)

    async def apply_reply(self, board: Board, entries: Sequence[ScoreEntry], now_ms: int) -> AppliedLog:
        """`apply` without an offset (never skipped), the reply read lazily."""
        raw = await self._apply_raw(board, entries, now_ms, "", "")
        assert raw is not None   # only an offset makes a call skip
        return AppliedLog(raw)

    async def apply_log(self, board: Board, entries: Sequence[ScoreEntry], now_ms: int,
                        offsets: Sequence[tuple[str, int, int]]) -> AppliedLog | None:
        """The event-log worker's apply: `entries` of several partitions' records in one Lua call,
        storing each partition's last offset of `offsets` (partition key, first record's offset,
        last record's offset) atomically with the scores. None (nothing applied) when another apply
        already stored an offset at or past a partition's first record. The reply is kept as
        Redis sent it: the worker only needs the applied entries' ranks and scores, not an outcome
        object per entry."""
        raw = await self._apply_raw(board, entries, now_ms, "*", " ".join(f"{p} {first} {last}" for p, first, last in offsets))
        return None if raw is None else AppliedLog(raw)

    async def _apply_raw(self, board: Board, entries: Sequence[ScoreEntry], now_ms: int,
                         partition: str, offset: int | str) -> list[Any] | None:
        """apply.lua's reply for `entries` (None: the offset was applied already)."""
        self._writing(board)
        k = keys_of(board)
        window = now_ms // self.limits.dedup_window_ms
        minute = now_ms // 60_000
        keys = [k.zset, k.index, k.dedup(window), k.dedup(window - 1), k.delta(minute),
                k.quarantine, k.offsets, k.changes, k.banned, k.history]
        args: list[Any] = [
            board.operator.value,
            "1" if board.order is SortOrder.DESC else "0",
            "" if board.max_delta_per_minute is None else board.max_delta_per_minute,
            2 * self.limits.dedup_window_ms,
            self.limits.quarantine_len_max,
            self.limits.changes_len_max,
            partition,
            offset,
            "" if self.history_backlog_max is None else history_key(board.id, board.season),
            self.history_backlog_max or 0,
            # the write's trace (the request's span, or the event-log record's context the worker
            # made current) rides the change stream to the shipper and the global merge
            current_traceparent(),
        ]
        if entries:
            # times were validated at ingest; checked here once per call rather than per entry (encode_ts)
            invariant(0 <= min(map(_TIMES, entries)) and max(map(_TIMES, entries)) <= ACHIEVED_AT_MAX_MS,
                      "achievement time out of encodable range")
        rows = [(e.player, e.score, f"{e.achieved_at_ms:012x}", e.event_id) for e in entries]
        # ARGV 12: the same rows packed in C for the history backlog, which the script stores as they are
        args.append(_HISTORY_ROWS.encode(rows) if self.history_backlog_max is not None and rows else "")
        args.extend(chain.from_iterable(rows))
        raw = await self._call(self._apply, keys, args)
        if len(raw) == 1 and _text(raw[0]) == "skip":
            return None
        if len(raw) == 1 and _text(raw[0]) == "full":
            raise Unavailable(f"the history backlog of {board.id!r} is full (the warm store is behind); retry shortly",
                              retryAfter=5.0)
        return list(raw)

    async def load(self, board: Board, entries: Iterable[tuple[str, int, int]]) -> int:
        self._writing(board)
        k = keys_of(board)
        total = 0
        it = iter(entries)
        while chunk := list(islice(it, LOAD_CHUNK_ENTRIES)):
            total += await self._load_chunk(board, k.zset, k.index, chunk)
        return total

    async def _load_chunk(self, board: Board, zset: str, index: str, chunk: Sequence[tuple[str, int, int]]) -> int:
        total = 0
        for start in range(0, len(chunk), LOAD_SCRIPT_ENTRIES):
            args: list[EncodableT] = []
            for p, s, ts in chunk[start : start + LOAD_SCRIPT_ENTRIES]:
                args += [to_zscore(s, board.order), ts_key(ts), p]
            total += int(await self._call(self._load, [zset, index], args))
        return total

    async def replace(self, board: Board, entries: AsyncIterable[tuple[str, int, int]] | Iterable[tuple[str, int, int]]) -> int:
        """The board's live season replaced by `entries` (player, score, achieved_at_ms), each player
        once: built aside and swapped in atomically by the bulk loader (one way to build a board)."""
        self._writing(board)
        return await self._loader.replace(board, _chunks(entries, LOAD_CHUNK_ENTRIES))

    async def _drop_buckets(self, prefix: str, count: int) -> None:
        """Deletes a replaced index generation (no write reaches it any more), a chunk at a time."""
        for start in range(0, count, DROP_CHUNK_KEYS):
            await self.redis.unlink(*(f"{prefix}:{b}" for b in range(start, min(count, start + DROP_CHUNK_KEYS))))

    async def upgrade(self, board: Board) -> int | None:
        """Rewrites a board stored in the previous encoding (members "<ts hex>:<player>", one index
        hash) in the current one, from its own sorted set, with the same build-aside swap as a
        rebuild; None when the board is not in the previous encoding. Run before the board takes
        writes (RegionService.open does it at start-up): a write to it meanwhile would be lost."""
        k = keys_of(board)
        if not await self.redis.exists(k.legacy_index):
            return None
        return await self.replace(board, self._legacy_entries(board))

    async def _legacy_entries(self, board: Board) -> AsyncIterator[tuple[str, int, int]]:
        key, start = keys_of(board).zset, 0
        while True:
            rows = scored_members(await self.redis.zrange(key, start, start + LOAD_CHUNK_ENTRIES - 1, withscores=True))
            for member, zscore in rows:
                ts, player = decode_legacy_member(member)
                yield player, from_zscore(zscore, board.order), ts
            if len(rows) < LOAD_CHUNK_ENTRIES:
                return
            start += LOAD_CHUNK_ENTRIES

    async def clear(self, board: Board) -> None:
        self._writing(board)
        k = keys_of(board)
        raw = await self._call(self._clear, [k.zset, k.index, k.changes, k.legacy_index],
                               [f"{k.index}:{secrets.token_hex(6)}"])
        await self._drop_buckets(_text(raw[0]), int(raw[1]))

    async def applied_offsets(self, board: Board, partitions: Sequence[str]) -> list[int | None]:
        """`applied_offset` of several partitions, in one HMGET."""
        if not partitions:
            return []
        stored = await self.redis.hmget(keys_of(board).offsets, list(partitions))
        return [None if v is None else int(v) for v in stored]

    async def applied_offset(self, board: Board, partition: str) -> int | None:
        """The last event-log offset of `partition` applied to the board (stored by apply.lua)."""
        stored = await self.redis.hget(keys_of(board).offsets, partition)
        return None if stored is None else int(stored)

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    def keys(self, board: Board) -> BoardKeys:
        return keys_of(board)


async def _chunks(rows: AsyncIterable[tuple[str, int, int]] | Iterable[tuple[str, int, int]],
                  size: int) -> AsyncIterator[list[tuple[str, int, int]]]:
    chunk: list[tuple[str, int, int]] = []
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    else:
        it = iter(rows)
        while batch := list(islice(it, size)):
            yield batch
        return
    if chunk:
        yield chunk


_: type[RankStore] = RedisRankStore
