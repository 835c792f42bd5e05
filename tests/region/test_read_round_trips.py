"""Redis round trips per read, counted by Redis itself (its slow log, every command): a player's
rank, score and entry in one request are one Redis call (the fields share it): the read_players
script, or, once the process knows the player's member, one MULTI of ZSCORE + ZRANK (region/
rank_members.py); a board's top-N is served from the process's memory, following other processes' writes
within a tick."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator

import httpx
import pytest
import redis
from podium.region.api.app import create_app
from podium.region.rank_index import lua_with_index_reads
from podium.region.rank_store_redis import RedisRankStore

from podium.devtools.testing import LiveServer
from podium.model import ScoreEntry
from podium.redis_client import connect
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.region.helpers import create_board, entry, now_ms, post_scores

# The script as the rank store loads it: read_players.lua with the player-index helpers prepended.
READ_PLAYERS_SHA = hashlib.sha1(lua_with_index_reads("read_players").encode()).hexdigest()


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[LiveServer]:
    with LiveServer(create_app, region_settings(f"{redis_server.url}/6")) as live:
        yield live


def read_players_calls(client: redis.Redis) -> int:
    return sum(1 for e in client.slowlog_get(10_000)
               if any(a in (b"EVALSHA", b"evalsha") for a in e["command"].split()[:1])
               and READ_PLAYERS_SHA.encode() in e["command"])


def known_member_calls(client: redis.Redis) -> int:
    """Reads by known member: one MULTI of ZSCORE + ZRANK each (the slow log has MULTI, not EXEC)."""
    return sum(1 for e in client.slowlog_get(10_000) if e["command"].split()[:1] in ([b"MULTI"], [b"multi"]))


def test_rank_score_and_entry_are_one_redis_call(server: LiveServer, redis_server: RedisServer) -> None:
    board = create_board(server.url)
    post_scores(server.url, {"entries": [entry(board, "ann", 5), entry(board, "bob", 9)]})
    client = redis.Redis.from_url(redis_server.url)
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 10_000)
    try:
        query = ('query($b: String!) { player(id: "ann") { rank(board: $b) score(board: $b) '
                 'entry(board: $b) { rank score } } }')
        bob = query.replace('"ann"', '"bob"')
        httpx.post(f"{server.url}/graphql", json={"query": bob, "variables": {"b": board}})  # loads the script
        client.slowlog_reset()
        r = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": {"b": board}})
        assert r.json() == {"data": {"player": {"rank": 2, "score": 5, "entry": {"rank": 2, "score": 5}}}}, r.text
        assert (read_players_calls(client), known_member_calls(client)) == (1, 0)
        client.slowlog_reset()
        r = httpx.post(f"{server.url}/graphql", json={"query": query, "variables": {"b": board}})
        assert r.json() == {"data": {"player": {"rank": 2, "score": 5, "entry": {"rank": 2, "score": 5}}}}, r.text
        assert (read_players_calls(client), known_member_calls(client)) == (0, 1)   # ann's member is known now
        two_boards = ('query($b: String!) { player(id: "ann") { rank(board: $b) '
                      'other: rank(board: "no-such-board") } }')
        client.slowlog_reset()
        r = httpx.post(f"{server.url}/graphql", json={"query": two_boards, "variables": {"b": board}})
        assert r.json()["data"] == {"player": {"rank": 2, "other": None}}
        assert [e["extensions"]["code"] for e in r.json()["errors"]] == ["NOT_FOUND"]
        assert read_players_calls(client) + known_member_calls(client) == 1
    finally:
        client.config_set("slowlog-log-slower-than", 10_000)
        client.close()


def zset_reads(client: redis.Redis, board: str) -> int:
    return sum(1 for e in client.slowlog_get(10_000)
               if e["command"].split()[:1] in ([b"ZRANGE"], [b"zrange"]) and board.encode() in e["command"])


TOP = 'query($b: String!) { leaderboard(board: $b, first: 3) { totalCount asOf edges { node { player score } } } }'


def test_top_n_is_served_from_memory_and_follows_other_processes_within_a_tick(
        server: LiveServer, redis_server: RedisServer) -> None:
    board_id = create_board(server.url)
    post_scores(server.url, {"entries": [entry(board_id, "ann", 5), entry(board_id, "bob", 9)]})
    client = redis.Redis.from_url(redis_server.url)
    client.config_set("slowlog-log-slower-than", 0)
    client.config_set("slowlog-max-len", 10_000)
    try:
        def top() -> dict[str, object]:
            r = httpx.post(f"{server.url}/graphql", json={"query": TOP, "variables": {"b": board_id}})
            return r.json()["data"]["leaderboard"]  # type: ignore[no-any-return]

        first = top()      # read-your-write: the local write dropped the snapshot
        assert [e["node"]["player"] for e in first["edges"]] == ["bob", "ann"] and first["totalCount"] == 2
        client.slowlog_reset()
        for _ in range(5):
            assert [e["node"] for e in top()["edges"]] == [e["node"] for e in first["edges"]]
        assert zset_reads(client, board_id) == 0          # five tops, no ZRANGE of the board

        # another process writes (its own rank store and connection): seen within a few ticks
        board = server.app.state.service.boards.cached()[board_id]

        async def other_process_writes() -> None:
            other = connect(redis_server.url.rstrip("/") + "/6")
            try:
                await RedisRankStore(other).apply(board, [ScoreEntry(board_id, "cat", 20, now_ms() - 10, "ev-cat")],
                                                  now_ms())
            finally:
                await other.aclose()

        asyncio.run(other_process_writes())
        deadline = time.monotonic() + 10
        while (latest := top())["totalCount"] != 3:
            assert time.monotonic() < deadline, latest
            time.sleep(0.05)
        assert [e["node"]["player"] for e in latest["edges"]] == ["cat", "bob", "ann"]
        assert latest["asOf"] >= first["asOf"]   # type: ignore[operator]
    finally:
        client.config_set("slowlog-log-slower-than", 10_000)
        client.close()
