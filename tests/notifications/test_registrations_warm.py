"""Rules and webhook endpoints survive a Redis that loses its data: they have a warm copy (SQLite in
the region's data dir). On a live region, FLUSHALL: the region writes them back within
`registrations_check_ms`, without the removed ones, and they work (a rule notifies, the endpoint's
secret signs the delivery). Then the region starts again on a new, empty Redis with the same data
dir: they are there at start."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from podium.region.api.app import create_app

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.keys import DATA_MARK_KEY, REBUILDING_KEY
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.notifications.readiness import wait_rules_live, wait_webhooks_active
from tests.region.helpers import create_board, entry, post_scores, unique

from .receiver import Receiver
from .test_notifications_http import ADMIN, HOOK_SECRET, JWT_SECRET, wait_for


def declared(base: str) -> tuple[set[tuple[str, str]], set[str]]:
    rules = httpx.get(f"{base}/v1/admin/notification-rules", headers=ADMIN, timeout=30).json()["rules"]
    hooks = httpx.get(f"{base}/v1/admin/webhooks", headers=ADMIN, timeout=30).json()["webhooks"]
    return {(r["board"], r["id"]) for r in rules}, {h["id"] for h in hooks}


def settings(redis_url: str, data_dir: Path) -> Any:
    return region_settings(redis_url, jwt_secret=JWT_SECRET, data_dir=data_dir, notifications={
        "live_poll_ms": 100, "webhook_poll_ms": 50, "registrations_check_ms": 100},
        history={"redis_loss_check_ms": 100})


def recovered(client: redis.Redis) -> bool:
    """The region noticed the loss and rebuilt its boards from the warm store: it marks Redis again
    once the rebuilds hold their leases, and releases each lease when its board is back. A score
    posted before that lands in the emptied board, which the region's recovery then leaves as it is
    (it rebuilds only empty boards: region/recovery.py `candidates`), so the tests wait for it."""
    return bool(client.exists(DATA_MARK_KEY)) and not client.hlen(REBUILDING_KEY)


def test_rules_and_webhooks_survive_a_redis_loss(tmp_path: Path) -> None:
    testing.START_TIMEOUT_S = 60.0
    data_dir = tmp_path / "region"
    ann = unique("ann")
    with (RedisServer(tmp_path / "redis-a", appendonly=False) as server, Receiver({"rx": HOOK_SECRET}) as rx,
          LiveServer(create_app, settings(server.url, data_dir)) as region):
        base = region.url
        board = create_board(base, public_read=True)
        for rule in ({"id": "top3", "board": board, "kind": "entered_top_n", "n": 3},
                     {"id": "hundred", "board": board, "kind": "threshold", "metric": "score", "value": 100},
                     {"id": "gone", "board": board, "kind": "left_top_n", "n": 3}):
            assert httpx.post(f"{base}/v1/admin/notification-rules", json=rule, headers=ADMIN).status_code == 201
        for hook in ({"id": "rx", "url": rx.url(), "secret": HOOK_SECRET, "boards": [board]},
                     {"id": "old", "url": rx.url("/old"), "secret": HOOK_SECRET}):
            r = httpx.post(f"{base}/v1/admin/webhooks", json=hook, headers=ADMIN)
            assert r.status_code == 201, r.text
        assert httpx.delete(f"{base}/v1/admin/notification-rules/{board}/gone", headers=ADMIN).status_code == 200
        assert httpx.delete(f"{base}/v1/admin/webhooks/old", headers=ADMIN).status_code == 200
        expected = ({(board, "top3"), (board, "hundred")}, {"rx"})
        assert declared(base) == expected

        with redis.Redis.from_url(server.url) as client:
            client.flushall()
            wait_for(lambda: declared(base) == expected)    # written back from the warm copy
            wait_for(lambda: recovered(client))

        wait_rules_live(base, ADMIN, board)
        wait_webhooks_active(base, ADMIN, {"rx"})
        assert post_scores(base, {"entries": [entry(board, ann, 150)]}).status_code == 200
        wait_for(lambda: sorted(b["rule"] for b in rx.bodies()) == ["hundred", "top3"])
        assert rx.bad_signatures == 0 and all(b["player"] == ann for b in rx.bodies())

    with (RedisServer(tmp_path / "redis-b", appendonly=False) as server,         # a new, empty Redis
          LiveServer(create_app, settings(server.url, data_dir)) as region):
        assert declared(region.url) == expected


def in_warm_store(data_dir: Path, player: str) -> bool:
    with contextlib.closing(sqlite3.connect(data_dir / "history.sqlite3")) as db:
        return bool(db.execute("SELECT count(*) FROM score_history WHERE player = ?", (player,)).fetchone()[0])


def test_a_score_applied_just_before_a_redis_loss_notifies(tmp_path: Path) -> None:
    """A score applied (and in the warm store) but not yet evaluated when Redis loses its data
    (the fan-out ticks every 20 s here, so the rules have not seen it): the rules' watch ends with
    the loss (the rules' keys are gone too) and a new one reads the board while it is lost and
    rebuilt (held back) and then rebuilt. The rebuilt top is evaluated against the top the rules
    saw before the loss, not taken as a new baseline: the score notifies, and nobody already in
    the top is told they left or entered it. Fails when a new watch's first top is a baseline."""
    testing.START_TIMEOUT_S = 60.0
    ann, bob = unique("ann"), unique("bob")
    data_dir = tmp_path / "region"
    slow_ticks = settings(str(tmp_path), data_dir).api.model_copy(update={"tick_ms": 20_000})
    with RedisServer(tmp_path / "redis", appendonly=False) as server, Receiver({"rx": HOOK_SECRET}) as rx:
        config = settings(server.url, data_dir).model_copy(update={"api": slow_ticks})
        with LiveServer(create_app, config) as region:
            base = region.url
            board = create_board(base, public_read=True)
            for rule in ({"id": "top3", "board": board, "kind": "entered_top_n", "n": 3},
                         {"id": "gone", "board": board, "kind": "left_top_n", "n": 3},
                         {"id": "hundred", "board": board, "kind": "threshold", "metric": "score", "value": 100}):
                assert httpx.post(f"{base}/v1/admin/notification-rules", json=rule, headers=ADMIN).status_code == 201
            r = httpx.post(f"{base}/v1/admin/webhooks", json={"id": "rx", "url": rx.url(), "secret": HOOK_SECRET,
                                                              "boards": [board]}, headers=ADMIN)
            assert r.status_code == 201, r.text
            wait_rules_live(base, ADMIN, board)
            wait_webhooks_active(base, ADMIN, {"rx"})
            assert post_scores(base, {"entries": [entry(board, ann, 150)]}).status_code == 200
            wait_for(lambda: len(rx.bodies()) == 2)          # just after a tick: the next is 20 s away
            assert post_scores(base, {"entries": [entry(board, bob, 120)]}).status_code == 200
            wait_for(lambda: in_warm_store(data_dir, bob))
            with redis.Redis.from_url(server.url) as client:
                flushed_ms = int(time.time() * 1000)
                client.flushall()
                wait_for(lambda: recovered(client))
            wait_for(lambda: len(rx.bodies()) >= 4)
            wait_for(lambda: httpx.get(f"{base}/v1/admin/notification-rules", headers=ADMIN).json()["engine"]["waiting"] == 0)
        got = sorted((b["rule"], b["player"]) for b in rx.bodies())
        assert got == sorted([("top3", ann), ("hundred", ann), ("top3", bob), ("hundred", bob)]), got
        assert rx.bad_signatures == 0
        # derived from the rebuilt top, not by a tick that saw bob before the loss
        assert all(b["at_ms"] >= flushed_ms for b in rx.bodies() if b["player"] == bob), rx.bodies()
