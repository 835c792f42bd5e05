"""What a rebuild reads and restores in Redis besides the ranks (the rank store's job): the board's
banned players, and the dedup set of recently achieved scores (so a client's retry of a score the
lost Redis had already accepted is still answered "duplicate")."""

from __future__ import annotations

from collections.abc import Sequence

from podium.keys import keys_of
from podium.model import Board
from podium.redis_client import AnyRedis
from podium.store_errors import translate_store_errors

DEDUP_CHUNK = 5000   # event ids per SADD


@translate_store_errors("the rebuild state (Redis)")
class RedisRebuildState:
    def __init__(self, redis: AnyRedis) -> None:
        self.redis = redis

    async def banned(self, board: Board) -> set[str]:
        members = await self.redis.smembers(keys_of(board).banned)
        return {m.decode() if isinstance(m, bytes) else m for m in members}

    async def restore_dedup(self, board: Board, event_ids: Sequence[str], bucket: int, ttl_ms: int) -> None:
        """Adds `event_ids` to the board's dedup set of window `bucket`, which expires in `ttl_ms`."""
        if not event_ids:
            return
        key = keys_of(board).dedup(bucket)
        for start in range(0, len(event_ids), DEDUP_CHUNK):
            await self.redis.sadd(key, *event_ids[start : start + DEDUP_CHUNK])
        await self.redis.pexpire(key, ttl_ms)
