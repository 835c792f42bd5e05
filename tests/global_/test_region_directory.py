"""The global tier's region directory against a live region and a region nobody serves: the live
one is healthy, the dead one is not (its breaker opens), over REST and GraphQL, healthy first.

The dead region refuses connections at once, so the probe timeout only bounds the live region's
probe: it is generous, because a loaded CI machine can take longer than a few hundred ms to answer
/readyz and one slow probe would (rightly) mark the live region unhealthy between two reads."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from podium.global_.server import create_global_app

from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer, free_port

QUERY = "{ regionDirectory { region url healthy circuit checkedAt replicationStale } }"


def _rest(url: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = httpx.get(f"{url}/v1/directory", timeout=5).json()["regions"]
    return rows


def test_directory_publishes_each_region_with_its_health(live_region: LiveServer, redis_server: RedisServer,
                                                         tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    settings = Settings(redis_url=f"{redis_server.url}/2", data_dir=tmp_path, port=0,
                        global_={"region_urls": {"a-dead": dead, "b-live": live_region.url},
                                 "directory_probe_ms": 50, "strong_timeout_ms": 5_000},
                        breakers={"calls_min": 2, "window_calls_max": 4, "open_ms": 60_000})
    with LiveServer(create_global_app, settings) as server:
        deadline = time.monotonic() + 20
        while True:
            rows = _rest(server.url)
            if rows[-1]["circuit"] == "open" and rows[0]["healthy"]:
                break
            assert time.monotonic() < deadline, rows
            time.sleep(0.05)
        assert [(r["region"], r["url"], r["healthy"]) for r in rows] == [
            ("b-live", live_region.url, True), ("a-dead", dead, False)]   # healthy first
        doc = httpx.post(f"{server.url}/graphql", json={"query": QUERY}, timeout=5).json()
        assert "errors" not in doc, doc
        graph = doc["data"]["regionDirectory"]
        assert [(r["region"], r["healthy"], r["circuit"]) for r in graph] == [
            ("b-live", True, "closed"), ("a-dead", False, "open")]
        assert graph[0]["checkedAt"] is not None
        ready = httpx.get(f"{server.url}/readyz", timeout=5).json()
        assert ready["breakers"]["region:a-dead"]["state"] == "open"
        assert ready["loops"]["region-directory"]["state"] == "running"
