"""`podium up` supervises its embedded redis-server: hang it (SIGSTOP), then kill -9 it, during ingest
from the shipped GameServerClient → writes answer 503 with Retry-After meanwhile, Podium restarts the server (it
reloads its AOF) and the board equals the oracle; with the AOF gone as well, the server comes back
empty and the region rebuilds the board from its warm store, again equal to the oracle."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis as sync_redis

from podium.client import GameServerClient
from podium.processes import wait_ready
from podium.redis_server import free_port
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET

pytestmark = pytest.mark.anyio
BOARD = "arena"
PLAYERS = 200
BATCHES = 30
BATCH_ENTRIES = 50
START_TIMEOUT_S = 90   # cold imports are slow on a loaded 2-core machine


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _redis_pid(up_pid: int) -> int:
    for child in _children(up_pid):
        if b"redis-server" in Path(f"/proc/{child}/cmdline").read_bytes():
            return child
    raise AssertionError("no embedded redis-server child")


def _restarted_redis_pid(up_pid: int) -> int | None:
    try:
        return _redis_pid(up_pid)
    except (AssertionError, FileNotFoundError):   # between the old server's exit and the new one's start
        return None


def _start_up(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_") and k != "REDIS_URL"}
    env.update({
        "PODIUM_GAME_SERVER_KEYS": json.dumps({GAME_KEY_ID: GAME_SECRET}), "PODIUM_ADMIN_KEYS": json.dumps([ADMIN_KEY]),
        "PODIUM_BOARDS": json.dumps([{"id": BOARD, "operator": "increment"}]),
        "PODIUM_HISTORY__SNAPSHOT_INTERVAL_S": "0", "PODIUM_HISTORY__REDIS_LOSS_CHECK_MS": "200",
        "PODIUM_HISTORY__REBUILD_SETTLE_MS": "100", "PODIUM_INGEST__IDEMPOTENCY_PENDING_MS": "1500",
        "PODIUM_API__RATE_LIMIT_PER_S": "100000", "PODIUM_API__RATE_LIMIT_BURST": "100000",
        "PODIUM_API__CACHE_TTL_MS": "0", "COLUMNS": "200",
    })
    with (data_dir.parent / "up.log").open("wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "podium", "up", "--port", str(port), "--data-dir", str(data_dir)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
    ready = wait_ready(f"http://127.0.0.1:{port}", START_TIMEOUT_S, alive=lambda: proc.poll() is None)
    assert proc.poll() is None, (data_dir.parent / "up.log").read_text()[-3000:]
    if ready:
        return proc
    raise AssertionError("podium up not ready: " + (data_dir.parent / "up.log").read_text()[-3000:])


async def _board_when(base: str, want: dict[str, int], timeout_s: float) -> dict[str, int]:
    """The board once it equals `want`, or the last one read when `timeout_s` is over."""
    deadline, board = time.monotonic() + timeout_s, _board(base)
    while board != want and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        board = _board(base)
    return board


def _board(base: str) -> dict[str, int]:
    doc = httpx.post(f"{base}/graphql", json={"query": '{ leaderboard(board:"arena", first:1000)'
                                                        '{ edges { node { player score } } } }'}).json()
    if "errors" in doc:
        return {}
    return {e["node"]["player"]: e["node"]["score"] for e in doc["data"]["leaderboard"]["edges"]}


async def test_killed_embedded_redis_is_restarted_and_boards_equal_the_oracle(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    up = _start_up(port, data_dir)
    base = f"http://127.0.0.1:{port}"
    statuses: Counter[int] = Counter()
    retry_after: list[str] = []
    first_503_at: list[float] = []
    last_503_at: list[float] = []

    async def count(response: httpx.Response) -> None:
        statuses[response.status_code] += 1
        if response.status_code == 503:
            retry_after.append(response.headers.get("retry-after", ""))
            first_503_at[:] = first_503_at or [time.monotonic()]
            last_503_at[:] = [time.monotonic()]

    rng = random.Random(5)
    expected: Counter[str] = Counter()
    done = 0
    http = httpx.AsyncClient(base_url=base, timeout=10, event_hooks={"response": [count]})
    client = GameServerClient(base, GAME_KEY_ID, GAME_SECRET, deadline_s=120, backoff_s_max=0.5, http=http)
    try:
        async def ingest(first: int, last: int) -> None:
            nonlocal done
            for b in range(first, last):
                entries = []
                for i in range(BATCH_ENTRIES):
                    player, amount = f"p{rng.randrange(PLAYERS)}", rng.randrange(1, 50)
                    expected[player] += amount
                    entries.append({"board": BOARD, "player": player, "score": amount,
                                    "achieved_at": int(time.time() * 1000) - 1000, "event_id": f"b{b}-{i}"})
                await client.post_batch(entries)
                done += 1
                await asyncio.sleep(0.02)

        task = asyncio.create_task(ingest(0, BATCHES))
        while done < BATCHES // 3:
            await asyncio.sleep(0.01)
        redis_pid = _redis_pid(up.pid)
        # Hang the server first (SIGSTOP) until writes are refused, then kill it: a bare kill -9 can be
        # over before the next batch, when the Redis client's reconnect hides it and no 503 is seen.
        killed_at = time.monotonic()
        os.kill(redis_pid, signal.SIGSTOP)
        deadline = time.monotonic() + 60
        while not first_503_at and not task.done():
            assert time.monotonic() < deadline, "writes to a hung Redis were never refused with 503"
            await asyncio.sleep(0.05)
        os.kill(redis_pid, signal.SIGKILL)
        await asyncio.wait_for(task, 120)
        assert _redis_pid(up.pid) != redis_pid                  # a new server, started by Podium
        assert statuses[500] == 0 and statuses[503] > 0 and all(v.isdigit() and int(v) >= 1 for v in retry_after)
        outage_s = last_503_at[0] - killed_at
        # every batch was acknowledged; a read may still meet the restarted server's first reconnect
        # (a coded, retryable error), so read until the board answers, within a bound
        board_after = await _board_when(base, dict(expected), 30)
        assert board_after == dict(expected)
        print(f"\nembedded redis kill -9: {statuses[503]} x 503 (Retry-After {sorted(set(retry_after))}), "
              f"writes refused for {outage_s:.1f} s, responses {dict(statuses)}")

        # the AOF is gone too: the server comes back empty, the region rebuilds from its warm store
        redis_url = re.search(r"redis://127\.0\.0\.1:\d+/0", (tmp_path / "up.log").read_text())
        assert redis_url is not None
        r = sync_redis.Redis.from_url(redis_url.group(0))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and r.xlen("pb:{arena}:hist"):
            await asyncio.sleep(0.1)                            # the warm store has every accepted score
        r.close()
        for aof in (data_dir / "redis").glob("appendonly.aof*"):
            aof.unlink()
        killed_at, old_pid = time.monotonic(), _redis_pid(up.pid)
        os.kill(old_pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while _restarted_redis_pid(up.pid) in (None, old_pid):   # the board is read from the new server only
            assert time.monotonic() < deadline, "the killed redis-server was not restarted"
            await asyncio.sleep(0.05)
        board = await _board_when(base, dict(expected), deadline - time.monotonic())
        print(f"AOF gone: board rebuilt from the warm store {time.monotonic() - killed_at:.1f} s after the kill")
        assert board == dict(expected)
    finally:
        await client.aclose()
        up.send_signal(signal.SIGINT)
        try:
            up.wait(timeout=30)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait()
