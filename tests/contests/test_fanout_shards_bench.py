"""The sharded fan-out bench (`python -m podium.devtools.bench.contest_fanout_shards`) in a tiny
configuration: the same events fanned out on one Redis and on three shards leave boards that merge
into the same board, and the comparison notices one entry off (structure, not speed)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import redis.asyncio as aioredis
from podium.region.contests.store_redis import contest_key

from podium.devtools.bench import contest_fanout_shards as shards
from podium.redis_server import RedisServer


def test_shards_merge_into_the_single_board() -> None:
    result = asyncio.run(shards.run(teams=600, shards=3, events=5))
    assert result["boards_equal"] and result["sums_equal"], result
    for event in result["events"]:
        assert 0 < event["teams_updated"] < 600 and len(event["shard_teams_updated"]) == 3
        assert all(n > 0 for n in event["shard_teams_updated"]), event


def test_a_difference_is_noticed(tmp_path: Path) -> None:
    async def check() -> tuple[bool, bool, bool]:
        with (
            RedisServer(tmp_path / "a", appendonly=False) as a,
            RedisServer(tmp_path / "b", appendonly=False) as b,
            RedisServer(tmp_path / "c", appendonly=False) as c,
        ):
            single, one, two = (aioredis.Redis.from_url(s.url) for s in (a, b, c))
            board = contest_key(shards.CONTEST, "board")
            await single.zadd(board, {"x": 1, "y": 1, "z": 2})
            await one.zadd(board, {"x": 1, "z": 2})
            await two.zadd(board, {"y": 1})
            same = await shards._boards_equal(single, [one, two])
            await two.zincrby(board, 1e-4, "y")
            off_by_points = await shards._boards_equal(single, [one, two])
            await two.zadd(board, {"y": 1, "w": 3})
            extra = await shards._boards_equal(single, [one, two])
            for r in (single, one, two):
                await r.aclose()
            return same, off_by_points, extra

    assert asyncio.run(check()) == (True, False, False)
