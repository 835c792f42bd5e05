"""Cassandra warm store (production; Cassandra 4.0+ over protocol v4/v5), through cassandra-driver's
`execute_async` bridged to asyncio. Tested against a real Cassandra 5 node (`podium.devtools.cassandra_server`).

Tables and why they are shaped so (partition = what one query reads; each kept bounded):
- board_scores ((board, bucket), player, achieved_at_ms DESC, event_id): a board-season's history
  spread over HISTORY_BUCKETS partitions by a hash of the player, rows of one player together and
  newest first. "A player's history" is one slice of one partition; a rebuild reads the board's
  HISTORY_BUCKETS partitions whole, several at a time, players arriving grouped; and the rows of a
  write that share a bucket stay together in a batch, which the node applies as one mutation (a
  partition per row cost the node about twice the CPU per row: the writer's limit). Bounded by the
  season: ~40 B/row, so 100 MB per partition is ~160M scores per board-season (a season reset
  starts a new history key). It replaces score_history ((board, player), …) + board_players.
- board_snapshots ((board, taken_at_ms, rank_bucket), rank): one partition per 1000 ranks of one
  snapshot, so a top-N read touches one partition and a 1M snapshot is 1000 partitions of ~50 KB.
- snapshot_index (board, taken_at_ms DESC): the board's snapshot times (one small row each;
  "entries" is quoted: a reserved word since Cassandra 5).
- rank_history ((board, player), taken_at_ms DESC): a player's rank over time, one row per snapshot.
- board_definitions (scope, board): every board definition in one small partition (a region has
  tens to thousands of boards), read once at start-up to restore boards after a Redis loss.

Writes are idempotent upserts: the event id is in the key and `USING TIMESTAMP` is the achievement
(or snapshot) time in microseconds, so a replay writes the same cells with the same timestamps.
Every statement is prepared once; the rows of one write go in UNLOGGED batches (≤
`cassandra_batch_rows_max` rows) of whole partitions sharing one replica set (no coordinator
fan-out), `cassandra_writes_in_flight_max` at a time over all writes, their values encoded straight into the batch
(`cassandra_batches.py`: no statement object per row). Large reads page (`cassandra_page_rows`),
one page ahead of the caller.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from itertools import groupby
from operator import itemgetter
from typing import Any

from cassandra import ConsistencyLevel, DriverException
from cassandra.cluster import EXEC_PROFILE_DEFAULT, Cluster, ExecutionProfile, ResponseFuture, Session
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, PreparedStatement, Statement, tuple_factory
from podium.region.history.cassandra_batches import Row, UpsertEncoder, score_partitions, split_batches
from podium.region.history.cassandra_schema import (
    BOARDS_SCOPE,
    HISTORY_BUCKETS,
    TABLES,
    history_bucket,
    queries,
)
from podium.region.history.store import (
    RANK_BUCKET_SIZE,
    HistoryStore,
    PlayerHistory,
    RankPoint,
    ScoreRow,
    Snapshot,
    SnapshotInfo,
    player_pages,
)

from podium.config import HistorySettings
from podium.errors import Unavailable
from podium.model import Board, RankedEntry

TIME_MAX_MS = 2**62          # "no upper bound" for since/until filters
ENCODE_TURN_ROWS = 5000     # rows encoded between two turns of the event loop (~10 ms)
SCAN_PROFILE = "scan"        # plain tuples for rebuild scans (a named tuple per row costs)
_first = itemgetter(0)

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
        self._prepared: dict[str, PreparedStatement] = {}
        self._encoders: dict[str, UpsertEncoder] = {}
        self._gate = asyncio.Semaphore(settings.cassandra_writes_in_flight_max)

    # -- the asyncio bridge ----------------------------------------------------------------------

    async def _page(self, query: Statement | str, params: Sequence[Any] | None = None,
                    paging_state: bytes | None = None,
                    profile: object = EXEC_PROFILE_DEFAULT) -> tuple[list[Any], bytes | None]:
        """One page of a query's rows, and the state that fetches the next page (None: no more)."""
        if self._session is None:
            raise Unavailable("history store is not open")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[tuple[list[Any], bytes | None]] = loop.create_future()
        future: ResponseFuture = self._session.execute_async(query, params, paging_state=paging_state,
                                                                     execution_profile=profile)

        def ok(_rows: Any) -> None:
            result = future.result()   # already complete: a callback runs after the page arrived
            page = (list(result.current_rows), result.paging_state)
            loop.call_soon_threadsafe(lambda: None if done.done() else done.set_result(page))

        def fail(exc: BaseException) -> None:
            loop.call_soon_threadsafe(lambda: None if done.done() else done.set_exception(exc))

        future.add_callbacks(ok, fail)
        try:
            return await done
        except DriverException as exc:
            raise Unavailable(f"cassandra history store: {exc}") from exc

    async def _exec(self, query: Statement | str, params: Sequence[Any] | None = None) -> list[Any]:
        """All rows of a query that fits one page (every point read and write here)."""
        rows, _ = await self._page(query, params)
        return rows

    async def _pages(self, name: str, params: Sequence[Any],
                     profile: object = EXEC_PROFILE_DEFAULT) -> AsyncIterator[list[Any]]:
        """A paged read, one page ahead: page N+1 is on its way while the caller handles page N."""
        bound = self._prepared[name].bind(params)
        bound.fetch_size = self.settings.cassandra_page_rows
        ahead = asyncio.ensure_future(self._page(bound, profile=profile))
        try:
            while True:
                rows, state = await ahead
                if state is not None:
                    ahead = asyncio.ensure_future(self._page(bound, paging_state=state, profile=profile))
                yield rows
                if state is None:
                    return
        finally:   # the caller stopped early: the page read ahead is not wanted, nor its error
            if not ahead.done():
                ahead.cancel()
            elif not ahead.cancelled():
                ahead.exception()

    async def _write(self, name: str, params: Sequence[Sequence[Any]], partition: slice) -> None:
        """Upserts of `params` (the `partition` slice of each parameter tuple is the partition key)."""
        encoder = self._encoders[name]
        by_partition: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
        for row in params:
            by_partition[tuple(row[partition])].append(encoder.values(row))
        await self._send(encoder, by_partition.values())

    async def _send(self, encoder: UpsertEncoder, partitions: Iterable[list[Row]]) -> None:
        await self.send_batches(self._batches(encoder, partitions))

    def _batches(self, encoder: UpsertEncoder, partitions: Iterable[list[Row]],
                 row_bytes_max: int | None = None) -> list[BatchStatement]:
        """Encoded rows, grouped by partition, in UNLOGGED batches of ≤ `cassandra_batch_rows_max`
        rows and `cassandra_batch_bytes_max` bytes. Rows of one partition stay together (the node applies
        them as one mutation), and a batch holds only partitions that share their replicas, so the
        token-aware policy sends it to one of them and it never fans out from its coordinator.
        Replicas are looked up once per partition (not at all on a one-node cluster). Given
        `row_bytes_max` (no row has more bytes of values), batches are cut by count alone."""
        batch_max = self.settings.cassandra_batch_rows_max
        single_host = self._cluster is not None and len(self._cluster.metadata.all_hosts()) <= 1
        by_replicas: dict[tuple[str, ...], list[Row]] = defaultdict(list)
        keys: dict[tuple[str, ...], bytes | None] = {}
        for rows in partitions:
            key = encoder.routing_key(rows[0])
            replicas = () if single_host else self._replicas(key)
            keys.setdefault(replicas, key)
            by_replicas[replicas].extend(rows)
        bytes_max = self.settings.cassandra_batch_bytes_max
        return [encoder.batch(rows, keys[replicas]) for replicas, group in by_replicas.items()
                for rows in split_batches(group, batch_max, bytes_max, row_bytes_max)]

    async def send_batches(self, batches: Sequence[Statement]) -> None:
        """`batches`, at most `cassandra_writes_in_flight_max` of this store's in flight at once (over
        every write call: while one call's batches are out, the writer's next call waits its turn
        instead of adding to the node's queue)."""
        gate = self._gate

        async def one(statement: Statement) -> None:
            async with gate:
                await self._exec(statement)

        await asyncio.gather(*(one(b) for b in batches))

    def _replicas(self, routing_key: bytes | None) -> tuple[str, ...]:
        if self._cluster is None or routing_key is None:
            return ()
        hosts = self._cluster.metadata.get_replicas(self.keyspace, routing_key)
        return tuple(sorted(str(h.endpoint) for h in hosts))

    # -- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        level = ConsistencyLevel.name_to_value[self.settings.cassandra_consistency.upper()]
        policy = TokenAwarePolicy(DCAwareRoundRobinPolicy())   # each statement goes to a replica of its partition
        profile = ExecutionProfile(consistency_level=level, load_balancing_policy=policy)
        scan = ExecutionProfile(consistency_level=level, load_balancing_policy=policy, row_factory=tuple_factory)
        self._cluster = Cluster(self.settings.cassandra_contact_points, port=self.settings.cassandra_port,
                                protocol_version=self.settings.cassandra_protocol_version,
                                connect_timeout=self.settings.cassandra_connect_timeout_ms / 1000,
                                control_connection_timeout=self.settings.cassandra_connect_timeout_ms / 1000,
                                execution_profiles={EXEC_PROFILE_DEFAULT: profile, SCAN_PROFILE: scan})
        try:
            # connect() blocks on sockets: keep it off the event loop.
            session = self._session = await asyncio.to_thread(self._cluster.connect)
        except DriverException as exc:
            raise Unavailable(f"cassandra unreachable: {exc}") from exc
        if session is None:
            raise Unavailable("cassandra unreachable: the driver opened no session")
        await self._exec(f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = {self.replication}")
        for ddl in TABLES:
            await self._exec(ddl.replace("CREATE TABLE IF NOT EXISTS ", f"CREATE TABLE IF NOT EXISTS {self.keyspace}."))
        try:
            names = queries(self.keyspace)
            prepared = await asyncio.gather(*(asyncio.to_thread(session.prepare, cql) for cql in names.values()))
        except DriverException as exc:
            raise Unavailable(f"cassandra history store: {exc}") from exc
        self._prepared = dict(zip(names, prepared, strict=True))
        version = self._cluster.protocol_version
        self._encoders = {name: UpsertEncoder(p, version) for name, p in self._prepared.items() if name.endswith("_put")}

    async def close(self) -> None:
        cluster, self._cluster, self._session = self._cluster, None, None
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    # -- score history ---------------------------------------------------------------------------

    async def append_scores(self, rows: Sequence[ScoreRow]) -> None:
        await self.send_batches(await self.score_batches(rows))

    async def score_batches(self, rows: Sequence[ScoreRow]) -> list[BatchStatement]:
        """`append_scores`'s batches (apart so the history bench can time encoding and sending),
        encoded `ENCODE_TURN_ROWS` rows at a time: the event loop gets a turn between, so a
        writer's 50k-row page neither holds up requests nor the batches already in flight."""
        partitions: defaultdict[tuple[str, int], list[Row]] = defaultdict(list)
        longest = 0
        for start in range(0, len(rows), ENCODE_TURN_ROWS):
            part, row_bytes = score_partitions(rows[start : start + ENCODE_TURN_ROWS], HISTORY_BUCKETS)
            longest = max(longest, row_bytes)
            for key, values in part.items():
                partitions[key].extend(values)
            await asyncio.sleep(0)
        return self._batches(self._encoders["hist_put"], partitions.values(), longest)

    async def score_history(self, board: str, player: str, limit: int, *,
                            since_ms: int | None = None, until_ms: int | None = None,
                            before: tuple[int, str] | None = None) -> list[ScoreRow]:
        since, until = since_ms or 0, TIME_MAX_MS if until_ms is None else until_ms
        bucket = history_bucket(player)
        rows: list[ScoreRow] = []
        if before is not None:
            # The rest of the cursor's own time first (one clustering prefix, event ids below the
            # cursor's), then everything older: two single-column slices CQL accepts.
            key_ts, key_event = before
            if since <= key_ts < until:
                found = await self._exec(self._prepared["hist_tie"], (board, bucket, player, key_ts, key_event, limit))
                rows = [ScoreRow(board, player, r.event_id, r.score, r.achieved_at_ms) for r in found]
            until = min(until, key_ts)
        if len(rows) < limit and since < until:
            async for page in self._pages("hist_get", (board, bucket, player, since, until, limit - len(rows))):
                rows += [ScoreRow(board, player, r.event_id, r.score, r.achieved_at_ms) for r in page]
        return rows

    async def has_scores(self, board: str) -> bool:
        return bool(await self._exec(self._prepared["hist_any"], (board, list(range(HISTORY_BUCKETS)))))

    async def iter_player_history(self, board: str) -> AsyncIterator[tuple[str, list[ScoreRow]]]:
        async for player, rows in player_pages(board, self.iter_history_pages(board)):
            yield player, rows

    async def iter_history_pages(self, board: str) -> AsyncIterator[list[PlayerHistory]]:
        """Every player once, bucket by bucket (players of a bucket in id order): the board's
        HISTORY_BUCKETS partitions are read `cassandra_scans_in_flight_max` at a time, each paged,
        and handed over a page of complete players at a time, so memory holds a few pages per scan.
        Rows stay the driver's tuples, regrouped: no object per row."""
        queue: asyncio.Queue[list[PlayerHistory] | Exception | None] = asyncio.Queue(maxsize=64)
        gate = asyncio.Semaphore(self.settings.cassandra_scans_in_flight_max)

        async def scan(bucket: int) -> None:
            async with gate:
                last: PlayerHistory | None = None   # a player's rows may span pages
                async for page in self._pages("hist_scan", (board, bucket), profile=SCAN_PROFILE):
                    done: list[PlayerHistory] = []
                    for who, group in groupby(page, key=_first):   # rows arrive grouped by player
                        rows = [(at, event_id, score) for _, at, event_id, score in group]
                        if last is not None and last[0] == who:
                            last[1].extend(rows)
                            continue
                        if last is not None:
                            done.append(last)
                        last = (who, rows)
                    if done:
                        await queue.put(done)
                if last is not None:   # handed over once complete
                    await queue.put([last])

        async def run_all() -> None:
            try:
                await asyncio.gather(*(scan(bucket) for bucket in range(HISTORY_BUCKETS)))
            except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
                await queue.put(exc)
                return
            await queue.put(None)

        runner = asyncio.create_task(run_all())
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            runner.cancel()

    # -- snapshots and rank history --------------------------------------------------------------

    async def write_snapshot(self, snapshot: Snapshot) -> None:
        b, t = snapshot.board, snapshot.taken_at_ms
        ts = t * 1000
        await self._write("snap_put", [(b, t, (e.rank - 1) // RANK_BUCKET_SIZE, e.rank, e.player, e.score,
                                        e.achieved_at_ms, ts) for e in snapshot.entries], slice(0, 3))
        await self._write("rank_put", [(b, e.player, t, e.rank, e.score, ts) for e in snapshot.entries], slice(0, 2))
        # The index row last: a snapshot is listed only once all its rows are stored.
        await self._exec(self._prepared["index_put"], (b, t, snapshot.season, len(snapshot.entries), ts))

    async def snapshot_times(self, board: str, limit: int) -> list[int]:
        return [info.taken_at_ms for info in await self.snapshots(board, limit)]

    async def snapshots(self, board: str, limit: int, *, before_ms: int | None = None) -> list[SnapshotInfo]:
        params = (board, TIME_MAX_MS if before_ms is None else before_ms, limit)
        found = [r async for page in self._pages("index_get", params) for r in page]
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
        params = (board, player, since_ms or 0, TIME_MAX_MS if until_ms is None else until_ms, limit)
        found = [r async for page in self._pages("rank_get", params) for r in page]
        return [RankPoint(r.taken_at_ms, r.rank, r.score) for r in found]

    # -- board definitions -----------------------------------------------------------------------

    async def save_board(self, board: Board) -> None:
        doc = json.dumps(board.to_dict(), sort_keys=True)
        await self._exec(self._prepared["board_put"], (BOARDS_SCOPE, board.id, doc))

    async def drop_board(self, board_id: str) -> None:
        await self._exec(self._prepared["board_del"], (BOARDS_SCOPE, board_id))

    async def boards(self) -> list[Board]:
        found = [r async for page in self._pages("boards_get", (BOARDS_SCOPE,)) for r in page]
        return [Board.from_dict(json.loads(r.definition)) for r in found]


_: type[HistoryStore] = CassandraHistoryStore
