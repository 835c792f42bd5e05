"""Every query and mutation over a real Hypercorn server, with admin keys and player JWTs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from podium.region.api.app import create_app

from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import Subscriber
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import entry, post_scores

JWT_SECRET = "jwt-secret-for-tests-0123456789abcdef"


@pytest.fixture(scope="module")
def api(redis_server: RedisServer) -> Iterator[LiveServer]:
    with LiveServer(create_app, region_settings(redis_server.url, jwt_secret=JWT_SECRET)) as server:
        yield server


def token(player: str, ttl_s: int = 300, secret: str = JWT_SECRET) -> str:
    return jwt.encode({"sub": player, "exp": int(time.time()) + ttl_s}, secret, algorithm="HS256")


def gql(server: LiveServer, query: str, variables: dict[str, Any] | None = None, bearer: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    r = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def code(doc: dict[str, Any]) -> str:
    return doc["errors"][0]["extensions"]["code"]  # type: ignore[no-any-return]


_n = iter(range(10**6))


def new_board(server: LiveServer, **fields: Any) -> str:
    board_id = f"q{next(_n)}-{time.monotonic_ns() % 10**8}"
    fields_gql = ", ".join(f"{k}: {v}" for k, v in fields.items())
    doc = gql(server, f'mutation {{ createBoard(board: {{id: "{board_id}"{", " + fields_gql if fields else ""}}}) {{ id season }} }}',
              bearer=ADMIN_KEY)
    assert doc["data"]["createBoard"] == {"id": board_id, "season": 0}, doc
    return board_id


def seed(server: LiveServer, board: str, n: int) -> None:
    r = post_scores(server.url, {"entries": [entry(board, f"p{i:02d}", i * 10) for i in range(n)]})
    assert r.status_code == 200


def test_page_around_players_count(api: LiveServer) -> None:
    board = new_board(api)
    seed(api, board, 10)   # p09 = rank 1 ... p00 = rank 10
    page = gql(api, "query($b:String!){ page(board:$b, fromRank:3, toRank:5){ rank player precision } }", {"b": board})
    assert page["data"]["page"] == [{"rank": r, "player": f"p{10 - r:02d}", "precision": "EXACT"} for r in (3, 4, 5)]
    q = "query($b:String!,$p:String!){ around(board:$b, player:$p, above:2, below:2){ rank player } }"
    assert [x["rank"] for x in gql(api, q, {"b": board, "p": "p09"})["data"]["around"]] == [1, 2, 3]
    assert [x["rank"] for x in gql(api, q, {"b": board, "p": "p00"})["data"]["around"]] == [8, 9, 10]
    assert gql(api, q, {"b": board, "p": "nobody"})["data"]["around"] == []
    doc = gql(api, 'query($b:String!){ players(ids:["p05","nobody","p09"], board:$b){ rank player score } count(board:$b) }', {"b": board})
    assert doc["data"]["players"] == [{"rank": 5, "player": "p05", "score": 50}, None, {"rank": 1, "player": "p09", "score": 90}]
    assert doc["data"]["count"] == 10
    assert code(gql(api, "query($b:String!){ page(board:$b, fromRank:0, toRank:5){ rank } }", {"b": board})) == "BAD_USER_INPUT"
    assert code(gql(api, "query($b:String!){ around(board:$b, player:\"p1\", above:1000){ rank } }", {"b": board})) == "BAD_USER_INPUT"
    many = [f"x{i}" for i in range(201)]
    assert code(gql(api, "query($b:String!,$i:[String!]!){ players(ids:$i, board:$b){ rank } }", {"b": board, "i": many})) == "BAD_USER_INPUT"


def test_admin_mutations_need_an_admin_key(api: LiveServer) -> None:
    q = 'mutation { createBoard(board: {id: "nope-1"}) { id } }'
    assert code(gql(api, q)) == "UNAUTHENTICATED"
    assert code(gql(api, q, bearer=token("ann"))) == "FORBIDDEN"
    assert code(gql(api, q, bearer="not-a-jwt")) == "UNAUTHENTICATED"
    assert code(gql(api, q, bearer=token("ann", secret="x" * 40))) == "UNAUTHENTICATED"
    assert code(gql(api, q, bearer=token("ann", ttl_s=-120))) == "UNAUTHENTICATED"


def test_reset_keeps_the_previous_season_readable(api: LiveServer) -> None:
    board = new_board(api)
    seed(api, board, 3)
    assert gql(api, 'mutation($b:String!){ resetBoard(board:$b){ season } }', {"b": board}, ADMIN_KEY)["data"]["resetBoard"] == {"season": 1}
    post_scores(api.url, {"entries": [entry(board, "new", 1)]})
    q = "query($b:String!,$s:Int){ leaderboard(board:$b, first:10, season:$s){ edges { node { player } } } }"
    now = [e["node"]["player"] for e in gql(api, q, {"b": board, "s": None})["data"]["leaderboard"]["edges"]]
    before = [e["node"]["player"] for e in gql(api, q, {"b": board, "s": 0})["data"]["leaderboard"]["edges"]]
    assert now == ["new"] and before == ["p02", "p01", "p00"]
    assert code(gql(api, q, {"b": board, "s": 7})) == "BAD_USER_INPUT"


def test_delete_and_ban_players(api: LiveServer) -> None:
    board = new_board(api)
    seed(api, board, 3)
    assert gql(api, 'mutation($b:String!){ deletePlayer(board:$b, player:"p01") }', {"b": board}, ADMIN_KEY)["data"]["deletePlayer"] is True
    assert gql(api, 'mutation($b:String!){ banPlayer(board:$b, player:"p02") }', {"b": board}, ADMIN_KEY)["data"]["banPlayer"] is True
    r = post_scores(api.url, {"entries": [entry(board, "p02", 999), entry(board, "p01", 5)]})
    assert [(x["status"], x.get("reason")) for x in r.json()["results"]] == [("rejected", "player is banned"), ("applied", None)]
    q = "query($b:String!){ leaderboard(board:$b){ edges { node { player score } } } }"
    assert [e["node"] for e in gql(api, q, {"b": board})["data"]["leaderboard"]["edges"]] == [
        {"player": "p01", "score": 5}, {"player": "p00", "score": 0}]


def test_update_and_delete_board(api: LiveServer) -> None:
    board = new_board(api)
    doc = gql(api, 'mutation($b:String!){ updateBoard(board:{id:$b, scoreMax: 10}){ scoreMax } }', {"b": board}, ADMIN_KEY)
    assert doc["data"]["updateBoard"] == {"scoreMax": 10}
    bad = gql(api, 'mutation($b:String!){ updateBoard(board:{id:$b, order: ASC}){ id } }', {"b": board}, ADMIN_KEY)
    assert code(bad) == "BAD_USER_INPUT"
    assert gql(api, 'mutation($b:String!){ deleteBoard(board:$b) }', {"b": board}, ADMIN_KEY)["data"]["deleteBoard"] is True
    assert code(gql(api, 'query($b:String!){ count(board:$b) }', {"b": board})) == "NOT_FOUND"


def test_submit_scores_mutation_shares_the_ingest_path(api: LiveServer) -> None:
    board = new_board(api)
    q = ('mutation($e:[ScoreInput!]!){ submitScores(entries:$e, idempotencyKey:"k1") }')
    entries = [{"board": board, "player": "ann", "score": 5, "achievedAt": 1, "eventId": "m1"},
               {"board": "nope", "player": "bob", "score": 5, "achievedAt": 1, "eventId": "m2"}]
    assert code(gql(api, q, {"e": entries})) == "UNAUTHENTICATED"
    result = gql(api, q, {"e": entries}, ADMIN_KEY)["data"]["submitScores"]
    assert [x["status"] for x in result["results"]] == ["applied", "rejected"]
    assert gql(api, q, {"e": entries}, ADMIN_KEY)["data"]["submitScores"] == result   # idempotent


def test_me_and_private_boards_need_a_token(api: LiveServer) -> None:
    board = new_board(api, publicRead="false")
    seed(api, board, 2)
    q = "query($b:String!){ leaderboard(board:$b){ totalCount } }"
    assert code(gql(api, q, {"b": board})) == "UNAUTHENTICATED"
    assert gql(api, q, {"b": board}, token("p00"))["data"]["leaderboard"]["totalCount"] == 2
    me = "query($b:String!){ me { id rank(board:$b) } }"
    assert gql(api, me, {"b": board}, token("p00"))["data"]["me"] == {"id": "p00", "rank": 2}
    assert code(gql(api, me, {"b": board})) == "UNAUTHENTICATED"


@pytest.mark.anyio
async def test_rank_changed_needs_the_players_token_over_websocket(api: LiveServer) -> None:
    board = await asyncio.to_thread(new_board, api)
    q = 'subscription($b:String!){ rankChanged(board:$b, player:"ann"){ rank } }'
    anon = await Subscriber(api.ws_url).connect()
    other = await Subscriber(api.ws_url, payload={"authorization": f"Bearer {token('bob')}"}).connect()
    own = await Subscriber(api.ws_url, "graphql-ws", payload={"authorization": f"Bearer {token('ann')}"}).connect()
    try:
        for sub, want in ((anon, "UNAUTHENTICATED"), (other, "FORBIDDEN")):
            await sub.subscribe(q, {"b": board})
            assert (await asyncio.wait_for(sub.next(), 5))["errors"][0]["extensions"]["code"] == want
        await own.subscribe(q, {"b": board})
        assert (await asyncio.wait_for(own.next(), 5))["data"]["rankChanged"] == {"rank": None}
    finally:
        for sub in (anon, other, own):
            await sub.close()
