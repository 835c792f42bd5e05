"""The player index's bucket hash (index.lua's ix_fast_hash, region/rank_index.py's fast_hash):
Lua and Python agree on any text, buckets stay as even as with the SHA-1 prefix it replaced, and an
index written with SHA-1 (boards indexed before the fast hash) keeps working, by SHA-1, until a
rebuild gives it a fast-hash index (checked against the exact oracle, single node and cluster)."""

from __future__ import annotations

import hashlib
import itertools
import random
import statistics
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.rank_index import fast_hash
from podium.region.rank_store_redis import RedisRankStore, _lua
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from podium.keys import keys_of
from podium.model import Board, Operator, ScoreEntry, SortOrder
from podium.ranking import encode_member, to_zscore, ts_key
from podium.redis_client import as_bytes
from tests.region.oracle import OracleBoard

pytestmark = pytest.mark.anyio
_ids = itertools.count()
NOW_MS = 1_800_000_000_000
BUCKET_ENTRIES = 32   # IX_BUCKET_ENTRIES in index.lua
HASH_SCRIPT = _lua("index") + "\nlocal out = {}\nfor i = 1, #ARGV do out[i] = ix_fast_hash(ARGV[i]) end\nreturn out"


def _sha1_hash(player: str) -> int:
    return int(hashlib.sha1(player.encode()).hexdigest()[:8], 16)


@given(st.lists(st.text(max_size=80), min_size=1, max_size=20))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
async def test_lua_and_python_hash_agree(anyio_backend: str, redis_single: Redis, players: list[str]) -> None:
    got = await redis_single.eval(HASH_SCRIPT, 0, *players)
    assert [int(h) for h in got] == [fast_hash(p) for p in players]
    assert all(0 <= fast_hash(p) < 2**31 for p in players)


