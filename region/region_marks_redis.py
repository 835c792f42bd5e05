"""The region's coordination marks in Redis: the data mark (set by every process at start; its
absence means Redis lost its data and the boards must be restored and rebuilt) and the snapshot
tick claims (one process of the region snapshots each interval: the first to claim it)."""

from __future__ import annotations

from podium.keys import DATA_MARK_KEY
from podium.redis_client import AnyRedis
from podium.store_errors import translate_store_errors

SNAPSHOT_TICK_PREFIX = "podium:snapshot-tick:"  # + interval number: which process snapshots it


@translate_store_errors("Redis")
class RedisRegionMarks:
    def __init__(self, redis: AnyRedis, region: str) -> None:
        self.redis = redis
        self.region = region

    async def mark_data(self) -> None:
        await self.redis.set(DATA_MARK_KEY, self.region)

    async def data_marked(self) -> bool:
        return bool(await self.redis.exists(DATA_MARK_KEY))

    async def claim_snapshot_tick(self, interval: int, ttl_ms: int) -> bool:
        """True for the one caller that claims snapshot interval number `interval` first."""
        return bool(await self.redis.set(f"{SNAPSHOT_TICK_PREFIX}{interval}", self.region, nx=True, px=ttl_ms))
