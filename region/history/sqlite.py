"""SQLite warm store: the embedded default when no Cassandra contact points are configured.

One connection owned by a one-thread executor, so every call runs off the event loop and SQLite
never sees two threads. Primary keys mirror the Cassandra tables; `INSERT OR IGNORE` /
`INSERT OR REPLACE` give the same idempotence as Cassandra's upserts.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from itertools import groupby
from operator import itemgetter
from pathlib import Path

from podium.region.history.store import (
    HistoryStore,
    PlayerHistory,
    RankPoint,
    ScoreRow,
    Snapshot,
    SnapshotInfo,
    player_pages,
)

from podium.model import Board, RankedEntry
from podium.sqlite_runner import SqliteBacked, SqliteRunner

PLAYERS_PER_READ_MAX = 1000  # players fetched per round trip when iterating a board
TIME_MAX_MS = 2**62          # "no upper bound" for since/until filters
_first = itemgetter(0)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS score_history (
  board TEXT, player TEXT, achieved_at_ms INTEGER, event_id TEXT, score INTEGER,
  PRIMARY KEY (board, player, achieved_at_ms, event_id));
CREATE TABLE IF NOT EXISTS board_snapshots (
  board TEXT, taken_at_ms INTEGER, rank INTEGER, player TEXT, score INTEGER, achieved_at_ms INTEGER,
  PRIMARY KEY (board, taken_at_ms, rank));
CREATE TABLE IF NOT EXISTS snapshot_index (
  board TEXT, taken_at_ms INTEGER, season INTEGER, entries INTEGER, PRIMARY KEY (board, taken_at_ms));
CREATE TABLE IF NOT EXISTS rank_history (
  board TEXT, player TEXT, taken_at_ms INTEGER, rank INTEGER, score INTEGER,
  PRIMARY KEY (board, player, taken_at_ms));
CREATE TABLE IF NOT EXISTS board_definitions (board TEXT PRIMARY KEY, definition TEXT);
"""


