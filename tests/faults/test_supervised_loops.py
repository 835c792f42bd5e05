"""On a real region process: a Redis outage that used to end the replication shipper for good
(one raw ConnectionError) now restarts it under the supervisor, and /readyz reports it."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from podium.region.api.app import create_app

from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer, free_port
from tests.conftest import region_settings
from tests.region.helpers import create_board


def _readyz(url: str) -> httpx.Response:
    return httpx.get(f"{url}/readyz", timeout=5)


def test_shipper_survives_a_redis_kill_and_readyz_shows_restarts(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=True).start()
    # a global tier nobody serves: the shipper backs off on its own (Unavailable) meanwhile
    settings = region_settings(redis.url, global_={"url": f"http://127.0.0.1:{free_port()}"},
                               replication={"secret": "s", "ship_interval_ms": 20, "backoff_ms_max": 50},
                               supervisor={"restart_backoff_ms_initial": 50, "restart_backoff_ms_max": 200})
    try:
        with LiveServer(create_app, settings) as server:
            create_board(server.url)
            ready = _readyz(server.url).json()
            assert set(ready["loops"]) >= {"fan-out", "replication-shipper", "sketch-publisher", "anti-entropy",
                                           "history-writer", "snapshot-scheduler"}
            assert redis.process is not None
            redis.process.kill()
            redis.process.wait()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                r = _readyz(server.url)
                if r.json()["loops"]["replication-shipper"]["restarts"] >= 1:
                    break
                time.sleep(0.05)
            assert r.status_code == 503 and r.json()["status"] == "redis unreachable"
            shipper = r.json()["loops"]["replication-shipper"]
            assert shipper["restarts"] >= 1 and "Connection" in shipper["last_error"], shipper
            redis.stop()   # reaps the killed process
            redis = RedisServer(tmp_path / "redis", port=redis.port, appendonly=True).start()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _readyz(server.url).status_code != 200:
                time.sleep(0.05)
            ready = _readyz(server.url).json()
            assert ready["status"] == "ready"
            assert {n: s["state"] for n, s in ready["loops"].items()}["replication-shipper"] == "running"
            metrics = httpx.get(f"{server.url}/metrics").text
            assert 'podium_loop_restarts{loop="replication-shipper"' in metrics
    finally:
        redis.stop()
