"""kill -9 of a region process during ingest from the shipped GameServerClient: every accepted
entry counts exactly once on the board (0 lost, 0 double-counted, against the oracle), the warm
store ends equal to Redis (the history backlog is drained after the crash, including what the dead
process had taken), and a rebuild from the warm store equals the oracle."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from podium.region.history.sqlite import SqliteHistoryStore
from podium.region.history.store import current_standing, history_key
from podium.region.rank_store import read_all
from podium.region.rank_store_redis import RedisRankStore
from podium.region.recovery import Rebuilder

from podium.boards import BoardRegistry
from podium.client import GameServerClient
from podium.clock import SystemClock
from podium.config import HistorySettings
from podium.keys import keys_of
from podium.redis_client import connect
from podium.redis_server import RedisServer, free_port
from tests.conftest import GAME_KEY_ID, GAME_SECRET
from tests.faults.region_process import spawn_region

pytestmark = pytest.mark.anyio
BOARD = "kills"
PLAYERS = 300
BATCHES = 40
BATCH_ENTRIES = 100


def _spawn(port: int, redis_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    return spawn_region(port, redis_url, data_dir, BOARD,
                        {"PODIUM_HISTORY__SNAPSHOT_INTERVAL_S": "0", "PODIUM_HISTORY__BACKLOG_CLAIM_IDLE_MS": "1000",
                 "PODIUM_INGEST__IDEMPOTENCY_PENDING_MS": "1500"})


async def test_kill9_region_during_ingest_loses_nothing(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=True).start()
    data_dir = tmp_path / "region"
    data_dir.mkdir()
    port = free_port()
    proc = _spawn(port, redis.url, data_dir)
    statuses: Counter[str] = Counter()

    async def count(response: httpx.Response) -> None:
        statuses[str(response.status_code)] += 1

    rng = random.Random(7)
    expected: Counter[str] = Counter()
    acknowledged = 0
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10, event_hooks={"response": [count]})
    client = GameServerClient(f"http://127.0.0.1:{port}", GAME_KEY_ID, GAME_SECRET, deadline_s=120,
                              backoff_s_max=1.0, http=http)
    try:
        async def ingest() -> None:
            nonlocal acknowledged
            for b in range(BATCHES):
                entries = []
                for i in range(BATCH_ENTRIES):
                    player, amount = f"p{rng.randrange(PLAYERS)}", rng.randrange(1, 100)
                    expected[player] += amount
                    entries.append({"board": BOARD, "player": player, "score": amount,
                                    "achieved_at": int(time.time() * 1000) - 1000, "event_id": f"b{b}-{i}"})
                result = await client.post_batch(entries)
                assert result["counts"]["applied"] + result["counts"].get("unchanged", 0) + \
                    result["counts"].get("duplicate", 0) >= 0
                acknowledged += 1

        task = asyncio.create_task(ingest())
        while acknowledged < BATCHES // 3:
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGKILL)          # kill -9 mid-ingest: requests in flight die with it
        proc.wait()
        killed_at = time.monotonic()
        proc = await asyncio.to_thread(_spawn, port, redis.url, data_dir)
        restart_s = time.monotonic() - killed_at
        await asyncio.wait_for(task, 120)
        assert acknowledged == BATCHES

        r = connect(redis.url)
        try:
            registry = BoardRegistry(r, SystemClock())
            board = await registry.require(BOARD)
            ranks = RedisRankStore(r)
            live = {e.player: e.score for e in await read_all(ranks, board, 10_000)}
            lost = sum(1 for p in expected if live.get(p, 0) < expected[p])
            doubled = sum(1 for p in expected if live.get(p, 0) > expected[p])
            print(f"\nkill -9 region: restart {restart_s:.1f}s, responses {dict(statuses)}, "
                  f"lost {lost}, double-counted {doubled}")
            assert (lost, doubled) == (0, 0)
            assert live == dict(expected)

            deadline = time.monotonic() + 30       # the dead process's pending entries are taken over
            while time.monotonic() < deadline and await r.xlen(keys_of(board).history):
                await asyncio.sleep(0.1)
            assert await r.xlen(keys_of(board).history) == 0
            warm = SqliteHistoryStore(data_dir / "history.sqlite3")
            await warm.open()
            try:
                stored: dict[str, int] = {}
                async for player, rows in warm.iter_player_history(history_key(BOARD, board.season)):
                    standing = current_standing(board, rows)
                    assert standing is not None
                    stored[player] = standing.score
                assert stored == live                  # the warm store equals Redis

                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
                rebuilder = Rebuilder(r, ranks, warm, registry, SystemClock(),
                                      HistorySettings(rebuild_settle_ms=0), dedup_window_ms=600_000)
                assert (await rebuilder.verify(BOARD)).ok
                await r.delete(keys_of(board).zset, keys_of(board).index)   # Redis loses the board
                [report] = await rebuilder.run([BOARD])
                assert report.entries == len(expected)
                rebuilt = {e.player: e.score for e in await read_all(ranks, board, 10_000)}
                assert rebuilt == dict(expected)       # a rebuild from the warm store equals the oracle
            finally:
                await warm.close()
        finally:
            await r.aclose()
    finally:
        await client.aclose()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        redis.stop()
