"""The game-server client against real region processes: it rides out a region restart without
losing or doubling a batch, fails over to the next region when its home is killed and returns when
home is back (every batch counted exactly once, checked against an oracle of what was sent where),
and raises instead of dropping when no region takes a batch before its deadline."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from podium.client import BatchRejected, DeliveryFailed, GameServerClient
from podium.devtools.testing import ServerProcess
from podium.redis_server import RedisServer, free_port
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET
from tests.region.helpers import create_board, top

BATCHES = 30
PLAYERS = 7
RESTART_GAP_S = 6.0
SERVER_START_TIMEOUT_S = 60.0


def region_env(name: str, redis_url: str) -> dict[str, str]:
    return {"REDIS_URL": redis_url, "PODIUM_REGION": name,
            "PODIUM_GAME_SERVER_KEYS": json.dumps({GAME_KEY_ID: GAME_SECRET}),
            "PODIUM_ADMIN_KEYS": json.dumps([ADMIN_KEY]),
            "PODIUM_API__RATE_LIMIT_PER_S": "100000", "PODIUM_API__RATE_LIMIT_BURST": "100000",
            "PODIUM_API__CACHE_TTL_MS": "0"}


@pytest.fixture
def regions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[ServerProcess]]:
    """Two regions, each its own redis-server and `podium serve` process."""
    monkeypatch.setattr("podium.devtools.testing.START_TIMEOUT_S", SERVER_START_TIMEOUT_S)  # a loaded CI machine
    servers: list[RedisServer] = []
    procs: list[ServerProcess] = []
    try:
        for name in ("home", "away"):
            redis = RedisServer(tmp_path / name).start()
            servers.append(redis)
            procs.append(ServerProcess(region_env(name, redis.url)).start())
        yield procs
    finally:
        for proc in procs:
            proc.stop()
        for redis in servers:
            redis.stop()


def batch(board: str, n: int) -> list[dict[str, object]]:
    """Batch n: every player scores n+1 (an increment board makes a double apply visible)."""
    return [{"board": board, "player": f"p{i}", "score": n + 1, "achieved_at": 1_700_000_000_000 + n,
             "event_id": f"b{n}-p{i}"} for i in range(PLAYERS)]


def totals(url: str, board: str) -> dict[str, int]:
    return {row["player"]: row["score"] for row in top(url, board)}


def expected(batches: list[int]) -> dict[str, int]:
    sums: Counter[str] = Counter()
    for n in batches:
        for i in range(PLAYERS):
            sums[f"p{i}"] += n + 1
    return dict(sums)


def restart(proc: ServerProcess, gap_s: float, done: threading.Event) -> None:
    proc.stop()
    done.wait(gap_s)
    proc.start()


@pytest.mark.anyio
async def test_a_region_restart_loses_and_doubles_no_batch(regions: list[ServerProcess]) -> None:
    home = regions[0]
    board = create_board(home.url, operator="increment")
    client = GameServerClient(home.url, GAME_KEY_ID, GAME_SECRET, backoff_s_max=1.0)
    never = threading.Event()
    restarter: asyncio.Future[None] | None = None
    try:
        for n in range(BATCHES):
            if n == 5:   # the region goes away for 6 s while batches keep coming
                restarter = asyncio.ensure_future(asyncio.to_thread(restart, home, RESTART_GAP_S, never))
                await asyncio.sleep(0.5)
            response = await client.post_batch(batch(board, n))
            assert {r["status"] for r in response["results"]} == {"applied"}
    finally:
        if restarter is not None:
            await restarter
        await client.aclose()
    assert client.stats.attempts > BATCHES, "the restart was ridden out by retries"
    assert totals(home.url, board) == expected(list(range(BATCHES)))


@pytest.mark.anyio
async def test_fails_over_when_home_dies_and_back_when_it_returns(regions: list[ServerProcess]) -> None:
    home, away = regions
    board = create_board(home.url, operator="increment")
    create_board(away.url, id=board, operator="increment")
    client = GameServerClient([home.url, away.url], GAME_KEY_ID, GAME_SECRET, backoff_s_max=0.5,
                              region_down_s=1.0, failback_s=0.5)
    sent_to: dict[str, list[int]] = {home.url: [], away.url: []}
    try:
        for n in range(BATCHES):
            if n == 10:
                assert home.process is not None
                home.process.kill()           # a crash, between two batches
                home.process.wait(timeout=10)
            if n == 20:
                await asyncio.to_thread(home.start)
                await asyncio.sleep(1.0)      # past the failback probe interval
            await client.post_batch(batch(board, n))
            sent_to[client.region_url].append(n)
    finally:
        await client.aclose()
    assert sent_to[away.url] == list(range(10, 20)), sent_to
    assert sent_to[home.url] == list(range(10)) + list(range(20, BATCHES))
    assert (client.stats.failovers, client.stats.failbacks, client.stats.in_doubt_failovers) == (1, 1, 0)
    # exactly once: each region holds the batches it answered, and together every batch once
    assert totals(home.url, board) == expected(sent_to[home.url])
    assert totals(away.url, board) == expected(sent_to[away.url])


@pytest.mark.anyio
async def test_no_region_before_the_deadline_raises_and_keeps_the_batch() -> None:
    nobody = f"http://127.0.0.1:{free_port()}"
    client = GameServerClient([nobody], GAME_KEY_ID, GAME_SECRET, deadline_s=1.5, backoff_s_max=0.2)
    client.add("arena", "ann", 1)
    with pytest.raises(DeliveryFailed):
        await client.flush()
    await client.aclose()
    assert client.buffered == 1, "an undelivered batch stays buffered"
    assert client.stats.attempts >= 2


@pytest.mark.anyio
async def test_a_refused_batch_raises_at_once(regions: list[ServerProcess]) -> None:
    home = regions[0]
    board = create_board(home.url)
    async with GameServerClient(home.url, GAME_KEY_ID, GAME_SECRET) as client:
        await client.post_batch(batch(board, 0), idempotency_key="k1")
        with pytest.raises(BatchRejected, match="409"):   # the same key for another batch
            await client.post_batch(batch(board, 1), idempotency_key="k1")
        assert client.stats.attempts == 2
    async with GameServerClient(home.url, GAME_KEY_ID, "wrong-secret") as client:
        with pytest.raises(BatchRejected, match="401"):
            await client.post_batch(batch(board, 2))


def _global_totals(url: str, board: str) -> dict[str, int]:
    doc = httpx.post(f"{url}/graphql", json={
        "query": "query($b:String!){ leaderboard(board:$b, first:100){ edges { node { player score } } } }",
        "variables": {"b": board}}, timeout=5).json()
    if doc.get("errors"):
        return {}
    return {e["node"]["player"]: e["node"]["score"] for e in doc["data"]["leaderboard"]["edges"]}


def _directory(url: str) -> dict[str, dict[str, Any]]:
    return {row["region"]: row for row in httpx.get(f"{url}/v1/directory", timeout=5).json()["regions"]}


async def _until(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.2)


@pytest.mark.anyio
async def test_bootstrapped_from_the_directory_fails_over_and_counts_each_batch_once_globally(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two regions replicating to a global tier that publishes them in its directory. The client
    bootstraps from it; home dies; the directory marks it unhealthy and the client moves to the
    other region (same Idempotency-Key, same event ids); home comes back. The global merged counter
    of every player equals the oracle: each accepted batch counted exactly once across regions."""
    monkeypatch.setattr("podium.devtools.testing.START_TIMEOUT_S", SERVER_START_TIMEOUT_S)
    secret = {"PODIUM_REPLICATION__SECRET": "s3", "PODIUM_REPLICATION__SHIP_INTERVAL_MS": "50",
              "PODIUM_GLOBAL__DIRECTORY_PROBE_MS": "200"}
    servers = [RedisServer(tmp_path / name).start() for name in ("home", "away", "global")]
    home, away = (ServerProcess(region_env(name, r.url)) for name, r in zip(("home", "away"), servers, strict=False))
    world = ServerProcess({"REDIS_URL": servers[2].url, "PODIUM_ADMIN_KEYS": json.dumps([ADMIN_KEY]),
                           "PODIUM_GLOBAL__REGION_URLS": json.dumps({"home": home.url, "away": away.url}),
                           **secret}, role="global")
    for region in (home, away):
        region.env.update({**secret, "PODIUM_GLOBAL__URL": world.url})
    client: GameServerClient | None = None
    try:
        for proc in (world, home, away):
            proc.start()
        board = create_board(home.url, operator="increment")
        create_board(away.url, id=board, operator="increment")
        await _until(lambda: all(r["healthy"] for r in _directory(world.url).values()), 30)
        client = await GameServerClient.from_directory(world.url, GAME_KEY_ID, GAME_SECRET, home="home",
                                                       backoff_s_max=0.5, region_down_s=1.0, failback_s=0.5)
        assert client.regions.urls == [home.url, away.url] and client.region_url == home.url
        sent_to: dict[str, list[int]] = {home.url: [], away.url: []}
        for n in range(BATCHES):
            if n == 10:
                assert home.process is not None
                home.process.kill()
                home.process.wait(timeout=10)
                await _until(lambda: not _directory(world.url)["home"]["healthy"], 30)
            if n == 20:
                await asyncio.to_thread(home.start)
                await asyncio.sleep(1.0)
            await client.post_batch(batch(board, n))
            sent_to[client.region_url].append(n)
        assert sent_to[away.url] == list(range(10, 20)), sent_to
        assert client.stats.in_doubt_failovers == 0
        oracle = expected(list(range(BATCHES)))
        await _until(lambda: _global_totals(world.url, board) == oracle, 60)
        # a client bootstrapped while home is down starts on the healthy region
        assert home.process is not None
        home.process.kill()
        home.process.wait(timeout=10)
        await _until(lambda: not _directory(world.url)["home"]["healthy"], 30)
        late = await GameServerClient.from_directory(world.url, GAME_KEY_ID, GAME_SECRET, home="home")
        assert late.region_url == away.url
        await late.aclose()
    finally:
        if client is not None:
            await client.aclose()
        for proc in (home, away, world):
            proc.stop()
        for redis in servers:
            redis.stop()
