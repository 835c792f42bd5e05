"""The player index (podium/lua/index.lua) on a single Redis and a 3-node cluster: it grows by
splitting one bucket at a time, every player stays findable through every split, its buckets stay
small compact hashes, a clear or a rebuild leaves no bucket of the old generation behind, and a
board written in the previous encoding is rewritten by `upgrade` and then reads and writes like any
other (checked against the exact oracle)."""

from __future__ import annotations

import itertools
import random

import pytest
from podium.region.rank_store_redis import RedisRankStore
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from podium.keys import keys_of
from podium.model import Board, Operator, ScoreEntry, SortOrder
from podium.redis_client import as_bytes
from tests.region.oracle import OracleBoard

pytestmark = pytest.mark.anyio
_ids = itertools.count()
NOW_MS = 1_800_000_000_000
BUCKET_ENTRIES = 32   # IX_BUCKET_ENTRIES in index.lua


async def _keys(redis: Redis | RedisCluster, pattern: str) -> list[bytes]:
    if isinstance(redis, RedisCluster):
        found = await redis.keys(pattern, target_nodes=RedisCluster.ALL_NODES)
    else:
        found = await redis.keys(pattern)
    return sorted(as_bytes(k) for k in found)


async def _state(redis: Redis | RedisCluster, board: Board) -> dict[str, str]:
    raw = await redis.hgetall(keys_of(board).index)
    return {as_bytes(k).decode(): as_bytes(v).decode() for k, v in raw.items()}


async def _check_index(redis: Redis | RedisCluster, board: Board, players: int) -> None:
    st = await _state(redis, board)
    level, split, n = int(st["l"]), int(st["p"]), int(st["n"])
    buckets = 2**level + split
    assert n == players and n <= BUCKET_ENTRIES * buckets
    found = await _keys(redis, f"{st['k']}:*")
    assert len(found) <= buckets
    sizes = [await redis.hlen(k) for k in found]
    assert sum(sizes) == players
    for k in found:   # small hashes stay in Redis' compact encoding
        assert as_bytes(await redis.object("encoding", k)) in (b"ziplist", b"listpack")


@pytest.mark.parametrize("op", [Operator.BEST, Operator.INCREMENT, Operator.LATEST])
async def test_index_splits_keep_every_player_findable(anyio_backend: str, any_redis: Redis | RedisCluster,
                                                       op: Operator) -> None:
    store = RedisRankStore(any_redis)
    board = Board(f"ix{next(_ids)}", operator=op, order=SortOrder.DESC)
    oracle = OracleBoard(board)
    rng = random.Random(5)
    for batch in range(12):   # ~2,000 players: the index splits through several levels
        entries = [ScoreEntry(board.id, f"p{rng.randrange(2000)}", rng.randrange(-3, 4),
                              NOW_MS - rng.randrange(3), "") for _ in range(300)]
        outcomes = await store.apply(board, entries, NOW_MS)
        assert outcomes is not None
        assert [o.code.value for o in outcomes] == [oracle.apply(e) for e in entries]
        want = oracle.ranking()
        assert await store.range(board, 0, len(want) + 1) == want
        await _check_index(any_redis, board, len(want))
    assert int((await _state(any_redis, board))["l"]) >= 3
    names = [r.player for r in want]
    assert await store.players(board, [*names, "nobody"]) == [*want, None]
    for row in want[::53]:
        assert await store.around(board, row.player, 2, 2) == want[max(0, row.rank - 3): row.rank + 2]
    for row in want[::7]:
        assert await store.remove_player(board, row.player)
        del oracle.entries[row.player]
    assert await store.range(board, 0, len(want)) == oracle.ranking()
    await _check_index(any_redis, board, len(oracle.entries))


