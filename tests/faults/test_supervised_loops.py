"""On a real region process: a Redis outage that used to end the replication shipper for good
(one raw ConnectionError) now leaves it running: its change feed turns the outage into Unavailable,
it backs off, and it ships again once Redis is back; /readyz lists it among the supervised loops."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from podium.region.api.app import create_app

from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer, free_port
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import create_board


def _readyz(url: str) -> httpx.Response:
    return httpx.get(f"{url}/readyz", timeout=5)


def _status(url: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/v1/admin/replication/status", headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=5)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def test_shipper_survives_a_redis_kill_and_ships_again(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=True).start()
    # a global tier nobody serves: the shipper backs off on its own (Unavailable) meanwhile
    settings = region_settings(redis.url, global_={"url": f"http://127.0.0.1:{free_port()}"},
                               replication={"secret": "s", "ship_interval_ms": 20, "backoff_ms_max": 50},
                               supervisor={"restart_backoff_ms_initial": 50, "restart_backoff_ms_max": 200})
    try:
        with LiveServer(create_app, settings) as server:
            create_board(server.url)
            ready = _readyz(server.url).json()
            assert set(ready["loops"]) >= {"fan-out", "replication-shipper", "anti-entropy", "history-writer",
                                           "snapshot-scheduler"}
            assert redis.process is not None
            redis.process.kill()
            redis.process.wait()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and _status(server.url)["state"] != "backing_off":
                time.sleep(0.05)
            r = _readyz(server.url)
            assert r.status_code == 503 and r.json()["status"] == "redis unreachable"
            assert _status(server.url)["state"] == "backing_off"
            assert r.json()["loops"]["replication-shipper"]["state"] == "running"   # alive, not dead
            redis.stop()   # reaps the killed process
            redis = RedisServer(tmp_path / "redis", port=redis.port, appendonly=True).start()
            deadline = time.monotonic() + 30   # the Redis breaker closes after its open time and a probe
            while time.monotonic() < deadline and _readyz(server.url).status_code != 200:
                time.sleep(0.05)
            ready = _readyz(server.url).json()
            assert ready["status"] == "ready"
            assert {n: s["state"] for n, s in ready["loops"].items()}["replication-shipper"] == "running"
            metrics = httpx.get(f"{server.url}/metrics").text
            assert 'podium_loop_restarts{loop="replication-shipper"' in metrics
            assert _status(server.url)["failures"] >= 1
    finally:
        redis.stop()
