"""Notifications end to end on a live region: rules and a webhook declared over REST, scores
posted, the player's inbox read over GraphQL with their JWT, the webhook received and verified;
hostile input gets 4xx with a code, never 5xx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from podium.region.api.app import create_app
from podium.region.notifications.inbox_factory import inbox_sqlite_path
from podium.region.notifications.inbox_sqlite import SqliteInbox

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import Subscriber
from podium.notify_rules import Notification, RuleKind
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.notifications.readiness import wait_rules_live, wait_webhooks_active
from tests.region.helpers import create_board, entry, post_scores, unique

from .receiver import Receiver

JWT_SECRET = "jwt-secret-for-notification-tests-0123"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HOOK_SECRET = "hook-secret-0123456789abcdef"


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    testing.START_TIMEOUT_S = 60.0      # the test machine is loaded: give start-up time
    settings = region_settings(redis_server.url, jwt_secret=JWT_SECRET,
                               notifications={"live_poll_ms": 100, "webhook_poll_ms": 50})
    with LiveServer(create_app, settings) as server:
        yield server


def token(player: str) -> dict[str, str]:
    claims = {"sub": player, "exp": int(time.time()) + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, JWT_SECRET, algorithm='HS256')}"}


def gql(base: str, query: str, variables: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    r = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=30)
    assert r.status_code < 500, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_for(check: Any, seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not reached in time")


INBOX = """query($u: Boolean!, $a: String) { notifications(first: 10, unreadOnly: $u, after: $a) {
  edges { cursor node { id kind board rank by count read } } hasNextPage endCursor unreadCount } }"""


def test_rules_inbox_and_webhook(region: LiveServer) -> None:
    base = region.url
    ann, bob, cyd = unique("ann"), unique("bob"), unique("cyd")   # inboxes are per player: fresh ones
    board = create_board(base, public_read=True)
    assert post_scores(base, {"entries": [entry(board, ann, 50), entry(board, bob, 40)]}).status_code == 200
    for rule in ({"id": "top2", "board": board, "kind": "entered_top_n", "n": 2},
                 {"id": "passed", "board": board, "kind": "overtaken", "n": 10, "window_ms": 0},
                 {"id": "hundred", "board": board, "kind": "threshold", "metric": "score", "value": 100}):
        r = httpx.post(f"{base}/v1/admin/notification-rules", json=rule, headers=ADMIN)
        assert r.status_code == 201, r.text
    with Receiver({"rx": HOOK_SECRET}) as rx:
        r = httpx.post(f"{base}/v1/admin/webhooks", headers=ADMIN,
                       json={"id": "rx", "url": rx.url(), "secret": HOOK_SECRET, "boards": [board]})
        assert r.status_code == 201 and "secret" not in r.json()["webhook"], r.text
        wait_rules_live(base, ADMIN, board)       # all three rules evaluated by the watch at their slice
        wait_webhooks_active(base, ADMIN, {"rx"})
        assert post_scores(base, {"entries": [entry(board, cyd, 200)]}).status_code == 200

        doc = wait_for(lambda: (d := gql(base, INBOX, {"u": False}, token(ann)))["data"]["notifications"]["edges"]
                       and d)
        page = doc["data"]["notifications"]
        assert [e["node"]["kind"] for e in page["edges"]] == ["overtaken"]
        assert page["edges"][0]["node"]["by"] == [cyd] and page["unreadCount"] == 1
        cyd_doc = wait_for(lambda: len((d := gql(base, INBOX, {"u": True}, token(cyd)))["data"]["notifications"]
                                   ["edges"]) == 2 and d)
        assert sorted(e["node"]["kind"] for e in cyd_doc["data"]["notifications"]["edges"]) == ["entered_top_n", "threshold"]
        # paging with the opaque cursor
        first = cyd_doc["data"]["notifications"]["edges"][0]["cursor"]
        rest_doc = gql(base, INBOX, {"u": False, "a": first}, token(cyd))
        assert "errors" not in rest_doc, rest_doc
        rest = rest_doc["data"]["notifications"]
        assert len(rest["edges"]) == 1 and not rest["hasNextPage"]
        marked = gql(base, "mutation { markNotificationsRead }", {}, token(cyd))
        assert marked["data"]["markNotificationsRead"] == 0
        assert gql(base, INBOX, {"u": True}, token(cyd))["data"]["notifications"]["edges"] == []

        # webhook: every event of the board, signed (verified by the receiver), once each
        wait_for(lambda: len(rx.accepted) == 4)
        assert rx.bad_signatures == 0 and set(rx.accepted.values()) == {1}


def test_a_player_sees_only_their_own(region: LiveServer) -> None:
    base = region.url
    q = """query($p: String) { notifications(player: $p) { unreadCount } }"""
    assert gql(base, q, {"p": "ann"}, token("bob"))["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert gql(base, q, {}, {})["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert gql(base, q, {"p": "ann"}, ADMIN)["data"]["notifications"]["unreadCount"] >= 0
    bad = gql(base, INBOX, {"u": False, "a": "not-a-cursor"}, token("bob"))
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    rule = gql(base, """mutation { declareNotificationRule(rule: {id: "x", board: "b", kind: "threshold"}) { id } }""",
               {}, token("bob"))
    assert rule["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b"null", b'{"id": 5}', b'{"id": "a", "url": "ftp://x", "secret": "0123456789abcdef"}',
    b'{"id": "a", "url": "http://127.0.0.1/x", "secret": "short"}',
    b'{"id": "a", "url": "http://127.0.0.1/x", "secret": "0123456789abcdef", "events": ["nope"]}',
    b'{"id": "a", "url": "http://127.0.0.1/x", "secret": "0123456789abcdef", "boards": {"a": 1}}',
])
def test_hostile_webhook_bodies_get_4xx(region: LiveServer, body: bytes) -> None:
    r = httpx.post(f"{region.url}/v1/admin/webhooks", content=body, headers=ADMIN, timeout=30)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("body", [b"{}", b'{"id": "r", "board": "b", "kind": "overtaken", "n": 1e99}',
                                  b'{"id": "r", "board": "b", "kind": "threshold", "value": true}',
                                  b'{"id": "", "board": "b", "kind": "left_top_n"}'])
def test_hostile_rules_get_4xx(region: LiveServer, body: bytes) -> None:
    r = httpx.post(f"{region.url}/v1/admin/notification-rules", content=body, headers=ADMIN, timeout=30)
    assert r.status_code == 400, r.text


def test_admin_endpoints_need_an_admin_key(region: LiveServer) -> None:
    assert httpx.get(f"{region.url}/v1/admin/webhooks", timeout=30).status_code == 401
    assert httpx.get(f"{region.url}/v1/admin/webhooks/dead-letters?first=0", headers=ADMIN, timeout=30).status_code == 400
    assert httpx.post(f"{region.url}/v1/admin/webhooks/dead-letters/zzz/replay", headers=ADMIN,
                      timeout=30).status_code == 400


@pytest.mark.anyio
async def test_notification_received_follows_the_inbox(region: LiveServer) -> None:
    live = "subscription { notificationReceived { id kind player board rank } }"
    dan = await Subscriber(region.ws_url, payload=token("dan")).connect()
    eve = await Subscriber(region.ws_url, payload=token("eve")).connect()
    # the region's warm inbox (SQLite in WAL mode: a second connection writes beside the region's)
    store = SqliteInbox(inbox_sqlite_path(region.settings), region.settings.notifications.inbox_len_max)
    await store.open()
    try:
        await dan.subscribe(live)
        await eve.subscribe("subscription { notificationReceived(player: \"dan\") { id } }")
        refused = await asyncio.wait_for(eve.next(), 60)
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        # the subscription starts from the inbox's end once it has read it: publish until one arrives
        first = asyncio.create_task(dan.next())
        published: list[str] = []
        deadline = asyncio.get_running_loop().time() + 60
        while not first.done() and asyncio.get_running_loop().time() < deadline:
            note = Notification(f"r:dan:{len(published)}", RuleKind.ENTERED_TOP_N, "r", "b", "dan",
                                1 + len(published), rank=3)
            await store.append([note])
            published.append(note.id)
            await asyncio.wait([first], timeout=0.5)
        got = (await asyncio.wait_for(first, 5))["data"]["notificationReceived"]
        assert got["id"] in published
        assert got == {"id": got["id"], "kind": "entered_top_n", "player": "dan", "board": "b", "rank": 3}
        if got["id"] != published[-1]:          # every later one follows, in order
            rest = [(await asyncio.wait_for(dan.next(), 60))["data"]["notificationReceived"]["id"]
                    for _ in published[published.index(got["id"]) + 1:]]
            assert rest == published[published.index(got["id"]) + 1:]
    finally:
        await dan.close()
        await eve.close()
        await store.close()


@pytest.mark.parametrize(("query", "variables"), [
    ("query($f: Int!) { notifications(first: $f) { unreadCount } }", {"f": 0}),
    ("query($f: Int!) { notifications(first: $f) { unreadCount } }", {"f": 10**6}),
    ("mutation($i: [String!]) { markNotificationsRead(ids: $i) }", {"i": ["x"] * 501}),
    ("mutation { declareNotificationRule(rule: {id: \"r\", board: \"b\", kind: \"nope\"}) { id } }", {}),
    ("mutation { declareNotificationRule(rule: {id: \"r\", board: \"b\", kind: \"overtaken\", n: -1}) { id } }", {}),
])
def test_hostile_graphql_gets_bad_user_input(region: LiveServer, query: str, variables: dict[str, Any]) -> None:
    headers = ADMIN if "declare" in query else token("ann")
    doc = gql(region.url, query, variables, headers)
    assert doc["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", doc