async def test_clear_and_replace_leave_no_old_bucket(anyio_backend: str, any_redis: Redis | RedisCluster) -> None:
    store = RedisRankStore(any_redis)
    board = Board(f"ix{next(_ids)}")
    await store.load(board, [(f"p{i}", i, 5) for i in range(1500)])
    await _check_index(any_redis, board, 1500)
    first = (await _state(any_redis, board))["k"]
    assert len(await _keys(any_redis, f"{first}:*")) > 8
    rows = [(f"q{i}", -i, 7) for i in range(700)]
    assert await store.replace(board, rows) == 700
    second = (await _state(any_redis, board))["k"]
    assert second != first and await _keys(any_redis, f"{first}:*") == []
    await _check_index(any_redis, board, 700)
    assert [k for k in await _keys(any_redis, f"pb:{{{board.id}}}:*") if await any_redis.pttl(k) != -1] == []
    assert [r.player for r in await store.range(board, 0, 2)] == ["q0", "q1"]
    await store.clear(board)
    assert await _keys(any_redis, f"{second}:*") == [] and await store.count(board) == 0
    outcomes = await store.apply(board, [ScoreEntry(board.id, "q0", 3, 9, "")], NOW_MS)
    assert outcomes is not None and outcomes[0].rank == 1
    await _check_index(any_redis, board, 1)


async def test_a_stale_index_entry_counts_as_no_entry(anyio_backend: str, any_redis: Redis | RedisCluster) -> None:
    """Redis losing the sorted set alone (tests do this to simulate a loss) leaves index entries
    without a member: reads skip them and the next write replaces them."""
    store = RedisRankStore(any_redis)
    board = Board(f"ix{next(_ids)}")
    await store.load(board, [("a", 5, 1), ("b", 6, 1)])
    await any_redis.delete(keys_of(board).zset)
    assert await store.players(board, ["a", "b"]) == [None, None]
    assert await store.around(board, "a", 1, 1) == []
    outcomes = await store.apply(board, [ScoreEntry(board.id, "a", 2, 3, "")], NOW_MS)
    assert outcomes is not None and outcomes[0].rank == 1
    assert [(r.player, r.score, r.achieved_at_ms) for r in await store.range(board, 0, 5)] == [("a", 2, 3)]


@pytest.mark.parametrize("order", list(SortOrder))
async def test_a_board_in_the_previous_encoding_is_upgraded(anyio_backend: str, any_redis: Redis | RedisCluster,
                                                             order: SortOrder) -> None:
    store = RedisRankStore(any_redis)
    board = Board(f"old{next(_ids)}", operator=Operator.BEST, order=order)
    k = keys_of(board)
    rng = random.Random(3)
    oracle = OracleBoard(board)
    for i in range(6000):   # written as the previous release did: "<12 hex>:<player>" + one hex index hash
        oracle.apply(ScoreEntry(board.id, f"p{i}", rng.randrange(-5, 5), NOW_MS - rng.randrange(4), ""))
    sign = -1 if order is SortOrder.DESC else 1
    await any_redis.zadd(k.zset, {f"{t:012x}:{p}": sign * s for p, (s, t) in oracle.entries.items()})
    await any_redis.hset(k.legacy_index, mapping={p: f"{t:012x}" for p, (s, t) in oracle.entries.items()})
    assert await store.upgrade(board) == 6000
    assert await any_redis.exists(k.legacy_index) == 0
    assert await store.upgrade(board) is None   # already in the current encoding
    want = oracle.ranking()
    assert await store.range(board, 0, len(want)) == want
    await _check_index(any_redis, board, len(want))
    entries = [ScoreEntry(board.id, f"p{rng.randrange(6500)}", rng.randrange(-8, 8), NOW_MS - rng.randrange(4), "")
               for _ in range(500)]
    outcomes = await store.apply(board, entries, NOW_MS)
    assert outcomes is not None
    assert [o.code.value for o in outcomes] == [oracle.apply(e) for e in entries]
    want = oracle.ranking()
    assert await store.range(board, 0, len(want)) == want
    assert await store.players(board, [r.player for r in want[::101]]) == want[::101]
