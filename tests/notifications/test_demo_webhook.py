"""The demo's webhook receiver: registered on a live region like `podium up --demo` does, it receives
signed deliveries, verifies them, and refuses one signed with another secret."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterator

import httpx
import pytest
from podium.region.api.app import create_app
from rich.console import Console

from podium.devtools import testing
from podium.devtools.demo_webhook import DEMO_ENDPOINT, DemoReceiver, register
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from podium.signing import signed_headers
from tests.conftest import ADMIN_KEY, region_settings
from tests.notifications.readiness import wait_rules_live, wait_webhooks_active
from tests.region.helpers import create_board, entry, post_scores

SECRET = "demo-secret-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    testing.START_TIMEOUT_S = 60.0
    with LiveServer(create_app, region_settings(redis_server.url, notifications={"live_poll_ms": 100,
                                                                                "webhook_poll_ms": 50})) as server:
        yield server


async def _register(base: str, board: str, url: str) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        await register(http, ADMIN_KEY, board, url, SECRET)


def test_the_demo_receiver_verifies_real_deliveries(region: LiveServer) -> None:
    out = io.StringIO()
    receiver = DemoReceiver(SECRET, Console(file=out, width=200))
    receiver.thread.start()
    try:
        board = create_board(region.url)
        asyncio.run(_register(region.url, board, receiver.url))
        wait_rules_live(region.url, ADMIN, board)
        wait_webhooks_active(region.url, ADMIN, {DEMO_ENDPOINT})
        post_scores(region.url, {"entries": [entry(board, "ann", 10), entry(board, "bob", 20)]})
        deadline = time.monotonic() + 30
        while receiver.received < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        # `received` counts a delivery once it is printed, so both lines are there when it reads 2
        assert receiver.received == 2 and receiver.rejected == 0, out.getvalue()
        printed = out.getvalue()
        assert printed.count("entered_top_n") == 2 and printed.count("signature verified") == 2
        assert "for ann on" in printed and "for bob on" in printed

        forged = b'{"kind": "entered_top_n"}'
        headers = signed_headers(DEMO_ENDPOINT, "another-secret-0123456789", "POST", "/hook",
                                 time.time_ns() // 1_000_000, forged)
        assert httpx.post(receiver.url, content=forged, headers=headers).status_code == 401
        assert receiver.rejected == 1
    finally:
        receiver.close()
