"""The inbox lives in the warm store: after the region's Redis loses everything (FLUSHALL), a
player's notifications, their read flags, the unread count, paging by cursor and marking read all
answer as before, over GraphQL with the player's JWT. The notifications are created by rules
evaluated on a live region (the engine writes the inbox), not written by the test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from podium.region.api.app import create_app

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.notifications.readiness import wait_rules_live
from tests.region.helpers import create_board, entry, post_scores, unique

from .test_notifications_http import ADMIN, JWT_SECRET, gql, token, wait_for

INBOX = """query($u: Boolean!, $a: String, $f: Int!) { notifications(first: $f, unreadOnly: $u, after: $a) {
  edges { cursor node { id kind board read } } hasNextPage endCursor unreadCount } }"""


@pytest.fixture(scope="module")
def lone_region(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, RedisServer]]:
    """A region on a Redis of its own: the test flushes it."""
    testing.START_TIMEOUT_S = 60.0
    with RedisServer(tmp_path_factory.mktemp("redis-loss"), appendonly=False) as server:
        settings = region_settings(server.url, jwt_secret=JWT_SECRET, notifications={"live_poll_ms": 100})
        with LiveServer(create_app, settings) as region:
            yield region, server


def inbox(base: str, player: str, first: int, unread_only: bool = False) -> tuple[list[dict[str, Any]], int]:
    """Every notification of `player`, page by page, and the unread count of the first page."""
    nodes: list[dict[str, Any]] = []
    after, unread = None, -1
    for _ in range(50):
        doc = gql(base, INBOX, {"u": unread_only, "a": after, "f": first}, token(player))
        assert "errors" not in doc, doc
        page = doc["data"]["notifications"]
        unread = page["unreadCount"] if unread < 0 else unread
        nodes += [e["node"] for e in page["edges"]]
        if not page["hasNextPage"]:
            return nodes, unread
        after = page["endCursor"]
    raise AssertionError("paging did not end")


def test_the_inbox_survives_a_redis_flush(lone_region: tuple[LiveServer, RedisServer]) -> None:
    region, server = lone_region
    base = region.url
    ann, bob = unique("ann"), unique("bob")
    board = create_board(base, public_read=True)
    for rule in ({"id": "top3", "board": board, "kind": "entered_top_n", "n": 3},
                 {"id": "hundred", "board": board, "kind": "threshold", "metric": "score", "value": 100}):
        assert httpx.post(f"{base}/v1/admin/notification-rules", json=rule, headers=ADMIN).status_code == 201
    wait_rules_live(base, ADMIN, board)
    assert post_scores(base, {"entries": [entry(board, ann, 200), entry(board, bob, 150)]}).status_code == 200
    wait_for(lambda: len(inbox(base, ann, 10)[0]) == 2 and len(inbox(base, bob, 10)[0]) == 2)
    before, unread = inbox(base, ann, 1)
    assert sorted(n["kind"] for n in before) == ["entered_top_n", "threshold"] and unread == 2
    marked = gql(base, "mutation($i: [String!]) { markNotificationsRead(ids: $i) }", {"i": [before[0]["id"]]},
                 token(ann))
    assert marked["data"]["markNotificationsRead"] == 1
    before, _ = inbox(base, ann, 1)

    with redis.Redis.from_url(server.url) as client:
        client.flushall()
        assert client.dbsize() == 0

    after, unread = inbox(base, ann, 1)                    # paged one by one through the cursors
    assert after == before and unread == 1
    assert [n["read"] for n in after] == [True, False]
    unread_nodes, _ = inbox(base, ann, 10, unread_only=True)
    assert [n["id"] for n in unread_nodes] == [before[1]["id"]]
    count = gql(base, "query { unreadNotifications }", {}, token(ann))["data"]["unreadNotifications"]
    assert count == 1
    assert gql(base, "mutation { markNotificationsRead }", {}, token(bob))["data"]["markNotificationsRead"] == 0
    bob_nodes, bob_unread = inbox(base, bob, 10)
    assert len(bob_nodes) == 2 and bob_unread == 0 and all(n["read"] for n in bob_nodes)
