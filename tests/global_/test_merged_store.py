"""The global merged store on real Redis (single node and cluster): merges per operator, keeps
every region's contribution, ranks the merged values, and logs `latest` conflicts."""

from __future__ import annotations

import pytest
from podium.global_.merged_store import GlobalStore
from podium.replication.changes import Change

from podium.model import Board, Operator


def ch(region: str, board: str, player: str, score: int, ts: int, seq: int) -> Change:
    return Change(region, board, 0, player, score, ts, seq)


@pytest.mark.anyio
async def test_counter_board_sums_regions_and_replays_change_nothing(any_redis) -> None:  # type: ignore[no-untyped-def]
    store, board = GlobalStore(any_redis, top_k=10), Board("kills", operator=Operator.INCREMENT)
    batch = [ch("us", "kills", "ann", 5, 10, 1), ch("eu", "kills", "ann", 7, 20, 1), ch("us", "kills", "bob", 9, 5, 2)]
    await store.apply(board, batch)
    await store.apply(board, list(reversed(batch)))          # a replay, in another order
    await store.apply(board, [ch("us", "kills", "ann", 3, 9, 0)])  # a stale, older regional state
    rows = await store.top(board, 0, 10)
    assert [(r.rank, r.player, r.score) for r in rows] == [(1, "ann", 12), (2, "bob", 9)]
    merged, rank = await store.entry(board, "ann")
    assert merged is not None and rank == 1
    assert merged.contributions == {"us": 5, "eu": 7} and merged.versions == {"us": 1, "eu": 1}


@pytest.mark.anyio
async def test_latest_conflicts_are_resolved_by_rule_and_logged(any_redis) -> None:  # type: ignore[no-untyped-def]
    store, board = GlobalStore(any_redis, top_k=10), Board("lvl", operator=Operator.LATEST)
    await store.apply(board, [ch("us", "lvl", "ann", 30, 1000, 1)])
    await store.apply(board, [ch("eu", "lvl", "ann", 10, 2000, 1)])   # concurrent, newer: wins
    await store.apply(board, [ch("ap", "lvl", "ann", 99, 1500, 1)])   # concurrent, older: loses
    merged, _ = await store.entry(board, "ann")
    assert merged is not None and (merged.score, merged.achieved_at_ms) == (10, 2000)
    log = await store.conflicts(board, 10)
    assert {(c["winner"], c["loser"]) for c in log} == {("eu", "us"), ("eu", "ap"), ("ap", "us")}
    assert (await store.conflict_counts())["lvl"] == 3


@pytest.mark.anyio
async def test_top_is_trimmed_but_every_state_is_kept(any_redis) -> None:  # type: ignore[no-untyped-def]
    store, board = GlobalStore(any_redis, top_k=2), Board("arena")
    await store.apply(board, [ch("us", "arena", f"p{i}", i, 1, i + 1) for i in range(10)])
    assert [r.player for r in await store.top(board, 0, 10)] == ["p9", "p8", "p7", "p6"]  # 2 * top_k kept
    assert await store.count(board) == 10
    assert await store.rank_of(board, "p0", 100, 1) == 1
    assert await store.rank_of(board, "p0", 0, 1) is None
