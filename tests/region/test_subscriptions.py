"""Live subscriptions over a real Hypercorn server, on both websocket protocols."""

from __future__ import annotations

import asyncio

import pytest

from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import PROTOCOLS, Subscriber
from tests.conftest import ADMIN_KEY
from tests.region.helpers import create_board, entry, post_scores

TOP_Q = ("subscription($b:String!,$n:Int!){ topChanged(board:$b, n:$n){ seq full "
         "entries { rank player score } changes { kind player rank previousRank score previousScore } } }")
RANK_Q = ("subscription($b:String!,$p:String!){ rankChanged(board:$b, player:$p){ rank previousRank score overtakenBy } }")


async def post_async(base: str, entries: list) -> None:  # type: ignore[type-arg]
    r = await asyncio.to_thread(post_scores, base, {"entries": entries})
    assert r.status_code == 200, r.text


@pytest.mark.anyio
@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_top_changed_full_then_diffs(live_region: LiveServer, protocol: str) -> None:
    board = create_board(live_region.url)
    await post_async(live_region.url, [entry(board, "ann", 10), entry(board, "bob", 20)])
    sub = await Subscriber(live_region.ws_url, protocol).connect()
    try:
        await sub.subscribe(TOP_Q, {"b": board, "n": 3})
        first = (await sub.next())["data"]["topChanged"]
        assert first["full"] is True
        assert [(e["rank"], e["player"], e["score"]) for e in first["entries"]] == [(1, "bob", 20), (2, "ann", 10)]
        await post_async(live_region.url, [entry(board, "cid", 30)])
        second = (await asyncio.wait_for(sub.next(), 5))["data"]["topChanged"]
        assert second["full"] is False and second["seq"] > first["seq"]
        assert {(c["kind"], c["player"], c["rank"], c["previousRank"]) for c in second["changes"]} == {
            ("ENTERED", "cid", 1, None), ("MOVED", "bob", 2, 1), ("MOVED", "ann", 3, 2)}
        await post_async(live_region.url, [entry(board, "dan", 40), entry(board, "ann", 50)])
        third = (await asyncio.wait_for(sub.next(), 5))["data"]["topChanged"]
        assert {(c["kind"], c["player"]) for c in third["changes"]} == {
            ("SCORE_CHANGED", "ann"), ("ENTERED", "dan"), ("MOVED", "cid"), ("LEFT", "bob")}
    finally:
        await sub.close()


@pytest.mark.anyio
async def test_writes_within_one_tick_are_coalesced(live_region: LiveServer) -> None:
    board = create_board(live_region.url, operator="increment")
    sub = await Subscriber(live_region.ws_url).connect()
    try:
        await sub.subscribe(TOP_Q, {"b": board, "n": 5})
        await sub.next()
        await post_async(live_region.url, [entry(board, "ann", 1)] + [entry(board, "bob", 1) for _ in range(5)])
        update = (await asyncio.wait_for(sub.next(), 5))["data"]["topChanged"]
        bob = [c for c in update["changes"] if c["player"] == "bob"]
        assert bob == [{"kind": "ENTERED", "player": "bob", "rank": 1, "previousRank": None, "score": 5, "previousScore": None}]
    finally:
        await sub.close()


@pytest.mark.anyio
async def test_rank_changed_reports_who_overtook(live_region: LiveServer) -> None:
    board = create_board(live_region.url)
    await post_async(live_region.url, [entry(board, "ann", 100), entry(board, "bob", 50)])
    sub = await Subscriber(live_region.ws_url, "graphql-ws", payload={"authorization": f"Bearer {ADMIN_KEY}"}).connect()
    try:
        await sub.subscribe(RANK_Q, {"b": board, "p": "ann"})
        first = (await sub.next())["data"]["rankChanged"]
        assert first["rank"] == 1 and first["score"] == 100
        await post_async(live_region.url, [entry(board, "bob", 150), entry(board, "cid", 120)])
        update = (await asyncio.wait_for(sub.next(), 5))["data"]["rankChanged"]
        assert update == {"rank": 3, "previousRank": 1, "score": 100, "overtakenBy": ["bob", "cid"]}
    finally:
        await sub.close()


