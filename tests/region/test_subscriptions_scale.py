"""2,000 concurrent websocket subscribers on one server process: every subscriber receives every
tick's changes, in order, and rebuilds exactly the server's top from them."""

from __future__ import annotations

import asyncio
import json
import resource

import pytest

from podium.devtools.testing import ServerProcess
from podium.devtools.ws_client import Subscriber
from podium.model import RankedEntry
from podium.top_diff import ChangeKind, TopChange, apply_diff
from tests.conftest import ADMIN_KEY, GAME_KEY_ID, GAME_SECRET
from tests.region.helpers import create_board, entry, post_scores, top

SUBSCRIBERS = 2000
ROUNDS = 5
CONNECT_CONCURRENCY = 100
Q = ("subscription($b:String!){ topChanged(board:$b, n:10){ seq full entries { rank player score achievedAt } "
     "changes { kind player rank previousRank score achievedAt } } }")


def _rows(doc: dict) -> list[RankedEntry]:  # type: ignore[type-arg]
    return [RankedEntry(e["rank"], e["player"], e["score"], e["achievedAt"]) for e in doc["entries"]]


def _changes(doc: dict) -> list[TopChange]:  # type: ignore[type-arg]
    return [TopChange(ChangeKind(c["kind"]), c["player"], c["rank"], c["previousRank"], c["score"], None,
                      c["achievedAt"]) for c in doc["changes"]]


@pytest.mark.slow
@pytest.mark.anyio
async def test_two_thousand_subscribers_get_every_tick_in_order(redis_server) -> None:  # type: ignore[no-untyped-def]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 16384)), hard))
    env = {"REDIS_URL": redis_server.url, "PODIUM_GAME_SERVER_KEYS": json.dumps({GAME_KEY_ID: GAME_SECRET}),
           "PODIUM_ADMIN_KEYS": json.dumps([ADMIN_KEY]), "PODIUM_API__SUBSCRIPTIONS_PER_PROCESS_MAX": "5000",
           "PODIUM_API__RATE_LIMIT_PER_S": "100000", "PODIUM_API__RATE_LIMIT_BURST": "100000"}
    with ServerProcess(env) as server:
        board = create_board(server.url)
        await asyncio.to_thread(post_scores, server.url, {"entries": [entry(board, f"p{i}", i) for i in range(10)]})
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def connect() -> tuple[Subscriber, list[RankedEntry], int]:
            async with gate:
                sub = await Subscriber(server.ws_url).connect()
                await sub.subscribe(Q, {"b": board})
                msg = await asyncio.wait_for(sub.next(), 60)
                assert msg.get("data"), msg
                first = msg["data"]["topChanged"]
                assert first["full"] is True
                return sub, _rows(first), first["seq"]

        subs = await asyncio.gather(*(connect() for _ in range(SUBSCRIBERS)))
        states = [s[1] for s in subs]
        seqs = [s[2] for s in subs]
        try:
            for round_ in range(ROUNDS):
                # each round puts a new leader on top and pushes one player out of the top 10
                await asyncio.to_thread(post_scores, server.url, {"entries": [entry(board, f"r{round_}", 1000 + round_)]})
                updates = await asyncio.gather(*(asyncio.wait_for(s[0].next(), 30) for s in subs))
                for i, u in enumerate(updates):
                    doc = u["data"]["topChanged"]
                    assert doc["full"] is False and doc["seq"] > seqs[i], "in order"
                    seqs[i] = doc["seq"]
                    states[i] = apply_diff(states[i], _changes(doc))
                    assert states[i][0].player == f"r{round_}"
            want = [(r["rank"], r["player"], r["score"]) for r in top(server.url, board, 10)]
            assert all([(e.rank, e.player, e.score) for e in st] == want for st in states)
        finally:
            await asyncio.gather(*(s[0].close() for s in subs), return_exceptions=True)
