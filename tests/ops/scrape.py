"""A real Podium deployment on loopback, driven by a short signed load and scraped: the region
server (event-log mode), its stream worker and the global tier (replication over Kafka), each a
real process against real redis-servers and a real Kafka-protocol broker.

Returns every sample name each process exports: what the alert rules and dashboards may use."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from podium.devtools.testing import ServerProcess
from podium.devtools.ws_client import Subscriber
from podium.redis_server import RedisServer, free_port
from podium.signing import signed_headers
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET
from tests.region.helpers import entry, unique
from tests.stream.conftest import WorkerProcess, stream_env

REPLICATION_SECRET = "replication-secret-for-tests"
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{|\s)", re.MULTILINE)
WAIT_S = 60.0


@dataclass
class Scrapes:
    texts: dict[str, str] = field(default_factory=dict)   # process -> its /metrics text

    def names(self) -> set[str]:
        return {m.group(1) for text in self.texts.values() for m in SAMPLE.finditer(text)}


def wait_for(what: str, predicate: Any, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = predicate()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def post(base: str, entries: list[dict[str, Any]]) -> httpx.Response:
    raw = orjson.dumps({"entries": entries})
    headers = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/scores", time.time_ns() // 10**6, raw)
    return httpx.post(f"{base}/v1/scores?wait=true", content=raw, headers=headers, timeout=30)


def gql(base: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return httpx.post(f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=10).json()  # type: ignore[no-any-return]


def worker_with_metrics(env: dict[str, str]) -> tuple[WorkerProcess, int]:
    """`podium worker --metrics-port` (the shared WorkerProcess runs without a metrics port)."""
    worker = WorkerProcess(env)
    port = free_port()
    worker.process = subprocess.Popen(
        [sys.executable, "-m", "podium", "worker", "--loglevel", "warn", "--metrics-port", str(port)],
        env=worker.env, cwd=tempfile.gettempdir(), stdout=worker.log, stderr=subprocess.STDOUT)
    return worker, port


async def _push_one(ws_url: str, board: str, region_url: str) -> None:
    """A subscriber sees its first top, then a write: the push that follows is a push-lag sample."""
    sub = await Subscriber(ws_url).connect()
    try:
        await sub.subscribe("subscription($b:String!){ topChanged(board:$b, n:5){ board } }", {"b": board})
        await asyncio.wait_for(sub.next("1"), 30)
        await asyncio.to_thread(post, region_url, [entry(board, unique("pusher"), 10_000)])
        await asyncio.wait_for(sub.next("1"), 30)
    finally:
        await sub.close()


def drive_and_scrape(redis_url: str, bootstrap: str, tmp: Path) -> Scrapes:
    with RedisServer(tmp / "global-redis") as global_redis:
        global_server = ServerProcess({
            "REDIS_URL": global_redis.url, "PODIUM_REGION": "global",
            "PODIUM_KAFKA__BOOTSTRAP": bootstrap, "PODIUM_REPLICATION__TRANSPORT": "kafka",
            "PODIUM_REPLICATION__SECRET": REPLICATION_SECRET, "PODIUM_GLOBAL__TOP_K": "2",
            "PODIUM_ADMIN_KEYS": orjson.dumps([ADMIN_KEY]).decode(),
        }, role="global")
        env = stream_env(redis_url, bootstrap, PODIUM_GLOBAL__URL=global_server.url,
                         PODIUM_REPLICATION__SECRET=REPLICATION_SECRET, PODIUM_REPLICATION__TRANSPORT="kafka",
                         PODIUM_GLOBAL__SKETCH_REFRESH_MS="200", PODIUM_GLOBAL__COARSE_SKETCH_REFRESH_MS="200",
                         PODIUM_KAFKA__PLAYER_ENTRIES_PER_MINUTE_MAX="3", PODIUM_METRICS__REDIS_POLL_MS="200",
                         PODIUM_API__CACHE_TTL_MS="250")
        # the global tier consumes the topic (under the test's own prefix) the region ships to
        global_server.env["PODIUM_KAFKA__TOPIC_PREFIX"] = env["PODIUM_KAFKA__TOPIC_PREFIX"]
        global_server.start()
        region = ServerProcess(env)
        worker, worker_port = worker_with_metrics(env)
        try:
            region.start()
            return _drive(region, global_server, worker_port)
        finally:
            worker.kill()
            worker.log.close()
            region.stop()
            global_server.stop()


def _drive(region: ServerProcess, global_server: ServerProcess, worker_port: int) -> Scrapes:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    board = unique("arena")
    assert httpx.post(f"{region.url}/v1/admin/boards", json={"id": board}, headers=admin).status_code == 201
    ranked = [entry(board, f"p{i}", 100 + i) for i in range(20)]
    assert post(region.url, ranked).status_code == 200
    top = "query Top($b:String!){ leaderboard(board:$b, first:30){ edges { node { rank } } } }"
    wait_for("the worker applies the batch",
             lambda: len(((gql(region.url, top, {"b": board}).get("data") or {}).get("leaderboard") or {}).get("edges", [])) >= 20)
    assert post(region.url, [entry(board, "spammer", 1) for _ in range(6)]).status_code == 200   # quarantined: rate
    assert post(region.url, [entry("no-such-board", "x", 1)]).status_code == 200                # rejected entry
    assert httpx.post(f"{region.url}/v1/scores", content=b"{}").status_code in (400, 401)        # an error status
    asyncio.run(_push_one(region.ws_url, board, region.url))
    # The global tier merges the shipped changes, then estimates ranks past its top-K from sketches.
    estimate = "query($b:String!){ player(id:\"p0\"){ entry(board:$b){ precision } } }"
    wait_for("an estimated global rank", lambda: (gql(global_server.url, estimate, {"b": board}).get("data") or {})
             .get("player", {}).get("entry", {}) not in (None, {}, {"precision": "EXACT"}))
    scrapes = Scrapes()
    worker_url = f"http://127.0.0.1:{worker_port}/metrics"
    wait_for("worker quarantine metrics", lambda: "podium_stream_quarantined" in httpx.get(worker_url).text)
    wait_for("Redis memory readings", lambda: "podium_board_memory_bytes{" in httpx.get(f"{region.url}/metrics").text)
    scrapes.texts["region"] = httpx.get(f"{region.url}/metrics").text
    scrapes.texts["worker"] = httpx.get(worker_url).text
    scrapes.texts["global"] = httpx.get(f"{global_server.url}/metrics").text
    return scrapes
