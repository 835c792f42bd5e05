"""How far the event-based rules have announced (Redis), so a restart neither repeats nor skips.

    pn:season     hash: board id -> the first season not yet announced (`board_ended`)
    pn:locking    hash: "<rule id>\t<contest id>" -> the deadline already announced (`contest_locking`);
                  "<rule id>\t<board id>" -> the season end already announced (`board_ending`)
A board seen for the first time starts at its live season: rules announce the seasons that end
after they were declared."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from podium.redis_client import AnyRedis, store_reply

T = TypeVar("T")
SEASON_CURSOR_KEY = "pn:season"
LOCKING_KEY = "pn:locking"


class RedisSeasonCursor:
    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis

    async def _call(self, pending: Awaitable[T]) -> T:
        return await store_reply(pending, "season cursor", retry_after_s=1.0)

    async def next_unannounced(self, board: str, live_season: int) -> int:
        await self._call(self.redis.hsetnx(SEASON_CURSOR_KEY, board, live_season))
        raw = await self._call(self.redis.hget(SEASON_CURSOR_KEY, board))
        return int(raw) if raw is not None else live_season

    async def announced(self, board: str, season: int) -> None:
        """Seasons before `season` are announced."""
        await self._call(self.redis.hset(SEASON_CURSOR_KEY, board, season))

    async def lock_announced(self, rule_id: str, contest: str) -> int | None:
        raw = await self._call(self.redis.hget(LOCKING_KEY, f"{rule_id}\t{contest}"))
        return int(raw) if raw is not None else None

    async def announce_lock(self, rule_id: str, contest: str, deadline_ms: int) -> None:
        await self._call(self.redis.hset(LOCKING_KEY, f"{rule_id}\t{contest}", deadline_ms))
