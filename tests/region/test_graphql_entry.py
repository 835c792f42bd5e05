"""The one-pass GraphQL entry (podium.region.api.graphql_entry) answers exactly what the general
middleware chain answers: two servers on the same Redis, one with `api.graphql_one_pass` off, get
the same random requests (GET and POST, planned and unplanned documents, persisted hashes, hostile
bodies and parameters, credentials, `no-cache`, If-None-Match) and must give the same status,
headers and body bytes; with a small rate limit, the same sequence of answers (429s included); and
the entry must actually be the one answering."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app
from podium.region.api.graphql_entry import GraphQLEntry

from podium.clock import FakeClock
from podium.config import Settings
from podium.devtools.bench.read_queries import TOP100
from podium.devtools.testing import LiveServer
from podium.gql.persisted import sha256_hex
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import create_board, entry, post_scores, unique
from tests.region.test_compiled_plans import DOCUMENTS, JSON, _value

# the read cache off (a fake clock never expires it); the whole-response cache on (keys differ per board)
API = {"rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000, "cache_ttl_ms": 0}
EXTRA_DOCUMENTS = ['mutation { resetBoard(board:"no-such-board") { id } }',   # refused or NOT_FOUND: changes nothing
                   "{ __schema { queryType { name } } }", "query { count(board: 3) }", "{", ""]
IGNORED_HEADERS = frozenset({"date", "server"})

Pair = tuple[LiveServer, LiveServer]


def _serve(redis_url: str, one_pass: bool, **api: Any) -> LiveServer:
    settings = region_settings(redis_url, api={**API, "graphql_one_pass": one_pass, **api})

    def factory(s: Settings) -> Any:
        return create_app(s, FakeClock())   # a fake clock each: the same `asOf` and rate-limit refills

    return LiveServer(factory, settings)


@pytest.fixture(scope="module")
def pair(redis_server: RedisServer) -> Iterator[Pair]:
    with _serve(f"{redis_server.url}/5", False) as general, _serve(f"{redis_server.url}/5", True) as one_pass:
        yield general, one_pass


def entry_of(server: LiveServer) -> GraphQLEntry:
    app = server.app.middleware_stack
    while not isinstance(app, GraphQLEntry):
        app = app.app
    return app


Answer = tuple[int, list[tuple[str, str]], bytes]


def _answer(response: httpx.Response) -> Answer:
    headers = sorted((k.lower(), v) for k, v in response.headers.multi_items() if k.lower() not in IGNORED_HEADERS)
    return response.status_code, headers, response.content


def _board(base: str, urls: list[str], scores: list[int], public: bool) -> tuple[str, list[str]]:
    board = create_board(base, id=unique("entry"), public_read=public, cache_max_age_s=7)
    players = [f"p{i}" for i in range(len(scores))]
    if scores:
        r = post_scores(base, {"entries": [entry(board, p, s, ts=1_600_000_000_000 + i)
                                            for i, (p, s) in enumerate(zip(players, scores, strict=True))]},
                       timestamp_ms=FakeClock().now_ms())
        assert r.status_code == 200, r.text
    for url in urls:   # every server re-reads the board registry now
        assert httpx.get(f"{url}/v1/admin/boards", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).is_success
    return board, players


@st.composite
def requests(draw: st.DrawFn, board: str, players: list[str]) -> dict[str, Any]:
    """One request as httpx keyword arguments (method, params or content, headers)."""
    document = draw(st.sampled_from(DOCUMENTS + EXTRA_DOCUMENTS))
    names = [v.split(":")[0][1:] for v in document.split("(", 1)[-1].split(")")[0].split(",") if v.startswith("$")]
    # mostly the right board (a success: cached, ETagged), else any value the plans test draws
    variables = {n: board if n == "b" and draw(st.integers(0, 3)) else draw(_value(n, board, players), label=n)
                 for n in names if draw(st.integers(0, 9)) > 0}
    headers: dict[str, str] = {}
    auth = draw(st.sampled_from([None, None, f"Bearer {ADMIN_KEY}", "Bearer not-a-token"]))
    if auth:
        headers["authorization"] = auth
    if draw(st.integers(0, 7)) == 0:
        headers["cache-control"] = "no-cache"
    if draw(st.integers(0, 7)) == 0:
        headers["accept"] = draw(st.sampled_from(["text/html", "application/json", "multipart/mixed"]))
    persisted = draw(st.sampled_from(["no", "no", "hash", "hash+query", "unknown"]))
    extensions = ({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(document) if persisted != "unknown"
                                      else "0" * 64}} if persisted != "no" else None)
    query = None if persisted in ("hash", "unknown") else document
    if draw(st.booleans()):   # GET: parameters, sometimes hostile
        params: dict[str, str] = {}
        if query is not None:
            params["query"] = query
        some_variables: bool = draw(st.booleans())
        if variables or some_variables:
            params["variables"] = draw(st.sampled_from([orjson.dumps(variables).decode(), "", "{", "[1]", "null",
                                                        '{"operationName": 3}']))
        if extensions is not None:
            params["extensions"] = orjson.dumps(extensions).decode()
        if draw(st.integers(0, 5)) == 0:
            params["operationName"] = draw(st.sampled_from(["Count", "nope"]))
        return {"method": "GET", "params": params, "headers": headers}
    body: bytes
    shape = draw(st.sampled_from(["json"] * 6 + ["hostile", "array", "huge", "text"]))
    if shape == "hostile":
        body = draw(st.binary(max_size=40) | JSON.map(orjson.dumps))
    elif shape == "array":
        body = orjson.dumps([{"query": document}])
    elif shape == "huge":
        body = orjson.dumps({"query": document, "variables": {"pad": "x" * 70_000}})
    else:
        body = orjson.dumps({k: v for k, v in (("query", query), ("variables", variables), ("extensions", extensions))
                             if v is not None})
    headers["content-type"] = "text/plain" if shape == "text" else "application/json"
    return {"method": "POST", "content": body, "headers": headers}


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), scores=st.lists(st.integers(-5, 5), max_size=8), public=st.sampled_from([True, True, False]))
def test_both_chains_answer_the_same(pair: Pair, data: st.DataObject, scores: list[int], public: bool) -> None:
    general, one_pass = pair
    board, players = _board(general.url, [general.url, one_pass.url], scores, public)
    answered = entry_of(one_pass).answered
    with httpx.Client(timeout=30) as client:
        for _ in range(8):
            request = data.draw(requests(board, players))
            first = [_answer(client.request(url=f"{s.url}/graphql", **request)) for s in (general, one_pass)]
            assert first[1] == first[0], (request, first)
            assert first[0][0] < 500, first[0]
            etag = dict(first[0][1]).get("etag")
            again = {**request, "headers": {**request["headers"], **({"if-none-match": etag} if etag else {})}}
            second = [_answer(client.request(url=f"{s.url}/graphql", **again)) for s in (general, one_pass)]
            assert second[1] == second[0], (again, second)
            if etag and request["method"] == "GET":   # the same body again: not modified
                assert second[0][0] == 304 and second[0][2] == b""
    assert entry_of(one_pass).answered > answered and entry_of(general).answered == 0


def test_the_rate_limit_refuses_the_same_requests(redis_server: RedisServer) -> None:
    """A burst of 5 per credential (50 per IP): both chains let the same requests through and refuse
    the rest with the same 429 body and Retry-After (each server on its own Redis database, so
    their buckets are separate and start full; the fake clock refills nothing)."""
    limits = {"rate_limit_per_s": 0.01, "rate_limit_burst": 5, "rate_limit_ip_factor": 10.0}
    answers: list[list[Answer]] = []
    for one_pass, db in ((False, 8), (True, 9)):
        with _serve(f"{redis_server.url}/{db}", one_pass, **limits) as server, httpx.Client(timeout=30) as client:
            body = orjson.dumps({"query": TOP100, "variables": {"b": "no-such-board"}})
            seen = []
            for i in range(9):
                auth = {"authorization": "Bearer someone"} if i % 3 else {}
                method = ("GET", "POST")[i % 2]
                kwargs: dict[str, Any] = ({"params": {"query": TOP100, "variables": '{"b":"x"}'}} if method == "GET"
                                          else {"content": body, "headers": {"content-type": "application/json"}})
                kwargs["headers"] = {**kwargs.get("headers", {}), **auth}
                seen.append(_answer(client.request(method, f"{server.url}/graphql", **kwargs)))
            answers.append(seen)
    assert answers[1] == answers[0]
    statuses = [a[0] for a in answers[0]]
    assert 429 in statuses and statuses.count(429) < len(statuses), statuses
    refused = next(a for a in answers[0] if a[0] == 429)
    assert b"RATE_LIMITED" in refused[2] and "retry-after" in dict(refused[1])


def test_planned_gets_and_persisted_gets_use_plans(pair: Pair) -> None:
    """A GET of a prepared query, by text or by persisted hash, is answered by a compiled plan,
    with a public Cache-Control and an ETag, the same bytes as the general chain."""
    general, one_pass = pair
    board, _ = _board(general.url, [general.url, one_pass.url], [3, 9, 1], True)
    view = entry_of(one_pass).view
    assert view.plans is not None
    params = {"query": TOP100, "variables": orjson.dumps({"b": board}).decode()}
    hashed = {"variables": params["variables"],
              "extensions": orjson.dumps({"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(TOP100)}}).decode()}
    with httpx.Client(timeout=30) as client:
        for server in (general, one_pass):
            client.post(f"{server.url}/graphql", json={"query": TOP100, "variables": {"b": board},
                                                        "extensions": orjson.loads(hashed["extensions"])})
        for form in (params, hashed):
            served = view.plans.served
            answers = [client.get(f"{s.url}/graphql", params=form, headers={"cache-control": "no-cache"})
                       for s in (general, one_pass)]
            assert view.plans.served == served + 1
            assert _answer(answers[1]) == _answer(answers[0])
            body = answers[1].content
            assert b'"player":"p1"' in body and answers[1].headers["cache-control"].startswith("public")
            assert answers[1].headers["etag"] == '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
