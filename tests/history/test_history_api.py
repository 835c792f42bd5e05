"""History over GraphQL on a real server (SQLite warm store): player history with time windows and
page limits, snapshots and rank history from season archives, error codes, and a board being
rebuilt served as REBUILDING (reads and writes) instead of wrong ranks."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from podium.region.rebuild_leases_redis import RebuildLeases

from podium.clock import SystemClock
from podium.commands.snapshot import _run as snapshot_command
from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY
from tests.history.scenario import admin_gql, history_settings, start
from tests.region.helpers import create_board, entry, graphql, now_ms, post_scores, unique

HISTORY = "query($p:String!,$b:String!,$s:Long,$u:Long,$n:Int!,$season:Int){ player(id:$p){ " \
          "history(board:$b, since:$s, until:$u, first:$n, season:$season){ eventId score achievedAt season } } }"


@pytest.fixture(scope="module")
def region(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = history_settings(redis_server.url, tmp_path_factory.mktemp("history-api"))
    server = start(settings)
    yield server
    server.stop()


def until(cond: Callable[[], bool], what: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {timeout_s} s")


def code(doc: dict[str, Any]) -> str:
    assert doc.get("errors"), doc
    return doc["errors"][0]["extensions"]["code"]  # type: ignore[no-any-return]


def history(base: str, player: str, board: str, n: int = 20, **kw: Any) -> dict[str, Any]:
    return graphql(base, HISTORY, {"p": player, "b": board, "n": n, "s": kw.get("since"), "u": kw.get("until"),
                                   "season": kw.get("season")})


def test_player_history_window_and_limits(region: LiveServer) -> None:
    board = create_board(region.url, operator="increment", score_max=100)
    t = now_ms() - 10_000
    sent = [entry(board, "ann", 10 * i, ts=t + i, ev=unique("h")) for i in range(5)]
    body = {"entries": [*sent, sent[0], entry(board, "ann", 1000, ts=t), entry(board, "bob", 1, ts=t)]}
    results = post_scores(region.url, body).json()["results"]
    assert [r["status"] for r in results] == ["applied"] * 5 + ["rejected", "rejected", "applied"]
    until(lambda: len(history(region.url, "ann", board)["data"]["player"]["history"]) == 5, "history written")
    got = history(region.url, "ann", board)["data"]["player"]["history"]
    assert [(h["eventId"], h["score"], h["achievedAt"], h["season"]) for h in got] == [
        (e["event_id"], e["score"], e["achieved_at"], 0) for e in reversed(sent)]
    window = history(region.url, "ann", board, since=t + 1, until=t + 3)["data"]["player"]["history"]
    assert [h["achievedAt"] for h in window] == [t + 2, t + 1]
    assert [h["achievedAt"] for h in history(region.url, "ann", board, n=2)["data"]["player"]["history"]] == [t + 4, t + 3]
    assert history(region.url, "nobody", board)["data"]["player"]["history"] == []
    assert code(history(region.url, "ann", board, n=0)) == "BAD_USER_INPUT"
    assert code(history(region.url, "ann", board, n=101)) == "BAD_USER_INPUT"        # api.history_page_max
    assert code(history(region.url, "ann", board, since=t + 3, until=t + 3)) == "BAD_USER_INPUT"
    assert code(history(region.url, "ann", board, season=1)) == "BAD_USER_INPUT"
    assert code(history(region.url, "ann", "no-such-board")) == "NOT_FOUND"


PAGED = "query($p:String!,$b:String!,$n:Int!,$a:String){ player(id:$p){ history(board:$b, first:$n, after:$a)" \
        "{ eventId achievedAt cursor } } }"


def test_history_cursor_pages_through_equal_times(region: LiveServer) -> None:
    """Three (and more) scores of one player at one achievedAt: paging by cursor, one row per page,
    reaches every one exactly once (paging by `until` could not: the window is [since, until))."""
    board = create_board(region.url, operator="increment")
    t = now_ms() - 10_000
    sent = [entry(board, "ann", 1, ts=t, ev=f"e{i}") for i in range(1, 4)] + [entry(board, "ann", 1, ts=t - 5, ev="e0")]
    assert post_scores(region.url, {"entries": sent}).status_code == 200
    until(lambda: len(history(region.url, "ann", board)["data"]["player"]["history"]) == 4, "history written")
    seen, after = [], None
    for _ in range(10):
        doc = graphql(region.url, PAGED, {"p": "ann", "b": board, "n": 1, "a": after})
        rows = doc["data"]["player"]["history"]
        if not rows:
            break
        seen.append(rows[0]["eventId"])
        after = rows[0]["cursor"]
    assert seen == ["e3", "e2", "e1", "e0"]
    for bad in ("", "!!", "W10=", "WzAsIiJd", "WzEsMl0="):   # "", junk, [], [0,""], [1,2]
        assert code(graphql(region.url, PAGED, {"p": "ann", "b": board, "n": 1, "a": bad})) == "BAD_USER_INPUT"


def test_snapshots_and_rank_history_from_season_archives(region: LiveServer) -> None:
    board = create_board(region.url)
    t = now_ms() - 10_000
    post_scores(region.url, {"entries": [entry(board, p, s, ts=t) for p, s in [("ann", 30), ("bob", 50), ("cid", 40)]]})
    reset = "mutation($b:String!){ resetBoard(board:$b){ season } }"
    assert admin_gql(region.url, reset, {"b": board})["data"]["resetBoard"]["season"] == 1
    post_scores(region.url, {"entries": [entry(board, p, s, ts=t + 5) for p, s in [("ann", 70), ("bob", 20)]]})
    assert admin_gql(region.url, reset, {"b": board})["data"]["resetBoard"]["season"] == 2

    listed = graphql(region.url, "query($b:String!){ snapshots(board:$b){ takenAt season totalCount } }", {"b": board})
    snaps = listed["data"]["snapshots"]
    assert [(s["season"], s["totalCount"]) for s in snaps] == [(1, 2), (0, 3)]
    query = ("query($b:String!,$s:Int,$t:Long,$f:Int!,$to:Int!){ snapshot(board:$b, season:$s, takenAt:$t, "
             "fromRank:$f, toRank:$to){ season takenAt totalCount entries { rank player score achievedAt } } }")
    season0 = graphql(region.url, query, {"b": board, "s": 0, "f": 2, "to": 3})["data"]["snapshot"]
    assert season0["totalCount"] == 3 and season0["takenAt"] == snaps[1]["takenAt"]
    assert [(e["rank"], e["player"], e["score"]) for e in season0["entries"]] == [(2, "cid", 40), (3, "ann", 30)]
    by_time = graphql(region.url, query, {"b": board, "t": snaps[0]["takenAt"], "f": 1, "to": 10})["data"]["snapshot"]
    assert [(e["rank"], e["player"], e["score"]) for e in by_time["entries"]] == [(1, "ann", 70), (2, "bob", 20)]
    assert graphql(region.url, query, {"b": board, "t": 1, "f": 1, "to": 10})["data"]["snapshot"] is None
    assert code(graphql(region.url, query, {"b": board, "s": 3, "f": 1, "to": 10})) == "BAD_USER_INPUT"
    assert code(graphql(region.url, query, {"b": board, "f": 1, "to": 1001})) == "BAD_USER_INPUT"  # page_size_max
    assert code(graphql(region.url, query, {"b": board, "f": 0, "to": 5})) == "BAD_USER_INPUT"

    ranks = graphql(region.url, 'query($b:String!){ rankHistory(board:$b, player:"ann"){ takenAt rank score } }', {"b": board})
    assert [(p["rank"], p["score"]) for p in ranks["data"]["rankHistory"]] == [(1, 70), (3, 30)]
    old = history(region.url, "ann", board, season=0)["data"]["player"]["history"]
    assert [(h["score"], h["season"]) for h in old] == [(30, 0)]
    assert history(region.url, "ann", board)["data"]["player"]["history"] == []        # season 2 is new
    exports = sorted(p.name for p in (Path(region.settings.data_dir) / "snapshots").glob(f"{board}.s*.jsonl.gz"))
    assert [n.split(".")[1] for n in exports] == ["s0", "s1"]


def test_rebuilding_board_is_served_as_rebuilding(region: LiveServer, redis_server: RedisServer) -> None:
    board = create_board(region.url)
    t = now_ms() - 10_000
    post_scores(region.url, {"entries": [entry(board, f"p{i}", 10 * i, ts=t) for i in range(5)]})
    asyncio.run(snapshot_command(region.settings, argparse.Namespace(action="take", board=board)))

    async def lease(release: str | None = None) -> str | None:
        redis = aioredis.Redis.from_url(redis_server.url)
        try:
            leases = RebuildLeases(redis, SystemClock(), 60_000)
            if release:
                await leases.release(board, release)
                return None
            return await leases.acquire(board)
        finally:
            await redis.aclose()

    token = asyncio.run(lease())
    assert token
    conn = "query($b:String!){ leaderboard(board:$b, first:3){ status stale totalCount edges { node { rank player } } } }"
    until(lambda: graphql(region.url, conn, {"b": board})["data"]["leaderboard"]["status"] == "REBUILDING",
          "registry sees the lease")
    served = graphql(region.url, conn, {"b": board})["data"]["leaderboard"]
    assert served["stale"] is True and served["totalCount"] == 5
    assert [(e["node"]["rank"], e["node"]["player"]) for e in served["edges"]] == [(1, "p4"), (2, "p3"), (3, "p2")]
    # a GraphQL answer whose every error is REBUILDING is a 503 with Retry-After, like the REST one
    for query, headers in (('query($b:String!){ page(board:$b, fromRank:1, toRank:2){ rank } }', {}),
                           ('query($b:String!){ player(id:"p1"){ rank(board:$b) } }', {}),
                           ("mutation($b:String!){ resetBoard(board:$b){ season } }",
                            {"Authorization": f"Bearer {ADMIN_KEY}"})):
        r = httpx.post(f"{region.url}/graphql", json={"query": query, "variables": {"b": board}}, headers=headers)
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert code(r.json()) == "REBUILDING"
    refused = post_scores(region.url, {"entries": [entry(board, "late", 99)]})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "REBUILDING"
    assert refused.headers["retry-after"] == "1"
    # history reads do not depend on Redis ranks: still served
    assert "errors" not in history(region.url, "p1", board)

    asyncio.run(lease(release=token))
    until(lambda: graphql(region.url, conn, {"b": board})["data"]["leaderboard"]["status"] == "LIVE", "lease released")
    assert post_scores(region.url, {"entries": [entry(board, "late", 99)]}).json()["results"][0]["status"] == "applied"
    assert httpx.get(f"{region.url}/readyz").status_code == 200


def _write_snapshots(region: LiveServer, board: str, times: list[int]) -> None:
    """Snapshots written straight into the region's warm store (its SQLite file): many of them,
    quickly, each ranking ann, bob and cid differently."""
    from podium.region.history.factory import sqlite_path
    from podium.region.history.sqlite import SqliteHistoryStore
    from podium.region.history.store import Snapshot

    from podium.model import RankedEntry

    async def write() -> None:
        store = SqliteHistoryStore(sqlite_path(region.settings))
        await store.open()
        try:
            for i, t in enumerate(times):
                players = ["ann", "bob", "cid"][i % 3:] + ["ann", "bob", "cid"][:i % 3]
                await store.write_snapshot(Snapshot(board, 0, t, tuple(RankedEntry(r + 1, p, 100 - r, t)
                                                                      for r, p in enumerate(players))))
        finally:
            await store.close()

    asyncio.run(write())


SNAPSHOTS_PAGED = "query($b:String!,$n:Int!,$a:String){ snapshots(board:$b, first:$n, after:$a){ takenAt cursor } }"
RANKS_PAGED = ('query($b:String!,$n:Int!,$a:String,$u:Long){ rankHistory(board:$b, player:"ann", first:$n, after:$a, '
               'until:$u){ takenAt rank cursor } }')


@pytest.mark.parametrize("page", [1, 3, 7, 50])
def test_snapshots_and_rank_history_page_by_cursor(region: LiveServer, page: int) -> None:
    """17 snapshots: a cursor walk at any page size returns every one exactly once, newest first
    (the oracle: the times written, sorted), for the snapshot list and for a player's rank history;
    crafted cursors are "invalid cursor"; `until` still pages as before."""
    board = create_board(region.url)
    base = now_ms() - 1_000_000
    times = [base + 1000 * i for i in range(17)]
    _write_snapshots(region, board, times)
    oracle = sorted(times, reverse=True)
    for query, field in ((SNAPSHOTS_PAGED, "snapshots"), (RANKS_PAGED, "rankHistory")):
        seen: list[int] = []
        after = None
        for _ in range(len(times) + 2):
            rows = graphql(region.url, query, {"b": board, "n": page, "a": after})["data"][field]
            if not rows:
                break
            assert len(rows) <= page
            seen += [r["takenAt"] for r in rows]
            after = rows[-1]["cursor"]
        assert seen == oracle, field
    ranks = graphql(region.url, RANKS_PAGED, {"b": board, "n": 50})["data"]["rankHistory"]
    assert [p["rank"] for p in ranks] == [[1, 3, 2][i % 3] for i in range(17)][::-1]
    by_until = graphql(region.url, RANKS_PAGED, {"b": board, "n": 2, "u": oracle[3]})["data"]["rankHistory"]
    assert [p["takenAt"] for p in by_until] == oracle[4:6]
    snap_cursor = graphql(region.url, SNAPSHOTS_PAGED, {"b": board, "n": 1})["data"]["snapshots"][0]["cursor"]
    crafted = ["", "!!", "W10=", "WyJyIiwwXQ==", "WyJyIiwtMV0=", "WyJyIiwiMSJd", "WyJyIiw5MDA3MTk5MjU0NzQwOTkzXQ==",
               snap_cursor]   # junk, [], ["r",0], ["r",-1], ["r","1"], ["r",2**53+1], a snapshots cursor
    for bad in crafted:
        doc = graphql(region.url, RANKS_PAGED, {"b": board, "n": 1, "a": bad})
        assert code(doc) == "BAD_USER_INPUT" and doc["errors"][0]["message"] == "invalid cursor", (bad, doc)
    assert code(graphql(region.url, SNAPSHOTS_PAGED, {"b": board, "n": 1, "a": "WyJzIiwwXQ=="})) == "BAD_USER_INPUT"
