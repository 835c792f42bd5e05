"""Every RankStore read equals an exact oracle over hypothesis-generated histories, on a single
Redis (reads over the client's lean connection, podium/redis_lean.py, and without it) and on a
3-node Redis Cluster: ties, all operators, both orders, page edges, around-me at both ends,
cursors, duplicates and overflow."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.rank_store import ApplyCode
from podium.region.rank_store_redis import RedisRankStore

from podium.model import SCORE_ABS_MAX, Board, Operator, RankCursor, ScoreEntry, SortOrder
from podium.redis_client import connect
from tests.region.oracle import OracleBoard

_board_ids = itertools.count()
NOW_MS = 1_800_000_000_000

players = st.sampled_from(["a", "b", "aa", "B", "p-1", "z:9", "0", "zz", "m@x", "A.b"])
scores = st.one_of(st.integers(-5, 5), st.sampled_from([SCORE_ABS_MAX, -SCORE_ABS_MAX, SCORE_ABS_MAX - 1, 0]))
times = st.integers(0, 4)
events = st.one_of(st.just(""), st.sampled_from([f"e{i}" for i in range(30)]))
entry = st.tuples(players, scores, times, events)
histories = st.lists(st.lists(entry, min_size=1, max_size=12), min_size=1, max_size=6)


async def _check(store: RedisRankStore, op: Operator, order: SortOrder, history: list) -> None:  # type: ignore[type-arg]
    board = Board(id=f"oracle-{next(_board_ids)}", operator=op, order=order)
    oracle = OracleBoard(board)
    for batch in history:
        entries = [ScoreEntry(board.id, p, s, NOW_MS - 10_000 + t, ev) for p, s, t, ev in batch]
        outcomes = await store.apply(board, entries, NOW_MS)
        assert outcomes is not None
        for e, got in zip(entries, outcomes, strict=True):
            assert got.code.value == oracle.apply(e), (e, got)
            if got.code is ApplyCode.APPLIED:
                assert got.score == oracle.entries[e.player][0]
    want = oracle.ranking()
    n = len(want)
    assert await store.count(board) == n
    assert await store.range(board, 0, n + 3) == want
    for start in range(n + 1):
        for size in (1, 2, 3):
            assert await store.range(board, start, size) == want[start : start + size]
    names = [r.player for r in want] + ["nobody"]
    got_players = await store.players(board, names)
    assert got_players == [*want, None]
    for row in want:
        for above, below in ((0, 0), (1, 1), (2, 3), (n, n)):
            lo = max(0, row.rank - 1 - above)
            assert await store.around(board, row.player, above, below) == want[lo : row.rank + below]
        cursor = RankCursor(row.score, row.achieved_at_ms, row.player)
        assert await store.after(board, cursor, 3) == want[row.rank : row.rank + 3]
    assert await store.around(board, "nobody", 2, 2) == []


@pytest.fixture(scope="module")
def store_single(portal, redis_server):  # type: ignore[no-untyped-def]
    redis = portal.call(_connect, redis_server.url, False)
    yield RedisRankStore(redis)
    portal.call(redis.aclose)


@pytest.fixture(scope="module")
def store_single_general(portal, redis_server):  # type: ignore[no-untyped-def]
    redis = portal.call(_connect, redis_server.url, False, 0)
    yield RedisRankStore(redis)
    portal.call(redis.aclose)


@pytest.fixture(scope="module")
def store_cluster(portal, redis_cluster_servers):  # type: ignore[no-untyped-def]
    redis = portal.call(_connect, redis_cluster_servers.url, True)
    yield RedisRankStore(redis)
    portal.call(redis.aclose)


async def _connect(url: str, cluster: bool, lean_pending_max: int = 1024):  # type: ignore[no-untyped-def]
    return connect(url, cluster=cluster, lean_pending_max=lean_pending_max)


@pytest.mark.parametrize("topology", ["single", "single_general", "cluster"])
@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("op", list(Operator))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories)
def test_reads_match_oracle(request, topology: str, order: SortOrder, op: Operator, history) -> None:  # type: ignore[no-untyped-def]
    store = request.getfixturevalue(f"store_{topology}")
    portal = request.getfixturevalue("portal")
    portal.call(_check, store, op, order, history)
