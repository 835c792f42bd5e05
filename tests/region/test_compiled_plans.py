"""Compiled plans (podium.gql.compiled) answer exactly what the other paths answer: on random boards
(ties, private boards, with and without a token) and random variables, hostile ones included,
three servers on the same Redis give the same status, body and Cache-Control: the general path
(no operation cache), the fast path (graphql-core on prepared documents, plans off) and the plans.
A plan must also actually serve the hot reads, and leave everything else to the general path."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app

from podium.clock import FakeClock
from podium.config import Settings
from podium.devtools.bench.read_queries import AROUND, RANK_SCORE, TOP100
from podium.devtools.testing import LiveServer
from podium.gql.compiled_view import CompiledPlans
from podium.gql.persisted import sha256_hex
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import create_board, draw_variables, entry, post_scores, unique

API = {"rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000, "cache_ttl_ms": 0, "response_cache_ttl_ms": 0}

# Documents a plan takes (the bench's, every field of an entry, aliases, __typename, literals,
# defaults) and some it refuses to compile (a fragment, a directive), all compared on every path.
DOCUMENTS = [
    TOP100, RANK_SCORE, AROUND,
    ("query($b:String!,$n:Int!,$a:String){leaderboard(board:$b, first:$n, after:$a){__typename totalCount asOf "
    "stale status pageInfo{hasNextPage endCursor} edges{cursor node{rank player score achievedAt precision "
    "errorBound asOf}}}}"),
    ("query($b:String!,$p:String!,$s:Int){me:player(id:$p){id r:rank(board:$b) s:score(board:$b) "
    "entry(board:$b, season:$s){rank player score achievedAt}}}"),
    ("query($b:String!,$p:String!,$x:Int!=3,$y:Int=2){around(board:$b, player:$p, above:$x, below:$y)"
    "{rank player score asOf}}"),
    "query($b:String!,$f:Int!,$t:Int!){page(board:$b, fromRank:$f, toRank:$t){rank player score}}",
    "query($b:String!,$ids:[String!]!){players(ids:$ids, board:$b){rank player}}",
    "query Count($b:String!){count(board:$b)}",
    # several root fields (each resolver sets Cache-Control), __typename at the root
    ("query($b:String!,$p:String!){__typename count(board:$b) top:leaderboard(board:$b, first:2)"
     "{edges{node{player}}} me:player(id:$p){rank(board:$b)}}"),
    "query($b:String!){leaderboard(board:$b, first:2){edges{node{...E}}}} fragment E on RankedEntry{rank player}",
    "query($b:String!,$k:Boolean!){leaderboard(board:$b, first:2){edges{node{rank @include(if:$k) player}}}}",
]

JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
                    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=5)


def _value(name: str, board: str, players: list[str]) -> st.SearchStrategy[Any]:
    """A plausible value for the variable, often; any JSON value (hostile), sometimes."""
    sensible: dict[str, st.SearchStrategy[Any]] = {
        "b": st.sampled_from([board, board, "no-such-board", "", "x" * 300]),
        "p": st.sampled_from([*players, "nobody", "", "y" * 500]),
        "n": st.sampled_from([1, 3, 100, 0, -1, 1001, 2**31]),
        "f": st.integers(-1, 12), "t": st.integers(-1, 12), "x": st.integers(-1, 120), "y": st.integers(-1, 120),
        "s": st.sampled_from([None, 0, 1, -1]),
        "a": st.sampled_from([None, "bad-cursor", "eyJ4Ijox"]),
        "ids": st.one_of(st.lists(st.sampled_from([*players, "nobody", "", None]), max_size=4),
                         st.sampled_from([*players, "nobody"])),
        "k": st.booleans(),
    }
    return st.one_of(sensible.get(name, JSON), JSON) if name in sensible else JSON


Servers = tuple[LiveServer, LiveServer, LiveServer]
SERVER_URLS: list[str] = []


def _serve(redis: RedisServer, **api: Any) -> LiveServer:
    settings = region_settings(f"{redis.url}/6", api={**API, **api})

    def factory(s: Settings) -> Any:
        return create_app(s, FakeClock())   # a fake clock each: the same `asOf` on every server

    return LiveServer(factory, settings)


@pytest.fixture(scope="module")
def servers(redis_server: RedisServer) -> Iterator[Servers]:
    with _serve(redis_server, operation_cache_entries_max=0) as general, \
            _serve(redis_server, graphql_compiled_plans=False) as fast, _serve(redis_server) as planned:
        SERVER_URLS[:] = [general.url, fast.url, planned.url]
        yield general, fast, planned


def plans_of(server: LiveServer) -> CompiledPlans:
    view = next(r.endpoint for r in server.app.routes if getattr(r, "path", None) == "/graphql")
    assert isinstance(view.plans, CompiledPlans)
    return view.plans


def _post(client: httpx.Client, server: LiveServer, body: bytes, auth: str | None) -> tuple[int, bytes, str | None]:
    headers = {"content-type": "application/json", **({"authorization": auth} if auth else {})}
    r = client.post(f"{server.url}/graphql", content=body, headers=headers)
    return r.status_code, r.content, r.headers.get("cache-control")


def _board(base: str, scores: list[int], public: bool) -> tuple[str, list[str]]:
    board = create_board(base, id=unique("plan"), public_read=public, cache_max_age_s=7)
    players = [f"p{i}" for i in range(len(scores))]
    if scores:   # equal scores at the same time: ties broken by player id
        r = post_scores(base, {"entries": [entry(board, p, s, ts=1_600_000_000_000 + (i % 2))
                                            for i, (p, s) in enumerate(zip(players, scores, strict=True))]},
                       timestamp_ms=FakeClock().now_ms())   # the servers' clock
        assert r.status_code == 200, r.text
    for server_url in {base, *SERVER_URLS}:   # every process re-reads the board registry now
        assert httpx.get(f"{server_url}/v1/admin/boards", headers={"Authorization": f"Bearer {ADMIN_KEY}"}).is_success
    return board, players


@settings(max_examples=15, deadline=None, phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), scores=st.lists(st.integers(-5, 5), max_size=12), public=st.booleans(),
       auth=st.sampled_from([None, f"Bearer {ADMIN_KEY}", "Bearer not-a-token", "Basic x"]))
def test_every_path_answers_the_same_bytes(servers: Servers, data: st.DataObject, scores: list[int],
                                           public: bool, auth: str | None) -> None:
    general, fast, planned = servers
    board, players = _board(general.url, scores, public)
    with httpx.Client(timeout=30) as client:
        for document in DOCUMENTS:
            variables = draw_variables(data, document, lambda name: _value(name, board, players))
            body = orjson.dumps({"query": document, "variables": variables})
            answers = [_post(client, s, body, auth) for s in (general, fast, planned, planned)]
            assert answers[1:] == answers[:1] * 3, (document, variables, answers)
            assert answers[0][0] < 500, answers[0]


def test_plans_serve_the_hot_reads_and_give_errors_away(servers: Servers) -> None:
    _general, fast, planned = servers
    board, players = _board(planned.url, [5, 3, 3, 9], public=True)
    plans = plans_of(planned)
    with httpx.Client(timeout=30) as client:
        for document, variables in ((TOP100, {"b": board}), (RANK_SCORE, {"b": board, "p": "p1"}),
                                    (AROUND, {"b": board, "p": "p2"}), (DOCUMENTS[3], {"b": board, "n": 2}),
                                    (DOCUMENTS[4], {"b": board, "p": "p3", "s": None}),
                                    (DOCUMENTS[5], {"b": board, "p": "p0"}), (DOCUMENTS[6], {"b": board, "f": 2, "t": 3}),
                                    (DOCUMENTS[7], {"b": board, "ids": ["p1", "nobody"]}),
                                    (DOCUMENTS[7], {"b": board, "ids": "p2"}),   # one item for a list
                                    (DOCUMENTS[8], {"b": board}), (DOCUMENTS[9], {"b": board, "p": "p2"})):
            body = orjson.dumps({"query": document, "variables": variables})
            _post(client, planned, body, None)               # prepares the document
            served = plans.served
            answer = _post(client, planned, body, None)
            assert plans.served == served + 1 and answer == _post(client, fast, body, None)
            assert orjson.loads(answer[1])["data"], answer
        # a resolver error (an unknown board) is the general path's: it falls back, same bytes
        body = orjson.dumps({"query": TOP100, "variables": {"b": "no-such-board"}})
        fell_back, served = plans.fell_back, plans.served
        answer = _post(client, planned, body, None)
        assert answer == _post(client, fast, body, None) and b"NOT_FOUND" in answer[1]
        assert plans.fell_back == fell_back + 1 and plans.served == served
        # a hostile variable never reaches a resolver: refused by coercion, on the general path
        body = orjson.dumps({"query": TOP100, "variables": {"b": ["x"]}})
        answer = _post(client, planned, body, None)
        assert answer == _post(client, fast, body, None) and plans.fell_back == fell_back + 1
        assert plans.served == served and answer[0] == 200 and b"BAD_USER_INPUT" in answer[1]
    assert players


def test_unplannable_documents_keep_the_fast_path(servers: Servers) -> None:
    _general, _fast, planned = servers
    board, _ = _board(planned.url, [1, 2], public=True)
    plans = plans_of(planned)
    with httpx.Client(timeout=30) as client:
        for document in DOCUMENTS[-2:]:
            body = orjson.dumps({"query": document, "variables": {"b": board, "k": True}})
            _post(client, planned, body, None)
            served = plans.served
            status, content, _ = _post(client, planned, body, None)
            assert status == 200 and b'"player":"p1"' in content and plans.served == served


def test_persisted_queries_are_planned(servers: Servers) -> None:
    _general, fast, planned = servers
    board, _ = _board(planned.url, [4, 8], public=True)
    plans = plans_of(planned)
    register = {"persistedQuery": {"version": 1, "sha256Hash": sha256_hex(TOP100)}}
    with httpx.Client(timeout=30) as client:
        for server in (fast, planned):   # registered with the query (Apollo's second step), then by hash alone
            _post(client, server, orjson.dumps({"query": TOP100, "variables": {"b": board}, "extensions": register}),
                  None)
        served = plans.served
        body = orjson.dumps({"variables": {"b": board}, "extensions": register})
        answer = _post(client, planned, body, None)
        assert answer == _post(client, fast, body, None) and b'"player":"p1"' in answer[1]
        assert plans.served == served + 1
