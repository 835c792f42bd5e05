"""Live subscriptions started on graphql-core directly (podium.gql.live_subscribe) answer exactly what
Strawberry's general path answers: on random and hostile subscribe payloads (documents valid and
not, any JSON value as variables or operation name, with and without a token, both protocols), the
messages each path sends until the subscription is established, refused or completed, and the
close code when the server closes the socket, are the same. Both runs talk to one server (the same
fan-out state, so the same first top); the view's `live` path is switched off for the general run.
The live path must also actually start the qualifying subscriptions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podium.region.api.app import create_app
from starlette.routing import WebSocketRoute

from podium.clock import FakeClock
from podium.config import Settings
from podium.devtools.testing import LiveServer
from podium.devtools.ws_client import PROTOCOLS
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import create_board, entry, post_scores

TOP_Q = ("subscription($b:String!,$n:Int!){ topChanged(board:$b, n:$n){ seq full "
         "entries { rank player score } changes { kind player rank } asOf } }")
DOCUMENTS = [
    TOP_Q,
    "subscription($b:String!){ topChanged(board:$b){ board n entries { player } } }",
    "subscription Top($b:String!){ t: topChanged(board:$b, n:3){ __typename seq } }",
    "subscription($b:String!,$p:String!){ rankChanged(board:$b, player:$p){ rank previousRank score overtakenBy } }",
    "subscription($b:String!){ topChanged(board:$b, n:2){ ...T } } fragment T on TopChanged { seq entries { rank } }",
    "subscription($b:String!,$k:Boolean!){ topChanged(board:$b, n:2){ seq @include(if:$k) full } }",
    "subscription A($b:String!){ topChanged(board:$b){ seq } } subscription B($b:String!){ topChanged(board:$b){ full } }",
    "subscription { topChanged(board:\"nope\"){ seq } }",
    "subscription($b:String!){ topChanged(board:$b){ noSuchField } }",
    "subscription($b:String!){ topChanged(board:$b, n:1000){ seq } }",
    "subscription($b:String!){ topChanged(board:$b){ seq } rankChanged(board:$b, player:\"x\"){ rank } }",
    "query($b:String!){ count(board:$b) }",
    "subscription { topChanged(board: ",
]
JSON = st.recursive(st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
                    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                    max_leaves=5)
LAST_WAIT_S = 30          # a generous deadline for each message (a loaded CI machine)


def _view(server: LiveServer) -> Any:
    [route] = [r for r in server.app.routes if isinstance(r, WebSocketRoute) and r.path == "/graphql"]
    return route.endpoint


def _variables(board: str) -> st.SearchStrategy[Any]:
    sensible = st.fixed_dictionaries({
        "b": st.sampled_from([board, board, board, "no-such-board", "", "x" * 300]),
        "n": st.sampled_from([1, 3, 10, 0, -1, 101, 2**31, "3", None]),
        "p": st.sampled_from(["ann", "bob", "nobody", "", 7]),
        "k": st.booleans(),
    })
    return st.one_of(sensible, sensible, sensible, JSON, st.dictionaries(st.sampled_from("bnpk"), JSON, max_size=4))


async def _transcript(url: str, protocol: str, init: dict[str, Any], payload: Any) -> list[Any]:
    """What the server sends for one subscribe message: every message up to the established
    subscription's first data, a terminal `error`/`complete`, or the close (with its code)."""
    got: list[Any] = []
    async with websockets.connect(url, subprotocols=[protocol], open_timeout=LAST_WAIT_S,  # type: ignore[list-item]
                                  ping_interval=None) as ws:
        await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
        kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
        try:
            while True:
                msg = orjson.loads(await asyncio.wait_for(ws.recv(), LAST_WAIT_S))
                if msg.get("type") == "ka":
                    continue
                got.append(msg)
                if msg.get("type") == "connection_ack":
                    await ws.send(orjson.dumps({"id": "1", "type": kind, "payload": payload}).decode())
                elif msg.get("type") in ("error", "complete", "connection_error") or msg.get("type") in ("next", "data") and not (msg.get("payload") or {}).get("errors"):
                    break
        except websockets.ConnectionClosed as closed:
            got.append(("closed", closed.rcvd.code if closed.rcvd else None))
    return got


