"""HTTP-level properties against real `podium serve` processes (a region and the global tier):
arbitrary JSON in every field of a score batch and of a GraphQL request, arbitrary headers, raw
bytes. No response is a 5xx, every GraphQL error carries `extensions.code` (never INTERNAL), and
in every mixed batch the good entries are applied exactly once (an `increment` board, checked
against the oracle: each good player's score is its one entry's score), retries included."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.devtools.testing import ServerProcess
from podium.redis_server import RedisServer
from podium.signing import signed_headers
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET
from tests.robustness.strategies import encode, headers, json_values, texts

FIELDS = ("board", "player", "score", "achieved_at", "event_id")
PROPERTY_SETTINGS = settings(max_examples=120, deadline=None, derandomize=False,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                    HealthCheck.data_too_large])
_ids = itertools.count()
COUNTS = {"responses": 0, "batches": 0, "good_entries": 0, "route_requests": 0}


def server_env(redis: RedisServer, db: int) -> dict[str, str]:
    return {"PODIUM_REDIS_URL": f"{redis.url}/{db}", "PODIUM_GAME_SERVER_KEYS": orjson.dumps({GAME_KEY_ID: GAME_SECRET}).decode(),
            "PODIUM_ADMIN_KEYS": orjson.dumps([ADMIN_KEY]).decode(), "PODIUM_API__RATE_LIMIT_PER_S": "1000000",
            "PODIUM_API__RATE_LIMIT_BURST": "1000000", "PODIUM_API__CACHE_TTL_MS": "0",
            "PODIUM_API__RESPONSE_CACHE_TTL_MS": "0"}


@pytest.fixture(scope="module")
def region(redis_server: RedisServer) -> Iterator[ServerProcess]:
    with ServerProcess(server_env(redis_server, 7)) as server:
        yield server


@pytest.fixture(scope="module")
def global_tier(redis_server: RedisServer) -> Iterator[ServerProcess]:
    with ServerProcess(server_env(redis_server, 8), role="global") as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    # one connection: every request of the module reuses it (keep-alive), so a refusal that left its
    # body unread or closed the connection uncleanly would break the request after it
    with httpx.Client(timeout=120, limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)) as c:
        yield c


@pytest.fixture(scope="module")
def board(region: ServerProcess, client: httpx.Client) -> str:
    r = client.post(f"{region.url}/v1/admin/boards", json={"id": "prop", "operator": "increment"},
                    headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 201, r.text
    return "prop"


def check_response(r: httpx.Response) -> None:
    COUNTS["responses"] += 1
    assert r.status_code < 500, (r.status_code, r.text[:500])
    if r.headers.get("content-type", "").startswith("application/json") and r.content:
        doc = r.json()
        for error in (doc.get("errors") or []) if isinstance(doc, dict) else []:
            assert error["extensions"]["code"] not in ("INTERNAL", None), error


def post_batch(client: httpx.Client, url: str, body: bytes, extra: dict[str, str]) -> httpx.Response:
    h = signed_headers(GAME_KEY_ID, GAME_SECRET, "POST", "/v1/scores", time.time_ns() // 1_000_000, body)
    h["content-type"] = "application/json"
    return client.post(f"{url}/v1/scores", content=body, headers={**h, **extra})


def good_entry(board: str, tag: str, score: int) -> dict[str, Any]:
    return {"board": board, "player": f"g{tag}", "score": score, "achieved_at": time.time_ns() // 1_000_000 - 5_000,
            "event_id": f"e{tag}"}


@st.composite
def mixed_batches(draw: st.DrawFn, board: str) -> tuple[list[Any], dict[int, dict[str, Any]]]:
    """A batch of good entries, entries with one field replaced by any JSON value (or missing, or
    extra), and any JSON values as entries; and which positions are the good ones."""
    run = next(_ids)
    items: list[Any] = []
    good: dict[int, dict[str, Any]] = {}
    for j in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["good", "field", "missing", "value"]))
        base = good_entry(board, f"{run}-{j}", draw(st.integers(-1000, 1000)))
        if kind == "good":
            good[len(items)] = base
            items.append(base)
        elif kind == "field":
            base = {**base, "player": f"m{run}-{j}"}
            base[draw(st.sampled_from(FIELDS))] = draw(json_values)
            items.append(base)
        elif kind == "missing":
            base.pop(draw(st.sampled_from(FIELDS)))
            items.append(base)
        else:
            items.append(draw(json_values))
    return items, good


def scores_of(client: httpx.Client, url: str, board: str, players: list[str]) -> list[int | None]:
    r = client.post(f"{url}/graphql", json={"query": "query($b:String!,$ids:[String!]!){ players(ids:$ids, board:$b)"
                                                     "{ score } }", "variables": {"b": board, "ids": players}})
    assert r.status_code == 200 and "errors" not in r.json(), r.text
    return [row["score"] if row else None for row in r.json()["data"]["players"]]


BATCHES_PER_EXAMPLE = 3   # fewer, bigger examples: the oracle check is one read for all of them


@settings(PROPERTY_SETTINGS, max_examples=PROPERTY_SETTINGS.max_examples // BATCHES_PER_EXAMPLE)
@given(data=st.data())
def test_mixed_batches_apply_good_entries_exactly_once(region: ServerProcess, client: httpx.Client, board: str,
                                                       data: st.DataObject) -> None:
    expected: dict[str, int | None] = {}   # player -> its one good entry's score (None: never applied)
    for _ in range(BATCHES_PER_EXAMPLE):
        expected.update(post_mixed_batch(client, region.url, board, data))
    if expected:
        COUNTS["good_entries"] += sum(v is not None for v in expected.values())
        players = list(expected)
        assert scores_of(client, region.url, board, players) == [expected[p] for p in players]


def post_mixed_batch(client: httpx.Client, url: str, board: str, data: st.DataObject) -> dict[str, int | None]:
    """Posts one mixed batch (retried with its Idempotency-Key when it has one) and returns what the
    oracle expects of its good players."""
    items, good = data.draw(mixed_batches(board))
    wrapper = data.draw(st.sampled_from(["entries", "entries", "entries", "extra", "other"]))
    if wrapper == "entries":
        body = ('{"entries":' + encode(items) + "}").encode()
    elif wrapper == "extra":
        body = ('{"entries":' + encode(items) + ',"x":' + encode(data.draw(json_values)) + "}").encode()
    else:
        body = encode(data.draw(json_values)).encode()
        good = {}
    key = data.draw(st.one_of(st.none(), st.builds(lambda n: f"k{next(_ids)}-{n}", st.integers(0, 10**6))))
    extra = {"Idempotency-Key": key} if key else {}
    r = post_batch(client, url, body, extra)
    check_response(r)
    COUNTS["batches"] += 1
    if r.status_code != 200:   # refused whole: none of its good entries may be applied
        return {e["player"]: None for e in good.values()}
    results = r.json()["results"]
    assert len(results) == len(items)
    for i in good:
        assert results[i]["status"] == "applied", (i, results[i])
    if key:   # a retry with the same key replays the answer and applies nothing again
        again = post_batch(client, url, body, extra)
        check_response(again)
        assert again.json() == r.json()
    return {e["player"]: e["score"] for e in good.values()}


REGION_QUERY = """query($b: String!, $n: Int, $after: String, $p: String!, $ids: [String!]!, $f: Int!, $t: Int!,
  $s: Long, $a: Int, $season: Int) {
  leaderboard(board: $b, first: $n, after: $after, season: $season) { edges { cursor node { rank player score } } }
  player(id: $p) { rank(board: $b) history(board: $b, since: $s, first: $a) { score } }
  players(ids: $ids, board: $b) { rank } page(board: $b, fromRank: $f, toRank: $t) { rank }
  around(board: $b, player: $p, above: $a, below: $a) { rank } rankHistory(board: $b, player: $p, since: $s) { rank }
}"""
GLOBAL_QUERY = """query($b: String!, $n: Int, $o: Int, $p: String!, $a: Int, $c: Consistency, $sess: String) {
  leaderboard(board: $b, first: $n, offset: $o, consistency: $c) { edges { node { rank player } } }
  player(id: $p) { entry(board: $b, consistency: $c, session: $sess) { rank } contributions(board: $b) { region } }
  around(board: $b, player: $p, above: $a, below: $a) { rank } regions { region }
}"""
VARIABLES = {"region": ["b", "n", "after", "p", "ids", "f", "t", "s", "a", "season"],
             "global": ["b", "n", "o", "p", "a", "c", "sess"]}


@st.composite
def graphql_bodies(draw: st.DrawFn, tier: str) -> bytes:
    kind = draw(st.sampled_from(["variables", "variables", "fields", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    query = REGION_QUERY if tier == "region" else GLOBAL_QUERY
    names = VARIABLES[tier]
    variables: dict[str, Any] = {"b": "prop", "p": "g1", "ids": ["g1"], "f": 1, "t": 3}
    for name in draw(st.lists(st.sampled_from(names), max_size=4)):
        variables[name] = draw(json_values)
    doc: dict[str, Any] = {"query": query, "variables": variables}
    if kind == "fields":
        field = draw(st.sampled_from(["query", "variables", "operationName", "extensions"]))
        doc[field] = draw(st.one_of(json_values, texts))
    return encode(doc).encode()


@pytest.mark.parametrize("tier", ["region", "global"])
@PROPERTY_SETTINGS
@given(data=st.data())
def test_graphql_requests_never_fail_with_5xx(request: pytest.FixtureRequest, client: httpx.Client, tier: str,
                                             data: st.DataObject) -> None:
    server: ServerProcess = request.getfixturevalue("region" if tier == "region" else "global_tier")
    request.getfixturevalue("board")
    body = data.draw(graphql_bodies(tier))
    extra = data.draw(headers)
    extra.setdefault("content-type", b"application/json")
    started = time.monotonic()
    r = client.post(f"{server.url}/graphql", content=body, headers=extra)
    if time.monotonic() - started > 5:
        print("SLOW", round(time.monotonic() - started, 1), body[:300], extra)
    check_response(r)


@pytest.mark.parametrize("tier", ["region", "global"])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_headers_on_any_route(request: pytest.FixtureRequest, client: httpx.Client, tier: str,
                                  data: st.DataObject) -> None:
    """Each example sends its headers and body to every route (and to one the router does not know):
    fewer, bigger examples than one route each, for the same coverage at less generation cost."""
    server: ServerProcess = request.getfixturevalue("region" if tier == "region" else "global_tier")
    routes = (["/v1/scores", "/v1/admin/boards", "/v1/admin/quarantine?board=prop", "/graphql?query=%7Bboards%7Bid%7D%7D",
               "/healthz", "/readyz", "/metrics"] if tier == "region"
              else ["/v1/replicate", "/v1/replicate/sketch", "/v1/replicate/digest?board=x", "/v1/regions",
                    "/v1/admin/conflicts?board=x", "/graphql?query=%7Bboards%7Bid%7D%7D", "/healthz"])
    method = data.draw(st.sampled_from(["GET", "POST", "PUT"]))   # PUT: the router's 405 on every route
    body = encode(data.draw(json_values)).encode() if method != "GET" else b""
    extra = data.draw(headers)
    for route in [*routes, "/no/such/route"]:
        # One keep-alive connection for every request: a route that refuses before reading the body
        # (the router's 404/405, a 401) drains it (podium.http_drain), so the next request is answered.
        r = client.request(method, f"{server.url}{route}", content=body, headers=extra)
        check_response(r)
        COUNTS["route_requests"] += 1


def test_report_counts() -> None:
    """Prints the suite's totals (run last in the module) so a run shows how much it covered."""
    print(f"\nproperty suite: {COUNTS}")
    assert COUNTS["responses"] > 0
