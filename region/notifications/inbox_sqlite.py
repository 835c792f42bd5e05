"""Player inboxes in SQLite: the embedded warm store (the default when no Cassandra is configured).

One row per (player, at_ms, id), a unique index on (player, id) for idempotence and marking by
id, and a partial index over the unread rows so the unread count and unread-only pages read only
those. One write transaction per appended batch, which also trims each touched inbox to
`inbox_len_max`. Calls run on the runner's one thread, off the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
from podium.region.notifications.inbox import (
    TIME_MAX_MS,
    InboxItem,
    InboxPage,
    InboxStore,
    decode_key_cursor,
    encode_key_cursor,
)

from podium.notify_rules import Notification
from podium.sqlite_runner import SqliteBacked, SqliteRunner

_SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox (
  player TEXT NOT NULL, at_ms INTEGER NOT NULL, id TEXT NOT NULL, doc BLOB NOT NULL, unread INTEGER NOT NULL,
  PRIMARY KEY (player, at_ms, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS inbox_ids ON inbox (player, id);
CREATE INDEX IF NOT EXISTS inbox_unread ON inbox (player, at_ms, id) WHERE unread = 1;
"""
_OLDER = "(at_ms < ? OR (at_ms = ? AND id < ?))"
_NEWER = "(at_ms > ? OR (at_ms = ? AND id > ?))"


def _unread(c: sqlite3.Connection, player: str) -> int:
    return int(c.execute("SELECT count(*) FROM inbox WHERE player=? AND unread=1", (player,)).fetchone()[0])


class SqliteInbox(SqliteBacked):
    def __init__(self, path: str | Path, inbox_len_max: int) -> None:
        self.path = str(path)
        self.inbox_len_max = inbox_len_max
        self._db = SqliteRunner(path, label="sqlite notification inbox", thread_name="inbox-sqlite", schema=_SCHEMA)

    async def append(self, notes: Sequence[Notification]) -> None:
        rows = [(n.player, n.at_ms, n.id, orjson.dumps(n.to_dict())) for n in notes]
        players = sorted({n.player for n in notes})
        keep = self.inbox_len_max

        def write(c: sqlite3.Connection) -> None:
            with c:
                c.executemany("INSERT OR IGNORE INTO inbox VALUES (?,?,?,?,1)", rows)
                for player in players:
                    cut = c.execute("SELECT at_ms, id FROM inbox WHERE player=? ORDER BY at_ms DESC, id DESC "
                                    "LIMIT 1 OFFSET ?", (player, keep)).fetchone()
                    if cut is not None:      # the newest `keep` stay; the first row past them and older go
                        c.execute("DELETE FROM inbox WHERE player=? AND NOT " + _NEWER, (player, cut[0], cut[0], cut[1]))

        if rows:
            await self._run(write)

    async def page(self, player: str, first: int, after: str | None, unread_only: bool) -> InboxPage:
        at_ms, note_id = decode_key_cursor(after) if after is not None else (TIME_MAX_MS, "")
        only = " AND unread=1" if unread_only else ""
        sql = (f"SELECT at_ms, id, doc, unread FROM inbox WHERE player=?{only} AND {_OLDER} "
               "ORDER BY at_ms DESC, id DESC LIMIT ?")

        def read(c: sqlite3.Connection) -> tuple[list[Any], int]:
            return c.execute(sql, (player, at_ms, at_ms, note_id, first + 1)).fetchall(), _unread(c, player)

        rows, unread = await self._run(read)
        items = [InboxItem(Notification.from_dict(orjson.loads(doc)), encode_key_cursor(t, i), not flag)
                 for t, i, doc, flag in rows[:first]]
        return InboxPage(items, len(rows) > first, unread)

    async def unread(self, player: str) -> int:
        return await self._run(lambda c: _unread(c, player))

    async def mark_read(self, player: str, ids: Sequence[str] | None) -> int:
        wanted = None if ids is None else list(ids)

        def write(c: sqlite3.Connection) -> int:
            with c:
                if wanted is None:
                    c.execute("UPDATE inbox SET unread=0 WHERE player=? AND unread=1", (player,))
                elif wanted:
                    marks = ",".join("?" * len(wanted))
                    c.execute(f"UPDATE inbox SET unread=0 WHERE player=? AND id IN ({marks})", (player, *wanted))
            return _unread(c, player)

        return await self._run(write)

    async def newest(self, player: str) -> str | None:
        sql = "SELECT at_ms, id FROM inbox WHERE player=? ORDER BY at_ms DESC, id DESC LIMIT 1"
        row = await self._run(lambda c: c.execute(sql, (player,)).fetchone())
        return None if row is None else encode_key_cursor(row[0], row[1])

    async def since(self, player: str, after: str | None, count_max: int) -> list[tuple[str, Notification]]:
        at_ms, note_id = decode_key_cursor(after) if after is not None else (-1, "")
        sql = f"SELECT at_ms, id, doc FROM inbox WHERE player=? AND {_NEWER} ORDER BY at_ms, id LIMIT ?"
        rows = await self._run(lambda c: c.execute(sql, (player, at_ms, at_ms, note_id, count_max)).fetchall())
        return [(encode_key_cursor(t, i), Notification.from_dict(orjson.loads(doc))) for t, i, doc in rows]


_: InboxStore = SqliteInbox(":memory:", 1)
