"""Cassandra warm store (production), through cassandra-driver's `execute_async` bridged to asyncio.

Tables and why they are shaped so (partition = what one query reads; each kept bounded):
- score_history ((board, player), achieved_at_ms DESC, event_id): one partition per player and
  board, newest first, so "a player's history" is one partition slice. Grows with one player's
  submissions only (~40 B/row: 100k submissions is ~4 MB, below the 100 MB partition guideline).
- board_players ((board, bucket), player): the players of a board, spread over PLAYER_BUCKETS
  partitions (1M players → ~16k rows per partition), for recovery to list a board's players.
- board_snapshots ((board, taken_at_ms, rank_bucket), rank): one partition per 1000 ranks of one
  snapshot, so a top-N read touches one partition and a 1M snapshot is 1000 partitions of ~50 KB.
- snapshot_index (board, taken_at_ms DESC): the board's snapshot times (one small row each).
- rank_history ((board, player), taken_at_ms DESC): a player's rank over time, one row per snapshot.
- board_definitions (scope, board): every board definition in one small partition (a region has
  tens to thousands of boards), read once at start-up to restore boards after a Redis loss.

Writes are idempotent upserts: the event id is in the key and `USING TIMESTAMP` is the achievement
(or snapshot) time in microseconds, so a replay writes the same cells with the same timestamps.
Only the CQL subset of Cassandra 1.2 through 5.x is used: no IF NOT EXISTS (AlreadyExists is
caught), no driver BatchStatement (concurrent single writes, bounded), no reliance on paging.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

from cassandra import AlreadyExists, ConsistencyLevel, DriverException
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, ResponseFuture, Session
from cassandra.policies import DCAwareRoundRobinPolicy
from podium.region.history.store import (
    PLAYER_BUCKETS,
    RANK_BUCKET_SIZE,
    HistoryStore,
    RankPoint,
    ScoreRow,
    Snapshot,
    SnapshotInfo,
    player_bucket,
)

from podium.config import HistorySettings
from podium.errors import Unavailable
from podium.model import Board, RankedEntry

WRITES_IN_FLIGHT_MAX = 128   # concurrent statements per append/snapshot call
ROWS_PER_READ_MAX = 50_000   # LIMIT of one read (the test server has no real paging)
READS_IN_FLIGHT_MAX = 64     # concurrent per-player reads while iterating a board (rebuilds)
TIME_MAX_MS = 2**62          # "no upper bound" for since/until filters
BOARDS_SCOPE = "boards"      # the one partition of board_definitions

_TABLES = [
    """CREATE TABLE score_history (board text, player text, achieved_at_ms bigint, event_id text,
       score bigint, PRIMARY KEY ((board, player), achieved_at_ms, event_id))
       WITH CLUSTERING ORDER BY (achieved_at_ms DESC, event_id DESC)""",
    """CREATE TABLE board_players (board text, bucket int, player text, PRIMARY KEY ((board, bucket), player))""",
    """CREATE TABLE board_snapshots (board text, taken_at_ms bigint, rank_bucket int, rank int, player text,
       score bigint, achieved_at_ms bigint, PRIMARY KEY ((board, taken_at_ms, rank_bucket), rank))""",
    """CREATE TABLE snapshot_index (board text, taken_at_ms bigint, season int, entries int,
       PRIMARY KEY (board, taken_at_ms)) WITH CLUSTERING ORDER BY (taken_at_ms DESC)""",
    """CREATE TABLE rank_history (board text, player text, taken_at_ms bigint, rank int, score bigint,
       PRIMARY KEY ((board, player), taken_at_ms)) WITH CLUSTERING ORDER BY (taken_at_ms DESC)""",
    """CREATE TABLE board_definitions (scope text, board text, definition text, PRIMARY KEY (scope, board))""",
]


class CassandraHistoryStore:
    def __init__(self, settings: HistorySettings, *, replication: str | None = None) -> None:
        if not settings.cassandra_contact_points:
            raise ValueError("CassandraHistoryStore needs history.cassandra_contact_points")
        self.settings = settings
        self.keyspace = settings.cassandra_keyspace
        # SimpleStrategy for tests; production passes NetworkTopologyStrategy per data centre.
        self.replication = replication or "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[str, str] = {}

    async def _exec(self, query: Any, params: Sequence[Any] | None = None) -> list[Any]:
        if self._session is None:
            raise Unavailable("history store is not open")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[list[Any]] = loop.create_future()

        def ok(rows: Any) -> None:
            loop.call_soon_threadsafe(lambda: None if done.done() else done.set_result(list(rows or [])))

        def fail(exc: BaseException) -> None:
            loop.call_soon_threadsafe(lambda: None if done.done() else done.set_exception(exc))

        future: ResponseFuture = self._session.execute_async(query, params)
        future.add_callbacks(ok, fail)
        try:
            return await done
        except DriverException as exc:
            raise Unavailable(f"cassandra history store: {exc}") from exc

    async def _many(self, name: str, params: Sequence[Sequence[Any]]) -> None:
        gate = asyncio.Semaphore(WRITES_IN_FLIGHT_MAX)
        stmt = self._prepared[name]

        async def one(p: Sequence[Any]) -> None:
            async with gate:
                await self._exec(stmt, p)

        await asyncio.gather(*(one(p) for p in params))

    async def open(self) -> None:
        level = ConsistencyLevel.name_to_value[self.settings.cassandra_consistency.upper()]
        profile = ExecutionProfile(consistency_level=level, load_balancing_policy=DCAwareRoundRobinPolicy())
        self._cluster = Cluster(self.settings.cassandra_contact_points, port=self.settings.cassandra_port,
                                protocol_version=self.settings.cassandra_protocol_version,
                                execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        try:
            # connect() blocks on sockets: keep it off the event loop.
            self._session = await asyncio.to_thread(self._cluster.connect)
        except DriverException as exc:
            raise Unavailable(f"cassandra unreachable: {exc}") from exc
        try:
            await self._exec(f"CREATE KEYSPACE {self.keyspace} WITH replication = {self.replication}")
        except Unavailable as exc:
            if not isinstance(exc.__cause__, AlreadyExists):
                raise
        for ddl in _TABLES:
            try:
                await self._exec(ddl.replace("CREATE TABLE ", f"CREATE TABLE {self.keyspace}."))
            except Unavailable as exc:
                if not isinstance(exc.__cause__, AlreadyExists):
                    raise
        ks = self.keyspace
        queries = {
            "hist_put": f"INSERT INTO {ks}.score_history (board, player, achieved_at_ms, event_id, score) "
                        "VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
            "player_put": f"INSERT INTO {ks}.board_players (board, bucket, player) VALUES (?, ?, ?)",
            "hist_get": f"SELECT achieved_at_ms, event_id, score FROM {ks}.score_history "
                        "WHERE board = ? AND player = ? AND achieved_at_ms >= ? AND achieved_at_ms < ? LIMIT ?",
            "hist_tie": f"SELECT achieved_at_ms, event_id, score FROM {ks}.score_history "
                        "WHERE board = ? AND player = ? AND achieved_at_ms = ? AND event_id < ? LIMIT ?",
            "players_any": f"SELECT player FROM {ks}.board_players WHERE board = ? AND bucket IN "
                           f"({', '.join(str(b) for b in range(PLAYER_BUCKETS))}) LIMIT 1",
            "players_get": f"SELECT player FROM {ks}.board_players WHERE board = ? AND bucket = ? "
                           "AND player > ? LIMIT ?",
            "snap_put": f"INSERT INTO {ks}.board_snapshots (board, taken_at_ms, rank_bucket, rank, player, score, "
                        "achieved_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?",
            "rank_put": f"INSERT INTO {ks}.rank_history (board, player, taken_at_ms, rank, score) "
                        "VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?",
            "index_put": f"INSERT INTO {ks}.snapshot_index (board, taken_at_ms, season, entries) "
                         "VALUES (?, ?, ?, ?) USING TIMESTAMP ?",
            "index_get": f"SELECT taken_at_ms, season, entries FROM {ks}.snapshot_index WHERE board = ? "
                         "AND taken_at_ms < ? LIMIT ?",
            "index_one": f"SELECT season, entries FROM {ks}.snapshot_index WHERE board = ? AND taken_at_ms = ?",
            "snap_get": f"SELECT rank, player, score, achieved_at_ms FROM {ks}.board_snapshots "
                        "WHERE board = ? AND taken_at_ms = ? AND rank_bucket = ?",
            "snap_range": f"SELECT rank, player, score, achieved_at_ms FROM {ks}.board_snapshots "
                          "WHERE board = ? AND taken_at_ms = ? AND rank_bucket = ? AND rank >= ? AND rank <= ?",
            "rank_get": f"SELECT taken_at_ms, rank, score FROM {ks}.rank_history WHERE board = ? AND player = ? "
                        "AND taken_at_ms >= ? AND taken_at_ms < ? LIMIT ?",
            "board_put": f"INSERT INTO {ks}.board_definitions (scope, board, definition) VALUES (?, ?, ?)",
            "board_del": f"DELETE FROM {ks}.board_definitions WHERE scope = ? AND board = ?",
            "boards_get": f"SELECT definition FROM {ks}.board_definitions WHERE scope = ?",
        }
        # Client-side `%s` binding rather than prepared statements: Cassandra 1.2 (the test server)
        # accepts no bind marker in USING TIMESTAMP or LIMIT. On 2.0+ these could be prepared.
        self._prepared = {name: cql.replace("?", "%s") for name, cql in queries.items()}

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    async def append_scores(self, rows: Sequence[ScoreRow]) -> None:
        await self._many("hist_put", [(r.board, r.player, r.achieved_at_ms, r.event_id, r.score,
                                       r.achieved_at_ms * 1000) for r in rows])
        players = {(r.board, r.player) for r in rows}
        await self._many("player_put", [(b, player_bucket(p), p) for b, p in sorted(players)])

    async def score_history(self, board: str, player: str, limit: int, *,
                            since_ms: int | None = None, until_ms: int | None = None,
                            before: tuple[int, str] | None = None) -> list[ScoreRow]:
        limit = min(limit, ROWS_PER_READ_MAX)
        since, until = since_ms or 0, TIME_MAX_MS if until_ms is None else until_ms
        rows: list[ScoreRow] = []
        if before is not None:
            # The rest of the cursor's own time first (one clustering prefix, event ids below the
            # cursor's), then everything older: two single-column slices CQL accepts.
            key_ts, key_event = before
            if since <= key_ts < until:
                found = await self._exec(self._prepared["hist_tie"], (board, player, key_ts, key_event, limit))
                rows = [ScoreRow(board, player, r.event_id, r.score, r.achieved_at_ms) for r in found]
            until = min(until, key_ts)
        if len(rows) < limit and since < until:
            found = await self._exec(self._prepared["hist_get"], (board, player, since, until, limit - len(rows)))
            rows += [ScoreRow(board, player, r.event_id, r.score, r.achieved_at_ms) for r in found]
        return rows

    async def has_scores(self, board: str) -> bool:
        return bool(await self._exec(self._prepared["players_any"], (board,)))

    async def iter_player_history(self, board: str) -> AsyncIterator[tuple[str, list[ScoreRow]]]:
        players: list[str] = []
        for bucket in range(PLAYER_BUCKETS):
            after = ""
            while True:
                got = [r.player for r in await self._exec(self._prepared["players_get"],
                                                          (board, bucket, after, ROWS_PER_READ_MAX))]
                players += got
                if len(got) < ROWS_PER_READ_MAX:
                    break
                after = got[-1]
        players.sort()
        # One partition read per player (the table is partitioned so), READS_IN_FLIGHT_MAX at a time.
        for start in range(0, len(players), READS_IN_FLIGHT_MAX):
            chunk = players[start : start + READS_IN_FLIGHT_MAX]
            found = await asyncio.gather(*(self.score_history(board, p, ROWS_PER_READ_MAX) for p in chunk))
            for player, rows in zip(chunk, found, strict=True):
                # A silently cut history would rebuild a wrong total: fail loudly instead (see ROWS_PER_READ_MAX).
                if len(rows) >= ROWS_PER_READ_MAX:
                    raise Unavailable(f"{board}/{player} has more than {ROWS_PER_READ_MAX} history rows to rebuild from")
                yield player, rows

    async def write_snapshot(self, snapshot: Snapshot) -> None:
        b, t = snapshot.board, snapshot.taken_at_ms
        ts = t * 1000
        await self._many("snap_put", [(b, t, (e.rank - 1) // RANK_BUCKET_SIZE, e.rank, e.player, e.score,
                                       e.achieved_at_ms, ts) for e in snapshot.entries])
        await self._many("rank_put", [(b, e.player, t, e.rank, e.score, ts) for e in snapshot.entries])
        # The index row last: a snapshot is listed only once all its rows are stored.
        await self._exec(self._prepared["index_put"], (b, t, snapshot.season, len(snapshot.entries), ts))

    async def snapshot_times(self, board: str, limit: int) -> list[int]:
        return [info.taken_at_ms for info in await self.snapshots(board, limit)]

    async def snapshots(self, board: str, limit: int, *, before_ms: int | None = None) -> list[SnapshotInfo]:
        found = await self._exec(self._prepared["index_get"], (board, TIME_MAX_MS if before_ms is None else before_ms,
                                                               min(limit, ROWS_PER_READ_MAX)))
        return [SnapshotInfo(r.taken_at_ms, r.season, r.entries) for r in found]

    async def snapshot_page(self, board: str, taken_at_ms: int, from_rank: int, to_rank: int) -> list[RankedEntry]:
        if from_rank > to_rank:
            return []
        first, last = (from_rank - 1) // RANK_BUCKET_SIZE, (to_rank - 1) // RANK_BUCKET_SIZE
        parts = await asyncio.gather(*(self._exec(self._prepared["snap_range"], (board, taken_at_ms, k, from_rank, to_rank))
                                       for k in range(first, last + 1)))
        return [RankedEntry(r.rank, r.player, r.score, r.achieved_at_ms) for part in parts for r in part]

    async def read_snapshot(self, board: str, taken_at_ms: int) -> Snapshot | None:
        head = await self._exec(self._prepared["index_one"], (board, taken_at_ms))
        if not head:
            return None
        buckets = -(-head[0].entries // RANK_BUCKET_SIZE)
        parts = await asyncio.gather(*(self._exec(self._prepared["snap_get"], (board, taken_at_ms, k))
                                       for k in range(buckets)))
        entries = tuple(RankedEntry(r.rank, r.player, r.score, r.achieved_at_ms) for part in parts for r in part)
        return Snapshot(board, head[0].season, taken_at_ms, entries[: head[0].entries])

    async def rank_history(self, board: str, player: str, limit: int, *,
                           since_ms: int | None = None, until_ms: int | None = None) -> list[RankPoint]:
        params = (board, player, since_ms or 0, TIME_MAX_MS if until_ms is None else until_ms,
                  min(limit, ROWS_PER_READ_MAX))
        return [RankPoint(r.taken_at_ms, r.rank, r.score) for r in await self._exec(self._prepared["rank_get"], params)]

    async def save_board(self, board: Board) -> None:
        doc = json.dumps(board.to_dict(), sort_keys=True)
        await self._exec(self._prepared["board_put"], (BOARDS_SCOPE, board.id, doc))

    async def drop_board(self, board_id: str) -> None:
        await self._exec(self._prepared["board_del"], (BOARDS_SCOPE, board_id))

    async def boards(self) -> list[Board]:
        found = await self._exec(self._prepared["boards_get"], (BOARDS_SCOPE,))
        return [Board.from_dict(json.loads(r.definition)) for r in found]


_: type[HistoryStore] = CassandraHistoryStore
