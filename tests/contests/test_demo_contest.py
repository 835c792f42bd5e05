"""`podium up --demo`'s contest runs: declared, teams joined, locked, then the live feed moves the
standings (a shorter lock and feed interval than the demo's, on a live region)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from podium.region.api.app import create_app
from rich.console import Console

from podium.devtools import demo_contest, testing
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET, region_settings


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    testing.START_TIMEOUT_S = 60.0
    with LiveServer(create_app, region_settings(redis_server.url)) as server:
        yield server


def test_the_demo_contest_locks_and_its_standings_move(region: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo_contest, "DEMO_TEAMS", 20)
    monkeypatch.setattr(demo_contest, "DEMO_LOCK_AFTER_S", 20)
    monkeypatch.setattr(demo_contest, "DEMO_FEED_INTERVAL_S", 0.2)
    stop = asyncio.Event()
    loop = asyncio.new_event_loop()
    demo = threading.Thread(target=loop.run_until_complete, args=(demo_contest.run_contest_demo(
        region.url, GAME_KEY_ID, GAME_SECRET, ADMIN_KEY, stop, Console(quiet=True)),), daemon=True)
    demo.start()
    try:
        deadline, doc = time.monotonic() + 90, dict[str, Any]()
        while time.monotonic() < deadline:
            r = httpx.get(f"{region.url}/v1/contests/{demo_contest.DEMO_CONTEST}/standings", params={"first": "3"})
            doc = r.json() if r.status_code == 200 else {}
            if doc.get("state") == "indexed" and doc["top"] and doc["top"][0]["points"] > 0:
                break
            time.sleep(0.3)
        assert doc.get("state") == "indexed" and doc["top"][0]["points"] > 0, doc
        assert len(doc["top"]) == 3
    finally:
        loop.call_soon_threadsafe(stop.set)
        demo.join(30)
        if not demo.is_alive():
            loop.close()
