"""Which season of each board `board_ended` rules have announced up to (Redis).

    pn:season     hash: board id -> the first season not yet announced
A board seen for the first time starts at its live season: rules announce the seasons that end
after they were declared."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import RedisError

from podium.errors import Unavailable
from podium.redis_client import AnyRedis

T = TypeVar("T")
SEASON_CURSOR_KEY = "pn:season"


class RedisSeasonCursor:
    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis

    async def _call(self, pending: Awaitable[T]) -> T:
        try:
            return await pending
        except RedisError as exc:
            raise Unavailable(f"season cursor (Redis): {exc}", retryAfter=1.0) from exc

    async def next_unannounced(self, board: str, live_season: int) -> int:
        await self._call(self.redis.hsetnx(SEASON_CURSOR_KEY, board, live_season))
        raw = await self._call(self.redis.hget(SEASON_CURSOR_KEY, board))
        return int(raw) if raw is not None else live_season

    async def announced(self, board: str, season: int) -> None:
        """Seasons before `season` are announced."""
        await self._call(self.redis.hset(SEASON_CURSOR_KEY, board, season))
