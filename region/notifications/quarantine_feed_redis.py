"""The boards' quarantine streams as a feed for the notification engine (Redis).

    pb:{B}:q        the board's quarantine stream (written by apply.lua; see podium.keys)
    pn:qcursor      hash: board id -> the last quarantine id notified (so a restart resumes there)
A board seen for the first time starts at the stream's end: rules notify what is quarantined
after they were declared, not the backlog."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from podium.region.notifications.board_events import QuarantineRow

from podium.keys import board_keys
from podium.redis_client import AnyRedis, store_reply

T = TypeVar("T")
CURSOR_KEY = "pn:qcursor"


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


class RedisQuarantineFeed:
    def __init__(self, redis: AnyRedis, batch_max: int) -> None:
        self.redis = redis
        self.batch_max = batch_max

    async def _call(self, pending: Awaitable[T]) -> T:
        return await store_reply(pending, "quarantine feed", retry_after_s=1.0)

    async def cursor(self, board: str) -> str:
        """Where to resume: the stored cursor, else the stream's newest id (or 0-0 when empty)."""
        stored = await self._call(self.redis.hget(CURSOR_KEY, board))
        if stored is not None:
            return _text(stored)
        last: Any = await self._call(self.redis.xrevrange(board_keys(board, 0).quarantine, "+", "-", count=1))
        start = _text(last[0][0]) if last else "0-0"
        await self._call(self.redis.hsetnx(CURSOR_KEY, board, start))
        return start

    async def advance(self, board: str, last_id: str) -> None:
        await self._call(self.redis.hset(CURSOR_KEY, board, last_id))

    async def read(self, board: str, after: str, block_ms: int) -> list[QuarantineRow]:
        """Rows quarantined after `after`, waiting up to `block_ms` for the first."""
        key = board_keys(board, 0).quarantine
        reply: Any = await self._call(self.redis.xread({key: after}, count=self.batch_max, block=block_ms))
        rows = []
        for _, entries in reply or ():
            for mid, fields in entries:
                f = {_text(k): _text(v) for k, v in fields.items()}
                rows.append(QuarantineRow(_text(mid), board, f.get("player", ""), int(f.get("score", "0")),
                                          f.get("reason", "")))
        return rows
