"""Contests over HTTP on a live region: declare, save a team and join with a player JWT, feed
signed events, read standings, settle (signed); hostile bodies and headers get 4xx, never 5xx."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app

from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from podium.signing import signed_headers
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET, region_settings

JWT_SECRET = "jwt-secret-for-contest-tests-0123456789"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    with LiveServer(create_app, region_settings(redis_server.url, jwt_secret=JWT_SECRET)) as server:
        yield server


def token(player: str) -> dict[str, str]:
    claims = {"sub": player, "exp": int(time.time()) + 600}
    return {"Authorization": f"Bearer {jwt.encode(claims, JWT_SECRET, algorithm='HS256')}"}


def gql(base: str, query: str, variables: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    r = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert r.status_code < 500, r.text
    return r.json()  # type: ignore[no-any-return]


def signed_post(base: str, path: str, body: Any) -> httpx.Response:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    headers = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", path, time.time_ns() // 1_000_000, raw)
    return httpx.post(f"{base}{path}", content=raw, headers=headers)


SAVE = """mutation($t: TeamInput!) { saveTeam(team: $t) { owner id version contests } }"""
JOIN = """mutation($c: String!, $t: String!) { joinContest(contest: $c, team: $t) { entry joined } }"""
READ = """query($c: String!, $e: String) { contest(id: $c, first: 3, entry: $e, around: 1) {
  state top { rank entry points } around { rank entry } } }"""


def test_the_whole_flow(region: LiveServer) -> None:
    base, deadline = region.url, int(time.time() * 1000) + 15_000   # the set-up below must finish before the lock, even on a loaded machine
    players = [{"id": f"p{i:02d}", "role": "bat" if i % 2 else "bowl", "credits": 8} for i in range(22)]
    r = httpx.post(f"{base}/v1/admin/contests/matches", headers=ADMIN, json={
        "id": "final", "deadline_ms": deadline, "players": players,
        "scoring": {"version": 1, "points": {"six": 6, "wicket": 25}}})
    assert r.status_code == 201, r.text
    r = httpx.post(f"{base}/v1/admin/contests", headers=ADMIN, json={
        "id": "mega", "match": "final", "capacity": 10, "entry_fee": 50,
        "prizes": [{"rank_from": 1, "rank_to": 1, "amount": 70}, {"rank_from": 2, "rank_to": 2, "amount": 30}]})
    assert r.status_code == 201, r.text
    early = signed_post(base, "/v1/contests/feed", {"events": [{"id": "x", "match": "final", "player": "p00", "kind": "six"}]})
    assert early.json()["results"][0]["status"] == "rejected"          # the match has not started
    for n, owner in enumerate(["ann", "bob", "cyd"]):
        team = {"id": "t", "match": "final", "players": [f"p{(n + i) % 22:02d}" for i in range(11)],
                "captain": f"p{n:02d}", "vice": f"p{n + 1:02d}"}
        doc = gql(base, SAVE, {"t": team}, token(owner))
        assert doc["data"]["saveTeam"]["version"] == 1, doc
        doc = gql(base, JOIN, {"c": "mega", "t": "t"}, token(owner))
        assert doc["data"]["joinContest"] == {"entry": f"{owner}/t", "joined": True}, doc
    assert gql(base, JOIN, {"c": "mega", "t": "t"}, {})["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    time.sleep(max(0, deadline / 1000 - time.time()) + 0.1)
    locked = gql(base, JOIN, {"c": "mega", "t": "t"}, token("dan"))
    assert locked["errors"][0]["extensions"]["code"] in ("CONTEST_LOCKED", "NOT_FOUND")
    team = {"id": "t", "match": "final", "players": [f"p{i:02d}" for i in range(11)], "captain": "p00", "vice": "p01"}
    assert gql(base, SAVE, {"t": team}, token("ann"))["errors"][0]["extensions"]["code"] == "CONTEST_LOCKED"
    # p00: ann's captain (2×); bob and cyd don't have p00 … p01 is ann's vice and in bob's team
    events = [{"id": "e1", "match": "final", "player": "p00", "kind": "six"},
              {"id": "e2", "match": "final", "player": "p01", "kind": "wicket"}]
    r = signed_post(base, "/v1/contests/feed", {"events": events + events})
    assert r.status_code == 200, r.text
    doc = gql(base, READ, {"c": "mega", "e": "cyd/t"}, {})["data"]["contest"]
    points = {row["entry"]: row["points"] for row in doc["top"]}
    assert points == {"ann/t": 6 * 2 + 25 * 1.5, "bob/t": 25 * 2, "cyd/t": 0}
    assert [row["entry"] for row in doc["top"]] == ["bob/t", "ann/t", "cyd/t"]
    r = httpx.post(f"{base}/v1/admin/contests/mega/settle", headers=ADMIN)
    assert r.status_code == 200, r.text
    signed = r.json()
    body = orjson.dumps(signed["settlement"], option=orjson.OPT_SORT_KEYS)
    assert signed["signature"] == hmac.new(GAME_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert {p["entry"]: p["amount"] for p in signed["settlement"]["payouts"]} == {"bob/t": 70, "ann/t": 30}
    assert signed["settlement"]["remainder"] == 150 - 100
    assert httpx.get(f"{base}/v1/contests/mega/settlement").json() == signed


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
paths = st.sampled_from(["/v1/admin/contests/matches", "/v1/admin/contests", "/v1/admin/contests/mega/settle",
                         "/v1/admin/contests/nope/void", "/v1/contests/feed"])


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(paths, json_values, st.booleans(), st.booleans())
def test_hostile_bodies_never_get_a_5xx(region: LiveServer, path: str, body: Any, admin: bool, sign: bool) -> None:
    raw = json.dumps(body).encode()        # big ints, NaN, lone surrogates (escaped) all go through
    if sign:
        r = signed_post(region.url, path, raw)
    else:
        r = httpx.post(f"{region.url}{path}", content=raw, headers=ADMIN if admin else {})
    assert r.status_code < 500, r.text
    if r.status_code >= 400:
        assert r.json()["error"]["code"]


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.text(max_size=40), st.integers(-10, 10**7), st.text(max_size=10))
def test_hostile_standings_queries_never_get_a_5xx(region: LiveServer, contest: str, first: int, entry: str) -> None:
    r = httpx.get(f"{region.url}/v1/contests/{quote(contest, safe='') or 'x'}/standings",
                  params={"first": str(first), "entry": entry})
    assert r.status_code < 500, r.text
