"""One contract suite for every HistoryStore adapter."""

from __future__ import annotations

import random

import pytest
from podium.region.history.store import (
    HistoryStore,
    ScoreRow,
    Snapshot,
    SnapshotInfo,
    Standing,
    current_standing,
    history_key,
    iter_latest_entries,
    rank_standings,
)

from podium.model import Board, Operator, RankedEntry, SortOrder

pytestmark = pytest.mark.anyio


def _events(board: str, seed: int, players: int = 20, n: int = 200) -> list[ScoreRow]:
    rng = random.Random(seed)
    return [ScoreRow(board, f"p{rng.randrange(players)}", f"e{i}", rng.randrange(-50, 100),
                     1_700_000_000_000 + rng.randrange(10_000)) for i in range(n)]


async def _all(store: HistoryStore, board: Board) -> list[Standing]:
    """Every standing, in player order (stores iterate in their own order), each player once."""
    got = [s async for s in iter_latest_entries(store, board)]
    assert len({s.player for s in got}) == len(got)
    return sorted(got, key=lambda s: s.player)


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
        elif old is None:
            oracle[e.player] = Standing(e.player, e.score, e.achieved_at_ms)
        elif operator is Operator.LATEST:
            # apply.lua: a later time wins; at an equal time the larger score
            if (e.achieved_at_ms, e.score) > (old.achieved_at_ms, old.score):
                oracle[e.player] = Standing(e.player, e.score, e.achieved_at_ms)
        elif (e.score > old.score) if order is SortOrder.DESC else (e.score < old.score):
            oracle[e.player] = Standing(e.player, e.score, e.achieved_at_ms)
    got = await _all(history_store, board)
    assert got == sorted(oracle.values(), key=lambda s: s.player)


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


def test_current_standing_latest_tie_takes_larger_score() -> None:
    rows = [ScoreRow("b", "a", "z", 1, 100), ScoreRow("b", "a", "a", 9, 100), ScoreRow("b", "a", "m", 5, 50)]
    assert current_standing(Board("b", operator=Operator.LATEST), rows) == Standing("a", 9, 100)


def test_history_key_per_season() -> None:
    assert history_key("arena", 0) == "arena@0" and history_key("arena", 3) == "arena@3"


async def test_history_window_and_presence(anyio_backend: str, history_store: HistoryStore) -> None:
    rows = [ScoreRow("w@0", "alice", f"e{i}", i, 1000 + 10 * i) for i in range(10)]
    assert not await history_store.has_scores("w@0")
    await history_store.append_scores(rows)
    assert await history_store.has_scores("w@0") and not await history_store.has_scores("w@1")
    got = await history_store.score_history("w@0", "alice", 100, since_ms=1020, until_ms=1060)
    assert [r.event_id for r in got] == ["e5", "e4", "e3", "e2"]   # since inclusive, until exclusive
    assert [r.event_id for r in await history_store.score_history("w@0", "alice", 2, since_ms=1050)] == ["e9", "e8"]


async def test_iteration_crosses_read_chunks(anyio_backend: str, history_store: HistoryStore) -> None:
    players = [f"p{i:05d}" for i in range(1203)]
    rows = [ScoreRow("c@0", p, f"e{p}-{k}", k, 1000 + k) for p in players for k in range(2 if p.endswith("7") else 1)]
    await history_store.append_scores(rows)
    await history_store.append_scores([ScoreRow("c@1", "p00001", "other-season", 1, 1)])  # not this board's
    seen = [(p, r) async for p, r in history_store.iter_player_history("c@0")]
    assert sorted(p for p, _ in seen) == players                     # every player exactly once
    assert all(row.player == p and row.board == "c@0" for p, r in seen for row in r)
    assert sorted((r.player, r.event_id) for _, rs in seen for r in rs) == sorted((r.player, r.event_id) for r in rows)


