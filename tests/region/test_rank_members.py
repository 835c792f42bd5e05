"""Rank reads by known members (region/rank_members.py) are exact: writes from elsewhere (another
store, as another process would make them: applies of every operator, removals, bulk loads,
clears) interleaved with cached reads, every read checked against the oracle, on a single Redis
over the lean connection, over redis-py's pipeline, and on a 3-node cluster; the map is bounded."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.rank_members import MemberCache
from podium.region.rank_store_redis import RedisRankStore

from podium.keys import keys_of
from podium.model import Board, Operator, ScoreEntry, SortOrder
from podium.redis_client import connect
from tests.region.oracle import OracleBoard

_board_ids = itertools.count()
NOW_MS = 1_800_000_000_000
NAMES = ["a", "b", "c", "d", "é"]

players = st.sampled_from(NAMES)
entry = st.tuples(players, st.integers(-3, 3), st.integers(0, 9))
step = st.one_of(
    st.tuples(st.just("apply"), st.lists(entry, min_size=1, max_size=4)),
    st.tuples(st.just("load"), st.lists(entry, min_size=1, max_size=3)),
    st.tuples(st.just("remove"), players),
    st.tuples(st.just("clear"), st.just(None)),
    st.tuples(st.just("read"), st.lists(players, min_size=1, max_size=3)),
    st.tuples(st.just("read"), st.lists(players, min_size=1, max_size=1)),  # a read by member needs
    st.tuples(st.just("read"), st.lists(players, min_size=1, max_size=1)),  # every player's known
)


async def _expect(reader: RedisRankStore, board: Board, oracle: OracleBoard, names: list[str]) -> None:
    rows = {r.player: r for r in oracle.ranking()}
    assert await reader.players(board, names) == [rows.get(n) for n in names]


async def _run(
    writer: RedisRankStore,
    reader: RedisRankStore,
    op: Operator,
    order: SortOrder,
    steps: list[tuple[str, object]],
) -> None:
    board = Board(id=f"members-{next(_board_ids)}", operator=op, order=order)
    oracle = OracleBoard(board)
    for kind, arg in steps:
        if kind == "apply":
            entries = [ScoreEntry(board.id, p, s, NOW_MS - 10 + t, "") for p, s, t in arg]  # type: ignore[attr-defined]
            await writer.apply(board, entries, NOW_MS)
            for e in entries:
                oracle.apply(e)
        elif kind == "load":
            rows = {p: (s, NOW_MS - 10 + t) for p, s, t in arg}  # type: ignore[attr-defined]
            await writer.load(board, [(p, s, ts) for p, (s, ts) in rows.items()])
            oracle.entries.update(rows)
        elif kind == "remove":
            await writer.remove_player(board, str(arg))
            oracle.entries.pop(str(arg), None)
        elif kind == "clear":
            await writer.clear(board)
            oracle.entries.clear()
        else:
            await _expect(reader, board, oracle, list(arg))  # type: ignore[call-overload]
    await _expect(reader, board, oracle, NAMES)
    for name in NAMES:  # each known member now (the player on the board): read by member alone
        await _expect(reader, board, oracle, [name])


async def _connect(url: str, cluster: bool, lean_pending_max: int = 1024):  # type: ignore[no-untyped-def]
    return connect(url, cluster=cluster, lean_pending_max=lean_pending_max)


@pytest.fixture(scope="module")
def stores_single(portal, redis_server):  # type: ignore[no-untyped-def]
    redis = portal.call(_connect, redis_server.url, False)
    yield RedisRankStore(redis, members_max=0), RedisRankStore(redis)
    portal.call(redis.aclose)


@pytest.fixture(scope="module")
def stores_single_general(portal, redis_server):  # type: ignore[no-untyped-def]
    redis = portal.call(_connect, redis_server.url, False, 0)
    yield RedisRankStore(redis, members_max=0), RedisRankStore(redis)
    portal.call(redis.aclose)


@pytest.fixture(scope="module")
def stores_cluster(portal, redis_cluster_servers):  # type: ignore[no-untyped-def]
    redis = portal.call(_connect, redis_cluster_servers.url, True)
    yield RedisRankStore(redis, members_max=0), RedisRankStore(redis)
    portal.call(redis.aclose)


@pytest.mark.parametrize("topology", ["single", "single_general", "cluster"])
@pytest.mark.parametrize("order", list(SortOrder))
@pytest.mark.parametrize("op", [Operator.BEST, Operator.INCREMENT, Operator.LATEST])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=14))
def test_cached_reads_match_oracle(request, topology: str, order: SortOrder, op: Operator, steps) -> None:  # type: ignore[no-untyped-def]
    writer, reader = request.getfixturevalue(f"stores_{topology}")
    request.getfixturevalue("portal").call(_run, writer, reader, op, order, steps)


@pytest.mark.parametrize("topology", ["single", "single_general", "cluster"])
def test_known_members_are_read_then_found_moved(request, topology: str) -> None:  # type: ignore[no-untyped-def]
    """The fast path is taken (hits), and a member gone since (a new score, a removal) is noticed in
    the same reply and read again through the script (stale), never answered from."""
    writer, reader = request.getfixturevalue(f"stores_{topology}")

    async def run() -> None:
        board = Board(id=f"members-{next(_board_ids)}", operator=Operator.INCREMENT)
        oracle = OracleBoard(board)
        cache = reader._members
        hits, stale = cache.hits, cache.stale

        async def write(player: str, score: int, ts: int) -> None:
            e = ScoreEntry(board.id, player, score, NOW_MS - 10 + ts, "")
            await writer.apply(board, [e], NOW_MS)
            oracle.apply(e)

        await write("a", 5, 0)
        await write("b", 7, 0)
        await _expect(reader, board, oracle, ["a", "b"])  # script: members learnt
        await _expect(reader, board, oracle, ["a", "b"])  # by member
        assert (cache.hits, cache.stale) == (hits + 1, stale)
        await write("a", 4, 0)  # same member, new score: still exact
        await _expect(reader, board, oracle, ["a"])
        assert (cache.hits, cache.stale) == (hits + 2, stale)
        await write("a", 1, 3)  # a later time: a new member
        await _expect(reader, board, oracle, ["a", "b"])
        assert (cache.hits, cache.stale) == (hits + 2, stale + 1)
        await writer.remove_player(board, "b")
        oracle.entries.pop("b")
        await _expect(reader, board, oracle, ["b"])
        await _expect(reader, board, oracle, ["a", "b"])  # b not on the board: never known
        assert (cache.hits, cache.stale) == (hits + 2, stale + 2)
        assert cache.members(keys_of(board).zset, ["b"]) is None

    request.getfixturevalue("portal").call(run)


def test_member_map_is_bounded_least_recently_read_first() -> None:
    cache = MemberCache(3)
    for p in "abcd":
        cache.put("z", p, f"k{p}")
    assert len(cache) == 3 and cache.members("z", ["a"]) is None
    assert cache.members("z", ["b"]) == ["kb"]  # b read: c is now the oldest
    cache.put("z", "e", "ke")
    assert cache.members("z", ["c"]) is None
    assert cache.members("z", ["b", "d", "e"]) == ["kb", "kd", "ke"]
    assert cache.members("y", ["b"]) is None  # another board's set
    none = MemberCache(0)
    none.put("z", "a", "ka")
    assert len(none) == 0
    with pytest.raises(ValueError):
        MemberCache(-1)


def test_store_keeps_at_most_its_bound(portal, redis_server) -> None:  # type: ignore[no-untyped-def]
    async def run() -> None:
        redis = await _connect(redis_server.url, False)
        try:
            store = RedisRankStore(redis, members_max=2)
            board = Board(id=f"members-{next(_board_ids)}")
            await store.load(board, [(p, i, NOW_MS) for i, p in enumerate("abcde")])
            for p in "abcde":
                await store.players(board, [p])
            assert store._members is not None and len(store._members) == 2
            assert RedisRankStore(redis, members_max=0)._members is None
        finally:
            await redis.aclose()

    portal.call(run)
