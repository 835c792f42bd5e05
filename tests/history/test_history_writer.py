"""The history writer over the real SQLite store: batches, bounded queue (drops counted and logged),
retries a failing store without losing rows, drains on close."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import ScoreRow
from podium.region.history.writer import HistoryWriter, WriterState

from podium.errors import Unavailable

pytestmark = pytest.mark.anyio


class GatedStore(SqliteHistoryStore):
    """The real store; writes wait for `gate` and the first `fail` of them raise."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail = 0
        self.calls: list[int] = []

    async def append_scores(self, rows: Sequence[ScoreRow]) -> None:
        self.calls.append(len(rows))
        await self.gate.wait()
        if self.fail:
            self.fail -= 1
            raise Unavailable("warm store down")
        await super().append_scores(rows)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[GatedStore]:
    s = GatedStore(tmp_path / "h.sqlite3")
    await s.open()
    yield s
    s.gate.set()
    await s.close()


def rows(n: int, start: int = 0) -> list[ScoreRow]:
    return [ScoreRow("b@0", f"p{i % 7}", f"e{i}", i, 1000 + i) for i in range(start, start + n)]


async def stored(store: GatedStore) -> int:
    return sum([len(await store.score_history("b@0", f"p{i}", 10_000)) for i in range(7)])


async def no_sleep(_s: float) -> None:
    await asyncio.sleep(0)


async def test_batches_and_idempotent_replays(anyio_backend: str, store: GatedStore) -> None:
    writer = HistoryWriter(store, queue_rows_max=1000, batch_rows_max=40, retry_ms_max=100)
    writer.start()
    assert writer.offer(rows(100)) == 100
    assert writer.offer(rows(50, start=20)) == 50      # a replay of rows 20..69
    assert await writer.flush(5)
    assert max(store.calls) <= 40 and writer.stats.written == 150 and writer.queued == 0
    assert await stored(store) == 100
    await writer.close(1)
    assert writer.state is WriterState.STOPPED


async def test_full_queue_drops_counted_and_logged(anyio_backend: str, store: GatedStore,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    drops: list[int] = []
    writer = HistoryWriter(store, queue_rows_max=10, batch_rows_max=4, retry_ms_max=100, on_drop=drops.append)
    writer.start()
    store.gate.clear()                       # the store hangs: rows pile up
    assert writer.offer(rows(8)) == 8
    await asyncio.sleep(0.01)
    with caplog.at_level(logging.ERROR, logger="podium.history"):
        assert writer.offer(rows(5, start=8)) == 2
    assert drops == [3] and writer.stats.dropped == 3
    assert "dropped 3 score rows" in caplog.text
    store.gate.set()
    assert await writer.flush(5)
    assert await stored(store) == 10
    await writer.close(1)


async def test_failing_store_keeps_rows(anyio_backend: str, store: GatedStore) -> None:
    store.fail = 3
    writer = HistoryWriter(store, queue_rows_max=100, batch_rows_max=100, retry_ms_max=10, sleep=no_sleep)
    writer.start()
    writer.offer(rows(30))
    assert await writer.flush(5)
    assert writer.stats.failures == 3 and "warm store down" in (writer.stats.last_error or "")
    assert await stored(store) == 30
    await writer.close(1)


async def test_close_drains_then_gives_up(anyio_backend: str, store: GatedStore) -> None:
    writer = HistoryWriter(store, queue_rows_max=100, batch_rows_max=10, retry_ms_max=100)
    writer.start()
    writer.offer(rows(25))
    await writer.close(5)                    # drained
    assert await stored(store) == 25 and writer.stats.dropped == 0
    stuck = HistoryWriter(store, queue_rows_max=100, batch_rows_max=10, retry_ms_max=100)
    stuck.start()
    store.gate.clear()
    stuck.offer(rows(5, start=100))
    await stuck.close(0.05)                  # the store never answers: counted as dropped, not hung
    assert stuck.state is WriterState.STOPPED and stuck.stats.dropped == 5 and stuck.queued == 0
