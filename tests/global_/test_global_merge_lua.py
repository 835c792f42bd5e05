"""The global merge script (podium/lua/global_merge.lua) against its Python model
(podium.global_.merge_reference, regional_state.py's rules) on a real redis-server: random
multi-region histories, replayed, reordered and split into batches, leave byte-equal states,
sorted sets, applied marks, version counters and conflict logs on both sides."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from anyio.from_thread import BlockingPortal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.global_.merge_reference import apply_reference
from podium.global_.merged_store import CONFLICT_COUNTS_KEY, GlobalStore
from podium.replication.changes import Change

from podium.model import ACHIEVED_AT_MAX_MS, Board, Operator, SortOrder
from podium.redis_client import stream_entries
from podium.redis_server import RedisServer

# byte order of the ids differs from their length order; two are non-ASCII (UTF-8 byte order is code
# point order, so the script's region sort equals Python's)
REGIONS = ["ap", "eu-west", "us", "é", "東京"]
EXAMPLES = itertools.count()
HUGE_SEQ = 2**57    # a real seq (ms << 16) is beyond a double's exact integers

scores = st.one_of(st.integers(-3, 3), st.integers(-(2**51), 2**51))      # ties, and large values
times = st.one_of(st.integers(0, 4), st.just(ACHIEVED_AT_MAX_MS))
seqs = st.builds(lambda base, n: base + n, st.sampled_from([0, HUGE_SEQ]), st.integers(0, 12))
change = st.tuples(st.sampled_from(REGIONS), st.integers(0, 6), scores, times, seqs, st.booleans(), st.integers(0, 9))


@pytest.fixture(scope="module")
def store_in_portal(portal: BlockingPortal, redis_server: RedisServer) -> Iterator[GlobalStore]:
    async def make() -> GlobalStore:
        return GlobalStore(aioredis.Redis.from_url(redis_server.url), merge_in_redis=True)
    store = portal.call(make)
    yield store
    portal.call(store.redis.aclose)


async def _snapshot(redis: aioredis.Redis, board: Board) -> dict[str, object]:
    p = f"pg:{{{board.id}}}:{board.season}:"
    conflicts = [fields for _, fields in stream_entries(await redis.xrange(p + "conflicts"))]
    return {"st": await redis.hgetall(p + "st"), "z": await redis.zrange(p + "z", 0, -1, withscores=True),
            "applied": await redis.hgetall(p + "applied"), "ver": await redis.get(p + "ver"),
            "conflicts": conflicts, "conflict_count": await redis.hget(CONFLICT_COUNTS_KEY, board.id)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(op=st.sampled_from(list(Operator)), desc=st.booleans(), rows=st.lists(change, min_size=1, max_size=60),
       seed=st.integers(0, 2**32))
def test_the_script_merges_exactly_as_the_python_model(
        portal: BlockingPortal, store_in_portal: GlobalStore, op: Operator, desc: bool,
        rows: list[tuple[str, int, int, int, int, bool, int]], seed: int) -> None:
    """Removals, equal seqs carrying different values (corrupted input), stale and replayed
    changes, a player changed several times in one batch, seqs of different lengths: every merged
    count, key and conflict is the same as the model's."""
    n = next(EXAMPLES)
    order = SortOrder.DESC if desc else SortOrder.ASC
    lua_board, model_board = Board(f"L{n}", operator=op, order=order), Board(f"M{n}", operator=op, order=order)
    rng = random.Random(seed)
    changes = [(region, f"p{p}", 0 if removed else score, ts, seq, removed)
               for region, p, score, ts, seq, removed, _ in rows]
    changes += rng.sample(changes, len(changes) // 3)   # replays
    rng.shuffle(changes)
    cuts = sorted(rng.sample(range(1, len(changes)), min(len(changes) - 1, rng.randint(0, 4))))
    batches = [changes[a:b] for a, b in itertools.pairwise([0, *cuts, len(changes)])]

    async def run() -> tuple[list[int], list[int], dict[str, object], dict[str, object]]:
        store = store_in_portal
        got, want = [], []
        for batch in batches:
            got.append(await store.apply(lua_board, [Change(r, lua_board.id, 0, pl, s, t, q, removed=x)
                                                     for r, pl, s, t, q, x in batch]))
            want.append(await apply_reference(store.redis, model_board,
                                              [Change(r, model_board.id, 0, pl, s, t, q, removed=x)
                                               for r, pl, s, t, q, x in batch]))
        return got, want, await _snapshot(store.redis, lua_board), await _snapshot(store.redis, model_board)

    got, want, lua, model = portal.call(run)
    assert got == want
    assert lua == model


@pytest.mark.anyio
async def test_the_script_ranks_a_burst_like_the_model(any_redis) -> None:  # type: ignore[no-untyped-def]
    """One 1,000-change batch per operator (single node and cluster): the merged top equals the model's."""
    store = GlobalStore(any_redis, merge_in_redis=True)
    rng = random.Random(21)
    for op in Operator:
        lua_board, model_board = Board(f"L-{op}", operator=op), Board(f"M-{op}", operator=op)
        rows = [(rng.choice(REGIONS), f"u{rng.randrange(300)}", rng.randrange(-50, 50), rng.randrange(10**12, 10**12 + 50),
                 (1_700_000_000_000 << 16) + i) for i in range(1000)]
        changed = await store.apply(lua_board, [Change(r, lua_board.id, 0, p, s, t, q) for r, p, s, t, q in rows])
        expected = await apply_reference(any_redis, model_board, [Change(r, model_board.id, 0, p, s, t, q)
                                                                   for r, p, s, t, q in rows])
        assert changed == expected > 0
        assert ([(e.player, e.score, e.achieved_at_ms) for e in await store.top(lua_board, 0, 400)]
                == [(e.player, e.score, e.achieved_at_ms) for e in await store.top(model_board, 0, 400)])
