"""The warm copy of what admins declared: notification rules and webhook endpoints (with their
secrets), in SQLite next to the region's other warm files, so a Redis that loses its data does not
lose them. Redis stays the copy the engine and the delivery worker read; this one is written first
on every declaration and removal, and `restore` makes the two equal at start (see
docs/notifications.md, "Rules and webhooks survive a Redis loss").

    registrations(kind TEXT, key TEXT, doc BLOB, PRIMARY KEY (kind, key))
        kind "rule":    key "<board>/<rule id>", doc the rule (JSON, as in Redis `pn:rules`)
        kind "webhook": key the endpoint id,     doc the endpoint (JSON, as in Redis `pw:endpoints`)
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

from podium.sqlite_runner import SqliteBacked, SqliteRunner

Kind = Literal["rule", "webhook"]
_SCHEMA = """
CREATE TABLE IF NOT EXISTS registrations (
  kind TEXT NOT NULL, key TEXT NOT NULL, doc BLOB NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID;
"""


class SqliteRegistrations(SqliteBacked):
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = SqliteRunner(path, label="sqlite notification registrations", thread_name="registrations-sqlite",
                                schema=_SCHEMA)

    async def put(self, kind: Kind, key: str, doc: bytes) -> None:
        def write(c: sqlite3.Connection) -> None:
            with c:
                c.execute("INSERT OR REPLACE INTO registrations VALUES (?,?,?)", (kind, key, doc))

        await self._run(write)

    async def put_many(self, kind: Kind, docs: dict[str, bytes]) -> None:
        def write(c: sqlite3.Connection) -> None:
            with c:
                c.executemany("INSERT OR REPLACE INTO registrations VALUES (?,?,?)",
                              [(kind, k, d) for k, d in docs.items()])

        if docs:
            await self._run(write)

    async def delete(self, kind: Kind, key: str) -> bool:
        """Whether there was one."""
        def write(c: sqlite3.Connection) -> bool:
            with c:
                return c.execute("DELETE FROM registrations WHERE kind=? AND key=?", (kind, key)).rowcount > 0

        return await self._run(write)

    async def all(self, kind: Kind) -> dict[str, bytes]:
        rows = await self._run(lambda c: c.execute("SELECT key, doc FROM registrations WHERE kind=?", (kind,)).fetchall())
        return {key: bytes(doc) for key, doc in rows}
