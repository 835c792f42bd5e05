"""One contract suite for every HistoryStore adapter."""

from __future__ import annotations

import random

import pytest

from podium.model import Board, Operator, RankedEntry, SortOrder
from podium.region.history_store import (
    HistoryStore, ScoreRow, Snapshot, Standing, current_standing, iter_latest_entries, rank_standings,
)

pytestmark = pytest.mark.anyio


def _events(board: str, seed: int, players: int = 20, n: int = 200) -> list[ScoreRow]:
    rng = random.Random(seed)
    return [ScoreRow(board, f"p{rng.randrange(players)}", f"e{i}", rng.randrange(-50, 100),
                     1_700_000_000_000 + rng.randrange(10_000)) for i in range(n)]


async def _all(store: HistoryStore, board: Board) -> list[Standing]:
    return [s async for s in iter_latest_entries(store, board)]


async def test_history_newest_first(anyio_backend: str, history_store: HistoryStore) -> None:
    rows = [ScoreRow("b", "alice", f"e{i}", i * 10, 1000 + i) for i in range(5)]
    await history_store.append_scores(rows)
    got = await history_store.score_history("b", "alice", 3)
    assert got == list(reversed(rows))[:3]
    assert await history_store.score_history("b", "bob", 3) == []


async def test_replay_is_idempotent(anyio_backend: str, history_store: HistoryStore) -> None:
    events = _events("b", 1)
    board = Board("b", operator=Operator.INCREMENT)
    await history_store.append_scores(events)
    first = await _all(history_store, board)
    # A crash mid-stream: the consumer replays from an older offset, in other batch boundaries.
    for start in range(0, len(events), 37):
        await history_store.append_scores(events[start : start + 37])
    await history_store.append_scores(events[50:120])
    assert await _all(history_store, board) == first
    stored = [len(await history_store.score_history("b", p, 10_000)) for p in {e.player for e in events}]
    assert sum(stored) == len(events)


@pytest.mark.parametrize("operator", list(Operator))
@pytest.mark.parametrize("order", list(SortOrder))
async def test_latest_entries_match_oracle(anyio_backend: str, history_store: HistoryStore,
                                           operator: Operator, order: SortOrder) -> None:
    board = Board("b", operator=operator, order=order)
    events = _events("b", 7)
    await history_store.append_scores(events)
    await history_store.append_scores(_events("other", 8))  # another board never leaks in
    oracle: dict[str, Standing] = {}
    for e in sorted(events, key=lambda e: (e.achieved_at_ms, e.event_id)):
        old = oracle.get(e.player)
        if operator in (Operator.INCREMENT, Operator.DECREMENT):
            sign = 1 if operator is Operator.INCREMENT else -1
            base = old.score if old else 0
            oracle[e.player] = Standing(e.player, base + sign * e.score, e.achieved_at_ms)
        elif operator is Operator.LATEST or old is None:
            oracle[e.player] = Standing(e.player, e.score, e.achieved_at_ms)
        elif (e.score > old.score) if order is SortOrder.DESC else (e.score < old.score):
            oracle[e.player] = Standing(e.player, e.score, e.achieved_at_ms)
    got = await _all(history_store, board)
    assert sorted(got, key=lambda s: s.player) == sorted(oracle.values(), key=lambda s: s.player)
    assert [s.player for s in got] == sorted(s.player for s in got)


async def test_snapshot_and_rank_history(anyio_backend: str, history_store: HistoryStore) -> None:
    standings = [Standing(f"p{i}", i % 7, 1000 + i) for i in range(2500)]
    entries = tuple(rank_standings(standings, SortOrder.DESC))
    assert entries[0] == RankedEntry(1, "p6", 6, 1006)
    for t in (10_000, 20_000):
        await history_store.write_snapshot(Snapshot("b", 2, t, entries))
    await history_store.write_snapshot(Snapshot("b", 2, 20_000, entries))  # replayed
    assert await history_store.snapshot_times("b", 10) == [20_000, 10_000]
    got = await history_store.read_snapshot("b", 20_000)
    assert got == Snapshot("b", 2, 20_000, entries)
    assert await history_store.read_snapshot("b", 30_000) is None
    points = await history_store.rank_history("b", "p6", 10)
    assert [(p.taken_at_ms, p.rank, p.score) for p in points] == [(20_000, 1, 6), (10_000, 1, 6)]


def test_current_standing_tie_keeps_first_achiever() -> None:
    rows = [ScoreRow("b", "a", "e2", 5, 200), ScoreRow("b", "a", "e1", 5, 100)]
    assert current_standing(Board("b"), rows) == Standing("a", 5, 100)
    assert current_standing(Board("b"), []) is None
