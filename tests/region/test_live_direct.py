"""Live subscriptions started straight as push sinks (podium.gql.live_direct) over graphql-transport-ws:
the protocol's rules hold on that path (duplicate ids, unknown ids, `complete` before or after the
start, the per-connection limit, hostile `connection_init` payloads answer as the general path
answers), and every way an operation ends gives its subscriber back to the fan-out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import websockets
from podium.region.api.app import create_app
from starlette.routing import WebSocketRoute

from podium.devtools.testing import LiveServer
from podium.redis_server import RedisServer
from tests.conftest import ADMIN_KEY, region_settings
from tests.region.helpers import create_board, entry, post_scores

TOP_Q = "subscription($b:String!,$n:Int!){ topChanged(board:$b, n:$n){ seq full entries { player } changes { player } } }"
RANK_Q = "subscription($b:String!,$p:String!){ rankChanged(board:$b, player:$p){ rank score } }"
PER_CONNECTION_MAX = 3
WAIT_S = 30  # a generous deadline per message on a loaded machine (never a performance assertion)


@pytest.fixture(scope="module")
def server(redis_server: RedisServer) -> Iterator[LiveServer]:
    api = {
        "rate_limit_per_s": 100_000.0,
        "rate_limit_burst": 100_000,
        "cache_ttl_ms": 0,
        "subscriptions_per_connection_max": PER_CONNECTION_MAX,
    }
    with LiveServer(create_app, region_settings(redis_server.url, api=api)) as live:
        yield live


@pytest.fixture(scope="module")
def board(server: LiveServer) -> str:
    board = create_board(server.url)
    r = post_scores(server.url, {"entries": [entry(board, "ann", 10), entry(board, "bob", 20)]})
    assert r.status_code == 200, r.text
    return board


def _view(server: LiveServer) -> Any:
    [route] = [r for r in server.app.routes if isinstance(r, WebSocketRoute) and r.path == "/graphql"]
    return route.endpoint


def _subscriptions(server: LiveServer) -> int:
    return int(server.app.state.service.fanout.subscriptions)


async def _until(check: Any) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, "not reached in time"
        await asyncio.sleep(0.02)


async def _send(ws: Any, message: Any) -> None:
    await ws.send(orjson.dumps(message).decode())


async def _recv(ws: Any) -> Any:
    return orjson.loads(await asyncio.wait_for(ws.recv(), WAIT_S))


async def _connected(url: str, init: Any = None) -> Any:
    ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"], ping_interval=None)  # type: ignore[list-item]
    await _send(ws, {"type": "connection_init", "payload": {} if init is None else init})
    assert (await _recv(ws))["type"] == "connection_ack"
    return ws


async def _subscribe(ws: Any, op_id: str, query: str, variables: dict[str, Any]) -> None:
    await _send(ws, {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})


async def _until_pong(ws: Any) -> list[Any]:
    """Every message before the answer to a ping sent now (all a tick wrote before it)."""
    await _send(ws, {"type": "ping"})
    got = []
    while (msg := await _recv(ws))["type"] != "pong":
        got.append(msg)
    return got


async def _prepared(server: LiveServer, query: str, variables: dict[str, Any]) -> None:
    """The document in the operation cache (its first sender runs the general path)."""
    ws = await _connected(server.ws_url)
    try:
        await _subscribe(ws, "1", query, variables)
        assert (await _recv(ws))["type"] == "next"
    finally:
        await ws.close()


@pytest.mark.anyio
async def test_complete_ends_a_direct_operation_and_frees_its_id(server: LiveServer, board: str) -> None:
    variables = {"b": board, "n": 3}
    await _prepared(server, TOP_Q, variables)
    direct = _view(server).live_direct
    await _until(lambda: _subscriptions(server) == 0)
    ws = await _connected(server.ws_url)
    try:
        started = direct.started
        await _subscribe(ws, "1", TOP_Q, variables)
        first = await _recv(ws)
        assert first["id"] == "1" and first["payload"]["data"]["topChanged"]["full"] is True
        assert direct.started == started + 1 and _subscriptions(server) == 1
        await _send(ws, {"id": "1", "type": "complete"})
        await _until(lambda: _subscriptions(server) == 0)
        await _subscribe(ws, "1", TOP_Q, variables)  # the id is free again: no 4409
        assert (await _recv(ws))["id"] == "1"
        await _subscribe(ws, "2", TOP_Q, variables)
        assert (await _recv(ws))["id"] == "2"
        await _send(ws, {"id": "1", "type": "complete"})
        await _until(lambda: _subscriptions(server) == 1)
        await _until_pong(ws)
        r = await asyncio.to_thread(post_scores, server.url, {"entries": [entry(board, "cid", 30)]})
        assert r.status_code == 200, r.text
        while (msg := await _recv(ws)).get("id") != "2":
            assert msg.get("id") != "1", msg
        assert msg["payload"]["data"]["topChanged"]["changes"]
        assert all(m.get("id") != "1" for m in await _until_pong(ws))  # nothing for the completed one
    finally:
        await ws.close()
    await _until(lambda: _subscriptions(server) == 0)  # the socket's end releases "2"


@pytest.mark.anyio
async def test_duplicate_id_closes_4409(server: LiveServer, board: str) -> None:
    variables = {"b": board, "n": 2}
    await _prepared(server, TOP_Q, variables)
    ws = await _connected(server.ws_url)
    try:
        await _subscribe(ws, "x", TOP_Q, variables)
        assert (await _recv(ws))["id"] == "x"
        await _subscribe(ws, "x", TOP_Q, variables)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await _recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4409
    finally:
        await ws.close()
    await _until(lambda: _subscriptions(server) == 0)


@pytest.mark.anyio
async def test_complete_of_an_unknown_id_is_ignored(server: LiveServer, board: str) -> None:
    variables = {"b": board, "p": "ann"}
    await _prepared(server, RANK_Q, variables)
    ws = await _connected(server.ws_url, {"authorization": f"Bearer {ADMIN_KEY}"})
    try:
        await _subscribe(ws, "r", RANK_Q, variables)
        assert (await _recv(ws))["payload"]["data"]["rankChanged"]["score"] is not None
        await _send(ws, {"id": "nope", "type": "complete"})
        assert await _until_pong(ws) == []  # still open, nothing sent
        assert _subscriptions(server) == 1
    finally:
        await ws.close()
    await _until(lambda: _subscriptions(server) == 0)


@pytest.mark.anyio
async def test_complete_before_the_start_holds_nothing(server: LiveServer, board: str) -> None:
    variables = {"b": board, "n": 4}
    await _prepared(server, TOP_Q, variables)
    ws = await _connected(server.ws_url)
    try:
        for i in range(20):  # the complete arrives before, during or after the start: never held
            await _subscribe(ws, f"c{i}", TOP_Q, variables)
            await _send(ws, {"id": f"c{i}", "type": "complete"})
        await _until_pong(ws)
        await _until(lambda: _subscriptions(server) == 0)
        await _subscribe(ws, "c0", TOP_Q, variables)  # every id is free
        assert (await _recv(ws))["id"] == "c0"
    finally:
        await ws.close()
    await _until(lambda: _subscriptions(server) == 0)


@pytest.mark.anyio
async def test_the_per_connection_limit_holds_on_the_direct_path(server: LiveServer, board: str) -> None:
    variables = {"b": board, "n": 5}
    await _prepared(server, TOP_Q, variables)
    ws = await _connected(server.ws_url)
    try:
        for i in range(PER_CONNECTION_MAX):
            await _subscribe(ws, str(i), TOP_Q, variables)
            assert (await _recv(ws))["type"] == "next"
        await _subscribe(ws, "over", TOP_Q, variables)
        refused = await _recv(ws)
        assert refused["id"] == "over" and refused["type"] == "error"
        assert refused["payload"][0]["message"] == "Subscription limit reached"
        assert _subscriptions(server) == PER_CONNECTION_MAX
        await _send(ws, {"id": "0", "type": "complete"})
        await _until_pong(ws)
        await _subscribe(ws, "again", TOP_Q, variables)  # room for one more
        assert (await _recv(ws))["id"] == "again"
    finally:
        await ws.close()
    await _until(lambda: _subscriptions(server) == 0)


async def _transcript(url: str, init: Any, query: str, variables: dict[str, Any]) -> list[Any]:
    got: list[Any] = []
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], ping_interval=None) as ws:  # type: ignore[list-item]
        await _send(ws, {"type": "connection_init", "payload": init})
        try:
            while True:
                msg = await _recv(ws)
                got.append(msg)
                if msg["type"] == "connection_ack":
                    await _subscribe(ws, "1", query, variables)
                elif msg["type"] in ("error", "complete", "next"):
                    break
        except websockets.ConnectionClosed as closed:
            got.append(("closed", closed.rcvd.code if closed.rcvd else None))
    return got


HOSTILE_INITS = [
    [],
    "x",
    3,
    True,
    {"authorization": 5},
    {"authorization": "Bearer nope"},
    {"authorization": "Basic abc"},
    {"authorization": ["Bearer", ADMIN_KEY]},
    {"Authorization": f"Bearer {ADMIN_KEY}"},
]


@pytest.mark.anyio
@pytest.mark.parametrize("init", HOSTILE_INITS)
async def test_hostile_init_payloads_answer_as_the_general_path(
    server: LiveServer, board: str, init: Any
) -> None:
    view = _view(server)
    await _prepared(server, TOP_Q, {"b": board, "n": 3})
    for query, variables in ((TOP_Q, {"b": board, "n": 3}), (RANK_Q, {"b": board, "p": "bob"})):
        live = view.live
        try:
            view.live = None
            general = await _transcript(server.ws_url, init, query, variables)
        finally:
            view.live = live
        direct = await _transcript(server.ws_url, init, query, variables)
        assert direct == general
    await _until(lambda: _subscriptions(server) == 0)


MALFORMED = [
    "5",
    "[]",
    "null",
    '{"type": 5}',
    '{"type": "subscribe", "id": "1", "payload": null}',
    '{"type": "subscribe", "id": "1", "payload": []}',
    '{"type": "subscribe", "id": ["x"], "payload": {"query": "{ boards { id } }"}}',
    '{"type": "subscribe", "id": "1", "payload": {"query": 5}}',
    '{"type": "complete", "id": ["x"]}',
    '{"type": "complete", "id": null}',
    '{"type": "subscribe", "id": 1, "payload": {"query": "{ boards { id } }"}}',
]


@pytest.mark.anyio
@pytest.mark.parametrize("message", MALFORMED)
async def test_malformed_messages_close_the_socket_4400(server: LiveServer, message: str) -> None:
    """Messages Strawberry's handler indexes without checking (it crashed on them: an ASGI error,
    the connection dropped without a close code) are refused like any malformed message."""
    ws = await _connected(server.ws_url)
    try:
        await ws.send(message)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await _recv(ws)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, message
    finally:
        await ws.close()


@pytest.mark.anyio
async def test_a_frame_that_fails_to_render_ends_the_operation_with_a_coded_error(server: LiveServer) -> None:
    """A later frame the fan-out cannot render ends that operation alone: an `error` coded INTERNAL,
    its subscriber given back, the socket and its other operations untouched."""
    from podium.gql.live import TopChanged
    from podium.gql.live_direct import Opened

    board = create_board(server.url)
    r = post_scores(server.url, {"entries": [entry(board, "ann", 10)]})
    assert r.status_code == 200, r.text
    direct = _view(server).live_direct
    query = "subscription($b:String!){ topChanged(board:$b, n:2){ seq full } }"
    good_query = "subscription($b:String!){ topChanged(board:$b, n:2){ full seq } }"  # its own operation
    await _prepared(server, query, {"b": board})
    await _prepared(server, good_query, {"b": board})
    await _until(lambda: _subscriptions(server) == 0)
    opener = direct.openers["topChanged"]

    def first_only(update: Any) -> object:
        if not update.full:
            raise RuntimeError("no frame for this update")
        return TopChanged.from_update(update)

    async def failing_later(context: Any, arguments: dict[str, Any]) -> Opened:
        opened = await opener(context, arguments)
        return Opened(opened.held, opened.hub, first_only, opened.cache)

    direct.openers["topChanged"] = failing_later
    try:
        ws = await _connected(server.ws_url)
        try:
            await _subscribe(ws, "bad", query, {"b": board})
            assert (await _recv(ws))["payload"]["data"]["topChanged"]["full"] is True
        finally:
            direct.openers["topChanged"] = opener
        try:
            await _subscribe(ws, "good", good_query, {"b": board})
            assert (await _recv(ws))["id"] == "good"
            r = await asyncio.to_thread(post_scores, server.url, {"entries": [entry(board, "bob", 20)]})
            assert r.status_code == 200, r.text
            got = {}
            while len(got) < 2:
                msg = await _recv(ws)
                got.setdefault(msg["id"], msg)
            assert (
                got["bad"]["type"] == "error" and got["bad"]["payload"][0]["extensions"]["code"] == "INTERNAL"
            )
            assert (
                got["good"]["type"] == "next"
                and got["good"]["payload"]["data"]["topChanged"]["full"] is False
            )
            await _until(lambda: _subscriptions(server) == 1)
        finally:
            await ws.close()
    finally:
        direct.openers["topChanged"] = opener
    await _until(lambda: _subscriptions(server) == 0)


@pytest.mark.anyio
async def test_coerced_arguments_are_kept_per_variables_and_bounded(server: LiveServer, board: str) -> None:
    """Subscribers with the same variables share one coercion; other variables get their own (their
    first frames answer their own `n`); the kept set stays within its bound."""
    direct = _view(server).live_direct
    await _prepared(server, TOP_Q, {"b": board, "n": 1})
    [op] = [op for op in direct._ops.values() if "topChanged" in op.printed and "$n" in op.printed]
    op.arguments.clear()  # (other tests of the module may have kept some)
    bound, direct.arguments_max = direct.arguments_max, 2
    ws = await _connected(server.ws_url)
    try:
        for i, n in enumerate((1, 1, 2, 1, 3, 2)):
            await _subscribe(ws, str(i), TOP_Q, {"n": n, "b": board})  # key order does not matter
            first = await _recv(ws)
            entries = first["payload"]["data"]["topChanged"]["entries"]
            assert first["id"] == str(i) and (len(entries) == 1 if n == 1 else 2 <= len(entries) <= n)
            await _send(ws, {"id": str(i), "type": "complete"})
        kept = {orjson.loads(k)["n"]: v for k, v in op.arguments.items()}
        assert list(kept) == [3, 2]  # the bound, least recently used out
        assert kept[2] == {"board": board, "n": 2}
    finally:
        direct.arguments_max = bound
        await ws.close()
    await _until(lambda: _subscriptions(server) == 0)
