"""RankStore on Redis sorted sets (single node or Redis Cluster); writes go through Lua (EVALSHA)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from itertools import chain, islice
from operator import attrgetter
from typing import Any

from podium.region.bulk_load_redis import RedisBoardLoader
from podium.region.history.store import history_key
from podium.region.rank_index import DROP_CHUNK_KEYS, lua_with_index
from podium.region.rank_index import lua as _lua
from podium.region.rank_store import ApplyOutcome, QuarantinedEntry, RankStore
from podium.region.rank_store_reply import AppliedLog, outcomes
from redis.exceptions import RedisError
from redis.typing import EncodableT

from podium.config import IngestLimits
from podium.errors import Unavailable
from podium.invariant import invariant
from podium.keys import BoardKeys, keys_of
from podium.model import ACHIEVED_AT_MAX_MS, Board, RankCursor, RankedEntry, ScoreEntry, SortOrder
from podium.ranking import (
    decode_legacy_member,
    decode_member,
    encode_member,
    from_zscore,
    to_zscore,
    ts_key,
)
from podium.redis_client import AnyRedis, scored_members, stream_entries, stream_max_before
from podium.store_errors import translate_store_errors
from podium.trace_context import current_traceparent

LOAD_CHUNK_ENTRIES = 5000
# Entries per load.lua call: a script blocks Redis while it runs, and a 5,000-entry call (index
# splits included) outran the client's read timeout on the loaded bench machine.
LOAD_SCRIPT_ENTRIES = 1000
_TIMES = attrgetter("achieved_at_ms")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@translate_store_errors("the rank store (Redis)")
class RedisRankStore:
    def __init__(self, redis: AnyRedis, limits: IngestLimits | None = None, *,
                 history_backlog_max: int | None = None) -> None:
        """`history_backlog_max`: with history on, accepted entries go to the board's history
        backlog in the apply itself; a batch meeting a full backlog is refused (503), never dropped."""
        self.redis = redis
        self.limits = limits or IngestLimits()
        self.history_backlog_max = history_backlog_max
        # Called with a board id before every write this store makes (in-memory tops drop it).
        self.on_write: Callable[[str], None] | None = None
        self._apply = redis.register_script(lua_with_index("apply"))
        self._read_players = redis.register_script(lua_with_index("read_players"))
        self._around = redis.register_script(lua_with_index("around"))
        self._after = redis.register_script(_lua("after"))
        self._remove = redis.register_script(lua_with_index("remove"))
        self._loader = RedisBoardLoader(redis)
        self._load = redis.register_script(lua_with_index("load"))
        self._clear = redis.register_script(lua_with_index("clear"))

    def _writing(self, board: Board) -> None:
        if self.on_write is not None:
            self.on_write(board.id)

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        return await script(keys=keys, args=args)

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
        args.extend(chain.from_iterable([(e.player, e.score, f"{e.achieved_at_ms:012x}", e.event_id) for e in entries]))
        raw = await self._call(self._apply, keys, args)
        if len(raw) == 1 and _text(raw[0]) == "skip":
            return None
        if len(raw) == 1 and _text(raw[0]) == "full":
            raise Unavailable(f"the history backlog of {board.id!r} is full (the warm store is behind); retry shortly",
                              retryAfter=5.0)
        return list(raw)

    @staticmethod
    def _rows(board: Board, flat: Sequence[Any], first_rank: int) -> list[RankedEntry]:
        rows = []
        for j, i in enumerate(range(0, len(flat), 2)):
            ts, player = decode_member(flat[i])
            rows.append(RankedEntry(first_rank + j, player, from_zscore(float(flat[i + 1]), board.order), ts))
        return rows

    async def range(self, board: Board, start: int, count: int) -> list[RankedEntry]:
        if count <= 0 or start < 0:
            return []
        raw = scored_members(await self.redis.zrange(keys_of(board).zset, start, start + count - 1, withscores=True))
        return [
            RankedEntry(start + j + 1, *_player_ts(member, board, score))
            for j, (member, score) in enumerate(raw)
        ]

    async def after(self, board: Board, cursor: RankCursor, count: int) -> list[RankedEntry]:
        if count <= 0:
            return []
        zscore = to_zscore(cursor.score, board.order)
        member = encode_member(cursor.achieved_at_ms, cursor.player)
        raw = await self._call(self._after, [keys_of(board).zset], [zscore, member, count])
        return self._rows(board, raw[1:], int(raw[0]))

    async def players(self, board: Board, players: Sequence[str]) -> list[RankedEntry | None]:
        if not players:
            return []
        k = keys_of(board)
        raw = await self._call(self._read_players, [k.zset, k.index], list(players))
        out: list[RankedEntry | None] = []
        for j, player in enumerate(players):
            rank, zs, ts = int(raw[3 * j]), _text(raw[3 * j + 1]), int(raw[3 * j + 2])
            out.append(RankedEntry(rank, player, from_zscore(float(zs), board.order), ts) if rank else None)
        return out

    async def around(self, board: Board, player: str, above: int, below: int) -> list[RankedEntry]:
        k = keys_of(board)
        raw = await self._call(self._around, [k.zset, k.index], [player, max(0, above), max(0, below)])
        if not raw:
            return []
        return self._rows(board, raw[1:], int(raw[0]))

    async def count(self, board: Board) -> int:
        return int(await self.redis.zcard(keys_of(board).zset))

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

    async def remove_player(self, board: Board, player: str) -> bool:
        self._writing(board)
        k = keys_of(board)
        return bool(await self._call(self._remove, [k.zset, k.index, k.changes], [player, self.limits.changes_len_max]))

    async def ban(self, board: Board, player: str) -> None:
        self._writing(board)
        await self.redis.sadd(keys_of(board).banned, player)
        await self.remove_player(board, player)

    async def clear(self, board: Board) -> None:
        self._writing(board)
        k = keys_of(board)
        raw = await self._call(self._clear, [k.zset, k.index, k.changes, k.legacy_index],
                               [f"{k.index}:{secrets.token_hex(6)}"])
        await self._drop_buckets(_text(raw[0]), int(raw[1]))

    async def quarantined(self, board: Board, count: int, before: str | None = None) -> list[QuarantinedEntry]:
        end = stream_max_before(before)
        rows = stream_entries(await self.redis.xrevrange(keys_of(board).quarantine, max=end, count=count)) if end else []
        return [_quarantined(entry_id, fields) for entry_id, fields in rows]

    async def quarantined_entry(self, board: Board, entry_id: str) -> QuarantinedEntry | None:
        """One quarantined entry by its stream id (`entry_id` must be a stream id), or None."""
        rows = stream_entries(await self.redis.xrange(keys_of(board).quarantine, min=entry_id, max=entry_id))
        return _quarantined(rows[0][0], rows[0][1]) if rows else None

    async def drop_quarantined(self, board: Board, entry_id: str) -> None:
        await self.redis.xdel(keys_of(board).quarantine, entry_id)

    async def unban(self, board: Board, player: str) -> bool:
        """Lift a ban (the entry removed by the ban stays removed); whether the player was banned."""
        return bool(await self.redis.srem(keys_of(board).banned, player))

    async def version(self, board: Board) -> str:
        """The newest change-stream id of the board ("-": none): the board changed iff it moved."""
        last = stream_entries(await self.redis.xrevrange(keys_of(board).changes, count=1))
        return _text(last[0][0]) if last else "-"

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

    async def quarantine(self, board: Board, fields: dict[str, str], len_max: int) -> None:
        """Adds an entry the stream worker's anti-cheat held back to the board's quarantine stream."""
        await self.redis.xadd(keys_of(board).quarantine, fields,  # type: ignore[arg-type]
                              maxlen=len_max, approximate=True)

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except RedisError:
            return False

    def keys(self, board: Board) -> BoardKeys:
        return keys_of(board)


def _quarantined(entry_id: Any, fields: Any) -> QuarantinedEntry:
    f = {_text(a): _text(b) for a, b in (fields or {}).items()}
    return QuarantinedEntry(id=_text(entry_id), player=f.pop("player"), score=int(f.pop("score")),
                            achieved_at_ms=int(f.pop("ts"), 16), event_id=f.pop("event"), reason=f.pop("reason"),
                            detail=f)


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


def _player_ts(member: bytes | str, board: Board, zscore: float) -> tuple[str, int, int]:
    ts, player = decode_member(member)
    return player, from_zscore(zscore, board.order), ts


_: type[RankStore] = RedisRankStore
