"""History fixtures: the contract suite runs against SQLite and against Cassandra (a real Cassandra 5
node started once per session, or the cluster named by CASSANDRA_CONTACT_POINTS)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from itertools import count
from pathlib import Path

import pytest
from podium.region.history.cassandra import CassandraHistoryStore
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import HistoryStore

from podium.config import HistorySettings
from podium.devtools.cassandra_server import CassandraServer

EXTERNAL_CASSANDRA = os.environ.get("CASSANDRA_CONTACT_POINTS")
_keyspaces = count()


def pytest_configure(config: pytest.Config) -> None:
    # cassandra-driver's asyncore/libev reactor import path warns on Python 3.11+ (asyncore deprecated).
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:cassandra.*")


@pytest.fixture(scope="session")
def cassandra_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HistorySettings]:
    if EXTERNAL_CASSANDRA:
        yield HistorySettings(cassandra_contact_points=EXTERNAL_CASSANDRA.split(","),
                              cassandra_port=int(os.environ.get("CASSANDRA_PORT", "9042")),
                              cassandra_protocol_version=int(os.environ.get("CASSANDRA_PROTOCOL_VERSION", "4")),
                              cassandra_consistency=os.environ.get("CASSANDRA_CONSISTENCY", "LOCAL_QUORUM"))
        return
    with CassandraServer(tmp_path_factory.mktemp("cassandra")) as server:
        # Small pages, batches and scan ranges, so the contract tests cross every boundary.
        yield HistorySettings(cassandra_contact_points=["127.0.0.1"], cassandra_port=server.port,
                              cassandra_protocol_version=5, cassandra_consistency="LOCAL_QUORUM",
                              cassandra_page_rows=100, cassandra_batch_rows_max=7, cassandra_scans_in_flight_max=3)


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
