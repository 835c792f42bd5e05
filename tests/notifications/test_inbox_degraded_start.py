"""A region whose inbox store cannot be opened at start starts anyway, degraded: /readyz lists the
retried opening (backing off, with the error), rules are evaluated meanwhile (their notifications
wait for the store: in the engine, or, with the drain as the inbox writer, in its consumer group),
inbox reads answer UNAVAILABLE; once the store opens, the notifications derived
meanwhile are in the inbox. The store here is the SQLite inbox, its directory blocked by a file until
the test removes it; the Cassandra adapter, unreachable, fails its opening the same way (coded and
retryable) and leaves nothing half open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from podium.region.api.app import create_app
from podium.region.notifications.inbox_cassandra import CassandraInbox
from podium.region.notifications.inbox_drain_redis import GROUP as DRAIN_GROUP
from podium.region.notifications.outbox_redis import OUTBOX_KEY
from podium.region.notifications.wiring import INBOX_OPEN_LOOP
from redis import Redis

from podium.config import HistorySettings
from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.errors import Unavailable
from podium.notify_rules import Notification, RuleKind
from podium.redis_server import RedisServer, free_port
from tests.conftest import region_settings
from tests.notifications.readiness import wait_rules_live
from tests.region.helpers import create_board, entry, post_scores, unique

from .test_notifications_http import ADMIN, INBOX, JWT_SECRET, gql, token, wait_for


def inbox_loop(base: str) -> dict[str, Any]:
    r = httpx.get(f"{base}/readyz", timeout=30)
    assert r.status_code == 200, r.text                 # degraded, not unready: scores are still taken
    return r.json()["loops"][INBOX_OPEN_LOOP]          # type: ignore[no-any-return]


@pytest.mark.parametrize("writer", ["engine", "drain"])
def test_a_region_starts_without_its_inbox_store_and_catches_up(redis_server: RedisServer, tmp_path: Path,
                                                                writer: str) -> None:
    testing.START_TIMEOUT_S = 60.0
    blocker = tmp_path / "inbox-dir"
    blocker.write_text("a file where the inbox's directory should be")
    settings = region_settings(redis_server.url, jwt_secret=JWT_SECRET, notifications={
        "live_poll_ms": 100, "inbox_sqlite_path": str(blocker / "inbox.sqlite3"), "inbox_writer": writer})
    ann = unique("ann")
    with LiveServer(create_app, settings) as region:
        base = region.url
        wait_for(lambda: inbox_loop(base)["restarts"] >= 1)
        loop = inbox_loop(base)
        assert loop["state"] in {"backing_off", "running"} and "inbox" in (loop["last_error"] or ""), loop
        r = httpx.post(f"{base}/graphql", json={"query": INBOX, "variables": {"u": False}}, headers=token(ann), timeout=30)
        assert r.status_code == 503 and r.headers.get("retry-after"), r.text      # coded and retryable, as any store's
        assert r.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE", r.text

        board = create_board(base, public_read=True)
        rule = {"id": "top3", "board": board, "kind": "entered_top_n", "n": 3}
        assert httpx.post(f"{base}/v1/admin/notification-rules", json=rule, headers=ADMIN).status_code == 201
        wait_rules_live(base, ADMIN, board)
        assert post_scores(base, {"entries": [entry(board, ann, 10)]}).status_code == 200
        if writer == "engine":       # derived, held by the engine until the store opens
            wait_for(lambda: httpx.get(f"{base}/v1/admin/notification-rules", headers=ADMIN, timeout=30)
                     .json()["engine"]["publish_failures"] >= 1)
        else:                        # derived and in the outbox; the drain holds it pending in its group
            with Redis.from_url(redis_server.url) as redis:
                wait_for(lambda: redis.xpending(OUTBOX_KEY, DRAIN_GROUP)["pending"] >= 1)

        blocker.unlink()                                                 # the store can open now
        wait_for(lambda: inbox_loop(base)["state"] == "stopped")         # opened: the loop is done
        wait_for(lambda: "errors" not in (d := gql(base, INBOX, {"u": False}, token(ann)))
                 and [e["node"]["kind"] for e in d["data"]["notifications"]["edges"]] == ["entered_top_n"])


@pytest.mark.anyio
async def test_an_unreachable_cassandra_inbox_fails_its_opening_coded_and_leaves_nothing_open() -> None:
    settings = HistorySettings(cassandra_contact_points=["127.0.0.1"], cassandra_port=free_port(),
                               cassandra_protocol_version=5)
    store = CassandraInbox(settings, 10)
    with pytest.raises(Unavailable, match="unreachable"):
        await store.open()
    assert store._cluster is None and store._session is None       # shut down: a retry starts afresh
    note = Notification("r:ann:1", RuleKind.THRESHOLD, "r", "b", "ann", 1)
    with pytest.raises(Unavailable):
        await store.append([note])
    with pytest.raises(Unavailable):
        await store.unread("ann")
    await store.close()
