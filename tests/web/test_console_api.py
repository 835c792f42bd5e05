"""The server side of the pages without a browser: security headers, self-hosted GraphiQL, the
admin fields the console added (quarantine review, unban, audit log), admin JWTs, hostile input."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
import redis.asyncio as aioredis
from podium.region.api.app import create_app

from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from podium.web.audit import AuditLog, AuditRecord
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import create_board, entry, post_scores
from tests.region.helpers import unique as unique_board

JWT_SECRET = "jwt-secret-for-console-tests-0123456789"


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    with LiveServer(create_app, region_settings(redis_server.url, jwt_secret=JWT_SECRET)) as server:
        yield server


def token(sub: str, **claims: Any) -> str:
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 300, **claims}, JWT_SECRET, algorithm="HS256")


def gql(server: LiveServer, query: str, variables: dict[str, Any] | None = None, bearer: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    r = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert r.status_code < 500, r.text
    return r.json()  # type: ignore[no-any-return]


def code(doc: dict[str, Any]) -> str:
    return doc["errors"][0]["extensions"]["code"]  # type: ignore[no-any-return]


def audit(server: LiveServer, bearer: str = ADMIN_KEY, first: int = 20) -> list[dict[str, Any]]:
    doc = gql(server, "query($n:Int!){ auditLog(first: $n) { at who action detail } }", {"n": first}, bearer=bearer)
    assert "errors" not in doc, doc
    return doc["data"]["auditLog"]  # type: ignore[no-any-return]


def quarantine_one(server: LiveServer, board: str, player: str) -> str:
    post_scores(server.url, {"entries": [entry(board, player, 10, ts=int(time.time() * 1000) - 5000)]})
    r = post_scores(server.url, {"entries": [entry(board, player, 10_000)]})
    assert r.json()["results"][0]["status"] == "quarantined", r.text
    rows = gql(server, "query($b:String!){ quarantined(board:$b){ id player score } }", {"b": board}, ADMIN_KEY)
    return str(next(q["id"] for q in rows["data"]["quarantined"] if q["player"] == player))


def score_of(server: LiveServer, board: str, player: str) -> int | None:
    doc = gql(server, "query($b:String!,$p:String!){ player(id:$p){ score(board:$b) } }", {"b": board, "p": player})
    return doc["data"]["player"]["score"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", ["/", "/console", "/graphiql"])
def test_pages_have_a_strict_csp_and_only_local_assets(region: LiveServer, path: str) -> None:
    r = httpx.get(f"{region.url}{path}")
    assert r.status_code == 200
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "unsafe" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in r.headers
    html = r.text
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None, "inline script"
    assert "<style" not in html and " style=" not in html
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert refs and all(ref.startswith("/") and not ref.startswith("//") for ref in refs), refs
    for ref in refs:
        asset = httpx.get(f"{region.url}{ref}")
        assert asset.status_code == 200, ref
        if ref.endswith(".js"):
            assert "javascript" in asset.headers["content-type"], ref


def test_a_browser_opening_graphql_gets_the_local_graphiql(region: LiveServer) -> None:
    r = httpx.get(f"{region.url}/graphql", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "/static/vendor/graphiql.js" in r.text
    assert "unpkg" not in r.text and "jsdelivr" not in r.text


def test_console_fields_need_an_admin(region: LiveServer) -> None:
    board = create_board(region.url)
    for q in ("{ auditLog { who } }", f'{{ quarantined(board: "{board}") {{ id }} }}',
              f'mutation {{ unbanPlayer(board: "{board}", player: "x") }}',
              f'mutation {{ rejectQuarantined(board: "{board}", id: "1-0") {{ id }} }}'):
        assert code(gql(region, q)) == "UNAUTHENTICATED", q
        assert code(gql(region, q, bearer=token("mallory"))) == "FORBIDDEN", q


@pytest.mark.parametrize("bad_id", ["", "abc", "1-", "-1", "1-0-0", "9" * 30 + "-0", "1 -0", "$", "+", "\u0000"])
def test_hostile_quarantine_ids_are_bad_input(region: LiveServer, bad_id: str) -> None:
    board = create_board(region.url)
    doc = gql(region, "mutation($b:String!,$id:String!){ approveQuarantined(board:$b, id:$id){ status } }",
              {"b": board, "id": bad_id}, ADMIN_KEY)
    assert code(doc) == "BAD_USER_INPUT"


def test_review_of_missing_entries_boards_and_long_reasons(region: LiveServer) -> None:
    board = create_board(region.url, max_delta_per_minute=5)
    q = "mutation($b:String!,$id:String!,$r:String!){ rejectQuarantined(board:$b, id:$id, reason:$r){ id } }"
    assert code(gql(region, q, {"b": board, "id": "1-0", "r": ""}, ADMIN_KEY)) == "NOT_FOUND"
    assert code(gql(region, q, {"b": "no-such-board", "id": "1-0", "r": ""}, ADMIN_KEY)) == "NOT_FOUND"
    entry_id = quarantine_one(region, board, "long")
    assert code(gql(region, q, {"b": board, "id": entry_id, "r": "x" * 501}, ADMIN_KEY)) == "BAD_USER_INPUT"
    assert gql(region, "{ auditLog(first: 0) { who } }", bearer=ADMIN_KEY)["errors"]


def test_approve_applies_once_and_reject_drops(region: LiveServer) -> None:
    board = create_board(region.url, max_delta_per_minute=5)
    approve = "mutation($b:String!,$id:String!){ approveQuarantined(board:$b, id:$id, reason:\"ok\"){ status rank } }"
    reject = "mutation($b:String!,$id:String!){ rejectQuarantined(board:$b, id:$id, reason:\"cheat\"){ player score } }"
    first = quarantine_one(region, board, "amy")
    assert score_of(region, board, "amy") == 10
    assert gql(region, approve, {"b": board, "id": first}, ADMIN_KEY)["data"]["approveQuarantined"] == \
        {"status": "applied", "rank": 1}
    assert score_of(region, board, "amy") == 10_000
    assert code(gql(region, approve, {"b": board, "id": first}, ADMIN_KEY)) == "NOT_FOUND"   # left the quarantine

    second = quarantine_one(region, board, "ben")
    assert gql(region, reject, {"b": board, "id": second}, ADMIN_KEY)["data"]["rejectQuarantined"] == \
        {"player": "ben", "score": 10_000}
    assert score_of(region, board, "ben") == 10
    left = gql(region, "query($b:String!){ quarantined(board:$b){ id } }", {"b": board}, ADMIN_KEY)
    assert left["data"]["quarantined"] == []
    actions = [(a["action"], a["detail"].get("reason")) for a in audit(region)[:2]]
    assert actions == [("rejectQuarantined", "cheat"), ("approveQuarantined", "ok")]


def test_unban_lets_new_scores_count(region: LiveServer) -> None:
    board = create_board(region.url)
    ban = "mutation($b:String!,$p:String!){ banPlayer(board:$b, player:$p) }"
    unban = "mutation($b:String!,$p:String!){ unbanPlayer(board:$b, player:$p) }"
    post_scores(region.url, {"entries": [entry(board, "cy", 5)]})
    assert gql(region, ban, {"b": board, "p": "cy"}, ADMIN_KEY)["data"]["banPlayer"] is True
    assert post_scores(region.url, {"entries": [entry(board, "cy", 6)]}).json()["results"][0]["status"] == "rejected"
    assert gql(region, unban, {"b": board, "p": "cy"}, ADMIN_KEY)["data"]["unbanPlayer"] is True
    assert gql(region, unban, {"b": board, "p": "cy"}, ADMIN_KEY)["data"]["unbanPlayer"] is False
    assert post_scores(region.url, {"entries": [entry(board, "cy", 7)]}).json()["results"][0]["status"] == "applied"


def test_an_admin_jwt_is_an_admin_named_by_its_subject(region: LiveServer) -> None:
    ops = token("ops-alice", podium_role="admin")
    doc = gql(region, 'mutation { createBoard(board: {id: "jwt-made"}) { id } }', bearer=ops)
    assert doc["data"]["createBoard"] == {"id": "jwt-made"}, doc
    record = audit(region, bearer=ops)[0]
    assert (record["who"], record["action"], record["detail"]) == \
        ("jwt:ops-alice", "createBoard", {"board": {"id": "jwt-made"}})
    rest = httpx.get(f"{region.url}/v1/admin/boards", headers={"Authorization": f"Bearer {ops}"})
    assert rest.status_code == 200
    for not_admin in (token("bob"), token("bob", podium_role="player"), token("eve", podium_role=["admin"])):
        assert httpx.get(f"{region.url}/v1/admin/boards", headers={"Authorization": f"Bearer {not_admin}"}).status_code == 403
        assert code(gql(region, "{ auditLog { who } }", bearer=not_admin)) == "FORBIDDEN"


def test_rest_admin_posts_are_audited_and_failures_are_not(region: LiveServer) -> None:
    def posts() -> int:
        return sum(1 for r in audit(region, first=1000) if r["action"] == "POST /v1/admin/boards")

    before = posts()
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    assert httpx.post(f"{region.url}/v1/admin/boards", json={"id": unique_board("rest")}, headers=auth).status_code == 201
    assert httpx.post(f"{region.url}/v1/admin/boards", content=b"[1]", headers=auth).status_code == 400
    assert httpx.post(f"{region.url}/v1/admin/boards", json={"id": "x"}, headers={"Authorization": "Bearer no"}).status_code == 403
    assert posts() == before + 1
    newest = audit(region)[0]
    assert newest["action"] == "POST /v1/admin/boards" and newest["who"].startswith("key:")
    assert ADMIN_KEY not in str(audit(region))


@pytest.mark.anyio
async def test_the_audit_log_is_bounded_and_newest_first(redis_single: aioredis.Redis) -> None:
    log = AuditLog(redis_single, len_max=3)
    for i in range(5):
        await log.record(AuditRecord(i, "key:x", f"a{i}", {"i": i, "big": "y" * 5000}))
    rows = await log.recent(10)
    assert [r.action for r in rows] == ["a4", "a3", "a2"]
    assert all("truncated" in r.detail for r in rows)
