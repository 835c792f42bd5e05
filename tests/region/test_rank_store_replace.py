"""RankStore.replace on a single Redis and on a 3-node Redis Cluster: the rebuilt board equals the
oracle (ties included), readers never see a half-built board, and a failed build leaves the live
board and no temporary keys behind."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator

import pytest
from podium.region.history.store import Standing, rank_standings
from podium.region.rank_store_redis import LOAD_CHUNK_ENTRIES, RedisRankStore
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from podium.invariant import InvariantError
from podium.keys import keys_of
from podium.model import Board, Operator, RankedEntry, SortOrder
from podium.redis_client import as_bytes

pytestmark = pytest.mark.anyio
_ids = itertools.count()


def _rows(n: int, seed: int) -> list[tuple[str, int, int]]:
    rng = random.Random(seed)
    # few distinct scores and times: many ties, broken by time then player id (bytes)
    return [(f"p{i}", rng.randrange(-3, 4), 1_700_000_000_000 + rng.randrange(3)) for i in range(n)]


def _expected(rows: list[tuple[str, int, int]], order: SortOrder) -> list[RankedEntry]:
    return rank_standings([Standing(p, s, t) for p, s, t in rows], order)


async def _keys(redis: Redis | RedisCluster, board: Board) -> list[bytes]:
    if isinstance(redis, RedisCluster):
        found = await redis.keys(f"pb:{{{board.id}}}:*", target_nodes=RedisCluster.ALL_NODES)
    else:
        found = await redis.keys(f"pb:{{{board.id}}}:*")
    return sorted(as_bytes(k) for k in found)


@pytest.mark.parametrize("order", list(SortOrder))
async def test_replace_equals_oracle(anyio_backend: str, any_redis: Redis | RedisCluster, order: SortOrder) -> None:
    store = RedisRankStore(any_redis)
    board = Board(f"rp{next(_ids)}", operator=Operator.INCREMENT, order=order)
    await store.load(board, [("gone", 99, 1), ("p1", 50, 2)])
    rows = _rows(LOAD_CHUNK_ENTRIES + 321, 1)
    assert await store.replace(board, rows) == len(rows)
    expected = _expected(rows, order)
    assert await store.count(board) == len(rows)
    assert await store.range(board, 0, len(rows)) == expected
    some = [e.player for e in expected[::97]]
    assert await store.players(board, [*some, "gone"]) == [*expected[::97], None]
    assert [k for k in await _keys(any_redis, board) if b":rb:" in k] == []
    assert await any_redis.pttl(keys_of(board).zset) == -1 and await any_redis.pttl(keys_of(board).index) == -1


async def test_readers_never_see_a_half_board(anyio_backend: str, any_redis: Redis | RedisCluster) -> None:
    store = RedisRankStore(any_redis)
    board = Board(f"rp{next(_ids)}")
    old = _rows(50, 2)
    await store.replace(board, old)
    before = await store.range(board, 0, 100)
    new = _rows(3 * LOAD_CHUNK_ENTRIES, 3)
    seen: list[int] = []

    async def slow_rows() -> AsyncIterator[tuple[str, int, int]]:
        for i, row in enumerate(new):
            if i % LOAD_CHUNK_ENTRIES == 0 and i:
                # part of the new board is built: the live board is still exactly the old one
                seen.append(await store.count(board))
                assert await store.range(board, 0, 100) == before
            yield row

    await store.replace(board, slow_rows())
    assert seen == [50, 50]
    assert await store.range(board, 0, len(new)) == _expected(new, SortOrder.DESC)


async def test_failed_build_leaves_live_board(anyio_backend: str, any_redis: Redis | RedisCluster) -> None:
    store = RedisRankStore(any_redis)
    board = Board(f"rp{next(_ids)}")
    await store.replace(board, _rows(10, 4))
    before = await store.range(board, 0, 10)

    async def dying() -> AsyncIterator[tuple[str, int, int]]:
        for row in _rows(LOAD_CHUNK_ENTRIES + 5, 5):
            yield row
        raise ConnectionError("warm store went away")

    with pytest.raises(ConnectionError):
        await store.replace(board, dying())
    with pytest.raises(InvariantError):
        await store.replace(board, [("twice", 1, 1), ("twice", 2, 2)])
    assert await store.range(board, 0, 10) == before
    assert [k for k in await _keys(any_redis, board) if b":rb:" in k] == []
    assert await store.replace(board, []) == 0
    assert await store.count(board) == 0
