"""The history backlog's packed records (apply.lua stores the caller's rows of every entry and the
indexes of those it did not accept): what the writer and a rebuild read back is exactly the
accepted entries of each apply, in order, whatever mix of duplicates, bans, overflows and
quarantines a batch holds; records of the older shape ("r": the accepted rows, hex times) still
read the same."""

from __future__ import annotations

import itertools

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.history.backlog_redis import RedisHistoryBacklog
from podium.region.history.store import history_key
from podium.region.rank_store import ApplyCode
from podium.region.rank_store_redis import RedisRankStore

from podium.keys import keys_of
from podium.model import SCORE_ABS_MAX, Board, Operator, ScoreEntry
from podium.redis_client import connect

NOW_MS = 1_800_000_000_000
_ids = itertools.count()
ACCEPTED = {ApplyCode.APPLIED, ApplyCode.UNCHANGED}

players = st.sampled_from(["a", "b", "zz", 'q"uote', "back\\slash", "é", "banned"])
scores = st.one_of(st.integers(-5, 5), st.sampled_from([SCORE_ABS_MAX, -SCORE_ABS_MAX, 40]))
events = st.one_of(st.just(""), st.sampled_from([f"e{i}" for i in range(12)]))
entry = st.tuples(players, scores, st.integers(0, 2**40), events)
batches = st.lists(st.lists(entry, min_size=1, max_size=10), min_size=1, max_size=4)


async def _check(url: str, op: Operator, max_delta: int | None, history: list) -> None:  # type: ignore[type-arg]
    redis = connect(url)
    try:
        board = Board(id=f"packed-{next(_ids)}", operator=op, max_delta_per_minute=max_delta)
        store = RedisRankStore(redis, history_backlog_max=1000)
        await store.ban(board, "banned")
        want = []
        for batch in history:
            entries = [ScoreEntry(board.id, p, s, t, ev) for p, s, t, ev in batch]
            outcomes = await store.apply(board, entries, NOW_MS)
            assert outcomes is not None
            want += [
                (p, ev, s, t) for (p, s, t, ev), o in zip(batch, outcomes, strict=True) if o.code in ACCEPTED
            ]
        key = history_key(board.id, board.season)
        backlog = RedisHistoryBacklog(redis, "w", 60_000)
        got = [(r.player, r.event_id, r.score, r.achieved_at_ms) for r in await backlog.rows(board, key)]
        assert got == want
        read = [
            (r.board, r.player, r.event_id, r.score, r.achieved_at_ms)
            for e in await backlog.read(board, 1000)
            for r in e.rows
        ]
        assert read == [(key, *w) for w in want]
    finally:
        await redis.aclose()


@pytest.mark.parametrize(
    ("op", "max_delta"),
    [(Operator.BEST, None), (Operator.INCREMENT, None), (Operator.INCREMENT, 6), (Operator.LATEST, None)],
)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=batches)
def test_backlog_holds_exactly_the_accepted_entries(
    portal,
    redis_server,
    op: Operator,
    max_delta: int | None,  # type: ignore[no-untyped-def]
    history,
) -> None:
    portal.call(_check, redis_server.url, op, max_delta, history)


@pytest.mark.anyio
async def test_older_records_still_read(redis_single) -> None:  # type: ignore[no-untyped-def]
    board = Board(id="older")
    stream = keys_of(board).history
    rows = [["ann", "e1", "12", f"{NOW_MS:012x}"], ["bob", "", "-3", f"{NOW_MS + 1:012x}"]]
    await redis_single.xadd(stream, {"k": "older@0", "r": orjson.dumps(rows)})
    await redis_single.xadd(
        stream,
        {
            "k": "older@0",
            "a": orjson.dumps(
                [["cid", 7, f"{NOW_MS + 2:012x}", "e2"], ["dan", 8, f"{NOW_MS + 3:012x}", "e3"]]
            ),
            "x": "0",
        },
    )
    want = [("ann", "e1", 12, NOW_MS), ("bob", "", -3, NOW_MS + 1), ("dan", "e3", 8, NOW_MS + 3)]
    backlog = RedisHistoryBacklog(redis_single, "w", 60_000)
    assert [
        (r.player, r.event_id, r.score, r.achieved_at_ms) for r in await backlog.rows(board, "older@0")
    ] == want
    read = [
        (r.player, r.event_id, r.score, r.achieved_at_ms)
        for e in await backlog.read(board, 10)
        for r in e.rows
    ]
    assert read == want
