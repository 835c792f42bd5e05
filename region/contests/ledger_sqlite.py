"""Ledger on SQLite (the embedded default): one connection owned by a one-thread executor, so every
call runs off the event loop; one SQLite transaction per call, a savepoint per ledger transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path

from podium.region.contests.ledger import ESCROW_PREFIX, PostResult, Transaction, balance_changes, bulk_plan

from podium.sqlite_runner import SqliteBacked, SqliteRunner

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_txn (id TEXT PRIMARY KEY, kind TEXT NOT NULL, canonical TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_posting (txn_id TEXT NOT NULL, account TEXT NOT NULL, amount INTEGER NOT NULL,
  PRIMARY KEY (txn_id, account));
CREATE TABLE IF NOT EXISTS ledger_balance (account TEXT PRIMARY KEY, balance INTEGER NOT NULL);
"""


class _Overdrawn(Exception):
    pass


def _post_one(conn: sqlite3.Connection, txn: Transaction) -> PostResult:
    row = conn.execute("SELECT canonical FROM ledger_txn WHERE id = ?", (txn.id,)).fetchone()
    if row is not None:
        return PostResult.EXISTS if row[0] == txn.canonical() else PostResult.CONFLICT
    conn.execute("SAVEPOINT txn")
    try:
        conn.execute("INSERT INTO ledger_txn (id, kind, canonical) VALUES (?, ?, ?)", (txn.id, txn.kind, txn.canonical()))
        for account, amount in txn.postings:
            conn.execute("INSERT INTO ledger_posting (txn_id, account, amount) VALUES (?, ?, ?)", (txn.id, account, amount))
            conn.execute("INSERT INTO ledger_balance (account, balance) VALUES (?, ?) "
                         "ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance", (account, amount))
            if account.startswith(ESCROW_PREFIX):
                (balance,) = conn.execute("SELECT balance FROM ledger_balance WHERE account = ?", (account,)).fetchone()
                if balance < 0:
                    raise _Overdrawn(account)
    except _Overdrawn:
        conn.execute("ROLLBACK TO txn")
        conn.execute("RELEASE txn")
        return PostResult.OVERDRAWN
    conn.execute("RELEASE txn")
    return PostResult.POSTED


IDS_PER_SELECT = 500              # below SQLite's bound-parameter limit


def _post_bulk(conn: sqlite3.Connection, txns: Sequence[Transaction]) -> list[PostResult]:
    """Fees and refunds-free batches (nothing drawn from an escrow) in a handful of statements: one
    lookup of the ids, then every new row with executemany and one balance update per account."""
    existing: dict[str, str] = {}
    ids = list({t.id for t in txns})
    for start in range(0, len(ids), IDS_PER_SELECT):
        chunk = ids[start:start + IDS_PER_SELECT]
        existing.update(conn.execute(f"SELECT id, canonical FROM ledger_txn WHERE id IN ({','.join('?' * len(chunk))})",
                                     chunk).fetchall())
    plan = bulk_plan(txns, existing)
    if plan is None:
        return [_post_one(conn, t) for t in txns]
    results, new = plan
    conn.executemany("INSERT INTO ledger_txn (id, kind, canonical) VALUES (?, ?, ?)",
                     [(t.id, t.kind, t.canonical()) for t in new])
    conn.executemany("INSERT INTO ledger_posting (txn_id, account, amount) VALUES (?, ?, ?)",
                     [(t.id, account, amount) for t in new for account, amount in t.postings])
    conn.executemany("INSERT INTO ledger_balance (account, balance) VALUES (?, ?) "
                     "ON CONFLICT (account) DO UPDATE SET balance = balance + excluded.balance",
                     list(balance_changes(new).items()))
    return results


class SqliteLedger(SqliteBacked):
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._db = SqliteRunner(path, label="ledger (SQLite)", thread_name="podium-ledger", schema=_SCHEMA,
                                isolation_level=None)

    async def post(self, txns: Sequence[Transaction]) -> list[PostResult]:
        def run(conn: sqlite3.Connection) -> list[PostResult]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                results = _post_bulk(conn, txns)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return results

        return await self._run(run) if txns else []

    async def balance(self, account: str) -> int:
        def run(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT balance FROM ledger_balance WHERE account = ?", (account,)).fetchone()
            return int(row[0]) if row else 0

        return await self._run(run)

    async def balances(self, prefix: str) -> dict[str, int]:
        def run(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute("SELECT account, balance FROM ledger_balance WHERE substr(account, 1, ?) = ?",
                                (len(prefix), prefix)).fetchall()
            return {a: int(b) for a, b in rows}

        return await self._run(run)

    async def total(self) -> int:
        def run(conn: sqlite3.Connection) -> int:
            (total,) = conn.execute("SELECT COALESCE(SUM(amount), 0) FROM ledger_posting").fetchone()
            return int(total)

        return await self._run(run)

    async def transactions(self, prefix: str) -> list[Transaction]:
        def run(conn: sqlite3.Connection) -> list[Transaction]:
            rows = conn.execute(
                "SELECT t.id, t.kind, p.account, p.amount FROM ledger_txn t JOIN ledger_posting p ON p.txn_id = t.id "
                "WHERE substr(t.id, 1, ?) = ? ORDER BY t.id, p.account", (len(prefix), prefix)).fetchall()
            grouped: dict[str, tuple[str, list[tuple[str, int]]]] = {}
            for txn_id, kind, account, amount in rows:
                grouped.setdefault(txn_id, (kind, []))[1].append((account, int(amount)))
            return [Transaction(i, k, tuple(p)) for i, (k, p) in grouped.items()]

        return await self._run(run)
