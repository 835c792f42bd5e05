"""One SQLite connection owned by a one-thread executor: every call runs off the event loop and
SQLite never sees two threads. The embedded stores (the history warm store, the contest ledger)
share it; each SQLite error is translated here into a retryable `Unavailable` naming the store."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

from podium.errors import Unavailable

T = TypeVar("T")


class SqliteRunner:
    """`label` names the store in errors; `schema` runs at open; `isolation_level` as `sqlite3.connect`
    (None: autocommit, the caller writes BEGIN/COMMIT itself)."""

    def __init__(self, path: str | Path, *, label: str, thread_name: str, schema: str,
                 isolation_level: Literal["DEFERRED", "EXCLUSIVE", "IMMEDIATE"] | None = "DEFERRED") -> None:
        self.path = str(path)
        self.label = label
        self.thread_name = thread_name
        self.schema = schema
        self.isolation_level = isolation_level
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._executor is None or self._conn is None:
            raise Unavailable(f"{self.label} is not open")
        conn = self._conn
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn, conn)
        except sqlite3.Error as exc:
            raise Unavailable(f"{self.label}: {exc}") from exc

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.thread_name)

        def connect() -> sqlite3.Connection:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=self.isolation_level)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")   # WAL + NORMAL: durable across a process crash
            conn.executescript(self.schema)
            return conn

        try:
            self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except (sqlite3.Error, OSError) as exc:   # a corrupt file, an unwritable data dir
            self._executor.shutdown(wait=False)
            self._executor = None
            raise Unavailable(f"{self.label} at {self.path}: {exc}") from exc

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            assert self._executor is not None
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None


class SqliteBacked:
    """Base of a store kept in one SQLite file: `open`, `close` and `_run` on its runner `_db`."""

    _db: SqliteRunner

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return await self._db.run(fn)

    async def open(self) -> None:
        await self._db.open()

    async def close(self) -> None:
        await self._db.close()
