from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from podium.region.contests.ledger_postgres import PostgresLedger
from podium.region.contests.ledger_sqlite import SqliteLedger

from podium.devtools.postgres_server import PostgresServer


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgres"])
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """The same contract against every Ledger adapter (fresh tables each time)."""
    if request.param == "sqlite":
        store: Any = SqliteLedger(tmp_path / "ledger.db")
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        store = PostgresLedger(server.dsn)
        await store.open()
        async with store._need_pool().acquire() as conn:
            await conn.execute("DROP TABLE IF EXISTS ledger_txn, ledger_posting, ledger_balance")
        await store.close()
        store = PostgresLedger(server.dsn)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