class SqliteHistoryStore(SqliteBacked):
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = SqliteRunner(path, label="sqlite history store", thread_name="history-sqlite", schema=_SCHEMA)

    async def append_scores(self, rows: Sequence[ScoreRow]) -> None:
        params = [(r.board, r.player, r.achieved_at_ms, r.event_id, r.score) for r in rows]

        def write(c: sqlite3.Connection) -> None:
            with c:
                c.executemany("INSERT OR IGNORE INTO score_history VALUES (?,?,?,?,?)", params)

        await self._run(write)

    async def score_history(self, board: str, player: str, limit: int, *,
                            since_ms: int | None = None, until_ms: int | None = None,
                            before: tuple[int, str] | None = None) -> list[ScoreRow]:
        key_ts, key_event = before if before is not None else (TIME_MAX_MS, "")
        sql = ("SELECT achieved_at_ms, event_id, score FROM score_history WHERE board=? AND player=? "
               "AND achieved_at_ms >= ? AND achieved_at_ms < ? "
               "AND (achieved_at_ms < ? OR (achieved_at_ms = ? AND event_id < ?)) "
               "ORDER BY achieved_at_ms DESC, event_id DESC LIMIT ?")
        params = (board, player, since_ms or 0, TIME_MAX_MS if until_ms is None else until_ms,
                  key_ts, key_ts, key_event, limit)
        found = await self._run(lambda c: c.execute(sql, params).fetchall())
        return [ScoreRow(board, player, e, s, t) for t, e, s in found]

    async def has_scores(self, board: str) -> bool:
        sql = "SELECT 1 FROM score_history WHERE board=? LIMIT 1"
        return bool(await self._run(lambda c: c.execute(sql, (board,)).fetchall()))

    async def iter_player_history(self, board: str) -> AsyncIterator[tuple[str, list[ScoreRow]]]:
        async for player, rows in player_pages(board, self.iter_history_pages(board)):
            yield player, rows

    async def iter_history_pages(self, board: str) -> AsyncIterator[list[PlayerHistory]]:
        # Two queries per PLAYERS_PER_READ_MAX players (their ids, then all their rows), not one per
        # player: a 1M-player rebuild is ~2k round trips to the executor instead of 1M.
        after = ""
        while True:
            def read(c: sqlite3.Connection, after: str = after) -> list[tuple[str, int, str, int]]:
                last = c.execute("SELECT player FROM (SELECT DISTINCT player FROM score_history WHERE board=? "
                                 "AND player>? ORDER BY player LIMIT ?) ORDER BY player DESC LIMIT 1",
                                 (board, after, PLAYERS_PER_READ_MAX)).fetchone()
                if last is None:
                    return []
                return c.execute("SELECT player, achieved_at_ms, event_id, score FROM score_history "
                                 "WHERE board=? AND player>? AND player<=? "
                                 "ORDER BY player, achieved_at_ms DESC, event_id DESC",
                                 (board, after, last[0])).fetchall()

            found = await self._run(read)
            if not found:
                return
            page = [(who, [(at, event_id, score) for _, at, event_id, score in group])
                    for who, group in groupby(found, key=_first)]
            yield page
            after = page[-1][0]

    async def write_snapshot(self, snapshot: Snapshot) -> None:
        b, t = snapshot.board, snapshot.taken_at_ms
        ranks = [(b, t, e.rank, e.player, e.score, e.achieved_at_ms) for e in snapshot.entries]
        points = [(b, e.player, t, e.rank, e.score) for e in snapshot.entries]

        def write(c: sqlite3.Connection) -> None:
            with c:
                c.execute("DELETE FROM board_snapshots WHERE board=? AND taken_at_ms=?", (b, t))
                c.executemany("INSERT INTO board_snapshots VALUES (?,?,?,?,?,?)", ranks)
                c.executemany("INSERT OR REPLACE INTO rank_history VALUES (?,?,?,?,?)", points)
                c.execute("INSERT OR REPLACE INTO snapshot_index VALUES (?,?,?,?)",
                          (b, t, snapshot.season, len(ranks)))

        await self._run(write)

    async def snapshot_times(self, board: str, limit: int) -> list[int]:
        return [info.taken_at_ms for info in await self.snapshots(board, limit)]

    async def snapshots(self, board: str, limit: int, *, before_ms: int | None = None) -> list[SnapshotInfo]:
        sql = ("SELECT taken_at_ms, season, entries FROM snapshot_index WHERE board=? AND taken_at_ms < ? "
               "ORDER BY taken_at_ms DESC LIMIT ?")
        params = (board, TIME_MAX_MS if before_ms is None else before_ms, limit)
        return [SnapshotInfo(*r) for r in await self._run(lambda c: c.execute(sql, params).fetchall())]

    async def snapshot_page(self, board: str, taken_at_ms: int, from_rank: int, to_rank: int) -> list[RankedEntry]:
        sql = ("SELECT rank, player, score, achieved_at_ms FROM board_snapshots WHERE board=? AND taken_at_ms=? "
               "AND rank BETWEEN ? AND ? ORDER BY rank")
        params = (board, taken_at_ms, from_rank, to_rank)
        return [RankedEntry(*r) for r in await self._run(lambda c: c.execute(sql, params).fetchall())]

    async def read_snapshot(self, board: str, taken_at_ms: int) -> Snapshot | None:
        def read(c: sqlite3.Connection) -> Snapshot | None:
            head = c.execute("SELECT season FROM snapshot_index WHERE board=? AND taken_at_ms=?",
                             (board, taken_at_ms)).fetchone()
            if head is None:
                return None
            rows = c.execute("SELECT rank, player, score, achieved_at_ms FROM board_snapshots "
                             "WHERE board=? AND taken_at_ms=? ORDER BY rank", (board, taken_at_ms)).fetchall()
            return Snapshot(board, head[0], taken_at_ms, tuple(RankedEntry(*r) for r in rows))

        return await self._run(read)

    async def rank_history(self, board: str, player: str, limit: int, *,
                           since_ms: int | None = None, until_ms: int | None = None) -> list[RankPoint]:
        sql = ("SELECT taken_at_ms, rank, score FROM rank_history WHERE board=? AND player=? "
               "AND taken_at_ms >= ? AND taken_at_ms < ? ORDER BY taken_at_ms DESC LIMIT ?")
        params = (board, player, since_ms or 0, TIME_MAX_MS if until_ms is None else until_ms, limit)
        return [RankPoint(*r) for r in await self._run(lambda c: c.execute(sql, params).fetchall())]

    async def save_board(self, board: Board) -> None:
        doc = json.dumps(board.to_dict(), sort_keys=True)

        def write(c: sqlite3.Connection) -> None:
            with c:
                c.execute("INSERT OR REPLACE INTO board_definitions VALUES (?,?)", (board.id, doc))

        await self._run(write)

    async def drop_board(self, board_id: str) -> None:
        def write(c: sqlite3.Connection) -> None:
            with c:
                c.execute("DELETE FROM board_definitions WHERE board=?", (board_id,))

        await self._run(write)

    async def boards(self) -> list[Board]:
        sql = "SELECT definition FROM board_definitions ORDER BY board"
        return [Board.from_dict(json.loads(d)) for (d,) in await self._run(lambda c: c.execute(sql).fetchall())]


_: HistoryStore = SqliteHistoryStore(":memory:")
