"""Compiled plans on the global tier (global/read_plans.py, the kernel's podium.gql.compiled): on
random merged boards (ties, private boards, with and without a token) and random variables, hostile
ones included, three global servers on one Redis answer the same status, body bytes and
Cache-Control: the general path (no operation cache), the fast path (plans off) and the plans. The
plans must also actually serve the hot reads (top-N, a page by offset, around-me, a player's entry),
enum variables (`Consistency`) included, and both operation documents of graphql/operations/global/
(two root fields; `contributions`), and leave an invalid enum value to the general path."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from podium.global_.server import create_global_app

from podium.clock import FakeClock
from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.gql.compiled_view import CompiledPlans
from podium.model import Board, Operator
from podium.redis_server import RedisServer
from podium.signing import signed_headers
from tests.region.helpers import draw_variables

SECRET = "global-plans-secret"
NOW_MS = FakeClock().now_ms()   # every server's clock: the same asOf and staleness everywhere
API = {"rate_limit_per_s": 100_000.0, "rate_limit_burst": 100_000, "response_cache_ttl_ms": 0}
TOP = "query($b:String!,$n:Int!){leaderboard(board:$b, first:$n){edges{node{rank player score}}}}"
AROUND = ("query($b:String!,$p:String!,$x:Int,$y:Int){around(board:$b, player:$p, above:$x, below:$y)"
          "{rank player score precision errorBound asOf}}")
ENTRY = "query($p:String!,$b:String!){player(id:$p){id entry(board:$b){rank score precision errorBound asOf}}}"
DOCUMENTS = [
    TOP, AROUND, ENTRY,
    ("query($b:String!,$n:Int!,$o:Int){leaderboard(board:$b, first:$n, offset:$o){__typename stale asOf totalCount "
     "status pageInfo{hasNextPage endCursor} edges{cursor __typename node{rank player score achievedAt precision "
     "errorBound asOf}}}}"),
    "query($b:String!,$s:Boolean!){leaderboard(board:$b, first:3, allowStale:$s){edges{node{player}}}}",
    ("query($b:String!,$c:Consistency!){leaderboard(board:$b, first:3, consistency:$c){stale edges{node{rank player}}}}"),
    # enum variables with and without a default, an enum literal, a nullable variable for a
    # non-null argument with a default (null is an error there, missing is the default)
    ("query($b:String!,$d:Consistency=EVENTUAL,$n:Int){leaderboard(board:$b, first:$n, consistency:$d)"
     "{stale edges{node{rank player score precision}}}}"),
    ("query($p:String!,$b:String!,$e:Consistency,$t:String){player(id:$p){id entry(board:$b, consistency:$e, "
     "session:$t){rank score precision errorBound}}}"),
    "query($b:String!){leaderboard(board:$b, first:2, consistency:EVENTUAL){edges{node{player}}}}",
    # several root fields, __typename at the root, contributions with and without the entry
    ("query($b:String!,$n:Int){__typename regions{region stale lagMs lastContact changesReceived} "
     "leaderboard(board:$b, first:$n){stale edges{node{rank player}}} again:regions{region}}"),
    "query($p:String!,$b:String!){player(id:$p){contributions(board:$b){region score version} id}}",
]
OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations" / "global"


def _operation(name: str) -> str:
    """An operation document of graphql/operations/global/ without its comment lines (the
    variable drawing reads the first parenthesis)."""
    text = (OPERATIONS / f"{name}.graphql").read_text()
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


GLOBAL_LEADERBOARD, GLOBAL_PLAYER = _operation("GlobalLeaderboard"), _operation("GlobalPlayer")
DOCUMENTS += [GLOBAL_LEADERBOARD, GLOBAL_PLAYER]
JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
                    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=5)
BOARDS = itertools.count()


def _value(name: str, board: str, players: list[str]) -> st.SearchStrategy[Any]:
    sensible: dict[str, st.SearchStrategy[Any]] = {
        "b": st.sampled_from([board, board, "no-such-board", ""]),
        "p": st.sampled_from([*players, "nobody", "", "y" * 500]),
        "n": st.sampled_from([1, 3, 10, 0, -1, 101, 2**31]),
        "o": st.sampled_from([None, 0, 2, -1, 10_000]),
        "x": st.integers(-1, 30), "y": st.integers(-1, 30), "s": st.booleans(),
        "c": st.sampled_from(["EVENTUAL", "SESSION", "STRONG", "nope", "eventual"]),
        "d": st.sampled_from(["EVENTUAL", "SESSION", None, "nope", 1]),
        "e": st.sampled_from(["EVENTUAL", "SESSION", None, "STRONG", "Eventual"]),
        "t": st.sampled_from([None, "", "not-a-session-token"]),
        # the operation documents' names
        "board": st.sampled_from([board, board, "no-such-board", ""]),
        "id": st.sampled_from([*players, "nobody", ""]),
        "first": st.sampled_from([1, 3, 10, 0, 101, None]),
        "consistency": st.sampled_from(["EVENTUAL", "SESSION", "STRONG", None, "nope"]),
        "allowStale": st.booleans(), "session": st.sampled_from([None, "", "not-a-session-token"]),
    }
    return st.one_of(sensible[name], JSON) if name in sensible else JSON


def _serve(redis: RedisServer, **api: Any) -> LiveServer:
    settings = Settings(redis_url=f"{redis.url}/7", port=0, replication={"secret": SECRET},  # type: ignore[arg-type]
                        admin_keys=["global-plans-admin"], api={**API, **api})  # type: ignore[arg-type]

    def factory(s: Settings) -> Any:
        return create_global_app(s, FakeClock())

    return LiveServer(factory, settings)


Servers = tuple[LiveServer, LiveServer, LiveServer]


@pytest.fixture(scope="module")
def servers(redis_server: RedisServer) -> Iterator[Servers]:
    with _serve(redis_server, operation_cache_entries_max=0) as general, \
            _serve(redis_server, graphql_compiled_plans=False) as fast, _serve(redis_server) as planned:
        yield general, fast, planned


def _board(servers: Servers, scores: list[int], public: bool) -> tuple[str, list[str]]:
    """A merged board every server has heard of (each gets the same replication batch: the merge
    is idempotent, and every process then knows the region, so `stale` reads the same)."""
    board = Board(f"gplan{next(BOARDS)}", operator=Operator.BEST, public_read=public)
    players = [f"p{i}" for i in range(len(scores))]
    changes = [[board.id, board.season, p, s, NOW_MS - 1000 + (i % 2), (NOW_MS << 12) + i]
               for i, (p, s) in enumerate(zip(players, scores, strict=True))]
    body = orjson.dumps({"region": "eu", "board": board.to_dict(), "changes": changes, "feeds": {}})
    for server in servers:
        r = httpx.post(f"{server.url}/v1/replicate", content=body, timeout=30,
                       headers=signed_headers("eu", SECRET, "POST", "/v1/replicate", NOW_MS, body))
        assert r.status_code == 200, r.text
    return board.id, players


def _post(client: httpx.Client, server: LiveServer, body: bytes, auth: str | None) -> tuple[int, bytes, str | None]:
    headers = {"content-type": "application/json", **({"authorization": auth} if auth else {})}
    r = client.post(f"{server.url}/graphql", content=body, headers=headers)
    return r.status_code, r.content, r.headers.get("cache-control")


def plans_of(server: LiveServer) -> CompiledPlans:
    view = next(r.endpoint for r in server.app.routes if getattr(r, "path", None) == "/graphql")
    assert isinstance(view.plans, CompiledPlans)
    return view.plans


@settings(max_examples=12, deadline=None, phases=[Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), scores=st.lists(st.integers(-5, 5), min_size=1, max_size=12), public=st.booleans(),
       auth=st.sampled_from([None, "Bearer global-plans-admin", "Bearer not-a-token"]))
def test_every_global_path_answers_the_same_bytes(servers: Servers, data: st.DataObject, scores: list[int],
                                                  public: bool, auth: str | None) -> None:
    general, fast, planned = servers
    board, players = _board(servers, scores, public)
    with httpx.Client(timeout=30) as client:
        for document in DOCUMENTS:
            variables = draw_variables(data, document, lambda name: _value(name, board, players))
            body = orjson.dumps({"query": document, "variables": variables})
            answers = [_post(client, s, body, auth) for s in (general, fast, planned, planned)]
            assert answers[1:] == answers[:1] * 3, (document, variables, answers)
            assert answers[0][0] < 500, answers[0]


def test_the_global_hot_reads_are_planned_enum_variables_included(servers: Servers) -> None:
    _general, fast, planned = servers
    board, _players = _board(servers, [5, 3, 3, 9, 1], public=True)
    plans = plans_of(planned)
    with httpx.Client(timeout=30) as client:
        for document, variables in ((TOP, {"b": board, "n": 3}), (AROUND, {"b": board, "p": "p2", "x": 1, "y": 1}),
                                    (ENTRY, {"b": board, "p": "p3"}), (DOCUMENTS[3], {"b": board, "n": 2, "o": 1}),
                                    (DOCUMENTS[5], {"b": board, "c": "EVENTUAL"}),
                                    (DOCUMENTS[6], {"b": board}), (DOCUMENTS[6], {"b": board, "d": "EVENTUAL", "n": 2}),
                                    (DOCUMENTS[7], {"b": board, "p": "p3", "e": "EVENTUAL"}),
                                    (DOCUMENTS[7], {"b": board, "p": "p3"}), (DOCUMENTS[8], {"b": board}),
                                    (DOCUMENTS[9], {"b": board, "n": 2}), (DOCUMENTS[10], {"b": board, "p": "p1"}),
                                    (GLOBAL_LEADERBOARD, {"board": board, "first": 3}),
                                    (GLOBAL_LEADERBOARD, {"board": board, "consistency": "EVENTUAL", "allowStale": True}),
                                    (GLOBAL_PLAYER, {"board": board, "id": "p3"}),
                                    (GLOBAL_PLAYER, {"board": board, "id": "nobody", "consistency": "EVENTUAL"})):
            body = orjson.dumps({"query": document, "variables": variables})
            _post(client, planned, body, None)   # prepares the document
            served = plans.served
            answer = _post(client, planned, body, None)
            assert plans.served == served + 1 and answer == _post(client, fast, body, None), (document, variables)
            assert orjson.loads(answer[1])["data"], answer
        # an unknown enum name never reaches a resolver: the general path refuses it, with its code
        for value in ("nope", "eventual", 1, None, ["EVENTUAL"]):
            body = orjson.dumps({"query": DOCUMENTS[5], "variables": {"b": board, "c": value}})
            served = plans.served
            answer = _post(client, planned, body, None)
            assert answer == _post(client, fast, body, None) and plans.served == served, value
            assert answer[0] == 200 and b"BAD_USER_INPUT" in answer[1], answer
        # a valid name reaches the resolver as the enum member it tests for: SESSION without its
        # token is the resolver's refusal (the plan gives it away), on both paths
        body = orjson.dumps({"query": DOCUMENTS[7], "variables": {"b": board, "p": "p3", "e": "SESSION"}})
        fell_back = plans.fell_back
        answer = _post(client, planned, body, None)
        assert answer == _post(client, fast, body, None) and plans.fell_back == fell_back + 1
        assert b"SESSION consistency needs" in answer[1], answer