def _families() -> dict[str, list[str]]:
    rng = random.Random(1)
    n = 1 << 17   # 32 per bucket at level 12
    short = [a + b + c for a, b, c in itertools.product("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                                        repeat=3)]
    return {
        "p<i>": [f"p{i}" for i in range(n)],
        "player-<i padded>": [f"player-{i:07d}" for i in range(n)],
        "uuid": [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(n)],
        "e-mail": [f"user{i}@example.com" for i in range(n)],
        "stride 1000": [f"u{i * 1000}" for i in range(n)],
        "3 characters": short[:n],
    }


def test_buckets_are_as_even_as_with_sha1() -> None:
    """Linear hashing takes the low bits. With 32 players a bucket on average, a uniform hash gives
    a standard deviation of about sqrt(32) = 5.7 and rarely a bucket above 60 (SHA-1 here: 5.3-6.1,
    at most 57). Ids that differ only in their last characters must not pile up in a few buckets (a
    single multiplication instead of two gave 14.2 and 65 for p<i> at level 8)."""
    for family, players in _families().items():
        hashes = [fast_hash(p) for p in players]
        sha = [_sha1_hash(p) for p in players]
        for level in (4, 8, 12):
            buckets = 1 << level
            loads, sha_loads = [0] * buckets, [0] * buckets
            for h, s in zip(hashes[: buckets * BUCKET_ENTRIES], sha[: buckets * BUCKET_ENTRIES], strict=True):
                loads[h % buckets] += 1
                sha_loads[s % buckets] += 1
            spread, sha_spread = statistics.pstdev(loads), statistics.pstdev(sha_loads)
            assert spread <= max(1.5 * sha_spread, 8.5), (family, level, spread, sha_spread)
            assert max(loads) <= max(max(sha_loads) + 8, 64), (family, level, max(loads), max(sha_loads))


async def _sha1_indexed_board(redis: Redis | RedisCluster, board: Board, rows: dict[str, tuple[int, int]]) -> str:
    """Writes a board as the release before the fast hash did: SHA-1 buckets, a state without `h`."""
    k = keys_of(board)
    buckets = max(1, -(-len(rows) // BUCKET_ENTRIES))
    level = buckets.bit_length() - 1
    split = buckets - (1 << level)
    prefix = f"{k.index}:old"
    grouped: dict[int, dict[str, str]] = {}
    for player, (_, ts) in rows.items():
        h = _sha1_hash(player)
        b = h % (1 << level)
        if b < split:
            b = h % (2 << level)
        grouped.setdefault(b, {})[player] = ts_key(ts)
    await redis.zadd(k.zset, {encode_member(ts, p): to_zscore(s, board.order) for p, (s, ts) in rows.items()})
    for b, fields in grouped.items():
        await redis.hset(f"{prefix}:{b}", mapping=fields)  # type: ignore[arg-type]
    await redis.hset(k.index, mapping={"l": level, "p": split, "n": len(rows), "k": prefix})
    return prefix


async def _state(redis: Redis | RedisCluster, board: Board) -> dict[str, str]:
    raw = await redis.hgetall(keys_of(board).index)
    return {as_bytes(k).decode(): as_bytes(v).decode() for k, v in raw.items()}


@pytest.mark.parametrize("order", list(SortOrder))
async def test_a_sha1_index_keeps_working_until_a_rebuild(anyio_backend: str, any_redis: Redis | RedisCluster,
                                                          order: SortOrder) -> None:
    store = RedisRankStore(any_redis)
    board = Board(f"sha{next(_ids)}", operator=Operator.BEST, order=order)
    oracle = OracleBoard(board)
    rng = random.Random(11)
    for i in range(900):
        oracle.apply(ScoreEntry(board.id, f"p{i}", rng.randrange(-50, 50), NOW_MS - rng.randrange(5), ""))
    await _sha1_indexed_board(any_redis, board, dict(oracle.entries))
    for _ in range(4):   # new players too: the SHA-1 index splits
        entries = [ScoreEntry(board.id, f"p{rng.randrange(1600)}", rng.randrange(-60, 60), NOW_MS - rng.randrange(5), "")
                   for _ in range(300)]
        outcomes = await store.apply(board, entries, NOW_MS)
        assert outcomes is not None
        assert [o.code.value for o in outcomes] == [oracle.apply(e) for e in entries]
    want = oracle.ranking()
    assert await store.range(board, 0, len(want) + 1) == want
    assert await store.players(board, [r.player for r in want[::37]]) == want[::37]
    row = want[len(want) // 2]
    assert await store.around(board, row.player, 1, 1) == want[row.rank - 2: row.rank + 1]
    state = await _state(any_redis, board)
    assert "h" not in state and int(state["n"]) == len(want)
    level, split = int(state["l"]), int(state["p"])
    for r in want[::29]:   # every player is where SHA-1 puts it
        h = _sha1_hash(r.player)
        b = h % (1 << level) if h % (1 << level) >= split else h % (2 << level)
        assert await any_redis.hget(f"{state['k']}:{b}", r.player) is not None
    assert await store.remove_player(board, want[0].player)
    del oracle.entries[want[0].player]

    # the migration: a rebuild from the board's own rows writes a fast-hash index
    rows = [(p, s, ts) for p, (s, ts) in oracle.entries.items()]
    assert await store.replace(board, rows) == len(rows)
    assert (await _state(any_redis, board))["h"] == "f"
    entries = [ScoreEntry(board.id, f"p{rng.randrange(1800)}", rng.randrange(-60, 60), NOW_MS - rng.randrange(5), "")
               for _ in range(300)]
    outcomes = await store.apply(board, entries, NOW_MS)
    assert outcomes is not None
    assert [o.code.value for o in outcomes] == [oracle.apply(e) for e in entries]
    want = oracle.ranking()
    assert await store.range(board, 0, len(want) + 1) == want
    assert await store.players(board, [r.player for r in want[::41]]) == want[::41]


async def test_new_and_cleared_boards_take_the_fast_hash(anyio_backend: str, any_redis: Redis | RedisCluster) -> None:
    store = RedisRankStore(any_redis)
    board = Board(f"fast{next(_ids)}")
    await store.apply(board, [ScoreEntry(board.id, "a", 1, 1, "")], NOW_MS)
    assert (await _state(any_redis, board))["h"] == "f"
    await store.clear(board)
    await store.apply(board, [ScoreEntry(board.id, "b", 2, 1, "")], NOW_MS)
    state = await _state(any_redis, board)
    assert state["h"] == "f" and state["n"] == "1"
    assert await any_redis.hget(f"{state['k']}:0", "b") is not None
