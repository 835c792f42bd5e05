"""RedisBoardLoader (a rebuild's bulk load, and RankStore.replace, which delegates to it) on a single
Redis and on a 3-node Redis Cluster: the board it builds is the one loading the same entries one by
one through index.lua builds on an empty board (sorted set, index state and every index bucket),
readers never see a half-built board, and a failed build leaves the live board and no temporary
keys behind."""

from __future__ import annotations

import itertools
import random
from collections.abc import AsyncIterator, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region import bulk_load_redis
from podium.region.bulk_load_redis import LOAD_ZADD_ENTRIES, RedisBoardLoader, index_state
from podium.region.history.store import Standing, rank_standings
from podium.region.rank_store_redis import RedisRankStore
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from podium.invariant import InvariantError
from podium.keys import keys_of
from podium.model import Board, Operator, SortOrder
from podium.redis_client import as_bytes

pytestmark = pytest.mark.anyio
_ids = itertools.count()
Entry = tuple[str, int, int]


def _rows(n: int, seed: int) -> list[Entry]:
    rng = random.Random(seed)
    # few distinct scores and times: many ties, broken by time then player id (bytes)
    return [(f"p{i}", rng.randrange(-3, 4), 1_700_000_000_000 + rng.randrange(3)) for i in range(n)]


async def _pages(rows: Sequence[Entry], cuts: Sequence[int]) -> AsyncIterator[list[Entry]]:
    start = 0
    for cut in sorted(cuts):
        yield list(rows[start:cut])
        start = max(start, cut)
    yield list(rows[start:])


async def _keys(redis: Redis | RedisCluster, board: Board) -> list[bytes]:
    if isinstance(redis, RedisCluster):
        found = await redis.keys(f"pb:{{{board.id}}}:*", target_nodes=RedisCluster.ALL_NODES)
    else:
        found = await redis.keys(f"pb:{{{board.id}}}:*")
    return sorted(as_bytes(k) for k in found)


async def _layout(redis: Redis | RedisCluster, board: Board) -> tuple[object, ...]:
    """Everything a board is in Redis, bucket key prefixes aside (each build draws its own)."""
    k = keys_of(board)
    zset = await redis.zrange(k.zset, 0, -1, withscores=True)
    state = {as_bytes(f): as_bytes(v) for f, v in (await redis.hgetall(k.index)).items()}
    prefix = state.pop(b"k")
    buckets = {}
    for b in range(2 ** (int(state[b"l"]) + 1)):
        fields = await redis.hgetall(prefix + b":%d" % b)
        if fields:
            buckets[b] = {as_bytes(f): as_bytes(v) for f, v in fields.items()}
            assert await redis.pttl(prefix + b":%d" % b) == -1
    assert await redis.pttl(k.index) == -1 and await redis.pttl(k.zset) == (-1 if zset else -2)
    return zset, state, buckets


async def _same_as_one_by_one(redis: Redis | RedisCluster, rows: list[Entry], cuts: Sequence[int],
                           order: SortOrder) -> None:
    store, loader = RedisRankStore(redis), RedisBoardLoader(redis)
    n = next(_ids)
    ours, theirs = Board(f"bl{n}", operator=Operator.INCREMENT, order=order), Board(f"br{n}", order=order)
    await store.load(ours, [("gone", 99, 1), ("p1", 50, 2)])   # a live board to replace
    assert await loader.replace(ours, _pages(rows, cuts)) == len(rows)
    if rows:
        assert await store.load(theirs, rows) == len(rows)   # each player inserted by load.lua: buckets split as they fill
        assert await _layout(redis, ours) == await _layout(redis, theirs)
    else:   # load.lua makes no index for no players; the swap leaves a fresh empty one
        assert await _layout(redis, ours) == ([], {b"l": b"0", b"p": b"0", b"n": b"0"}, {})
    assert await store.range(ours, 0, len(rows) + 1) == rank_standings([Standing(*r) for r in rows], order)
    some = [p for p, _, _ in rows[::7]]
    assert await store.players(ours, [*some, "gone"]) == [*(await store.players(theirs, some)), None]
    assert [k for k in await _keys(redis, ours) if b":rb:" in k] == []


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 300), seed=st.integers(0, 10**6), cuts=st.lists(st.integers(0, 300), max_size=4),
       order=st.sampled_from(list(SortOrder)))
async def test_same_board_as_one_by_one(anyio_backend: str, redis_single: Redis, n: int, seed: int,
                                     cuts: list[int], order: SortOrder) -> None:
    await _same_as_one_by_one(redis_single, _rows(n, seed), cuts, order)


@pytest.mark.parametrize("order", list(SortOrder))
async def test_same_board_as_one_by_one_across_chunks(anyio_backend: str, any_redis: Redis | RedisCluster,
                                                   order: SortOrder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk_load_redis, "INDEX_READ_ENTRIES", 3000)   # several index reads, a short one last
    size = 2 * LOAD_ZADD_ENTRIES + 321
    await _same_as_one_by_one(any_redis, _rows(size, 1), [5, 4000, 4000, size - 3], order)


@pytest.mark.parametrize("total", [0, 1, 32, 33, 64, 65, 96, 97, 1000, 123_457])
def test_index_state_is_what_inserting_one_by_one_reaches(total: int) -> None:
    level, split, buckets = 0, 0, 1     # index.lua: one split per 32 players past the first bucket's
    for n in range(1, total + 1):
        if n > 32 * buckets:
            split += 1
            buckets += 1
            if split == 1 << level:
                level, split = level + 1, 0
    assert index_state(total) == (level, split)


async def test_readers_never_see_a_half_board(anyio_backend: str, any_redis: Redis | RedisCluster) -> None:
    store, loader = RedisRankStore(any_redis), RedisBoardLoader(any_redis)
    board = Board(f"bl{next(_ids)}")
    await loader.replace(board, _pages(_rows(50, 2), []))
    before = await store.range(board, 0, 100)
    new = _rows(3 * LOAD_ZADD_ENTRIES, 3)
    seen: list[int] = []

    async def slow_pages() -> AsyncIterator[list[Entry]]:
        for start in range(0, len(new), LOAD_ZADD_ENTRIES // 2):
            if start:
                # part of the new board is built: the live board is still exactly the old one
                seen.append(await store.count(board))
                assert await store.range(board, 0, 100) == before
            yield new[start : start + LOAD_ZADD_ENTRIES // 2]

    await loader.replace(board, slow_pages())
    assert seen == [50] * 5
    assert await store.range(board, 0, len(new)) == rank_standings([Standing(*r) for r in new], SortOrder.DESC)


async def test_failed_build_leaves_live_board(anyio_backend: str, any_redis: Redis | RedisCluster) -> None:
    store, loader = RedisRankStore(any_redis), RedisBoardLoader(any_redis)
    board = Board(f"bl{next(_ids)}")
    await loader.replace(board, _pages(_rows(10, 4), []))
    before = await store.range(board, 0, 10)

    async def dying() -> AsyncIterator[list[Entry]]:
        yield _rows(LOAD_ZADD_ENTRIES + 5, 5)
        raise ConnectionError("warm store went away")

    with pytest.raises(ConnectionError):
        await loader.replace(board, dying())
    with pytest.raises(InvariantError):
        await loader.replace(board, _pages([("twice", 1, 1), ("twice", 2, 2)], [1]))
    assert await store.range(board, 0, 10) == before
    assert [k for k in await _keys(any_redis, board) if b":rb:" in k] == []
    assert await loader.replace(board, _pages([], [])) == 0
    assert await store.count(board) == 0
