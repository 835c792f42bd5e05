"""Admin declarations over GraphQL (`declareContestMatch`, `createContest`) follow the REST admin
API's rules exactly (property test: any JSON document gets the same outcome and error code from
both), and a settled contest's signed settlement reaches a registered webhook endpoint once through
the notification webhooks' delivery, and is readable with `contestSettlement`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import orjson
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app
from podium.region.contests.settlement_outbox_redis import settlement_event_id
from podium.region.notifications.inbox_redis import OUTBOX_KEY

from podium.devtools import testing
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, GAME_SECRET, region_settings
from tests.contests.test_contests_http import signed_post
from tests.notifications.receiver import Receiver

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
HOOK_SECRET = "wallet-hook-secret-0123456789"
JWT_SECRET = "jwt-secret-for-contest-admin-tests-0123"
PLAYER = {"Authorization": "Bearer " + jwt.encode({"sub": "eve", "exp": 4_000_000_000}, JWT_SECRET, algorithm="HS256")}
DECLARE = "mutation($m: JSON!) { declareContestMatch(match: $m) }"
CREATE = "mutation($c: JSON!) { createContest(contest: $c) }"
SAVE = "mutation($t: TeamInput!, $o: String) { saveTeam(team: $t, owner: $o) { version } }"
JOIN = "mutation($c: String!, $t: String!, $o: String) { joinContest(contest: $c, team: $t, owner: $o) { joined } }"
SETTLEMENT = "query($c: String!) { contestSettlement(id: $c) }"
PLAYERS = [{"id": f"p{i:02d}", "role": "bat" if i % 2 else "bowl", "credits": 8} for i in range(22)]


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[LiveServer]:
    testing.START_TIMEOUT_S = 60.0
    s = region_settings(redis_server.url, jwt_secret=JWT_SECRET, notifications={"webhook_poll_ms": 50})
    with LiveServer(create_app, s) as server:
        yield server


def gql(base: str, query: str, variables: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    r = httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, headers=headers, timeout=30)
    assert r.status_code < 500, r.text
    return r.json()  # type: ignore[no-any-return]


def wait_for(check: Any, what: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_declared_over_graphql_settled_and_delivered_once(region: LiveServer, redis_server: RedisServer) -> None:
    base, deadline = region.url, int(time.time() * 1000) + 20_000   # set-up finishes first even on a loaded machine
    match = {"id": "gql-final", "deadline_ms": deadline, "players": PLAYERS, "scoring": {"version": 1, "points": {"six": 6}}}
    assert gql(base, DECLARE, {"m": match}, {})["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    doc = gql(base, DECLARE, {"m": match}, ADMIN)
    assert doc["data"]["declareContestMatch"]["match"]["id"] == "gql-final", doc
    contest = {"id": "gql-mega", "match": "gql-final", "capacity": 5, "entry_fee": 40,
               "prizes": [{"rank_from": 1, "rank_to": 1, "amount": 60}]}
    doc = gql(base, CREATE, {"c": contest}, ADMIN)
    assert doc["data"]["createContest"]["contest"]["capacity"] == 5, doc
    assert gql(base, CREATE, {"c": {**contest, "capacity": 6}}, ADMIN)["errors"][0]["extensions"]["code"] == "CONFLICT"
    r = httpx.post(f"{base}/v1/admin/webhooks", headers=ADMIN, json={
        "id": "wallet", "url": "http://127.0.0.1:1/", "secret": HOOK_SECRET, "events": ["contest_settled"]})
    assert r.status_code < 300, r.text
    with Receiver({"wallet": HOOK_SECRET}) as receiver:
        r = httpx.post(f"{base}/v1/admin/webhooks", headers=ADMIN, json={
            "id": "wallet", "url": receiver.url(), "secret": HOOK_SECRET, "events": ["contest_settled"]})
        assert r.status_code < 300, r.text
        for n, owner in enumerate(["ann", "bob"]):
            team = {"id": "t", "match": "gql-final", "players": [f"p{(n + i) % 22:02d}" for i in range(11)],
                    "captain": f"p{n:02d}", "vice": f"p{n + 1:02d}"}
            assert gql(base, SAVE, {"t": team, "o": owner}, ADMIN)["data"]["saveTeam"]["version"] == 1
            assert gql(base, JOIN, {"c": "gql-mega", "t": "t", "o": owner}, ADMIN)["data"]["joinContest"]["joined"]
        assert gql(base, SETTLEMENT, {"c": "gql-mega"}, {})["data"]["contestSettlement"] is None
        time.sleep(max(0.0, deadline / 1000 - time.time()) + 0.1)
        r = signed_post(base, "/v1/contests/feed", {"events": [{"id": "e1", "match": "gql-final", "player": "p00", "kind": "six"}]})
        assert r.json()["results"][0]["status"] == "applied", r.text
        first = httpx.post(f"{base}/v1/admin/contests/gql-mega/settle", headers=ADMIN)
        assert first.status_code == 200, first.text
        again = httpx.post(f"{base}/v1/admin/contests/gql-mega/settle", headers=ADMIN)
        assert again.json() == first.json()
        event = settlement_event_id("gql-mega")
        wait_for(lambda: receiver.accepted[event] >= 1, "the settlement webhook")
        [body] = [b for b in receiver.bodies() if b["id"] == event]
        assert body["kind"] == "contest_settled" and body["board"] == "gql-mega"
        assert {"settlement": body["settlement"], "key_id": body["key_id"], "signature": body["signature"]} == first.json()
        signed = orjson.dumps(body["settlement"], option=orjson.OPT_SORT_KEYS)
        assert body["signature"] == hmac.new(GAME_SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert {p["entry"]: p["amount"] for p in body["settlement"]["payouts"]} == {"ann/t": 60}
        assert receiver.bad_signatures == 0
    client = redis.Redis.from_url(redis_server.url)
    rows: Any = client.xrange(OUTBOX_KEY)
    outbox = [orjson.loads(f[b"n"]) for _, f in rows]
    client.close()
    assert sum(1 for n in outbox if n.get("id") == event) == 1          # settling twice published once
    assert gql(base, SETTLEMENT, {"c": "gql-mega"}, {})["data"]["contestSettlement"] == first.json()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
                           | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                           max_leaves=8)
VALID_MATCH = {"id": "hm", "deadline_ms": 4_000_000_000_000, "players": PLAYERS[:12],
               "scoring": {"version": 1, "points": {"six": 6}}}
VALID_CONTEST = {"id": "hc", "match": "hm", "capacity": 10, "entry_fee": 10,
                 "prizes": [{"rank_from": 1, "rank_to": 2, "amount": 30}], "rules": {"team_size": 11}}


def near_valid(base: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A valid document with one field replaced or removed: reaches the deeper validation."""
    return st.tuples(st.sampled_from(sorted(base)), json_values, st.booleans()).map(
        lambda t: {k: v for k, v in base.items() if not (t[2] and k == t[0])} | ({} if t[2] else {t[0]: t[1]}))


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.sampled_from(["match", "contest"]), st.data(), st.sampled_from(["admin", "none", "player"]))
def test_graphql_declarations_follow_the_rest_rules(region: LiveServer, kind: str, data: st.DataObject,
                                                    who: str) -> None:
    base_doc = VALID_MATCH if kind == "match" else VALID_CONTEST
    doc = data.draw(json_values | near_valid(base_doc) | st.just(base_doc))
    headers = {"admin": ADMIN, "none": {}, "player": PLAYER}[who]
    httpx.post(f"{region.url}/v1/admin/contests/matches", headers=ADMIN, json=VALID_MATCH)   # the contest's match
    path = "/v1/admin/contests/matches" if kind == "match" else "/v1/admin/contests"
    rest = httpx.post(f"{region.url}{path}", headers=headers, content=json.dumps(doc))   # big ints too
    assert rest.status_code < 500, rest.text
    answer = gql(region.url, DECLARE if kind == "match" else CREATE, {"m" if kind == "match" else "c": doc}, headers)
    if doc is None:      # `null` for a JSON! argument: refused by GraphQL validation before the resolver
        assert 400 <= rest.status_code < 500 and all(e["extensions"]["code"] for e in answer["errors"]), answer
    elif rest.status_code < 300:
        field = "declareContestMatch" if kind == "match" else "createContest"
        assert answer.get("errors") is None and answer["data"][field] == rest.json(), answer
    else:
        codes = [e["extensions"]["code"] for e in answer["errors"]]
        assert rest.json()["error"]["code"] in codes, (rest.text, answer)
