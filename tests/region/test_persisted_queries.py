"""Automatic persisted queries (Apollo's protocol), the project's documents pinned at start-up,
CDN-cacheable persisted GETs, and byte-identical answers: every document in graphql/operations/
and generated queries give the same status and bytes through the general path (a server without
the operation cache), the prepared path (the same document again, from the cache, through
Strawberry), the fast path (from the cache, on graphql-core directly) and the persisted path (by
hash, POST and GET)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app

from graphql import OperationDefinitionNode, parse
from podium.clock import FakeClock
from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.gql.fast_path import FastPath
from podium.gql.persisted import sha256_hex
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.region.helpers import create_board, entry, post_scores

OPERATIONS = sorted((Path(__file__).resolve().parents[2] / "graphql" / "operations").glob("*.graphql"))
API = {"rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000, "cache_ttl_ms": 0, "response_cache_ttl_ms": 0}
BOARD = "persisted-board"


Servers = tuple[LiveServer, LiveServer, LiveServer]


def _serve(redis: RedisServer, operation_cache_entries_max: int, fast_path: bool = False) -> LiveServer:
    # a fake clock each: the servers say the same `asOf`, so their bytes can be compared
    settings = region_settings(f"{redis.url}/5", api={**API, "operation_cache_entries_max": operation_cache_entries_max,
                                                      "graphql_fast_path": fast_path,
                                                      # graphql-core's fast path itself; compiled plans
                                                      # have their own test (test_compiled_plans.py)
                                                      "graphql_compiled_plans": False})

    def factory(s: Settings) -> Any:
        return create_app(s, FakeClock())

    return LiveServer(factory, settings)


@pytest.fixture(scope="module")
def servers(redis_server: RedisServer) -> Iterator[Servers]:
    """(general, prepared, fast): without the operation cache; with it, through Strawberry; with it
    and the fast path."""
    with _serve(redis_server, 0) as general:
        create_board(general.url, id=BOARD, cache_max_age_s=9)
        post_scores(general.url, {"entries": [entry(BOARD, f"p{i}", i * 10, ts=1_600_000_000_000 + i)
                                               for i in range(1, 8)]})
        with _serve(redis_server, 1000) as prepared, _serve(redis_server, 1000, fast_path=True) as fast:
            yield general, prepared, fast


def post(server: LiveServer, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/graphql", content=orjson.dumps(body),
                      headers={"content-type": "application/json"}, timeout=30)


def get(server: LiveServer, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    params = {k: (v if isinstance(v, str) else orjson.dumps(v).decode()) for k, v in body.items() if v is not None}
    return httpx.get(f"{server.url}/graphql", params=params, headers=headers or {}, timeout=30)


def persisted(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(query)}}


VALUES: dict[str, Any] = {"board": BOARD, "player": "p3", "id": "p3", "ids": ["p2", "p5", "nobody"], "first": 3,
                          "fromRank": 2, "toRank": 4, "above": 1, "below": 2, "n": 3, "entries": [],
                          "idempotencyKey": None, "since": None, "until": None, "season": None, "takenAt": None}


def fast_path_of(server: LiveServer) -> FastPath:
    view = next(r.endpoint for r in server.app.routes if getattr(r, "path", None) == "/graphql")
    assert view.fast_path is not None
    return view.fast_path  # type: ignore[no-any-return]


def assert_same_everywhere(servers: Servers, query: str, name: str | None,
                           variables: dict[str, Any], *, registered: bool) -> None:
    general, *cached = servers
    full = {"query": query, "operationName": name, "variables": variables}
    expected = post(general, full)
    assert expected.status_code < 500, expected.text
    for server in cached:
        assert_same_on(server, general, expected, query, name, variables, registered=registered)


def assert_same_on(prepared: LiveServer, general: LiveServer, expected: httpx.Response, query: str,
                   name: str | None, variables: dict[str, Any], *, registered: bool) -> None:
    full = {"query": query, "operationName": name, "variables": variables}
    if not registered:   # Apollo's round: unknown hash, then register by sending query and hash
        miss = post(prepared, {"operationName": name, "variables": variables, "extensions": persisted(query)})
        assert miss.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
        post(prepared, {**full, "extensions": persisted(query)})
    for _ in range(2):   # the second is served from the operation cache
        got = post(prepared, full)
        assert (got.status_code, got.content) == (expected.status_code, expected.content), (name, got.text)
    by_hash = post(prepared, {"operationName": name, "variables": variables, "extensions": persisted(query)})
    assert (by_hash.status_code, by_hash.content) == (expected.status_code, expected.content), name
    if parse(query).definitions[0].operation.value == "query":   # type: ignore[attr-defined]
        expected_get = get(general, full)
        got_get = get(prepared, {"operationName": name, "variables": variables, "extensions": persisted(query)})
        assert (got_get.status_code, got_get.content) == (expected_get.status_code, expected_get.content), name


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda p: p.name)
def test_every_operation_document_is_byte_identical_on_every_path(servers: Servers,
                                                                  path: Path) -> None:
    query = path.read_text()
    for op in parse(query).definitions:
        if not isinstance(op, OperationDefinitionNode):
            continue
        declared = [d.variable.name.value for d in op.variable_definitions or ()]
        variables = {k: VALUES[k] for k in declared if k in VALUES}
        assert_same_everywhere(servers, query, op.name.value if op.name else None, variables, registered=True)


NODE_FIELDS = ["rank", "player", "score", "achievedAt", "precision", "errorBound"]
roots = st.one_of(
    st.builds(lambda n, f: f'leaderboard(board: "{BOARD}", first: {n}) {{ totalCount edges {{ node {{ {f} }} }} }}',
              st.integers(-1, 12), st.lists(st.sampled_from(NODE_FIELDS), min_size=1, unique=True).map(" ".join)),
    st.builds(lambda p, a, f: f'around(board: "{BOARD}", player: "{p}", above: {a}, below: 1) {{ {f} }}',
              st.sampled_from(["p1", "p4", "nobody"]), st.integers(0, 3),
              st.lists(st.sampled_from(NODE_FIELDS[:4]), min_size=1, unique=True).map(" ".join)),
    st.builds(lambda p, b: f'player(id: "{p}") {{ id rank(board: "{b}") score(board: "{b}") }}',
              st.sampled_from(["p2", "nobody"]), st.sampled_from([BOARD, "no-such-board"])),
    st.builds(lambda a, b: f'page(board: "{BOARD}", fromRank: {a}, toRank: {b}) {{ rank player }}',
              st.integers(0, 5), st.integers(0, 9)),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(roots, min_size=1, max_size=3))
def test_generated_queries_are_byte_identical_on_every_path(servers: Servers,
                                                            fields: list[str]) -> None:
    query = "query Generated { " + " ".join(f"f{i}: {f}" for i, f in enumerate(fields)) + " }"
    assert_same_everywhere(servers, query, "Generated", {}, registered=False)


def test_apq_protocol(servers: Servers) -> None:
    _, _, server = servers
    query = "query Apq { boards { id } }"
    unknown = post(server, {"extensions": persisted(query + " ")})
    assert unknown.status_code == 200 and unknown.headers["cache-control"] == "private, no-store"
    assert unknown.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    wrong = post(server, {"query": query, "extensions": persisted("query Other { boards { id } }")})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert post(server, {"extensions": persisted("query Other { boards { id } }")}).json()["errors"][0][
        "extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"          # a refused registration registers nothing
    for hostile in ({"persistedQuery": 5}, {"persistedQuery": {"version": 2, "sha256Hash": "0" * 64}},
                    {"persistedQuery": {"version": 1, "sha256Hash": "ZZ"}}, {"persistedQuery": {"version": 1}}):
        r = post(server, {"extensions": hostile})
        assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", hostile


def test_persisted_get_is_cdn_cacheable(servers: Servers) -> None:
    _, _, server = servers
    query = (OPERATIONS[0].parent / "Leaderboard.graphql").read_text()
    request = {"operationName": "Leaderboard", "variables": {"board": BOARD, "first": 3},
               "extensions": persisted(query)}
    first = get(server, request)
    assert first.status_code == 200 and "errors" not in first.json(), first.text
    assert first.headers["cache-control"] == "public, max-age=9"
    etag = first.headers["etag"]
    again = get(server, request, {"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_the_fast_path_serves_prepared_queries_only(servers: Servers) -> None:
    _, prepared, fast = servers
    assert prepared.app is not None and all(getattr(r.endpoint, "fast_path", 1) is None for r in prepared.app.routes
                                            if getattr(r, "path", None) == "/graphql")
    path = fast_path_of(fast)
    query = f'query Fast {{ leaderboard(board: "{BOARD}", first: 2) {{ edges {{ node {{ player }} }} }} }}'
    before = path.served
    first, second = post(fast, {"query": query}), post(fast, {"query": query})
    assert first.content == second.content and path.served == before + 1   # the first prepared it
    invalid = "query Bad { leaderboard(board: 5) { nope } }"
    post(fast, {"query": invalid})
    post(fast, {"query": invalid})
    costly = "query Big($n: Int!) { leaderboard(board: \"x\", first: $n) { edges { node { player } } } }"
    post(fast, {"query": costly, "variables": {"n": 1}})
    refused = post(fast, {"query": costly, "variables": {"n": 10**9}})
    assert refused.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert path.served == before + 2   # the cheap `Big` only: invalid and over-cost documents go the general way
