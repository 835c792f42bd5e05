"""One Redis round trip per read: a player's rank, score and entry in one request are one call of
the read_players script (the fields share it), counted by Redis itself (its slow log, every command)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from importlib import resources

import httpx
import pytest
import redis
from podium.region.api.app import create_app

from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.region.helpers import create_board, entry, post_scores

READ_PLAYERS_SHA = hashlib.sha1(
    resources.files("podium").joinpath("lua/read_players.lua").read_text().encode()).hexdigest()


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[LiveServer]:
    with LiveServer(create_app, region_settings(f"{redis_server.url}/6")) as live:
        yield live


def read_players_calls(client: redis.Redis) -> int:
    return sum(1 for e in client.slowlog_get(10_000)
               if any(a in (b"EVALSHA", b"evalsha") for a in e["command"].split()[:1])
               and READ_PLAYERS_SHA.encode() in e["command"])


def test_rank_score_and_entry_are_one_redis_call(server: LiveServer, redis_server: RedisServer) -> None:
    board = create_board(server.url)
    post_scores(server.url, {"entries": [entry(board, "ann", 5), entry(board, "bob", 9)]})
    client = redis.Redis.from_url(redis_server.url)
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 10_000)
    try:
        query = ('query($b: String!) { player(id: "ann") { rank(board: $b) score(board: $b) '
                 'entry(board: $b) { rank score } } }')
        httpx.post(f"{server.url}/graphql", json={"query": query, "variables": {"b": board}})  # loads the script
        client.slowlog_reset()
        r = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": {"b": board}})
        assert r.json() == {"data": {"player": {"rank": 2, "score": 5, "entry": {"rank": 2, "score": 5}}}}, r.text
        assert read_players_calls(client) == 1
        two_boards = ('query($b: String!) { player(id: "ann") { rank(board: $b) '
                      'other: rank(board: "no-such-board") } }')
        client.slowlog_reset()
        r = httpx.post(f"{server.url}/graphql", json={"query": two_boards, "variables": {"b": board}})
        assert r.json()["data"] == {"player": {"rank": 2, "other": None}}
        assert [e["extensions"]["code"] for e in r.json()["errors"]] == ["NOT_FOUND"]
        assert read_players_calls(client) == 1
    finally:
        client.config_set("slowlog-log-slower-than", 10_000)
        client.close()
