"""The history writer as its own process (`history.writer_placement=separate`, `podium history-writer`
supervised by `podium.devtools.stack_writer.keep_writer`, as `podium up` runs it).

A region in the separate placement fills the backlog and only watches it; a writer process
kill -9'd while it holds backlog entries it has read but not yet written (the warm store is held
locked, so the kill lands mid-write for certain) is restarted by its supervisor, the new writer
takes the dead one's pending entries over, and the warm store ends with every accepted score:
none lost, the backlog empty. The region's /readyz shows the backlog's length and age meanwhile."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from podium.region.api.app import create_app
from podium.region.history.store import history_key
from podium.region.wiring import build_region

from podium.config import SupervisorSettings
from podium.devtools.stack_writer import WriterProcess, keep_writer, writer_env
from podium.keys import keys_of
from podium.model import Board
from podium.redis_client import connect
from podium.redis_server import RedisServer
from podium.tasks import Supervisor
from tests.conftest import region_settings
from tests.region.helpers import now_ms

pytestmark = pytest.mark.anyio
BOARD = "hw"
BATCHES = 12
BATCH_ENTRIES = 50
DEADLINE_S = 60.0   # a cold `podium history-writer` imports for seconds on a loaded 2-core machine


async def _until(what: str, check: Callable[[], Awaitable[bool]], deadline_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + deadline_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_writer_process_killed_mid_write_loses_nothing(anyio_backend: str, tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path / "redis", appendonly=True).start()
    history = {"writer_placement": "separate", "snapshot_interval_s": 0, "rebuild_on_start": False,
               "backlog_claim_idle_ms": 1000, "backlog_check_ms": 100, "write_batch_entries_max": 2}
    settings = region_settings(redis_server.url, data_dir=tmp_path / "region", history=history)
    service = build_region(settings)
    redis = connect(redis_server.url)
    stop = asyncio.Event()
    supervisor = Supervisor(SupervisorSettings(restart_backoff_ms_initial=200, restart_backoff_ms_max=500))
    lock: sqlite3.Connection | None = None
    try:
        await service.open()
        assert service.history_writer is None and service.history_backlog is not None   # nothing drains in process
        board = await service.boards.create(Board(BOARD))
        t = now_ms() - 1000
        submitted = set()
        for b in range(BATCHES):
            raw = [{"board": BOARD, "player": f"p{i % 17}", "score": b * 1000 + i, "achieved_at": t,
                    "event_id": f"b{b}-{i}"} for i in range(BATCH_ENTRIES)]
            result = await service.ingest.submit(raw, scope="test")
            assert result["counts"]["applied"] + result["counts"].get("unchanged", 0) == BATCH_ENTRIES
            submitted |= {(str(e["event_id"]), str(e["player"]), int(str(e["score"]))) for e in raw}
        stream = keys_of(board).history
        assert await redis.xlen(stream) == BATCHES
        app = create_app(settings, service=service)
        app.state.service = service   # what the lifespan sets; the service is open already
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://region") as http:
            async def readyz_backlog() -> bool:
                body = (await http.get("/readyz")).json()
                return bool(body["history_backlog"]["entries"] == BATCHES)

            await _until("/readyz to show the backlog", readyz_backlog)
            report = (await http.get("/readyz")).json()["history_backlog"]
            assert report["writer_placement"] == "separate" and report["oldest_age_ms"] >= 0

        # The warm store is held locked: the writer reads entries (pending under its consumer) and
        # then waits on SQLite, so the kill below lands between its read and its acknowledgement.
        lock = sqlite3.connect(settings.data_dir / "history.sqlite3", isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        env = writer_env(settings) | {"PODIUM_HISTORY__BACKLOG_CLAIM_IDLE_MS": "1000",
                                      "PODIUM_HISTORY__WRITE_BATCH_ENTRIES_MAX": "2"}
        writer = WriterProcess(env, tmp_path / "writer" / "history-writer.log")
        supervisor.supervise("history-writer-process", lambda: keep_writer(writer, stop, check_ms=50))

        async def pending() -> bool:
            groups = await redis.xinfo_groups(stream)   # the writer makes its group on its first read
            return bool(groups) and int(groups[0]["pending"]) > 0

        await _until("the writer to hold backlog entries", pending)
        first_pid = writer.pid
        assert first_pid is not None and writer.starts == 1
        os.kill(first_pid, signal.SIGKILL)                 # kill -9 mid-write
        held = int((await redis.xpending(stream, "history"))["pending"])
        lock.rollback()
        lock.close()
        lock = None

        async def restarted() -> bool:
            return writer.starts >= 2 and writer.alive

        await _until("the supervisor to restart the writer", restarted)
        assert writer.pid != first_pid and supervisor.loops["history-writer-process"].restarts >= 1

        async def drained() -> bool:
            return await redis.xlen(stream) == 0

        await _until("the backlog to drain", drained)
        assert int((await redis.xpending(stream, "history"))["pending"]) == 0
        db = sqlite3.connect(settings.data_dir / "history.sqlite3")
        try:
            stored = db.execute("SELECT event_id, player, score FROM score_history WHERE board=?",
                                (history_key(BOARD, board.season),)).fetchall()
        finally:
            db.close()
        print(f"\nwriter kill -9 with {held} entries pending: {len(stored)} of {len(submitted)} rows in the warm store")
        assert held > 0
        assert set(stored) == submitted and len(stored) == len(submitted)   # none lost, none extra

        async def watched_empty() -> bool:
            return await service.history_backlog.check() == 0 if service.history_backlog else False

        await _until("the region to see the backlog empty", watched_empty)
        assert service.history_backlog is not None and service.history_backlog.age_ms == 0
    finally:
        stop.set()
        await supervisor.close()
        if lock is not None:
            lock.close()
        await service.close()
        await redis.aclose()
        redis_server.stop()
