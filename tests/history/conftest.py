"""History fixtures: the contract suite runs against SQLite and against Cassandra (the session's
node, `cassandra_settings` in tests/conftest.py, shared with the notification inbox tests)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path

import pytest
from podium.region.history.cassandra import CassandraHistoryStore
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import HistoryStore

from podium.config import HistorySettings

_keyspaces = count()


@pytest.fixture(params=["sqlite", "cassandra"])
async def history_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[HistoryStore]:
    store: HistoryStore
    if request.param == "sqlite":
        store = SqliteHistoryStore(tmp_path / "history.sqlite3")
    else:
        base: HistorySettings = request.getfixturevalue("cassandra_settings")
        # A fresh keyspace per test: no data leaks between tests.
        settings = base.model_copy(update={"cassandra_keyspace": f"podium_t{os.getpid()}_{next(_keyspaces)}"})
        store = CassandraHistoryStore(settings)
    await store.open()
    yield store
    await store.close()
