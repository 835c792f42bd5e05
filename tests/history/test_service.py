"""RegionService with a warm store: board definitions kept in step, history written for direct
submissions, periodic snapshots by the scheduler, everything stopped and drained on close; and
the same service with history disabled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import history_key
from podium.region.history.writer import WriterState
from podium.region.snapshots import SchedulerState
from podium.region.wiring import build_region

from podium.model import Board, Operator
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.region.helpers import now_ms

pytestmark = pytest.mark.anyio


async def test_lifecycle_with_history(anyio_backend: str, redis_server: RedisServer, redis_single: aioredis.Redis,
                                      tmp_path: Path) -> None:
    settings = region_settings(redis_server.url, data_dir=tmp_path, history={"snapshot_interval_s": 1})
    service = build_region(settings)
    await service.open()
    assert service.history is not None and service.history_writer is not None and service.snapshots is not None
    await service.boards.create(Board("svc", operator=Operator.INCREMENT))
    await service.boards.create(Board("gone"))
    await service.boards.delete("gone")
    assert [b.id for b in await service.history.boards()] == ["svc"]
    t = now_ms() - 1000
    raw = [{"board": "svc", "player": f"p{i % 3}", "score": i, "achieved_at": t, "event_id": f"e{i}"} for i in range(9)]
    assert (await service.ingest.submit(raw, scope="test"))["counts"]["applied"] == 9
    for _ in range(300):                                   # the scheduler ticks once a second
        if await service.history.snapshots("svc", 5):
            break
        await asyncio.sleep(0.01)
    [info] = (await service.history.snapshots("svc", 5))[:1]
    assert info.season == 0 and info.entries == 3
    await service.close()
    assert service.snapshots.state is SchedulerState.STOPPED
    assert service.history_writer.state is WriterState.STOPPED
    store = SqliteHistoryStore(tmp_path / "history.sqlite3")
    await store.open()
    try:
        rows = [r async for _p, rs in store.iter_player_history(history_key("svc", 0)) for r in rs]
        assert sorted(r.event_id for r in rows) == sorted(str(e["event_id"]) for e in raw)
        assert list((tmp_path / "snapshots").glob("svc.s0.*.jsonl.gz"))
    finally:
        await store.close()


async def test_history_disabled(anyio_backend: str, redis_server: RedisServer, redis_single: aioredis.Redis,
                                tmp_path: Path) -> None:
    settings = region_settings(redis_server.url, data_dir=tmp_path, history={"enabled": False})
    service = build_region(settings)
    await service.open()
    try:
        assert service.history is None and service.store.history_backlog_max is None
        await service.boards.create(Board("plain"))
        assert (await service.admin.reset_board("plain")).season == 1
    finally:
        await service.close()
    assert not (tmp_path / "history.sqlite3").exists()
