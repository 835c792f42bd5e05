"""`trendingChanged` with a `dims` filter over a real server: each filter is its own watch (only
its series' events move it), and undeclared dimensions or bad values are coded errors."""

from __future__ import annotations

import asyncio

import pytest

from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import Subscriber
from tests.trending.test_api import create_stream, ev, post_events

SUB = ("subscription($s:String!,$w:String!,$k:Int!,$d:JSON){ trendingChanged(stream:$s, window:$w, k:$k, dims:$d){"
       " seq full items { rank item count } changes { kind item rank count } } }")


def ranked(message: dict[str, object]) -> list[tuple[object, ...]]:
    items = message["items"]
    assert isinstance(items, list)
    return [(i["rank"], i["item"], i["count"]) for i in items]


@pytest.mark.anyio
async def test_a_dims_filter_watches_only_its_series(live_region: LiveServer) -> None:
    base = live_region.url
    stream = create_stream(base, dimensions=["mode"])
    await asyncio.to_thread(post_events, base, {"events": [
        ev(stream, "dust2", dims={"mode": "ranked"}), ev(stream, "nuke", dims={"mode": "casual"}),
        ev(stream, "nuke", dims={"mode": "casual"})]})
    ranked_sub = await Subscriber(live_region.ws_url).connect()
    all_sub = await Subscriber(live_region.ws_url).connect()
    try:
        await ranked_sub.subscribe(SUB, {"s": stream, "w": "1h", "k": 3, "d": {"mode": "ranked"}})
        await all_sub.subscribe(SUB, {"s": stream, "w": "1h", "k": 3})
        first = (await asyncio.wait_for(ranked_sub.next(), 30))["data"]["trendingChanged"]
        everything = (await asyncio.wait_for(all_sub.next(), 30))["data"]["trendingChanged"]
        assert first["full"] and ranked(first) == [(1, "dust2", 1)]
        assert ranked(everything) == [(1, "nuke", 2), (2, "dust2", 1)]
        await asyncio.to_thread(post_events, base, {"events": [ev(stream, "mirage", dims={"mode": "ranked"})
                                                               for _ in range(2)]})
        second = (await asyncio.wait_for(ranked_sub.next(), 30))["data"]["trendingChanged"]
        assert {(c["kind"], c["item"], c["rank"], c["count"]) for c in second["changes"]} == {
            ("ENTERED", "mirage", 1, 2), ("MOVED", "dust2", 2, 1)}
    finally:
        await ranked_sub.close()
        await all_sub.close()


@pytest.mark.anyio
@pytest.mark.parametrize("dims", [{"region": "eu"}, {"mode": "bad value"}, {"mode": 3}, [1]])
async def test_bad_dims_are_coded_errors(live_region: LiveServer, dims: object) -> None:
    stream = create_stream(live_region.url, dimensions=["mode"])
    sub = await Subscriber(live_region.ws_url).connect()
    try:
        await sub.subscribe(SUB, {"s": stream, "w": "1h", "k": 3, "d": dims})
        message = await asyncio.wait_for(sub.next(), 30)
        assert [e["extensions"]["code"] for e in message["errors"]] == ["BAD_USER_INPUT"], message
    finally:
        await sub.close()
