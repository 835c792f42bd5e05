"""History fixtures: the contract suite runs against SQLite and against Cassandra."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from podium.region.history_sqlite import SqliteHistoryStore
from podium.region.history_store import HistoryStore


@pytest.fixture(params=["sqlite"])
async def history_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[HistoryStore]:
    store: HistoryStore = SqliteHistoryStore(tmp_path / "history.sqlite3")
    await store.open()
    yield store
    await store.close()
