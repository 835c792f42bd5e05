"""Ledger on PostgreSQL (asyncpg): one database transaction per call, a savepoint per ledger
transaction; balances updated with an upsert, so concurrent writers serialize per account row."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from podium.region.contests.ledger import ESCROW_PREFIX, PostResult, Transaction, balance_changes, bulk_plan

from podium.errors import Unavailable

_SCHEMA = """
CREATE TABLE IF NOT EXISTS ledger_txn (id TEXT PRIMARY KEY, kind TEXT NOT NULL, canonical TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_posting (txn_id TEXT NOT NULL, account TEXT NOT NULL, amount BIGINT NOT NULL,
  PRIMARY KEY (txn_id, account));
CREATE TABLE IF NOT EXISTS ledger_balance (account TEXT PRIMARY KEY, balance BIGINT NOT NULL);
"""
POOL_CONNECTIONS_MAX = 10


class _Overdrawn(Exception):
    pass


class PostgresLedger:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self._pool: asyncpg.Pool | None = None

    def _need_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise Unavailable("the ledger is not open")
        return self._pool

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=POOL_CONNECTIONS_MAX)
            async with self._pool.acquire() as conn:
                await conn.execute(_SCHEMA)
        except (OSError, asyncpg.PostgresError) as exc:
            raise Unavailable(f"ledger (PostgreSQL): {exc}") from exc

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    async def _post_one(self, conn: Any, txn: Transaction) -> PostResult:
        row = await conn.fetchrow("SELECT canonical FROM ledger_txn WHERE id = $1", txn.id)
        if row is not None:
            return PostResult.EXISTS if row[0] == txn.canonical() else PostResult.CONFLICT
        try:
            async with conn.transaction():          # a savepoint inside the call's transaction
                inserted = await conn.fetchval(
                    "INSERT INTO ledger_txn (id, kind, canonical) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
                    txn.id, txn.kind, txn.canonical())
                if inserted is None:                # a concurrent caller posted it first
                    return PostResult.EXISTS
                for account, amount in txn.postings:
                    await conn.execute("INSERT INTO ledger_posting (txn_id, account, amount) VALUES ($1, $2, $3)",
                                       txn.id, account, amount)
                    balance = await conn.fetchval(
                        "INSERT INTO ledger_balance (account, balance) VALUES ($1, $2) ON CONFLICT (account) "
                        "DO UPDATE SET balance = ledger_balance.balance + EXCLUDED.balance RETURNING balance",
                        account, amount)
                    if account.startswith(ESCROW_PREFIX) and balance < 0:
                        raise _Overdrawn(account)
        except _Overdrawn:
            return PostResult.OVERDRAWN
        return PostResult.POSTED

    async def _post_bulk(self, conn: Any, txns: Sequence[Transaction]) -> list[PostResult]:
        """When nothing in the call draws on an escrow (fees), four statements for the whole call: the
        ids already stored, then every new row through unnest and one balance update per account."""
        rows = await conn.fetch("SELECT id, canonical FROM ledger_txn WHERE id = ANY($1::text[])", [t.id for t in txns])
        plan = bulk_plan(txns, {r[0]: r[1] for r in rows})
        if plan is None:
            return [await self._post_one(conn, t) for t in txns]
        results, new = plan
        inserted = {r[0] for r in await conn.fetch(
            "INSERT INTO ledger_txn (id, kind, canonical) SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) "
            "ON CONFLICT DO NOTHING RETURNING id", [t.id for t in new], [t.kind for t in new], [t.canonical() for t in new])}
        if len(inserted) < len(new):            # a concurrent caller posted some first: those exist
            results = [PostResult.EXISTS if r is PostResult.POSTED and t.id not in inserted else r
                       for t, r in zip(txns, results, strict=True)]
            new = [t for t in new if t.id in inserted]
        postings = [(t.id, account, amount) for t in new for account, amount in t.postings]
        await conn.execute("INSERT INTO ledger_posting (txn_id, account, amount) "
                           "SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[])",
                           [p[0] for p in postings], [p[1] for p in postings], [p[2] for p in postings])
        changes = balance_changes(new)
        await conn.execute("INSERT INTO ledger_balance (account, balance) SELECT * FROM unnest($1::text[], $2::bigint[]) "
                           "ON CONFLICT (account) DO UPDATE SET balance = ledger_balance.balance + EXCLUDED.balance",
                           list(changes), list(changes.values()))
        return results

    async def post(self, txns: Sequence[Transaction]) -> list[PostResult]:
        if not txns:
            return []
        try:
            async with self._need_pool().acquire() as conn, conn.transaction():
                return await self._post_bulk(conn, txns)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise Unavailable(f"ledger (PostgreSQL): {exc}") from exc

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        try:
            async with self._need_pool().acquire() as conn:
                return list(await conn.fetch(query, *args))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise Unavailable(f"ledger (PostgreSQL): {exc}") from exc

    async def balance(self, account: str) -> int:
        rows = await self._fetch("SELECT balance FROM ledger_balance WHERE account = $1", account)
        return int(rows[0][0]) if rows else 0

    async def balances(self, prefix: str) -> dict[str, int]:
        rows = await self._fetch("SELECT account, balance FROM ledger_balance WHERE starts_with(account, $1)", prefix)
        return {r[0]: int(r[1]) for r in rows}

    async def total(self) -> int:
        rows = await self._fetch("SELECT COALESCE(SUM(amount), 0) FROM ledger_posting")
        return int(rows[0][0])

    async def transactions(self, prefix: str) -> list[Transaction]:
        rows = await self._fetch(
            "SELECT t.id, t.kind, p.account, p.amount FROM ledger_txn t JOIN ledger_posting p ON p.txn_id = t.id "
            "WHERE starts_with(t.id, $1) ORDER BY t.id, p.account", prefix)
        grouped: dict[str, tuple[str, list[tuple[str, int]]]] = {}
        for txn_id, kind, account, amount in rows:
            grouped.setdefault(txn_id, (kind, []))[1].append((account, int(amount)))
        return [Transaction(i, k, tuple(p)) for i, (k, p) in grouped.items()]