async def test_player_longer_than_a_read_page_comes_once(anyio_backend: str, history_store: HistoryStore) -> None:
    # 250 rows of one player next to small ones: with 100-row pages (Cassandra fixture) this
    # player's rows span three pages and must still arrive as one group with every row.
    rows = [ScoreRow("long@0", "big", f"b{k}", k, 1000 + k) for k in range(250)]
    rows += [ScoreRow("long@0", f"s{i}", f"s{i}", i, 5000) for i in range(40)]
    await history_store.append_scores(rows)
    seen = [(p, r) async for p, r in history_store.iter_player_history("long@0")]
    assert sorted(p for p, _ in seen) == sorted({r.player for r in rows})
    assert sorted(r.event_id for p, rs in seen if p == "big" for r in rs) == sorted(f"b{k}" for k in range(250))


async def test_snapshot_index_and_pages(anyio_backend: str, history_store: HistoryStore) -> None:
    entries = tuple(RankedEntry(i, f"p{i}", 5000 - i, 7) for i in range(1, 2101))
    await history_store.write_snapshot(Snapshot("s", 1, 500, entries[:10]))
    await history_store.write_snapshot(Snapshot("s", 2, 900, entries))
    assert await history_store.snapshots("s", 10) == [SnapshotInfo(900, 2, 2100), SnapshotInfo(500, 1, 10)]
    assert await history_store.snapshot_page("s", 900, 995, 2005) == list(entries[994:2005])  # three rank buckets
    assert await history_store.snapshot_page("s", 900, 2090, 3000) == list(entries[2089:])
    assert await history_store.snapshot_page("s", 901, 1, 10) == []
    points = await history_store.rank_history("s", "p3", 10, since_ms=600)
    assert [(p.taken_at_ms, p.rank) for p in points] == [(900, 3)]
    assert [p.taken_at_ms for p in await history_store.rank_history("s", "p3", 10, until_ms=900)] == [500]


async def test_board_definitions(anyio_backend: str, history_store: HistoryStore) -> None:
    assert await history_store.boards() == []
    a = Board("a", operator=Operator.INCREMENT, score_max=10, season=2)
    await history_store.save_board(Board("b", order=SortOrder.ASC))
    await history_store.save_board(Board("a"))
    await history_store.save_board(a)   # replaced: the season moved on
    assert await history_store.boards() == [a, Board("b", order=SortOrder.ASC)]
    await history_store.drop_board("b")
    assert await history_store.boards() == [a]


@pytest.mark.parametrize("page", [1, 3, 7])
async def test_history_cursor_walk_under_mass_ties(anyio_backend: str, history_store: HistoryStore, page: int) -> None:
    """Many rows on one timestamp (and a few around it): walking by the last row's key, any page
    size, returns every row exactly once in the oracle's order, also within a [since, until) window."""
    rng = random.Random(page)
    rows = [ScoreRow("b", "alice", f"e{i:03d}{rng.choice('xyz')}", i, 5_000) for i in range(40)]
    rows += [ScoreRow("b", "alice", f"o{i}", i, rng.choice([4_000, 5_001, 6_000])) for i in range(10)]
    await history_store.append_scores(rows)
    for since, until in ((None, None), (4_500, 5_001)):
        want = sorted((r for r in rows if (since or 0) <= r.achieved_at_ms < (until or 2**62)),
                      key=lambda r: (r.achieved_at_ms, r.event_id), reverse=True)
        got = await history_store.score_history("b", "alice", page, since_ms=since, until_ms=until)
        while len(got) < len(want):
            last = got[-1]
            more = await history_store.score_history("b", "alice", page, since_ms=since, until_ms=until,
                                                     before=(last.achieved_at_ms, last.event_id))
            assert more, (len(got), len(want))
            got += more
        assert got == want
        last = want[-1]
        assert await history_store.score_history("b", "alice", page, since_ms=since, until_ms=until,
                                                 before=(last.achieved_at_ms, last.event_id)) == []
