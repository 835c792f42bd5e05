"""The history writer's pipeline (`history.write_pages_in_flight_max`): several backlog pages are
written at once, a page leaves the backlog only after the store took all of it, and whatever the
order pages finish or fail in, every accepted row reaches the store and the backlog empties.
Real Redis, real SQLite store; failures injected around the store's write, checked against the
oracle of the accepted event ids."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.history.backlog_redis import RedisHistoryBacklog
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import ScoreRow
from podium.region.history.writer import HistoryWriter
from podium.region.rank_store_redis import RedisRankStore

from podium.boards import BoardRegistry
from podium.clock import FakeClock
from podium.errors import Unavailable
from podium.keys import keys_of
from podium.model import Board, Operator, ScoreEntry

pytestmark = pytest.mark.anyio
T0 = 1_700_000_000_000
BOARD = Board("pipe", operator=Operator.INCREMENT)
HYP = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
# a store call's fate: (what happens, its delay in ms); "after" writes the rows, then fails
FATES = st.tuples(st.sampled_from(["ok", "ok", "before", "after"]), st.integers(0, 15))


class FatedStore(SqliteHistoryStore):
    """The real store; its n-th write call takes `fates[n]` (calls past the list succeed at once),
    or waits for `gate`."""

    def __init__(self, path: Path, fates: Sequence[tuple[str, int]] = ()) -> None:
        super().__init__(path)
        self.fates = list(fates)
        self.gate = asyncio.Event()
        self.gate.set()
        self.calls = 0
        self.failed = 0

    async def append_scores(self, rows: Sequence[ScoreRow]) -> None:
        n, self.calls = self.calls, self.calls + 1
        fate, delay_ms = self.fates[n] if n < len(self.fates) else ("ok", 0)
        await self.gate.wait()
        await asyncio.sleep(delay_ms / 1000)
        if fate == "before":
            self.failed += 1
            raise Unavailable("warm store down")
        await super().append_scores(rows)
        if fate == "after":
            self.failed += 1
            raise Unavailable("warm store answer lost")


def make_writer(redis: aioredis.Redis, store: FatedStore, pages: int, entries: int) -> HistoryWriter:
    async def boards() -> list[Board]:
        return [BOARD]

    return HistoryWriter(store, RedisHistoryBacklog(redis, f"w-{uuid.uuid4().hex[:6]}", 60_000), boards,
                         batch_entries_max=entries, poll_ms=5, retry_ms_max=20, pages_in_flight_max=pages)


async def submit(redis: aioredis.Redis, sizes: Sequence[int]) -> set[str]:
    """One apply call per size (one backlog entry each); returns the accepted event ids."""
    ranks = RedisRankStore(redis, history_backlog_max=1000)
    ids: set[str] = set()
    for call, size in enumerate(sizes):
        batch = [ScoreEntry(BOARD.id, f"p{j % 5}", 1, T0 - 1000 + j, f"c{call}-e{j}") for j in range(size)]
        await ranks.apply(BOARD, batch, T0)
        ids.update(e.event_id for e in batch)
    return ids


async def stored(store: SqliteHistoryStore) -> set[str]:
    return {r.event_id for i in range(5) for r in await store.score_history("pipe@0", f"p{i}", 10_000)}


async def test_pages_are_written_at_once_and_leave_the_backlog_only_once_stored(
        redis_single: aioredis.Redis, tmp_path: Path) -> None:
    await BoardRegistry(redis_single, FakeClock(T0)).create(BOARD)
    store = FatedStore(tmp_path / "h.sqlite3")
    await store.open()
    try:
        store.gate.clear()
        accepted = await submit(redis_single, [10] * 10)      # 10 entries: pages of 2
        w = make_writer(redis_single, store, pages=3, entries=2)
        w.start()
        while store.calls < 3:
            await asyncio.sleep(0.01)
        assert w.pages_in_flight == 3 and store.calls == 3     # three pages out, no fourth
        assert await redis_single.xlen(keys_of(BOARD).history) == 10   # none acknowledged yet
        assert await stored(store) == set()
        store.gate.set()
        assert await w.flush(30)
        assert await stored(store) == accepted and w.stats.written == len(accepted)
        await w.close(1)
    finally:
        store.gate.set()
        await store.close()


@HYP
@given(sizes=st.lists(st.integers(1, 8), min_size=1, max_size=12), fates=st.lists(FATES, max_size=12),
       pages=st.integers(1, 4), entries=st.integers(1, 3))
async def test_every_accepted_row_reaches_the_store_whatever_fails(
        redis_single: aioredis.Redis, tmp_path: Path, sizes: list[int], fates: list[tuple[str, int]],
        pages: int, entries: int) -> None:
    await redis_single.flushdb()
    await BoardRegistry(redis_single, FakeClock(T0)).create(BOARD)
    store = FatedStore(tmp_path / f"{uuid.uuid4().hex}.sqlite3", fates)
    await store.open()
    try:
        accepted = await submit(redis_single, sizes)
        w = make_writer(redis_single, store, pages, entries)
        w.start()
        assert await w.flush(30)
        assert await stored(store) == accepted
        assert await redis_single.xlen(keys_of(BOARD).history) == 0
        # each row counted once, when its page was acknowledged (a page failed "after" is written twice)
        assert w.stats.written == len(accepted)
        assert (w.stats.failures > 0) == (store.failed > 0)
        await w.close(1)
    finally:
        await store.close()
