"""The REST peer of the hot reads answers what GraphQL answers (top N, rank and score, around a
player, for every player on a board with ties and for a player without an entry) under the same
limits and auth: bad sizes and ids are 400, an unknown board 404, a private board 401 without a
token; the routes are in /openapi.json (schemathesis fuzzes them with the other REST routes)."""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from podium.devtools.testing import LiveServer
from tests.conftest import ADMIN_KEY
from tests.region.helpers import create_board, entry, graphql, post_scores

PLAYERS = [f"p{i}" for i in range(30)]
ITEM = "{ rank player score achievedAt }"


@pytest.fixture(scope="module")
def board(live_region: LiveServer) -> str:
    board_id = create_board(live_region.url)
    rng = random.Random(13)
    # scores from a small range: many ties, broken by achievement time
    post_scores(live_region.url, {"entries": [entry(board_id, p, rng.randrange(8), ts=1_600_000_000_000 + rng.randrange(5))
                                              for p in PLAYERS]})
    return board_id


def rest(server: LiveServer, path: str, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
    return httpx.get(f"{server.url}{path}", params=params, headers=headers or {}, timeout=30)


def test_top_is_graphqls_leaderboard(live_region: LiveServer, board: str) -> None:
    for first in (1, 7, 30, 100):
        r = rest(live_region, f"/v1/boards/{board}/top", first=first)
        assert r.status_code == 200, r.text
        doc = graphql(live_region.url, f"query($b:String!){{ leaderboard(board:$b, first:{first}) "
                                       f"{{ totalCount edges {{ node {ITEM} }} }} }}", {"b": board})["data"]["leaderboard"]
        assert r.json()["entries"] == [e["node"] for e in doc["edges"]]
        assert r.json()["totalCount"] == doc["totalCount"] == len(PLAYERS)
        assert r.headers["cache-control"].startswith("public, max-age=")


def test_rank_and_around_are_graphqls(live_region: LiveServer, board: str) -> None:
    for player in [*PLAYERS, "nobody"]:
        got = rest(live_region, f"/v1/boards/{board}/players/{player}").json()
        want = graphql(live_region.url, "query($b:String!,$p:String!){ player(id:$p){ rank(board:$b) score(board:$b) } }",
                       {"b": board, "p": player})["data"]["player"]
        assert (got["rank"], got["score"]) == (want["rank"], want["score"])
        assert (got["rank"] is None) == (player == "nobody")
        for above, below in ((0, 0), (3, 2), (40, 40)):
            near = rest(live_region, f"/v1/boards/{board}/around/{player}", above=above, below=below).json()["entries"]
            expected = graphql(live_region.url, f"query($b:String!,$p:String!){{ around(board:$b, player:$p, "
                                                f"above:{above}, below:{below}) {ITEM} }}", {"b": board, "p": player})
            assert near == expected["data"]["around"], (player, above, below)


@pytest.mark.parametrize(("path", "params", "status"), [
    ("top", {"first": 0}, 400), ("top", {"first": 1001}, 400), ("top", {"first": "ten"}, 400),
    ("top", {"first": "1e3"}, 400), ("around/p1", {"above": 101}, 400), ("around/p1", {"below": -1}, 400),
    ("players/" + "x" * 65, {}, 400), ("around/" + "é" * 33, {}, 400),
])
def test_same_limits_as_graphql(live_region: LiveServer, board: str, path: str, params: dict[str, Any],
                                status: int) -> None:
    r = rest(live_region, f"/v1/boards/{board}/{path}", **params)
    assert r.status_code == status and r.json()["error"]["code"] == "BAD_USER_INPUT", r.text


def test_unknown_and_private_boards(live_region: LiveServer) -> None:
    assert rest(live_region, "/v1/boards/no-such-board/top").json()["error"]["code"] == "NOT_FOUND"
    private = create_board(live_region.url, public_read=False)
    post_scores(live_region.url, {"entries": [entry(private, "p1", 5)]})
    for path in ("top", "players/p1", "around/p1"):
        refused = rest(live_region, f"/v1/boards/{private}/{path}")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "UNAUTHENTICATED"
        allowed = rest(live_region, f"/v1/boards/{private}/{path}", {"Authorization": f"Bearer {ADMIN_KEY}"})
        assert allowed.status_code == 200 and allowed.headers["cache-control"] == "private, no-store", allowed.text
    gql = httpx.post(f"{live_region.url}/graphql", json={"query": f'{{ leaderboard(board: "{private}") {{ totalCount }} }}'})
    assert gql.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"   # the GraphQL refusal, for comparison


def test_routes_are_documented(live_region: LiveServer) -> None:
    paths = httpx.get(f"{live_region.url}/openapi.json").json()["paths"]
    assert {"/v1/boards/{board}/top", "/v1/boards/{board}/players/{player}", "/v1/boards/{board}/around/{player}"} <= set(paths)
