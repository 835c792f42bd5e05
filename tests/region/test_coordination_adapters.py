"""The Redis adapters the rebuild and the snapshot tick go through (real redis-server): the region
marks (data mark, one snapshot claim per interval) and the rebuild state (banned players, restored
dedup sets with their expiry)."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from podium.region.rebuild_state_redis import RedisRebuildState
from podium.region.region_marks_redis import RedisRegionMarks

from podium.keys import keys_of
from podium.model import Board
from tests.region.helpers import unique

pytestmark = pytest.mark.anyio


async def test_one_process_claims_each_snapshot_interval(redis_single: aioredis.Redis) -> None:
    interval = 1234   # the fixture flushed the database
    east, west = RedisRegionMarks(redis_single, "east"), RedisRegionMarks(redis_single, "west")
    assert await east.claim_snapshot_tick(interval, 60_000) is True
    assert await west.claim_snapshot_tick(interval, 60_000) is False    # same interval: taken
    assert await east.claim_snapshot_tick(interval, 60_000) is False    # even by its owner
    assert await west.claim_snapshot_tick(interval + 1, 60_000) is True
    ttl = await redis_single.pttl(f"podium:snapshot-tick:{interval}")
    assert 0 < ttl <= 60_000


async def test_the_data_mark_notices_a_flushed_redis(redis_single: aioredis.Redis) -> None:
    marks = RedisRegionMarks(redis_single, "east")
    await marks.mark_data()
    assert await marks.data_marked() is True
    await redis_single.delete("podium:data-mark")   # what a Redis that lost its data looks like
    assert await marks.data_marked() is False


async def test_rebuild_state_reads_bans_and_restores_dedup(redis_single: aioredis.Redis) -> None:
    board = Board(id=unique("rb"))
    state = RedisRebuildState(redis_single)
    assert await state.banned(board) == set()
    await redis_single.sadd(keys_of(board).banned, "cheat", "bot")
    assert await state.banned(board) == {"cheat", "bot"}
    ids = [f"e{i}" for i in range(12_001)]            # more than one SADD chunk
    await state.restore_dedup(board, ids, 5, 30_000)
    key = keys_of(board).dedup(5)
    assert await redis_single.scard(key) == len(ids)
    assert 0 < await redis_single.pttl(key) <= 30_000
    await state.restore_dedup(board, [], 6, 30_000)   # nothing to restore: no key made
    assert await redis_single.exists(keys_of(board).dedup(6)) == 0
