"""Cursor pages stay consistent while writes happen, and subscription changes reach every process
of a region (any process can serve any subscriber)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from podium.region.api.app import create_app

from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import Subscriber
from podium.redis_server import RedisServer
from tests.conftest import region_settings
from tests.region.helpers import create_board, entry, graphql, post_scores

PAGE_Q = ("query($b:String!,$a:String){ leaderboard(board:$b, first:7, after:$a){ edges { node { player score achievedAt } } "
          "pageInfo { hasNextPage endCursor } } }")


def test_cursor_walk_is_consistent_under_concurrent_writes(live_region: LiveServer) -> None:
    """Each page continues strictly after the previous page's last rank key, so a walk never
    repeats a key and never goes backwards, whatever is written meanwhile."""
    board = create_board(live_region.url)
    post_scores(live_region.url, {"entries": [entry(board, f"p{i:03d}", i % 50, ts=1000 + i) for i in range(150)]})
    stop = threading.Event()

    def writer() -> None:
        i = 0
        while not stop.is_set():
            post_scores(live_region.url, {"entries": [entry(board, f"w{i % 40}", (i * 7) % 60, ts=5000 + i)]})
            i += 1

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        keys, after = [], None
        for _ in range(200):
            page = graphql(live_region.url, PAGE_Q, {"b": board, "a": after})["data"]["leaderboard"]
            keys += [(-e["node"]["score"], e["node"]["achievedAt"], e["node"]["player"].encode()) for e in page["edges"]]
            after = page["pageInfo"]["endCursor"]
            if not page["pageInfo"]["hasNextPage"]:
                break
            time.sleep(0.005)
    finally:
        stop.set()
        thread.join()
    assert keys == sorted(keys), "a cursor walk moves strictly forward in rank-key order"
    assert len(keys) == len(set(keys))
    originals = {k[2] for k in keys if k[2].startswith(b"p")}
    assert len(originals) == 150, "untouched entries are all seen exactly once"


@pytest.mark.anyio
async def test_changes_reach_a_subscriber_on_another_process(redis_server: RedisServer) -> None:
    with LiveServer(create_app, region_settings(redis_server.url)) as a, \
            LiveServer(create_app, region_settings(redis_server.url)) as b:
        board = await asyncio.to_thread(create_board, a.url)
        await asyncio.sleep(0.15)   # B re-reads the registry on a miss at most every 100 ms
        sub = await Subscriber(b.ws_url).connect()
        try:
            await sub.subscribe("subscription($b:String!){ topChanged(board:$b, n:3){ full changes { kind player } } }",
                                {"b": board})
            assert (await asyncio.wait_for(sub.next(), 5))["data"]["topChanged"]["full"] is True
            await asyncio.to_thread(post_scores, a.url, {"entries": [entry(board, "ann", 1)]})   # written via A
            update = (await asyncio.wait_for(sub.next(), 5))["data"]["topChanged"]              # seen on B
            assert update["changes"] == [{"kind": "ENTERED", "player": "ann"}]
        finally:
            await sub.close()
