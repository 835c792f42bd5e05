"""ChangeFeed adapter over the region's Redis: the board's change stream, the acknowledged positions
hash `prep:{<region>}:acked` (field: the stream key, kept from before the port so positions survive
an upgrade), the board's sorted set for anti-entropy scans and `lua/reannounce.lua` for repairs.
Redis errors become `Unavailable` here, so the replication loops back off and retry."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Sequence
from importlib import resources
from typing import Any, TypeVar

from podium.replication.change_feed import ChangeFeed, FeedRow
from redis.exceptions import RedisError

from podium.boards import BoardRegistry
from podium.errors import Unavailable
from podium.keys import keys_of
from podium.model import Board, SortOrder
from podium.ranking import decode_member, from_zscore
from podium.redis_client import AnyRedis

SCAN_CHUNK_ENTRIES = 10_000
T = TypeVar("T")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _rows(raw: Any) -> list[FeedRow]:
    """XRANGE/XREVRANGE replies: the packed change lines are in field `d`, a traced write's
    traceparent in field `t` (apply.lua)."""
    out = []
    for entry_id, fields in raw or []:
        fields = fields or {}
        data = fields.get(b"d") or fields.get("d") or b""
        out.append(FeedRow(_text(entry_id), _text(data), _text(fields.get(b"t") or fields.get("t") or b"")))
    return out


async def _guard(call: Awaitable[T]) -> T:
    try:
        return await call
    except RedisError as exc:
        raise Unavailable(f"the region's Redis is unreachable for replication ({exc.__class__.__name__})") from exc


class RedisChangeFeed:
    def __init__(self, redis: AnyRedis, boards: BoardRegistry, region: str, changes_len_max: int) -> None:
        self.redis = redis
        self.registry = boards
        self.acked_key = f"prep:{{{region}}}:acked"
        self.changes_len_max = changes_len_max
        # reannounce.lua finds members through the player index: index.lua's helpers come first
        lua = resources.files("podium").joinpath
        self._reannounce = redis.register_script(lua("lua/index.lua").read_text() + "\n" + lua("lua/reannounce.lua").read_text())

    async def boards(self) -> list[Board]:
        return list((await _guard(self.registry.all())).values())

    async def acked(self) -> dict[str, str]:
        raw = await _guard(self.redis.hgetall(self.acked_key))
        by_stream = {_text(k): _text(v) for k, v in raw.items()}
        return {b.id: by_stream.get(keys_of(b).changes, "0-0") for b in await self.boards()}

    async def ack(self, board: Board, entry_id: str) -> None:
        await _guard(self.redis.hset(self.acked_key, keys_of(board).changes, entry_id))

    async def read(self, board: Board, after: str, count: int) -> list[FeedRow]:
        return _rows(await _guard(self.redis.xrange(keys_of(board).changes, min=f"({after}", max="+", count=count)))

    async def head(self, board: Board) -> str | None:
        rows = _rows(await _guard(self.redis.xrevrange(keys_of(board).changes, count=1)))
        return rows[0][0] if rows else None

    async def first(self, board: Board) -> str | None:
        rows = _rows(await _guard(self.redis.xrange(keys_of(board).changes, count=1)))
        return rows[0][0] if rows else None

    async def entries(self, board: Board) -> AsyncIterator[tuple[str, int, int]]:
        key, start = keys_of(board).zset, 0
        while True:
            rows: list[Any] = await _guard(self.redis.zrange(key, start, start + SCAN_CHUNK_ENTRIES - 1,
                                                             withscores=True))
            for member, zscore in rows:
                ts, player = decode_member(member)
                yield player, from_zscore(float(zscore), board.order), ts
            if len(rows) < SCAN_CHUNK_ENTRIES:
                return
            start += SCAN_CHUNK_ENTRIES

    async def reannounce(self, board: Board, players: Sequence[str]) -> None:
        k = keys_of(board)
        await _guard(self._reannounce(keys=[k.zset, k.index, k.changes],
                                      args=["1" if board.order is SortOrder.DESC else "0", self.changes_len_max,
                                            *players]))


_: type[ChangeFeed] = RedisChangeFeed
