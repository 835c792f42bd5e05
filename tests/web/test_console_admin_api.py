"""The admin API the console's newer panels use, without a browser: score edits with a required
reason (audited), snapshots and rebuilds on demand, the webhook status; hostile input gets 4xx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from podium.region.api.app import create_app

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.keys import board_keys
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.notifications.readiness import wait_rules_live, wait_webhooks_active
from tests.notifications.receiver import Receiver
from tests.region.helpers import create_board, entry, post_scores, unique

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HOOK_SECRET = "hook-secret-for-console-0123456789"
EDIT = ("mutation($b:String!,$p:String!,$s:Long!,$r:String!){ editScore(board:$b, player:$p, score:$s, reason:$r)"
        "{ status reason rank score } }")


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    testing.START_TIMEOUT_S = 60.0
    settings = region_settings(redis_server.url, history={"rebuild_settle_ms": 50},
                               notifications={"webhook_poll_ms": 50, "webhook_retry_base_ms": 20,
                                              "webhook_retry_ms_max": 50, "webhook_deadline_ms": 300})
    with LiveServer(create_app, settings) as server:
        yield server


def gql(server: LiveServer, query: str, variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables or {}},
                   headers=headers if headers is not None else ADMIN, timeout=30)
    assert r.status_code < 500, r.text
    return r.json()  # type: ignore[no-any-return]


def code(doc: dict[str, Any]) -> str:
    return doc["errors"][0]["extensions"]["code"]  # type: ignore[no-any-return]


def standings(server: LiveServer, board: str) -> list[tuple[str, int]]:
    doc = gql(server, "query($b:String!){ leaderboard(board:$b, first:100){ edges { node { player score } } } }",
              {"b": board}, headers={})
    assert "errors" not in doc, doc
    return [(e["node"]["player"], e["node"]["score"]) for e in doc["data"]["leaderboard"]["edges"]]


def audit(server: LiveServer) -> list[dict[str, Any]]:
    return gql(server, "{ auditLog(first: 20) { who action detail } }")["data"]["auditLog"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("operator", ["best", "latest", "increment", "decrement"])
def test_a_score_edit_sets_the_exact_score_whatever_the_operator(region: LiveServer, operator: str) -> None:
    board = create_board(region.url, operator=operator)
    post_scores(region.url, {"entries": [entry(board, "ann", 500), entry(board, "bob", 300)]})
    bob = -300 if operator == "decrement" else 300        # decrement boards hold negated totals
    doc = gql(region, EDIT, {"b": board, "p": "ann", "s": 100, "r": "rolled back an exploit"})
    assert doc["data"]["editScore"] == {"status": "applied", "reason": None, "rank": 2 if bob > 100 else 1,
                                        "score": 100}, doc
    assert standings(region, board) == sorted([("ann", 100), ("bob", bob)], key=lambda r: -r[1])
    # a new player can be given a score too
    assert gql(region, EDIT, {"b": board, "p": "cyd", "s": 7, "r": "support ticket 42"})["data"]["editScore"]["status"] == "applied"
    newest = audit(region)[0]
    assert (newest["action"], newest["detail"]["reason"], newest["detail"]["player"]) == \
        ("editScore", "support ticket 42", "cyd")
    assert newest["who"].startswith("key:")


def test_a_score_edit_needs_a_reason_an_admin_and_the_board_limits(region: LiveServer) -> None:
    board = create_board(region.url, score_min=0, score_max=1000)
    post_scores(region.url, {"entries": [entry(board, "ann", 50)]})
    before = len(audit(region))
    for reason in ("", "   ", "x" * 501):
        assert code(gql(region, EDIT, {"b": board, "p": "ann", "s": 9, "r": reason})) == "BAD_USER_INPUT", reason
    for s in (-1, 1001):
        assert code(gql(region, EDIT, {"b": board, "p": "ann", "s": s, "r": "limits"})) == "BAD_USER_INPUT", s
    assert code(gql(region, EDIT, {"b": "no-such-board", "p": "ann", "s": 1, "r": "x"})) == "NOT_FOUND"
    assert code(gql(region, EDIT, {"b": board, "p": "ann", "s": 1, "r": "x"}, headers={})) == "UNAUTHENTICATED"
    assert standings(region, board) == [("ann", 50)]
    assert len(audit(region)) == before            # refused edits are not recorded


@pytest.mark.parametrize("variables", [
    {"s": "abc"}, {"s": 1.5}, {"s": 2**64}, {"s": None}, {"s": [1]}, {"r": None}, {"r": 5}, {"p": ""},
    {"p": "x" * 129}, {"b": {"id": 1}},
])
def test_hostile_score_edits_are_4xx_with_a_code(region: LiveServer, variables: dict[str, Any]) -> None:
    board = create_board(region.url)
    doc = gql(region, EDIT, {"b": board, "p": "ann", "s": 1, "r": "ok", **variables})
    assert doc.get("errors"), doc
    assert doc["errors"][0].get("extensions", {}).get("code"), doc
    assert standings(region, board) == []


def test_a_banned_player_stays_banned_through_an_edit(region: LiveServer) -> None:
    board = create_board(region.url)
    post_scores(region.url, {"entries": [entry(board, "eve", 50)]})
    gql(region, "mutation($b:String!){ banPlayer(board:$b, player:\"eve\") }", {"b": board})
    doc = gql(region, EDIT, {"b": board, "p": "eve", "s": 10, "r": "appeal"})
    assert doc["data"]["editScore"]["status"] == "rejected" and "banned" in doc["data"]["editScore"]["reason"]
    assert standings(region, board) == []


def test_take_snapshot_then_it_is_listed(region: LiveServer) -> None:
    board = create_board(region.url)
    post_scores(region.url, {"entries": [entry(board, p, s) for p, s in (("a", 3), ("b", 2), ("c", 1))]})
    taken = gql(region, "mutation($b:String!){ takeSnapshot(board:$b){ board season takenAt totalCount } }", {"b": board})
    assert taken["data"]["takeSnapshot"]["totalCount"] == 3, taken
    listed = gql(region, "query($b:String!){ snapshots(board:$b){ takenAt totalCount } }", {"b": board})
    assert {"takenAt": taken["data"]["takeSnapshot"]["takenAt"], "totalCount": 3} in listed["data"]["snapshots"]
    assert audit(region)[0]["action"] == "takeSnapshot"


def test_rebuild_puts_back_a_lost_board_and_keeps_an_edit(region: LiveServer, redis_server: RedisServer) -> None:
    board = create_board(region.url, operator="latest")
    post_scores(region.url, {"entries": [entry(board, p, s) for p, s in (("a", 30), ("b", 20), ("c", 10))]})
    gql(region, EDIT, {"b": board, "p": "c", "s": 99, "r": "judged by hand"})
    expected = standings(region, board)
    assert expected == [("c", 99), ("a", 30), ("b", 20)]
    # the board's sorted set is lost behind Podium's back
    keys = board_keys(board, 0)                    # a new board's first season
    with redis.Redis.from_url(redis_server.url) as raw:
        assert raw.delete(keys.zset, keys.index) == 2
    doc = gql(region, "mutation($b:String!){ rebuildBoard(board:$b){ board entries tookMs verified differences } }",
              {"b": board})
    result = doc["data"]["rebuildBoard"]
    assert (result["board"], result["entries"], result["verified"], result["differences"]) == (board, 3, True, 0), doc
    assert standings(region, board) == expected
    assert code(gql(region, "mutation{ rebuildBoard(board:\"no-such\"){ entries } }")) == "NOT_FOUND"


def test_webhook_status_counts_deliveries_and_failures_per_endpoint(region: LiveServer) -> None:
    board = create_board(region.url)
    ok_id, bad_id = unique("ok"), unique("bad")
    httpx.post(f"{region.url}/v1/admin/notification-rules", headers=ADMIN,
               json={"id": "t", "board": board, "kind": "threshold", "metric": "score", "value": 10}).raise_for_status()
    with Receiver({ok_id: HOOK_SECRET}) as good, Receiver({bad_id: HOOK_SECRET}) as bad:
        bad.dead = True
        for ident, rx in ((ok_id, good), (bad_id, bad)):
            httpx.post(f"{region.url}/v1/admin/webhooks", headers=ADMIN, json={
                "id": ident, "url": rx.url(), "secret": HOOK_SECRET, "boards": [board]}).raise_for_status()
        wait_rules_live(region.url, ADMIN, board)
        wait_webhooks_active(region.url, ADMIN, {ok_id, bad_id})
        post_scores(region.url, {"entries": [entry(board, "ann", 50)]})
        deadline, rows = time.monotonic() + 30, {}
        while time.monotonic() < deadline:
            doc = httpx.get(f"{region.url}/v1/admin/webhooks/status", headers=ADMIN).json()
            rows = {r["id"]: r for r in doc["webhooks"]}
            if rows[ok_id]["delivered"] == 1 and rows[bad_id]["dead_lettered"] == 1:
                break
            time.sleep(0.1)
        assert rows[ok_id]["delivered"] == 1 and rows[ok_id]["failed_attempts"] == 0, rows
        assert rows[bad_id]["delivered"] == 0 and rows[bad_id]["dead_lettered"] == 1, rows
        assert rows[bad_id]["failed_attempts"] >= 1 and rows[bad_id]["last_error"] == "HTTP 500"
        assert "secret" not in rows[ok_id] and HOOK_SECRET not in str(doc)
    for ident in (ok_id, bad_id):
        httpx.delete(f"{region.url}/v1/admin/webhooks/{ident}", headers=ADMIN).raise_for_status()
    assert httpx.get(f"{region.url}/v1/admin/webhooks/status").status_code == 401


def test_the_live_page_lists_contests_latest_deadline_first_and_public_streams(region: LiveServer) -> None:
    now = int(time.time() * 1000)
    players = [{"id": f"p{i:02d}", "role": ("bat", "bowl", "wk", "ar")[i % 4], "credits": 8} for i in range(22)]
    made = []
    for offset_ms in (3_600_000, 7_200_000):
        match, contest = unique("m"), unique("c")
        httpx.post(f"{region.url}/v1/admin/contests/matches", headers=ADMIN, json={
            "id": match, "deadline_ms": now + offset_ms, "players": players,
            "scoring": {"version": 1, "points": {"run": 1}}}).raise_for_status()
        httpx.post(f"{region.url}/v1/admin/contests", headers=ADMIN, json={
            "id": contest, "match": match, "capacity": 10, "entry_fee": 0, "prizes": []}).raise_for_status()
        made.append((contest, now + offset_ms))
    listed = gql(region, "{ contests(first: 2) { id state deadlineMs } }", headers={})["data"]["contests"]
    assert listed == [{"id": c, "state": "open", "deadlineMs": d} for c, d in reversed(made)]
    for first in (0, 101, -1):
        assert code(gql(region, "query($n:Int!){ contests(first:$n){ id } }", {"n": first}, headers={})) == "BAD_USER_INPUT"

    public, private = unique("pub"), unique("priv")
    for sid, flag in ((public, True), (private, False)):
        httpx.post(f"{region.url}/v1/admin/streams", headers=ADMIN, json={"id": sid, "public_read": flag}).raise_for_status()
    streams = gql(region, "{ trendingStreams }", headers={})["data"]["trendingStreams"]
    assert public in streams and private not in streams
