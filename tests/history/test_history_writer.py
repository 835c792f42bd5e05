"""The history writer over real Redis and the real SQLite store: the apply puts accepted entries
in the board's backlog stream; the writer drains it with acknowledgement. A failing store keeps
the rows in the backlog, a writer killed mid-write leaves them to another writer, a full backlog
refuses batches (nothing applied), and close drains."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from podium.region.history.backlog_redis import RedisHistoryBacklog
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import ScoreRow
from podium.region.history.writer import HistoryWriter, WriterState
from podium.region.rank_store_redis import RedisRankStore

from podium.boards import BoardRegistry
from podium.clock import FakeClock
from podium.errors import Unavailable
from podium.model import Board, Operator, ScoreEntry

pytestmark = pytest.mark.anyio
T0 = 1_700_000_000_000
BOARD = Board("hw", operator=Operator.INCREMENT)


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


@pytest.fixture
async def ranks(redis_single: aioredis.Redis) -> RedisRankStore:
    await BoardRegistry(redis_single, FakeClock(T0)).create(BOARD)
    return RedisRankStore(redis_single, history_backlog_max=1000)


@pytest.fixture(params=[1, 3], ids=["serial", "pipelined"])
def pages(request: pytest.FixtureRequest) -> int:
    """Backlog pages written at once: 1 reads, writes and acknowledges in turn."""
    return int(request.param)


def writer(redis: aioredis.Redis, store: GatedStore, name: str, pages: int, claim_idle_ms: int = 60_000) -> HistoryWriter:
    registry = BoardRegistry(redis, FakeClock(T0))

    async def boards() -> list[Board]:
        return list((await registry.all()).values())

    return HistoryWriter(store, RedisHistoryBacklog(redis, name, claim_idle_ms), boards,
                         batch_entries_max=4, poll_ms=5, retry_ms_max=50, pages_in_flight_max=pages)


async def submit(ranks: RedisRankStore, n: int, start: int = 0) -> None:
    for i in range(start, start + n, 10):
        await ranks.apply(BOARD, [ScoreEntry(BOARD.id, f"p{j % 7}", 1, T0 - 1000 + j, f"e{j}")
                                  for j in range(i, min(i + 10, start + n))], T0)


async def stored(store: GatedStore) -> set[str]:
    return {r.event_id for i in range(7) for r in await store.score_history("hw@0", f"p{i}", 10_000)}


async def test_accepted_entries_reach_the_store_once(redis_single: aioredis.Redis, store: GatedStore,
                                                     ranks: RedisRankStore, pages: int) -> None:
    w = writer(redis_single, store, "a", pages)
    w.start()
    await submit(ranks, 200)
    await submit(ranks, 50, start=100)          # replays: duplicates, never in the backlog
    assert await w.flush(5)
    assert await stored(store) == {f"e{i}" for i in range(200)}
    assert await w.size() == 0 and w.stats.written == 200
    await w.close(1)
    assert w.state is WriterState.STOPPED


async def test_failing_store_keeps_rows_in_the_backlog(redis_single: aioredis.Redis, store: GatedStore,
                                                       ranks: RedisRankStore, pages: int) -> None:
    store.fail = 3
    w = writer(redis_single, store, "a", pages)
    w.start()
    await submit(ranks, 60)
    assert await w.flush(5)
    assert w.stats.failures == 3 and await stored(store) == {f"e{i}" for i in range(60)}
    await w.close(1)


async def test_a_writer_killed_mid_write_leaves_its_entries_to_another(
        redis_single: aioredis.Redis, store: GatedStore, ranks: RedisRankStore, pages: int) -> None:
    store.gate.clear()                          # the first writer reads entries, then hangs in the write
    # 12 backlog entries, all there before the writer's first read: 3 pages of 4 when pipelined (a
    # read that found fewer than 4, while the batches were still arriving, started one page and
    # then waited on its write: the other pages never went out)
    await submit(ranks, 120)
    first = writer(redis_single, store, "first", pages, claim_idle_ms=100)
    first.start()
    deadline = asyncio.get_running_loop().time() + 30
    while len(store.calls) < pages:             # every page the writer may have out is out
        assert asyncio.get_running_loop().time() < deadline, f"only {len(store.calls)} of {pages} pages went out"
        await asyncio.sleep(0.01)
    task = first._task
    assert task is not None
    task.cancel()                               # the process dies: its entries stay pending, unacknowledged
    await asyncio.gather(task, return_exceptions=True)
    assert await stored(store) == set()
    store.gate.set()
    second = writer(redis_single, store, "second", pages, claim_idle_ms=100)
    second.start()
    assert await second.flush(5)
    assert await stored(store) == {f"e{i}" for i in range(120)}
    await second.close(1)


async def test_full_backlog_refuses_the_batch_and_applies_nothing(redis_single: aioredis.Redis) -> None:
    await BoardRegistry(redis_single, FakeClock(T0)).create(BOARD)
    ranks = RedisRankStore(redis_single, history_backlog_max=3)
    await submit(ranks, 30)                     # 3 apply calls: the backlog is full
    with pytest.raises(Unavailable) as caught:
        await ranks.apply(BOARD, [ScoreEntry(BOARD.id, "late", 5, T0 - 1, "late-1")], T0)
    assert caught.value.http_status == 503
    assert (await ranks.players(BOARD, ["late"])) == [None]