@pytest.fixture(scope="module")
def live_region(redis_server: RedisServer) -> Iterator[LiveServer]:
    """A region whose clock stands still: a watch opened again (its last subscriber left) has the
    same `asOf`, so the two paths' first messages can be compared byte for byte."""
    def factory(s: Settings) -> Any:
        return create_app(s, FakeClock(time.time_ns() // 1_000_000))   # signed writes need a near-real time

    with LiveServer(factory, region_settings(redis_server.url)) as server:
        yield server


@pytest.fixture(scope="module")
def board(live_region: LiveServer) -> str:
    board = create_board(live_region.url)
    r = post_scores(live_region.url, {"entries": [entry(board, "ann", 10), entry(board, "bob", 20)]})
    assert r.status_code == 200, r.text
    return board


def test_live_path_answers_what_the_general_path_answers(live_region: LiveServer, board: str) -> None:
    view = _view(live_region)
    live = view.live
    assert live is not None and view.live_direct is not None
    started = live.started, view.live_direct.started

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def check(data: st.DataObject) -> None:
        protocol = data.draw(st.sampled_from(PROTOCOLS))
        init = data.draw(st.sampled_from([{}, {"authorization": f"Bearer {ADMIN_KEY}"}, {"authorization": "Bearer x"}]))
        query = data.draw(st.sampled_from(DOCUMENTS))
        payload: Any = {"query": query, "variables": data.draw(_variables(board))}
        name = data.draw(st.sampled_from([None, None, "Top", "A", "B", "C", 3]))
        if name is not None:
            payload["operationName"] = name
        if data.draw(st.integers(0, 9)) == 0:
            payload = data.draw(JSON)          # not even an object
        try:
            view.live = None
            general = asyncio.run(_transcript(live_region.ws_url, protocol, init, payload))
        finally:
            view.live = live
        fast = asyncio.run(_transcript(live_region.ws_url, protocol, init, payload))
        assert fast == general

    check()
    assert live.started > started[0]                  # the live path did start subscriptions (legacy protocol)
    for protocol in PROTOCOLS:                        # and a known-good one on each path, whatever was drawn
        payload = {"query": TOP_Q, "variables": {"b": board, "n": 3}}
        try:
            view.live = None
            general = asyncio.run(_transcript(live_region.ws_url, protocol, {}, payload))
        finally:
            view.live = live
        assert asyncio.run(_transcript(live_region.ws_url, protocol, {}, payload)) == general
    assert view.live_direct.started > started[1]      # the direct path (graphql-transport-ws) was taken


@pytest.mark.anyio
async def test_live_path_starts_a_known_subscription_and_it_gets_updates(live_region: LiveServer, board: str) -> None:
    """The second subscriber of a document (the first one prepared it) starts on the direct path
    (graphql-transport-ws: straight to the fan-out as a push sink) and receives the following ticks
    like any other."""
    live = _view(live_region).live_direct
    init: dict[str, Any] = {}
    await asyncio.to_thread(_transcript_sync, live_region.ws_url, init, {"query": TOP_Q, "variables": {"b": board, "n": 3}})
    started = live.started
    async with websockets.connect(live_region.ws_url, subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
                                  ping_interval=None) as ws:
        await ws.send(orjson.dumps({"type": "connection_init", "payload": init}).decode())
        assert orjson.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(orjson.dumps({"id": "1", "type": "subscribe",
                                    "payload": {"query": TOP_Q, "variables": {"b": board, "n": 3}}}).decode())
        first = orjson.loads(await asyncio.wait_for(ws.recv(), LAST_WAIT_S))["payload"]["data"]["topChanged"]
        assert first["full"] and [e["player"] for e in first["entries"]][:2] == ["bob", "ann"]
        assert live.started == started + 1
        r = await asyncio.to_thread(post_scores, live_region.url, {"entries": [entry(board, "cid", 30)]})
        assert r.status_code == 200, r.text
        while True:
            update = orjson.loads(await asyncio.wait_for(ws.recv(), LAST_WAIT_S))["payload"]["data"]["topChanged"]
            if any(c["player"] == "cid" for c in update["changes"]):
                break
        assert not update["full"] and update["seq"] > first["seq"]
        assert ("ENTERED", "cid", 1) in {(c["kind"], c["player"], c["rank"]) for c in update["changes"]}


def _transcript_sync(url: str, init: dict[str, Any], payload: Any) -> list[Any]:
    return asyncio.run(_transcript(url, "graphql-transport-ws", init, payload))
