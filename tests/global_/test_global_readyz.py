"""The global tier's /readyz asks its store adapter (`GlobalStore.ping`), not Redis directly: ready
while its real redis-server answers, 503 "redis unreachable" (never a 500) once it is killed -9, and
ready again when a redis-server is back on the same port."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
from podium.global_.server import create_global_app

from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer

DEADLINE_S = 30


def _wait_status(url: str, status: int) -> httpx.Response:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        r = httpx.get(f"{url}/readyz", timeout=10)
        if r.status_code == status or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def test_global_readyz_follows_its_redis(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=False).start()
    settings = Settings(redis_url=redis.url, data_dir=tmp_path, port=0)
    try:
        with LiveServer(create_global_app, settings) as server:
            assert _wait_status(server.url, 200).json()["status"] == "ready"
            assert redis.process is not None
            redis.process.kill()
            redis.process.wait()
            down = _wait_status(server.url, 503)
            assert down.status_code == 503 and down.json()["status"] == "redis unreachable", down.text
            assert "breakers" in down.json() and "loops" in down.json()
            redis.stop()
            redis = RedisServer(tmp_path / "redis", port=redis.port, appendonly=False).start()
            up = _wait_status(server.url, 200)
            assert up.status_code == 200 and up.json()["status"] == "ready", up.text
    finally:
        redis.stop()
