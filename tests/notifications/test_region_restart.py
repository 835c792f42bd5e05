"""A region restart loses no notification: a region and its redis-server (append-only file, as
`podium up` runs it) stop while the only webhook endpoint is failing and `overtaken` passes are
held in a coalescing window; after both start again, every notification is in its player's inbox
and reaches the endpoint exactly once (by event id)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from podium.region.api.app import create_app

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.notifications.readiness import wait_rules_live, wait_webhooks_active
from tests.region.helpers import create_board, entry, post_scores, unique

from .receiver import Receiver
from .test_notifications_http import ADMIN, HOOK_SECRET, INBOX, JWT_SECRET, gql, token, wait_for

HOUR_MS = 3_600_000


def inbox(base: str, player: str) -> list[dict[str, Any]]:
    doc = gql(base, INBOX, {"u": False}, token(player))
    assert "errors" not in doc, doc
    return [e["node"] for e in doc["data"]["notifications"]["edges"]]


def test_a_region_restart_loses_no_notification(tmp_path: Path) -> None:
    testing.START_TIMEOUT_S = 60.0
    ann, bob, cyd, dan = unique("ann"), unique("bob"), unique("cyd"), unique("dan")
    with RedisServer(tmp_path / "redis", appendonly=True) as redis, Receiver({"rx": HOOK_SECRET}) as rx:
        settings = region_settings(redis.url, jwt_secret=JWT_SECRET, notifications={
            "live_poll_ms": 100, "webhook_poll_ms": 50, "webhook_retry_base_ms": 50, "webhook_retry_ms_max": 300,
            "webhook_breaker_open_ms": 300})
        rx.dead = True                          # every attempt fails until the restart
        with LiveServer(create_app, settings) as region:
            base = region.url
            board = create_board(base, public_read=True)
            assert post_scores(base, {"entries": [entry(board, ann, 50), entry(board, bob, 40)]}).status_code == 200
            for rule in ({"id": "top2", "board": board, "kind": "entered_top_n", "n": 2},
                         {"id": "passed", "board": board, "kind": "overtaken", "n": 10, "window_ms": HOUR_MS}):
                assert httpx.post(f"{base}/v1/admin/notification-rules", json=rule, headers=ADMIN).status_code == 201
            r = httpx.post(f"{base}/v1/admin/webhooks", headers=ADMIN,
                           json={"id": "rx", "url": rx.url(), "secret": HOOK_SECRET, "boards": [board]})
            assert r.status_code == 201, r.text
            engine = region.app.state.notifications.engine
            wait_rules_live(base, ADMIN, board)               # both rules evaluated by the watch at their slice
            wait_webhooks_active(base, ADMIN, {"rx"})
            assert post_scores(base, {"entries": [entry(board, cyd, 200)]}).status_code == 200
            # ann and bob: overtaken by cyd (sent at once, their first), cyd entered the top 2
            wait_for(lambda: engine.published == 3 and rx.attempts)   # ... and deliveries fail
            assert post_scores(base, {"entries": [entry(board, dan, 300)]}).status_code == 200
            # dan passes ann, bob (held: inside their hour) and cyd (sent: its first); dan entered the top 2
            wait_for(lambda: engine.published == 5)
            assert sorted(p for _, p in engine.coalescer.held) == sorted([ann, bob])
            assert not rx.accepted
        redis.stop()
        redis.start()                                          # reloads its append-only file
        rx.dead = False
        with LiveServer(create_app, settings) as region:
            base = region.url
            wanted = {ann: [[dan], [cyd]], bob: [[dan], [cyd]], cyd: [[dan], "entered_top_n"], dan: ["entered_top_n"]}
            got: dict[str, list[Any]] = {}
            for player in wanted:
                notes = inbox(base, player)
                got[player] = [n["by"] if n["kind"] == "overtaken" else n["kind"] for n in notes]
                ids = {n["id"] for n in notes}
                assert len(ids) == len(notes)
            assert got == wanted                               # newest first; the held passes went out at stop
            every_id = {n["id"] for p in wanted for n in inbox(base, p)}
            wait_for(lambda: set(rx.accepted) == every_id)
            assert set(rx.accepted.values()) == {1} and rx.bad_signatures == 0
