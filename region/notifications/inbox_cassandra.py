"""Player inboxes in Cassandra: the production warm store, on the history store's cluster and
keyspace (history.cassandra_*), through cassandra-driver's `execute_async` bridged to asyncio.

Tables (one partition per player, bounded by `inbox_len_max`):
- notification_inbox (player, at_ms DESC, id DESC) → doc: the inbox, newest first;
- notification_unread (player, at_ms DESC, id DESC): the unread subset, so the unread count and
  unread-only pages read only those rows, and "mark all read" is one partition delete.
An append reads the player's keys (at most `inbox_len_max` of them) once: that finds the ids held
already (so a repeated write changes nothing and a read notification stays read) and what falls
past the bound; the new rows and the trimmed ones then go in one unlogged batch per player. Every
statement of a player's batch has the same partition key value, so the replica applies it as one
mutation: the inbox row and its unread row land together or not at all.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import orjson
from cassandra import ConsistencyLevel, DriverException
from cassandra.cluster import (
    EXEC_PROFILE_DEFAULT,
    Cluster,
    ExecutionProfile,
    NoHostAvailable,
    ResponseFuture,
    Session,
)
from cassandra.policies import DCAwareRoundRobinPolicy, TokenAwarePolicy
from cassandra.query import BatchStatement, BatchType, PreparedStatement, Statement, tuple_factory
from podium.region.notifications.inbox import (
    TIME_MAX_MS,
    InboxItem,
    InboxPage,
    InboxStore,
    decode_key_cursor,
    encode_key_cursor,
)

from podium.config import HistorySettings
from podium.errors import Unavailable
from podium.notify_rules import Notification

PLAYERS_IN_FLIGHT_MAX = 16     # players whose append runs at once (one read + one batch each)

_TABLES = [
    """CREATE TABLE IF NOT EXISTS {ks}.notification_inbox (player text, at_ms bigint, id text, doc blob,
       PRIMARY KEY (player, at_ms, id)) WITH CLUSTERING ORDER BY (at_ms DESC, id DESC)""",
    """CREATE TABLE IF NOT EXISTS {ks}.notification_unread (player text, at_ms bigint, id text,
       PRIMARY KEY (player, at_ms, id)) WITH CLUSTERING ORDER BY (at_ms DESC, id DESC)""",
]


def _queries(ks: str) -> dict[str, str]:
    return {
        "keys": f"SELECT at_ms, id FROM {ks}.notification_inbox WHERE player = ?",
        "put": f"INSERT INTO {ks}.notification_inbox (player, at_ms, id, doc) VALUES (?, ?, ?, ?)",
        "put_unread": f"INSERT INTO {ks}.notification_unread (player, at_ms, id) VALUES (?, ?, ?)",
        "del": f"DELETE FROM {ks}.notification_inbox WHERE player = ? AND at_ms = ? AND id = ?",
        "del_unread": f"DELETE FROM {ks}.notification_unread WHERE player = ? AND at_ms = ? AND id = ?",
        "del_unread_all": f"DELETE FROM {ks}.notification_unread WHERE player = ?",
        "page": f"SELECT at_ms, id, doc FROM {ks}.notification_inbox WHERE player = ? AND (at_ms, id) < (?, ?) "
                "LIMIT ?",
        "span": f"SELECT at_ms, id, doc FROM {ks}.notification_inbox WHERE player = ? AND (at_ms, id) < (?, ?) "
                "AND (at_ms, id) >= (?, ?)",
        "unread_page": f"SELECT at_ms, id FROM {ks}.notification_unread WHERE player = ? AND (at_ms, id) < (?, ?) "
                       "LIMIT ?",
        "unread_span": f"SELECT at_ms, id FROM {ks}.notification_unread WHERE player = ? "
                       "AND (at_ms, id) < (?, ?) AND (at_ms, id) >= (?, ?)",
        "unread_keys": f"SELECT at_ms, id FROM {ks}.notification_unread WHERE player = ?",
        "unread_count": f"SELECT count(*) FROM {ks}.notification_unread WHERE player = ?",
        "newest": f"SELECT at_ms, id FROM {ks}.notification_inbox WHERE player = ? LIMIT 1",
        "since": f"SELECT at_ms, id, doc FROM {ks}.notification_inbox WHERE player = ? AND (at_ms, id) > (?, ?) "
                 "ORDER BY at_ms ASC, id ASC LIMIT ?",
    }


class CassandraInbox:
    def __init__(self, settings: HistorySettings, inbox_len_max: int, *, replication: str | None = None) -> None:
        if not settings.cassandra_contact_points:
            raise ValueError("CassandraInbox needs history.cassandra_contact_points")
        self.settings = settings
        self.keyspace = settings.cassandra_keyspace
        self.inbox_len_max = inbox_len_max
        # SimpleStrategy for tests; production passes NetworkTopologyStrategy per data centre.
        self.replication = replication or "{'class': 'SimpleStrategy', 'replication_factor': 1}"
        self._cluster: Cluster | None = None
        self._session: Session | None = None
        self._prepared: dict[str, PreparedStatement] = {}

    async def _rows(self, query: Statement | str, params: Sequence[Any] | None = None) -> list[Any]:
        """Every row of a query (its pages fetched in turn): partitions here are bounded by the inbox length."""
        if self._session is None:
            raise Unavailable("notification inbox (cassandra) is not open")
        loop = asyncio.get_running_loop()
        rows: list[Any] = []
        state: bytes | None = None
        while True:
            done: asyncio.Future[tuple[list[Any], bytes | None]] = loop.create_future()
            future: ResponseFuture = self._session.execute_async(query, params, paging_state=state)

            def ok(_rows: Any, future: ResponseFuture = future,
                   done: asyncio.Future[tuple[list[Any], bytes | None]] = done) -> None:
                result = future.result()
                page = (list(result.current_rows), result.paging_state)
                loop.call_soon_threadsafe(lambda: None if done.done() else done.set_result(page))

            def fail(exc: BaseException, done: asyncio.Future[tuple[list[Any], bytes | None]] = done) -> None:
                loop.call_soon_threadsafe(lambda: None if done.done() else done.set_exception(exc))

            future.add_callbacks(ok, fail)
            try:
                page, state = await done
            except DriverException as exc:
                raise Unavailable(f"notification inbox (cassandra): {exc}", retryAfter=1.0) from exc
            rows += page
            if state is None:
                return rows

    def _bind(self, name: str, *params: Any) -> Statement:
        if name not in self._prepared:
            raise Unavailable("notification inbox (cassandra) is not open", retryAfter=1.0)
        return self._prepared[name].bind(params)

    async def open(self) -> None:
        level = ConsistencyLevel.name_to_value[self.settings.cassandra_consistency.upper()]
        profile = ExecutionProfile(consistency_level=level, row_factory=tuple_factory,
                                   load_balancing_policy=TokenAwarePolicy(DCAwareRoundRobinPolicy()))
        self._cluster = Cluster(self.settings.cassandra_contact_points, port=self.settings.cassandra_port,
                                protocol_version=self.settings.cassandra_protocol_version,
                                execution_profiles={EXEC_PROFILE_DEFAULT: profile})
        try:
            session = self._session = await asyncio.to_thread(self._cluster.connect)   # blocks on sockets
            if session is None:
                raise Unavailable("notification inbox (cassandra) unreachable: the driver opened no session")
            await self._rows(f"CREATE KEYSPACE IF NOT EXISTS {self.keyspace} WITH replication = {self.replication}")
            for ddl in _TABLES:
                await self._rows(ddl.format(ks=self.keyspace))
            names = _queries(self.keyspace)
            prepared = await asyncio.gather(*(asyncio.to_thread(session.prepare, cql) for cql in names.values()))
        except (DriverException, NoHostAvailable, Unavailable) as exc:   # NoHostAvailable: not a DriverException
            # a failed open leaves nothing half open: the region retries it (started degraded)
            await self.close()
            if isinstance(exc, Unavailable):
                raise
            raise Unavailable(f"notification inbox (cassandra) unreachable: {exc}", retryAfter=1.0) from exc
        self._prepared = dict(zip(names, prepared, strict=True))

    async def close(self) -> None:
        cluster, self._cluster, self._session, self._prepared = self._cluster, None, None, {}
        if cluster is not None:
            await asyncio.to_thread(cluster.shutdown)

    async def append(self, notes: Sequence[Notification]) -> None:
        by_player: dict[str, dict[str, Notification]] = defaultdict(dict)
        for note in notes:
            by_player[note.player].setdefault(note.id, note)
        gate = asyncio.Semaphore(PLAYERS_IN_FLIGHT_MAX)

        async def one(player: str, fresh: dict[str, Notification]) -> None:
            async with gate:
                await self._append_player(player, fresh)

        await asyncio.gather(*(one(p, fresh) for p, fresh in by_player.items()))

    async def _append_player(self, player: str, fresh: dict[str, Notification]) -> None:
        held = await self._rows(self._bind("keys", player))
        held_ids = {note_id for _, note_id in held}
        new = [n for note_id, n in fresh.items() if note_id not in held_ids]
        if not new:
            return
        keys = sorted([(t, i, True) for t, i in held] + [(n.at_ms, n.id, False) for n in new], reverse=True)
        dropped = {(t, i) for t, i, _ in keys[self.inbox_len_max:]}
        batch = BatchStatement(batch_type=BatchType.UNLOGGED)
        for n in new:
            if (n.at_ms, n.id) not in dropped:
                batch.add(self._bind("put", player, n.at_ms, n.id, orjson.dumps(n.to_dict())))
                batch.add(self._bind("put_unread", player, n.at_ms, n.id))
        for t, i, was_held in keys[self.inbox_len_max:]:
            if was_held:
                batch.add(self._bind("del", player, t, i))
                batch.add(self._bind("del_unread", player, t, i))
        if len(batch):
            await self._rows(batch)

    async def page(self, player: str, first: int, after: str | None, unread_only: bool) -> InboxPage:
        at_ms, note_id = decode_key_cursor(after) if after is not None else (TIME_MAX_MS, "")
        count = asyncio.ensure_future(self.unread(player))
        try:
            if unread_only:
                keys = await self._rows(self._bind("unread_page", player, at_ms, note_id, first + 1))
                span = keys[:first]
                docs = (await self._rows(self._bind("span", player, at_ms, note_id, span[-1][0], span[-1][1]))
                        if span else [])
                wanted = set(map(tuple, span))
                rows = [(t, i, doc, False) for t, i, doc in docs if (t, i) in wanted]
                has_next = len(keys) > first
            else:
                docs = await self._rows(self._bind("page", player, at_ms, note_id, first + 1))
                shown = docs[:first]
                unread_keys = (await self._rows(self._bind("unread_span", player, at_ms, note_id, shown[-1][0],
                                                           shown[-1][1])) if shown else [])
                unread = set(map(tuple, unread_keys))
                rows = [(t, i, doc, (t, i) not in unread) for t, i, doc in shown]
                has_next = len(docs) > first
            items = [InboxItem(Notification.from_dict(orjson.loads(doc)), encode_key_cursor(t, i), read)
                     for t, i, doc, read in rows]
            return InboxPage(items, has_next, await count)
        finally:
            if not count.done():
                count.cancel()

    async def unread(self, player: str) -> int:
        rows = await self._rows(self._bind("unread_count", player))
        return int(rows[0][0])

    async def mark_read(self, player: str, ids: Sequence[str] | None) -> int:
        if ids is None:
            await self._rows(self._bind("del_unread_all", player))
        elif ids:
            wanted = set(ids)
            keys = [(t, i) for t, i in await self._rows(self._bind("unread_keys", player)) if i in wanted]
            if keys:
                batch = BatchStatement(batch_type=BatchType.UNLOGGED)
                for t, i in keys:
                    batch.add(self._bind("del_unread", player, t, i))
                await self._rows(batch)
        return await self.unread(player)

    async def newest(self, player: str) -> str | None:
        rows = await self._rows(self._bind("newest", player))
        return encode_key_cursor(rows[0][0], rows[0][1]) if rows else None

    async def since(self, player: str, after: str | None, count_max: int) -> list[tuple[str, Notification]]:
        at_ms, note_id = decode_key_cursor(after) if after is not None else (-1, "")
        rows = await self._rows(self._bind("since", player, at_ms, note_id, count_max))
        return [(encode_key_cursor(t, i), Notification.from_dict(orjson.loads(doc))) for t, i, doc in rows]


_: type[InboxStore] = CassandraInbox