@pytest.mark.anyio
async def test_subscription_limits_and_errors_carry_codes(live_region: LiveServer) -> None:
    sub = await Subscriber(live_region.ws_url).connect()
    try:
        await sub.subscribe(TOP_Q, {"b": "no-such-board", "n": 3})
        msg = await asyncio.wait_for(sub.next(), 5)
        assert msg["errors"][0]["extensions"]["code"] == "NOT_FOUND"
        board = create_board(live_region.url)
        await sub.subscribe(TOP_Q, {"b": board, "n": 1000}, op_id="2")
        msg = await asyncio.wait_for(sub.next("2"), 5)
        assert msg["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    finally:
        await sub.close()


@pytest.mark.anyio
async def test_one_serialization_per_tick_and_shape_shared_by_every_subscriber(live_region: LiveServer) -> None:
    """The fan-out fast path: subscribers of one (board, n) with the same operation get the same
    payload, executed and serialized once; another selection gets its own, with only its fields."""
    board = create_board(live_region.url)
    await post_async(live_region.url, [entry(board, "ann", 10)])
    small_q = "subscription($b:String!){ topChanged(board:$b, n:3){ changes { player rank } } }"
    same = [await Subscriber(live_region.ws_url, protocol).connect() for protocol in (*PROTOCOLS, PROTOCOLS[0])]
    small = await Subscriber(live_region.ws_url).connect()
    payloads = live_region.app.state.service.fanout.payloads
    try:
        for sub in same:
            await sub.subscribe(TOP_Q, {"b": board, "n": 3})
        await small.subscribe(small_q, {"b": board})
        for sub in (*same, small):
            assert (await asyncio.wait_for(sub.next(), 5))["data"]["topChanged"]   # first: through Strawberry
        hits, misses = payloads.hits, payloads.misses
        fanout = live_region.app.state.service.fanout
        for _ in range(50):   # each resolver hands its socket to the tick once its first frame is out
            if sum(len(w.sinks) for w in fanout.tops.values()) == len(same) + 1:
                break
            await asyncio.sleep(0.05)
        assert sum(len(w.sinks) for w in fanout.tops.values()) == len(same) + 1   # raw frames from the tick
        await post_async(live_region.url, [entry(board, "bob", 20)])
        got = [(await asyncio.wait_for(sub.next(), 5))["data"]["topChanged"] for sub in same]
        assert got[0] == got[1] == got[2]
        assert {(c["kind"], c["player"], c["rank"]) for c in got[0]["changes"]} == {("ENTERED", "bob", 1), ("MOVED", "ann", 2)}
        mini = (await asyncio.wait_for(small.next(), 5))["data"]["topChanged"]
        assert mini == {"changes": [{"player": c["player"], "rank": c["rank"]} for c in got[0]["changes"]]}
        # one execution per shape; the two graphql-transport-ws sockets share one frame within the
        # tick (no lookup), the graphql-ws one reuses the text under its own prefix
        assert (payloads.misses - misses, payloads.hits - hits) == (2, 1)
    finally:
        for sub in (*same, small):
            await sub.close()


@pytest.mark.anyio
async def test_first_message_is_one_shared_frame_per_update_and_shape(live_region: LiveServer) -> None:
    """A connect storm's first messages: rendered once per (update, operation) and framed once per
    protocol, not executed by Strawberry per subscriber; every subscriber still gets the full top."""
    board = create_board(live_region.url)
    await post_async(live_region.url, [entry(board, "ann", 10), entry(board, "bob", 7)])
    subs = [await Subscriber(live_region.ws_url, protocol).connect() for protocol in (*PROTOCOLS, PROTOCOLS[0])]
    payloads = live_region.app.state.service.fanout.payloads
    try:
        await subs[0].subscribe(TOP_Q, {"b": board, "n": 3})    # opens the watch (its first read)
        first = (await asyncio.wait_for(subs[0].next(), 5))["data"]["topChanged"]
        hits, misses = payloads.hits, payloads.misses
        for sub in subs[1:]:
            await sub.subscribe(TOP_Q, {"b": board, "n": 3})
        got = [(await asyncio.wait_for(sub.next(), 5))["data"]["topChanged"] for sub in subs[1:]]
        assert got == [first, first]
        assert first["full"] is True
        assert [(e["rank"], e["player"], e["score"]) for e in first["entries"]] == [(1, "ann", 10), (2, "bob", 7)]
        # graphql-ws: its own frame from the shared text (one miss, one hit); the second
        # graphql-transport-ws socket: the first one's whole frame (one hit)
        assert (payloads.misses - misses, payloads.hits - hits) == (1, 2)
    finally:
        for sub in subs:
            await sub.close()
