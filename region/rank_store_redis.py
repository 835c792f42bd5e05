"""RankStore on Redis sorted sets (single node or Redis Cluster); writes go through Lua (EVALSHA)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from importlib import resources
from itertools import islice
from typing import Any

from podium.region.rank_store import ApplyCode, ApplyOutcome, QuarantinedEntry, RankStore
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from podium.config import IngestLimits
from podium.errors import Internal, Unavailable
from podium.invariant import invariant
from podium.keys import BoardKeys, keys_of
from podium.model import Board, RankCursor, RankedEntry, ScoreEntry, SortOrder
from podium.ranking import decode_member, encode_member, encode_ts, from_zscore, to_zscore
from podium.redis_client import AnyRedis

LOAD_CHUNK_ENTRIES = 5000
# A replace builds aside under keys that expire on their own, so a builder that dies mid-way leaves
# nothing behind for long; the swap removes the TTL from the live keys.
BUILD_TTL_MS = 3_600_000

# Removes a player's entry and index atomically (cluster pipelines have no MULTI).
_REMOVE_LUA = """
local ts = redis.call("HGET", KEYS[2], ARGV[1])
if not ts then return 0 end
redis.call("ZREM", KEYS[1], ts .. ":" .. ARGV[1])
redis.call("HDEL", KEYS[2], ARGV[1])
return 1
"""


def _lua(name: str) -> str:
    return resources.files("podium").joinpath(f"lua/{name}.lua").read_text()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisRankStore:
    def __init__(self, redis: AnyRedis, limits: IngestLimits | None = None) -> None:
        self.redis = redis
        self.limits = limits or IngestLimits()
        # Called with a board id before every write this store makes (in-memory tops drop it).
        self.on_write: Callable[[str], None] | None = None
        self._apply = redis.register_script(_lua("apply"))
        self._read_players = redis.register_script(_lua("read_players"))
        self._around = redis.register_script(_lua("around"))
        self._after = redis.register_script(_lua("after"))
        self._remove = redis.register_script(_REMOVE_LUA)
        self._replace = redis.register_script(_lua("replace"))

    def _writing(self, board: Board) -> None:
        if self.on_write is not None:
            self.on_write(board.id)

    async def _call(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise Unavailable("the rank store (Redis) is unreachable; retry shortly") from exc
        except RedisError as exc:
            raise Internal("the rank store rejected an operation") from exc

    async def apply(
        self,
        board: Board,
        entries: Sequence[ScoreEntry],
        now_ms: int,
        *,
        partition: str | None = None,
        offset: int | None = None,
    ) -> list[ApplyOutcome] | None:
        self._writing(board)
        k = keys_of(board)
        window = now_ms // self.limits.dedup_window_ms
        minute = now_ms // 60_000
        keys = [k.zset, k.index, k.dedup(window), k.dedup(window - 1), k.delta(minute),
                k.quarantine, k.offsets, k.changes, k.banned]
        args: list[Any] = [
            board.operator.value,
            "1" if board.order is SortOrder.DESC else "0",
            "" if board.max_delta_per_minute is None else board.max_delta_per_minute,
            2 * self.limits.dedup_window_ms,
            self.limits.quarantine_len_max,
            self.limits.changes_len_max,
            "" if partition is None else partition,
            "" if offset is None else offset,
        ]
        for e in entries:
            args += [e.player, e.score, encode_ts(e.achieved_at_ms), e.event_id]
        raw = await self._call(self._apply, keys, args)
        if len(raw) == 1 and _text(raw[0]) == "skip":
            return None
        version = _text(raw[-1]) or None
        out = []
        for i in range(0, len(raw) - 1, 3):
            shown, code = _text(raw[i + 2]), ApplyCode(_text(raw[i]))
            out.append(ApplyOutcome(code, int(raw[i + 1]) or None, int(shown) if shown else None,
                                    version if code is ApplyCode.APPLIED else None))
        return out

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
        try:
            raw = await self.redis.zrange(keys_of(board).zset, start, start + count - 1, withscores=True)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise Unavailable("the rank store (Redis) is unreachable; retry shortly") from exc
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
            rank, zs, ts = int(raw[3 * j]), _text(raw[3 * j + 1]), _text(raw[3 * j + 2])
            out.append(RankedEntry(rank, player, from_zscore(float(zs), board.order), int(ts, 16)) if rank else None)
        return out

    async def around(self, board: Board, player: str, above: int, below: int) -> list[RankedEntry]:
        k = keys_of(board)
        raw = await self._call(self._around, [k.zset, k.index], [player, max(0, above), max(0, below)])
        if not raw:
            return []
        return self._rows(board, raw[1:], int(raw[0]))

    async def count(self, board: Board) -> int:
        try:
            return int(await self.redis.zcard(keys_of(board).zset))
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise Unavailable("the rank store (Redis) is unreachable; retry shortly") from exc

    async def load(self, board: Board, entries: Iterable[tuple[str, int, int]]) -> int:
        self._writing(board)
        k = keys_of(board)
        total = 0
        it = iter(entries)
        while chunk := list(islice(it, LOAD_CHUNK_ENTRIES)):
            mapping = {encode_member(ts, p): to_zscore(s, board.order) for p, s, ts in chunk}
            index = {p: encode_ts(ts) for p, s, ts in chunk}
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.zadd(k.zset, mapping)
                pipe.hset(k.index, mapping=index)
                await pipe.execute()
            total += len(chunk)
        return total

    async def replace(self, board: Board, entries: AsyncIterable[tuple[str, int, int]] | Iterable[tuple[str, int, int]]) -> int:
        self._writing(board)
        k = keys_of(board)
        token = secrets.token_hex(6)
        # Same hash tag as the live keys (`pb:{B}:…`), so the swap script runs on one cluster slot.
        built_z, built_i = f"{k.zset}:rb:{token}", f"{k.index}:rb:{token}"
        total = 0
        try:
            async for chunk in _chunks(entries, LOAD_CHUNK_ENTRIES):
                mapping = {encode_member(ts, p): to_zscore(s, board.order) for p, s, ts in chunk}
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.zadd(built_z, mapping)
                    pipe.hset(built_i, mapping={p: encode_ts(ts) for p, _s, ts in chunk})
                    pipe.pexpire(built_z, BUILD_TTL_MS)
                    pipe.pexpire(built_i, BUILD_TTL_MS)
                    await pipe.execute()
                total += len(chunk)
            swapped = int(await self._call(self._replace, [built_z, built_i, k.zset, k.index], [total]))
        except BaseException:
            await self.redis.delete(built_z, built_i)
            raise
        invariant(swapped == total, f"replace of {board.id!r}: {total} rows given, each player must appear once")
        return total

    async def remove_player(self, board: Board, player: str) -> bool:
        self._writing(board)
        k = keys_of(board)
        return bool(await self._call(self._remove, [k.zset, k.index], [player]))

    async def ban(self, board: Board, player: str) -> None:
        self._writing(board)
        await self.redis.sadd(keys_of(board).banned, player)
        await self.remove_player(board, player)

    async def clear(self, board: Board) -> None:
        self._writing(board)
        k = keys_of(board)
        await self.redis.delete(k.zset, k.index, k.changes)

    async def quarantined(self, board: Board, count: int, before: str | None = None) -> list[QuarantinedEntry]:
        rows = await self.redis.xrevrange(keys_of(board).quarantine, max=f"({before}" if before else "+", count=count)
        out = []
        for entry_id, fields in rows:
            f = {_text(a): _text(b) for a, b in fields.items()}
            out.append(QuarantinedEntry(
                id=_text(entry_id), player=f.pop("player"), score=int(f.pop("score")),
                achieved_at_ms=int(f.pop("ts"), 16), event_id=f.pop("event"), reason=f.pop("reason"), detail=f,
            ))
        return out

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


def _player_ts(member: bytes | str, board: Board, zscore: float) -> tuple[str, int, int]:
    ts, player = decode_member(member)
    return player, from_zscore(zscore, board.order), ts


_: type[RankStore] = RedisRankStore
